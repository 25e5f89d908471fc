package eir

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
)

// Query is one equipment check: the IMEI key and, when the request carried
// one, the subscriber's IMSI (S13 User-Name, N5g-eir supi).
type Query struct {
	IMEI IMEI
	IMSI IMSI // empty when absent
	// Kind is the form of the N5g-eir PEI asked about; zero (S13, the
	// admin API) is an IMEI. A MAC or EUI-64 PEI has no IMEI: it is on
	// no list, and the unknown-equipment policy answers it.
	Kind PEIKind
}

// Hit is a dataset holding an entry that applies to a query.
type Hit struct {
	Dataset Dataset
}

// Lookup reports which datasets hold an entry that applies to a query.
//
// Match appends one Hit per matching dataset to hits and returns the extended
// slice; an IMEI on no list yields no hits and a nil error. Pair datasets are
// consulted only when q.IMSI is set. When the backend cannot answer before ctx
// expires, Match returns an error wrapping ErrUnavailable. Implementations
// must be safe for concurrent use and must not write on this path.
type Lookup interface {
	Match(ctx context.Context, q Query, hits []Hit) ([]Hit, error)
}

// LocalLookup is a Lookup that can often answer from memory. MatchLocal
// appends hits like Match and reports true when it answered without I/O;
// false means the caller must use Match (which may wait on the network).
type LocalLookup interface {
	Lookup
	MatchLocal(q Query, hits []Hit) ([]Hit, bool)
}

// Rule names the kind of rule that produced a decision.
type Rule uint8

// Rules, from the most to the least decisive.
const (
	RuleException     Rule = iota // IMEI–IMSI exception: WHITELISTED
	RuleOverride                  // never-block override: WHITELISTED
	RuleIMEI                      // an IMEI entry
	RuleRange                     // an IMEI range entry
	RuleTAC                       // a TAC entry
	RuleUnknownPolicy             // on no list; the unknown-equipment policy gave a status
	RuleStoreFallback             // the store failed; the store-error policy gave a status
	RuleShadow                    // the verdict came from a source in shadow mode: WHITELISTED answered
	numRules
)

var ruleNames = [numRules]string{"exception", "override", "imei", "range", "tac", "unknown_policy", "store_fallback", "shadow"}

// String returns the rule's snake_case name, as used in metrics and logs.
func (r Rule) String() string {
	if r < numRules {
		return ruleNames[r]
	}
	return fmt.Sprintf("rule(%d)", uint8(r))
}

// Decision is the answer for a query.
type Decision struct {
	Status Status
	Rule   Rule
	// Source is the source of the entry that decided; empty for policy answers.
	Source string
	// Cause is the store error behind a RuleStoreFallback decision.
	Cause error
	// Shadow is the verdict that shadow mode kept from being enforced
	// (this Decision is what is answered), or nil.
	Shadow *Decision
}

// Fallback is a policy answer: a fixed Equipment-Status when Set, otherwise
// the error is reported (ErrUnknown or ErrUnavailable).
type Fallback struct {
	Set    bool
	Status Status
}

// Shadow says whose verdicts are only observed: with All, every verdict;
// otherwise those decided by an entry of one of Sources. A shadowed verdict
// is logged, counted and published as an event, and the answer is what the
// other sources decide, or WHITELISTED when none does — for trying a new
// registry feed on live traffic safely.
//
// Passive sources are shadowed too, but never change an answer: when no
// other source decides, the answer is the unknown-equipment policy's, as if
// their entries did not exist (eird's duplicate-IMEI detections, source
// "detected", until the operator enforces them).
type Shadow struct {
	All     bool
	Sources []string
	Passive []string
}

func (s Shadow) has(source string) bool {
	return slices.Contains(s.Sources, source) || slices.Contains(s.Passive, source)
}

// passiveOnly reports whether every shadowed hit is of a passive source.
func (s Shadow) passiveOnly(hits []Hit) bool {
	for _, h := range hits {
		if slices.Contains(s.Sources, h.Dataset.Source) {
			return false
		}
	}
	return true
}

// Policy holds the answers for cases no list decides.
type Policy struct {
	// Unknown answers equipment on no list. The default (unset) reports
	// ErrUnknown: S13 Experimental-Result 5422, N5g-eir 404.
	Unknown Fallback
	// OnStoreError answers when the store cannot be read. The default
	// (unset) reports the ErrUnavailable error: S13 Result-Code 5012.
	OnStoreError Fallback
	// Shadow is shadow mode.
	Shadow Shadow
}

// Checker is the one contract through which an interface (S13, N5g-eir,
// the admin API) asks for a decision; *Decider is the implementation.
type Checker interface {
	// Check decides the Equipment-Status for q; it may wait on the store.
	Check(ctx context.Context, q Query) (Decision, error)
	// TryCheck is Check when it needs no I/O (the lists are held in
	// memory): ok is false when the caller must call Check, which may
	// wait. It lets a caller answer in its own goroutine whenever no wait
	// is needed.
	TryCheck(q Query) (d Decision, ok bool, err error)
}

// Decider takes decisions from a Lookup. It is safe for concurrent use.
type Decider struct {
	lookup Lookup
	policy atomic.Pointer[Policy]
}

// NewDecider returns a Decider answering from l under policy p.
func NewDecider(l Lookup, p Policy) *Decider {
	c := &Decider{lookup: l}
	c.policy.Store(&p)
	return c
}

// SetPolicy replaces the policy; checks in flight finish under the old one.
func (c *Decider) SetPolicy(p Policy) { c.policy.Store(&p) }

// Policy returns the policy in force.
func (c *Decider) Policy() Policy { return *c.policy.Load() }

// Check decides the Equipment-Status for q.
//
// Precedence: an exception pair for (IMEI, IMSI) or a never-block override
// gives WHITELISTED; otherwise the strongest status (black > grey > white)
// over the IMEI, range and TAC entries of every source; otherwise the unknown
// policy. It returns ErrUnknown for unknown equipment under the default
// policy, and an error wrapping ErrUnavailable when the store fails under the
// default store-error policy. A query without an IMEI (a MAC or EUI-64
// PEI) is answered by the unknown-equipment policy without a lookup: lists
// hold IMEIs only.
func (c *Decider) Check(ctx context.Context, q Query) (Decision, error) {
	if !q.Kind.HasIMEI() {
		return c.unlisted()
	}
	var buf [8]Hit
	hits, err := c.lookup.Match(ctx, q, buf[:0])
	return c.decide(hits, err)
}

// TryCheck is Check when the lookup can answer without I/O (a
// LocalLookup whose MatchLocal succeeds): then ok is true. Otherwise ok is
// false and the caller must use Check, which may wait on the network.
func (c *Decider) TryCheck(q Query) (d Decision, ok bool, err error) {
	if !q.Kind.HasIMEI() {
		d, err = c.unlisted()
		return d, true, err
	}
	l, isLocal := c.lookup.(LocalLookup)
	if !isLocal {
		return Decision{}, false, nil
	}
	var buf [8]Hit
	hits, ok := l.MatchLocal(q, buf[:0])
	if !ok {
		return Decision{}, false, nil
	}
	d, err = c.decide(hits, nil)
	return d, true, err
}

// unlisted is the answer for equipment that no list can hold: the
// unknown-equipment policy, shadow mode aside (there is no verdict to
// shadow).
func (c *Decider) unlisted() (Decision, error) {
	if p := c.policy.Load().Unknown; p.Set {
		return Decision{Status: p.Status, Rule: RuleUnknownPolicy}, nil
	}
	return Decision{}, ErrUnknown
}

// decide applies the policy to the hits of a lookup.
func (c *Decider) decide(hits []Hit, err error) (Decision, error) {
	p := c.policy.Load()
	if err != nil {
		if p.OnStoreError.Set {
			return Decision{Status: p.OnStoreError.Status, Rule: RuleStoreFallback, Cause: err}, nil
		}
		return Decision{}, err
	}
	d, ok := Decide(hits)
	switch {
	case ok && p.Shadow.All:
		return Decision{Status: Whitelisted, Rule: RuleShadow, Source: d.Source, Shadow: &d}, nil
	case ok && len(p.Shadow.Sources)+len(p.Shadow.Passive) > 0 && p.Shadow.has(d.Source):
		// The answer is what the other sources decide.
		enforced := hits[:0:0]
		for _, h := range hits {
			if !p.Shadow.has(h.Dataset.Source) {
				enforced = append(enforced, h)
			}
		}
		e, eok := Decide(enforced)
		switch {
		case eok:
		case p.Shadow.passiveOnly(hits) && p.Unknown.Set:
			return Decision{Status: p.Unknown.Status, Rule: RuleUnknownPolicy, Shadow: &d}, nil
		case p.Shadow.passiveOnly(hits):
			return Decision{Shadow: &d}, ErrUnknown
		default:
			e = Decision{Status: Whitelisted, Rule: RuleShadow, Source: d.Source}
		}
		if e.Status != d.Status || e.Rule != d.Rule {
			e.Shadow = &d
		}
		return e, nil
	case ok:
		return d, nil
	case p.Shadow.All:
		return Decision{Status: Whitelisted, Rule: RuleShadow}, nil
	case p.Unknown.Set:
		return Decision{Status: p.Unknown.Status, Rule: RuleUnknownPolicy}, nil
	}
	return Decision{}, ErrUnknown
}

// Decide applies the precedence rules to the hits of one query. It reports
// false when no hit decides (the equipment is unknown). Ties between equally
// strong entries go to the more specific rule (IMEI, then range, then TAC),
// then to the source that sorts first, so the answer does not depend on the
// order of hits.
func Decide(hits []Hit) (Decision, bool) {
	best, found := Decision{}, false
	bestRank := 0
	for _, h := range hits {
		r := ruleFor(h.Dataset)
		d := Decision{Status: h.Dataset.List.Status(), Rule: r, Source: h.Dataset.Source}
		rank := rankOf(h.Dataset.List, r)
		if !found || rank > bestRank || (rank == bestRank && d.Source < best.Source) {
			best, bestRank, found = d, rank, true
		}
	}
	return best, found
}

func ruleFor(d Dataset) Rule {
	switch {
	case d.List == ListException:
		return RuleException
	case d.List == ListOverride:
		return RuleOverride
	case d.Target == TargetRange:
		return RuleRange
	case d.Target == TargetTAC:
		return RuleTAC
	}
	return RuleIMEI
}

// rankOf orders hits: exceptions and overrides first, then black, grey and
// white; within a status the more specific rule.
func rankOf(l List, r Rule) int {
	var status int
	switch l {
	case ListException:
		return 100
	case ListOverride:
		return 90
	case ListBlack:
		status = 30
	case ListGrey:
		status = 20
	default:
		status = 10
	}
	switch r {
	case RuleIMEI:
		return status + 3
	case RuleRange:
		return status + 2
	}
	return status + 1
}
