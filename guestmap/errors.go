package guestmap

import (
	"errors"
	"fmt"
	"strings"
)

// Errors callers test with errors.Is.
var (
	// ErrHeld: the lease or lock is held by someone else.
	ErrHeld = errors.New("guestmap: held by another holder")
	// ErrLeaseLost: the lease or lock is no longer held by this token
	// (expired, or taken over). Extend and Release report it.
	ErrLeaseLost = errors.New("guestmap: lease lost")
	// ErrFenced: a write was refused because its lease moved on. It also
	// matches ErrLeaseLost.
	ErrFenced = fmt.Errorf("guestmap: write fenced off: %w", ErrLeaseLost)
	// ErrUnavailable: the store cannot be reached (lost connection, Redis
	// restarting, loading or read-only). Nothing of the failed operation
	// may be taken as done; retry later.
	ErrUnavailable = errors.New("guestmap: store unavailable")
	// ErrStoreLocked: the embedded store's file is held by another process.
	ErrStoreLocked = errors.New("guestmap: store file held by another process")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("guestmap: store closed")
	// ErrInvalid: a bad argument (pair name, DSN, lease of another pair).
	ErrInvalid = errors.New("guestmap: invalid argument")
	// ErrCorrupt: a stored record could not be decoded.
	ErrCorrupt = errors.New("guestmap: corrupt record")
)

func errorf(format string, args ...any) error {
	return fmt.Errorf("guestmap: "+format+": %w", append(args, ErrInvalid)...)
}

// checkPair validates a pair name: it is a Redis Cluster hash tag, so it
// may not contain braces, and it is a bbolt bucket name, so not empty.
func checkPair(pair string) error {
	if pair == "" || len(pair) > 200 || strings.ContainsAny(pair, "{}") {
		return errorf("pair name %q must be 1-200 bytes without '{' or '}'", pair)
	}
	return nil
}

func checkID(id string) error {
	if id == "" || len(id) > 200 {
		return errorf("source ID %q must be 1-200 bytes", id)
	}
	return nil
}
