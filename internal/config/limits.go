package config

import (
	"fmt"
	"io"
	"os"
)

// Bounds on what a configuration file may contain. A configuration is a
// few kilobytes written by a person; these limits are orders of magnitude
// above any real one and exist so that a hostile or corrupted file costs
// a bounded, small amount of time and memory before it is refused.
const (
	// MaxFileSize bounds the file read: checked before any parsing, so a
	// huge file is never held whole in memory or decoded.
	MaxFileSize = 1 << 20
	// MaxDepth bounds the nesting of tables, arrays and inline tables
	// (dotted key segments count as levels). ctsync's deepest real path,
	// pair.scope.filter[i].clause[j].operator, is 6 levels deep; every
	// later pass (the TOML decoder, the key-line index) is then linear.
	MaxDepth = 32
	// MaxStringLen bounds one string value or quoted key: mapping
	// expressions are the longest real values, a few hundred bytes.
	MaxStringLen = 16 << 10
	// maxErrors bounds the problems printed for one file: a file with
	// thousands of mistakes is better read from the first ones.
	maxErrors = 100
)

// readLimited reads at most MaxFileSize bytes of path and refuses a larger
// file without reading the rest of it.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("the file is larger than %d bytes (1 MiB): not a ctsync configuration", MaxFileSize)}}
	}
	return data, nil
}

// checkShape makes one linear pass over a TOML document, before it is
// decoded, and refuses nesting deeper than MaxDepth and strings longer
// than MaxStringLen. It knows strings and comments (a bracket inside
// either does not nest) and is deliberately conservative elsewhere: every
// '[' and '{' outside them counts, and so do the dots of a key, reset at
// each '=', ',' and line end so that a float's dot never adds up. It
// stops at the first excess, so its cost never depends on how deep the
// document goes.
func checkShape(file string, src []byte) error {
	depth, dots, line := 0, 0, 1
	tooDeep := func() error {
		return Errors{{File: file, Line: line, Msg: fmt.Sprintf("nesting deeper than %d levels of tables, arrays or dotted keys: not a ctsync configuration", MaxDepth)}}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '\n':
			line++
			dots = 0
		case '#':
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			start, startLine := i, line
			delim := 1
			if i+2 < len(src) && src[i+1] == c && src[i+2] == c {
				delim = 3
			}
			i += delim
			for ; i < len(src); i++ {
				if src[i] == '\n' {
					line++
					if delim == 1 {
						break // a single-line string ends here; the decoder says why
					}
				}
				if c == '"' && src[i] == '\\' {
					i++
					if i < len(src) && src[i] == '\n' {
						line++
					}
					continue
				}
				if src[i] == c && (delim == 1 || i+2 < len(src) && src[i+1] == c && src[i+2] == c) {
					i += delim - 1
					break
				}
			}
			if i-start > MaxStringLen {
				return Errors{{File: file, Line: startLine, Msg: fmt.Sprintf("a string longer than %d bytes: no ctsync setting is anywhere near that long", MaxStringLen)}}
			}
		case '[', '{':
			depth++
			if c == '{' {
				dots = 0
			}
			if depth+dots > MaxDepth {
				return tooDeep()
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '.':
			dots++
			if depth+dots > MaxDepth {
				return tooDeep()
			}
		case '=', ',':
			dots = 0
		}
	}
	return nil
}
