package directory

import "errors"

// Sentinel errors name what a directory failure means, whatever the
// directory is. Package tenants classifies every Graph failure once, at the
// boundary: its GraphError answers errors.Is for these, so the worker and
// the CLI ask errors.Is(err, directory.ErrNotFound) and never see the SDK.
var (
	// ErrNotFound: the object does not exist (Graph 404), or is not yet
	// visible on the replica that answered.
	ErrNotFound = errors.New("not found")
	// ErrSyncStateExpired: a delta link is no longer valid; read in full.
	ErrSyncStateExpired = errors.New("delta state expired")
	// ErrFatal: the pair cannot go on this cycle (its credential is wrong,
	// the token was refused): retrying user by user cannot help.
	ErrFatal = errors.New("fatal for the pair")
	// ErrForbidden: the app lacks a permission, or the object is protected
	// (an admin-role holder); the message names what is missing.
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: the write collides with another object (a mail or
	// proxy address already taken, a duplicate key).
	ErrConflict = errors.New("conflict")
	// ErrThrottled: Graph answered 429.
	ErrThrottled = errors.New("throttled")
	// ErrTransient: worth retrying later (429, 5xx, no response, a
	// token endpoint that is temporarily unavailable).
	ErrTransient = errors.New("transient")
	// ErrBadRequest: Graph refused the request as malformed or invalid
	// for this object (400, other than an expired delta state).
	ErrBadRequest = errors.New("bad request")
	// ErrOutOfTime: the call failed with an error worth retrying, but the
	// retry would have come after the context's deadline, so it was not
	// made: the work ran out of time rather than failed.
	ErrOutOfTime = errors.New("out of time for a retry")
)
