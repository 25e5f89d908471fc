package provision

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir/audit"
)

// SweepExpired removes the expired entries (the store's SweepExpired),
// audits each removal (actor "expiry") and deletes their notes. Checks
// ignore an entry from its expiry on; the sweep reclaims space and keeps
// the trail. Several eird may sweep: each entry is removed, and audited,
// once.
func (ed *Editor) SweepExpired(ctx context.Context) (int, error) {
	removed, err := ed.st.SweepExpired(ctx)
	if err != nil || len(removed) == 0 {
		return 0, err
	}
	var recs []audit.Record
	notes := map[string][]string{}
	for _, de := range removed {
		t, e := de.Dataset.Target, de.Entry
		recs = append(recs, audit.Record{Actor: "expiry", Action: audit.ActionExpire, Dataset: de.Dataset.String(),
			Target: e.KeyString(t), IMEI: IMEIOf(t, e), Source: de.Dataset.Source,
			Reason: "expired at " + time.UnixMilli(e.Expires).UTC().Format(time.RFC3339), Before: ed.View(de)})
		notes[de.Dataset.Source] = append(notes[de.Dataset.Source], noteField(t, e.Key()))
	}
	ed.audit(ctx, recs...)
	if ed.o.Notes != nil {
		for source, fields := range notes {
			if err := ed.o.Notes.MetaDel(ctx, notesName(source), fields...); err != nil {
				ed.log.Warn("notes of expired entries not deleted", zap.Error(err))
			}
		}
	}
	ed.log.Info("expired entries removed", zap.Int("entries", len(removed)))
	return len(removed), nil
}

// RunExpirySweep calls SweepExpired every interval until ctx is done.
// During a Redis outage every sweep fails: the first failure is logged at
// warn, the next ones at debug, and one info line when a sweep succeeds.
func (ed *Editor) RunExpirySweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, max(interval, 10*time.Second))
		_, err := ed.SweepExpired(sctx)
		cancel()
		failing = ed.reportSweep(err, failing)
	}
}

// reportSweep logs a sweep's outcome given whether the previous one
// failed, and reports whether this one did.
func (ed *Editor) reportSweep(err error, failing bool) bool {
	switch {
	case err == nil && failing:
		ed.log.Info("expired entries swept again")
	case err == nil:
	case failing:
		ed.log.Debug("expired entries not swept", zap.Error(err))
	default:
		ed.log.Warn("expired entries not swept", zap.Error(err), zap.String("next_failures", "logged at debug until a sweep succeeds"))
	}
	return err != nil
}
