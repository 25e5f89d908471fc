// Package redact turns subscriber and equipment identities into log fields
// that can be correlated without being disclosed: an IMEI becomes its TAC
// and a keyed hash, an IMSI its MCC+MNC digits and a keyed hash. Full values
// belong in debug logs only.
package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// Redactor hashes identities with a secret key, so that a hash cannot be
// reversed by enumerating the 10^14 IMEIs without the key.
type Redactor struct{ key []byte }

// New returns a Redactor using key; an empty key is replaced by a random one,
// so hashes are stable only within the process.
func New(key []byte) *Redactor {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			panic("redact: no randomness: " + err.Error())
		}
	}
	return &Redactor{key: append([]byte(nil), key...)}
}

func (r *Redactor) hash(b []byte) string {
	m := hmac.New(sha256.New, r.key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// IMEI returns the field imei="<TAC>-<hash>".
func (r *Redactor) IMEI(i eir.IMEI) zap.Field {
	d := i.AppendDigits(make([]byte, 0, 14))
	return zap.String("imei", string(d[:8])+"-"+r.hash(d))
}

// IMSI returns the field imsi="<first 5 digits>-<hash>", or a skipped field
// when imsi is empty.
func (r *Redactor) IMSI(imsi eir.IMSI) zap.Field {
	if imsi == "" {
		return zap.Skip()
	}
	p := min(5, len(imsi))
	return zap.String("imsi", string(imsi[:p])+"-"+r.hash([]byte(imsi)))
}
