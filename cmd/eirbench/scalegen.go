package main

import (
	"bufio"
	"fmt"
	"math/bits"
	"os"
	"strconv"

	"github.com/eir-sidecar/eir/eir"
)

// The registry lists of eirbench scale, generated as they are written (a
// row at a time, nothing kept in memory). Entry i of each list is a fixed
// function of i, so a smaller list of the same kind is a subset of a larger
// one (the first phase's lists are subsets of the second's: the second
// unblocks nothing), and the rows are written in a scrambled order (an
// affine permutation of 0..n-1), not sorted.
//
// The TACs below 10000000 are the generated lists' own: the load
// generator's IMEIs (loadgen.Generate) all have TACs from 10000000 up, so
// the large lists never change an answer the reference server gives.
const (
	scaleBlackTAC  = 1_000_000 // the blacklist's TACs: 01000000 and up, scalePerTAC IMEIs each
	scalePerTAC    = 20_000    // blacklisted IMEIs per TAC (2 % of its serial numbers)
	scaleRangeTAC  = 2_000_000 // the ranges' TACs: 02000000 and up
	scaleRangeSpan = 1000      // IMEIs per range; a range starts every 2*scaleRangeSpan IMEIs
	scaleBandEnd   = 3_000_000 // TAC rules avoid [scaleBlackTAC, scaleBandEnd)
	scaleTACSpace  = 100_000_000
	scaleIMSIBase  = 999_990_000_000_000 // MCC 999 MNC 99: exceptions' IMSIs
	scaleMaxIMEIs  = 1_000_000_000
	scaleMaxRanges = 500_000_000
	scaleMaxTACs   = 90_000_000
)

// permute returns the i-th element (i < n) of a fixed scrambled order of
// 0..n-1: (a*i + n/3) mod n with a a prime that does not divide n.
func permute(i, n uint64) uint64 {
	a := uint64(1_000_000_007)
	if n%a == 0 {
		a = 998_244_353
	}
	hi, lo := bits.Mul64(a, i)
	_, r := bits.Div64(hi%n, lo, n) // hi%n < n: no overflow
	return (r + n/3) % n
}

// scaleIMEI is the j-th blacklisted IMEI: TAC 01000000 + j/scalePerTAC,
// and a serial number drawn in the (j%scalePerTAC)-th block of 50 of the
// TAC's million (distinct within the TAC; random, as stolen phones' are,
// so the store's buckets, IMEI mod B, fill evenly: serial numbers that
// repeat from TAC to TAC would crowd a few buckets).
func scaleIMEI(j uint64) eir.IMEI {
	tac := scaleBlackTAC + j/scalePerTAC
	serial := (j%scalePerTAC)*50 + splitmix64(j)%50
	return eir.IMEI(tac*1_000_000 + serial)
}

// splitmix64 is a fixed 64-bit mix of x.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// scaleRange is the k-th range rule.
func scaleRange(k uint64) (from, to eir.IMEI) {
	f := uint64(scaleRangeTAC)*1_000_000 + k*2*scaleRangeSpan
	return eir.IMEI(f), eir.IMEI(f + scaleRangeSpan - 1)
}

// scalePairIMEIs returns how many blacklisted IMEIs carry the p exception
// pairs: IMEI j has j%10+1 IMSIs (1 to 10, 5.5 on average).
func scalePairIMEIs(p uint64) uint64 {
	var m, sum uint64
	for sum < p {
		sum += m%10 + 1
		m++
	}
	return m
}

// csvWriter writes a generated list file.
type csvWriter struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
}

func newCSV(path, header string) (*csvWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(header + "\r\n")
	return &csvWriter{f: f, w: w, buf: make([]byte, 0, 128)}, nil
}

// close flushes the file and returns its size and the rows written.
func (c *csvWriter) close() (int64, error) {
	err := c.w.Flush()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(c.f.Name())
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// row writes c.buf and a line end.
func (c *csvWriter) row() {
	c.buf = append(c.buf, '\r', '\n')
	c.w.Write(c.buf)
}

// writeScaleBlacklist writes a DIRBS full blacklist of the first n
// blacklisted IMEIs (scaleIMEI), scrambled.
func writeScaleBlacklist(path string, n uint64) (rows uint64, size int64, err error) {
	c, err := newCSV(path, "imei,block_date,reasons")
	if err != nil {
		return 0, 0, err
	}
	for i := range n {
		c.buf = scaleIMEI(permute(i, n)).AppendDigits(c.buf[:0])
		c.buf = append(c.buf, ",20260101,IMEI found on local stolen list"...)
		c.row()
	}
	size, err = c.close()
	return n, size, err
}

// writeScaleExceptions writes a DIRBS full exceptions file of about p
// (IMEI, IMSI) pairs on the first blacklisted IMEIs, up to 10 IMSIs per
// IMEI; it returns the rows written.
func writeScaleExceptions(path string, p uint64) (rows uint64, size int64, err error) {
	c, err := newCSV(path, "imei,imsi")
	if err != nil {
		return 0, 0, err
	}
	m := scalePairIMEIs(p)
	for i := range m {
		j := permute(i, m)
		imei := scaleIMEI(j)
		for k := range j%10 + 1 {
			c.buf = imei.AppendDigits(c.buf[:0])
			c.buf = append(c.buf, ',')
			c.buf = strconv.AppendUint(c.buf, scaleIMSIBase+j*10+k, 10)
			c.row()
			rows++
		}
	}
	size, err = c.close()
	return rows, size, err
}

// writeScaleTACs writes a barred TAC list of n TACs, none of the
// blacklist's or the ranges' band nor of avoid (the load generator's).
func writeScaleTACs(path string, n uint64, avoid map[uint64]bool) (rows uint64, size int64, err error) {
	c, err := newCSV(path, "tac")
	if err != nil {
		return 0, 0, err
	}
	for i := uint64(0); rows < n && i < scaleTACSpace; i++ {
		t := permute(i, scaleTACSpace)
		if t >= scaleBlackTAC && t < scaleBandEnd || avoid[t] {
			continue
		}
		c.buf = fmt.Appendf(c.buf[:0], "%08d", t)
		c.row()
		rows++
	}
	size, err = c.close()
	return rows, size, err
}

// writeScaleRanges writes an IMEI range list of n ranges of scaleRangeSpan
// IMEIs each, scrambled.
func writeScaleRanges(path string, n uint64) (rows uint64, size int64, err error) {
	c, err := newCSV(path, "from,to,reason")
	if err != nil {
		return 0, 0, err
	}
	for i := range n {
		from, to := scaleRange(permute(i, n))
		c.buf = from.AppendDigits(c.buf[:0])
		c.buf = append(c.buf, ',')
		c.buf = to.AppendDigits(c.buf)
		c.buf = append(c.buf, ",stolen shipment"...)
		c.row()
	}
	size, err = c.close()
	return n, size, err
}
