package config

import (
	"regexp"
	"strconv"
	"strings"
)

// keyLines maps a key path to the line (1-based) where it is written.
//
// BurntSushi/toml reports lines for syntax and type errors but not for the
// keys that validation later finds fault with, so ctsync scans the file once
// more for them. Paths are dotted with array indices:
// "pair[1].scope.filter[0].clause[2].operator". Tables, arrays of tables,
// dotted and quoted keys, inline tables and arrays of inline tables are
// understood; the scan is forgiving because the decoder has already
// rejected malformed files.
type keyLines map[string]int

// line returns the line of path, or of its nearest written ancestor when the
// path itself was never written (a defaulted or missing key), and 0 when
// nothing of it is in the file.
func (k keyLines) line(path string) int {
	for path != "" {
		if l, ok := k[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return 0
}

// Line returns the line of File where the key path (as in errors:
// "tenant[1].name") or its nearest written ancestor is, 0 when none is
// (a configuration not loaded from a file).
func (c *Config) Line(path string) int { return c.lines.line(path) }

// parentPath drops the last segment or index of a key path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// stripIndices turns "pair[1].mapping[0].target" into "pair.mapping.target",
// the form in which the TOML decoder reports undecoded keys.
func stripIndices(path string) string { return indexRE.ReplaceAllString(path, "") }

// scanKeyLines indexes every key of a TOML document by its line.
func scanKeyLines(src string) keyLines {
	s := &lineScanner{src: src, line: 1, out: keyLines{}, counts: map[string]int{}}
	s.document()
	return s.out
}

type lineScanner struct {
	src    string
	pos    int
	line   int
	out    keyLines
	counts map[string]int // concrete array path -> elements seen
	table  string         // concrete path of the current table
}

func (s *lineScanner) eof() bool { return s.pos >= len(s.src) }

func (s *lineScanner) peek() byte { return s.src[s.pos] }

func (s *lineScanner) advance() {
	if s.src[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

// skipSpace skips blanks, and newlines and comments when multiline is set.
func (s *lineScanner) skipSpace(multiline bool) {
	for !s.eof() {
		switch c := s.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			s.advance()
		case c == '\n' && multiline:
			s.advance()
		case c == '#':
			for !s.eof() && s.peek() != '\n' {
				s.advance()
			}
		default:
			return
		}
	}
}

func (s *lineScanner) document() {
	for {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		if s.peek() == '[' {
			s.header()
			continue
		}
		s.keyValue(s.table)
		s.skipLine()
	}
}

func (s *lineScanner) skipLine() {
	for !s.eof() && s.peek() != '\n' {
		s.advance()
	}
}

// header reads [table] or [[array]] and makes it the current table.
func (s *lineScanner) header() {
	line := s.line
	s.advance()
	array := !s.eof() && s.peek() == '['
	if array {
		s.advance()
	}
	keys := s.key()
	if len(keys) == 0 { // "[" alone: the decoder refuses it; do not index it
		s.skipLine()
		return
	}
	path := s.resolve(keys[:len(keys)-1])
	path = join(path, keys[len(keys)-1])
	if array {
		n := s.counts[path]
		s.counts[path] = n + 1
		s.out[path] = line
		path = path + "[" + strconv.Itoa(n) + "]"
	}
	s.out[path] = line
	s.table = path
	s.skipLine()
}

// resolve turns header key segments into a concrete path, descending into
// the latest element of any array of tables on the way.
func (s *lineScanner) resolve(keys []string) string {
	path := ""
	for _, k := range keys {
		path = join(path, k)
		if n, ok := s.counts[path]; ok && n > 0 {
			path = path + "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

// keyValue reads `key = value` under base.
func (s *lineScanner) keyValue(base string) {
	line := s.line
	keys := s.key()
	if len(keys) == 0 {
		s.skipLine()
		return
	}
	path := base
	for _, k := range keys {
		path = join(path, k)
		if _, ok := s.out[path]; !ok {
			s.out[path] = line
		}
	}
	s.out[path] = line
	s.skipSpace(false)
	if !s.eof() && s.peek() == '=' {
		s.advance()
	}
	s.skipSpace(false)
	s.value(path)
}

// key reads a dotted key of bare or quoted segments.
func (s *lineScanner) key() []string {
	var keys []string
	for {
		s.skipSpace(false)
		if s.eof() {
			return keys
		}
		switch c := s.peek(); {
		case c == '"' || c == '\'':
			keys = append(keys, s.str())
		case isBare(c):
			start := s.pos
			for !s.eof() && isBare(s.peek()) {
				s.advance()
			}
			keys = append(keys, s.src[start:s.pos])
		default:
			return keys
		}
		s.skipSpace(false)
		if s.eof() || s.peek() != '.' {
			if !s.eof() && s.peek() == ']' {
				s.advance()
				if !s.eof() && s.peek() == ']' {
					s.advance()
				}
			}
			return keys
		}
		s.advance()
	}
}

func isBare(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// str reads a basic, literal or multi-line string and returns its raw body.
func (s *lineScanner) str() string {
	q := s.peek()
	delim := string(q)
	if strings.HasPrefix(s.src[s.pos:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	for range delim {
		s.advance()
	}
	start := s.pos
	for !s.eof() {
		if q == '"' && s.peek() == '\\' {
			s.advance()
			if !s.eof() {
				s.advance()
			}
			continue
		}
		if strings.HasPrefix(s.src[s.pos:], delim) {
			body := s.src[start:s.pos]
			for range delim {
				s.advance()
			}
			return body
		}
		s.advance()
	}
	return s.src[start:]
}

// value skips a value, indexing the keys of inline tables and the elements
// of arrays under path.
func (s *lineScanner) value(path string) {
	if s.eof() {
		return
	}
	switch s.peek() {
	case '"', '\'':
		s.str()
	case '[':
		s.advance()
		for i := 0; ; i++ {
			s.skipSpace(true)
			if s.eof() {
				return
			}
			if s.peek() == ']' {
				s.advance()
				return
			}
			elem := path + "[" + strconv.Itoa(i) + "]"
			s.out[elem] = s.line
			s.value(elem)
			s.skipSpace(true)
			if !s.eof() && s.peek() == ',' {
				s.advance()
			}
		}
	case '{':
		s.advance()
		for {
			s.skipSpace(false)
			if s.eof() {
				return
			}
			if s.peek() == '}' {
				s.advance()
				return
			}
			s.keyValue(path)
			s.skipSpace(false)
			if !s.eof() && s.peek() == ',' {
				s.advance()
			}
		}
	default:
		for !s.eof() {
			c := s.peek()
			if c == ',' || c == ']' || c == '}' || c == '\n' || c == '#' {
				return
			}
			s.advance()
		}
	}
}

func join(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}
