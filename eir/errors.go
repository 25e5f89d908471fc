package eir

import "errors"

// Sentinel errors. Adapters match them with errors.Is and map them to the
// wire in exactly one function per transport.
var (
	// ErrInvalidIMEI reports an identity that is not 14, 15 or 16 decimal
	// digits (TS 23.003 §6.2).
	ErrInvalidIMEI = errors.New("eir: invalid imei")
	// ErrInvalidIMSI reports an IMSI that is not 5 to 15 decimal digits.
	ErrInvalidIMSI = errors.New("eir: invalid imsi")
	// ErrInvalidEntry reports a list entry that cannot be stored: a bad TAC,
	// a range whose start is after its end, an unknown list or source name.
	ErrInvalidEntry = errors.New("eir: invalid entry")
	// ErrUnknown reports equipment that is on no list while the policy for
	// unknown equipment is to say so (S13 Experimental-Result 5422).
	ErrUnknown = errors.New("eir: equipment unknown")
	// ErrUnavailable reports a list store that cannot answer before the
	// request's deadline. Stores wrap it with the operation that failed.
	ErrUnavailable = errors.New("eir: list store unavailable")
	// ErrConflict reports a write that lost a race with another writer of the
	// same dataset; the caller may retry from fresh state.
	ErrConflict = errors.New("eir: concurrent update")
	// ErrDiverged reports a store whose backend no longer holds the lists
	// in force (emptied, rolled back, replaced): checks are answered from
	// the lists the process holds and writes are refused until the lists
	// are restored (or the backend's state is accepted) by an operator.
	ErrDiverged = errors.New("eir: the list store does not hold the lists in force")
	// ErrHeld reports a write held by a guard: it would unblock more
	// entries, or shrink a list more, than allowed without an operator's
	// approval. Nothing was changed.
	ErrHeld = errors.New("eir: held by a guard")
	// ErrCursorStale reports a paging cursor issued for a version of a
	// dataset that is no longer in force; list again from the start.
	ErrCursorStale = errors.New("eir: the list changed since the cursor was issued")
	// ErrNotFound reports that what a request names (a source, a held
	// file) does not exist; the error that wraps it says what.
	ErrNotFound = errors.New("eir: not found")
)
