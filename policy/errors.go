package policy

import (
	"fmt"
	"strings"
)

// Error is one problem in a pair's policy configuration, found by Compile.
type Error struct {
	// Pair is the pair's name.
	Pair string
	// Key is the key path relative to the pair, in TOML terms:
	// "mapping[2].expression", "scope.filter[0].clause[1].operator",
	// "lifecycle.out_of_scope", "user_type". Indices count the entries as
	// written in the file.
	Key string
	// Column is the 1-based character column inside an expression or
	// pattern where the problem is, or 0 when it is about the whole value.
	Column int
	// Msg says what is wrong and, where possible, what to write instead.
	Msg string
}

// Error formats as `pair "p": key: column N: message`.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pair %q: %s: ", e.Pair, e.Key)
	b.WriteString(e.Detail())
	return b.String()
}

// Detail is the message with its column, without pair and key: what a
// caller that locates the key itself (internal/config) shows after
// "file:line: key:".
func (e *Error) Detail() string {
	if e.Column > 0 {
		return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
	}
	return e.Msg
}

// Errors is every problem Compile found in one pair, in the order of the
// spec's keys. errors.As(err, new(*Error)) finds the first one.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// EvalError is a mapping that failed for one user (a type mismatch, say):
// the worker parks that user, not the pair.
type EvalError struct {
	// Target is the guest property whose mapping failed.
	Target string
	// Key is the mapping's key path ("mapping[2]"), or "default mapping"
	// for one of the defaults.
	Key string
	// Err says what went wrong.
	Err error
}

// Error formats as "mapping of <target> (<key>): <problem>".
func (e *EvalError) Error() string {
	return fmt.Sprintf("mapping of %s (%s): %v", e.Target, e.Key, e.Err)
}

// Unwrap returns the underlying problem.
func (e *EvalError) Unwrap() error { return e.Err }

// collector gathers Errors for one pair during Compile.
type collector struct {
	pair string
	errs Errors
}

func (c *collector) add(key string, col int, format string, args ...any) {
	c.errs = append(c.errs, &Error{Pair: c.pair, Key: key, Column: col, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}
