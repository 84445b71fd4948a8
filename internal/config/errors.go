package config

import (
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a configuration file, at a line and key.
type Error struct {
	File string
	Line int // 0 when the problem is about something missing from the file
	Key  string
	Msg  string
}

// Error formats as "file:line: key: message", the shape editors jump to.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file, in file order.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// problems collects Errors against one file.
type problems struct {
	file  string
	lines keyLines
	errs  Errors
}

// addf records a problem at key, located through the file's key index.
func (p *problems) addf(key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: p.lines.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// err returns the collected problems as an error, or nil.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	// A stable sort keeps equal lines in the order they were found, in
	// n log n: an insertion sort made a file of many mistakes quadratic.
	slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
	if n := len(p.errs); n > maxErrors {
		p.errs = append(p.errs[:maxErrors:maxErrors], &Error{File: p.file, Msg: fmt.Sprintf("%d more problems not shown; fix these first", n-maxErrors)})
	}
	return p.errs
}
