// Package textsafe makes text that came from a directory (display names,
// UPNs, mails, Graph's error messages quoting them) safe to print on a
// terminal or in a line-oriented log: control characters, ANSI escape
// sequences, line and paragraph separators and other non-printable runes
// are written as Go escapes (\n, \x1b, \u202e), so such a value can neither
// drive the terminal nor forge a line of its own. Ordinary Unicode (accents,
// CJK, emoji) is kept as it is, so names stay readable.
package textsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every rune that is not printable escaped the way
// strconv.Quote escapes it. A backslash in s is kept as it is (names such
// as DOMAIN\user stay readable): a literal "\n" typed into a name shows as
// those two characters, harmless, since it cannot end a line. s without
// such runes is returned unchanged, without allocating.
func Escape(s string) string {
	if Safe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			// Invalid UTF-8: show the byte, never pass it to a terminal.
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case safeRune(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRuneToASCII(r) // 'x' with the escape inside
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// Safe reports whether s prints as it is: only printable runes (spaces
// other than the plain space count as not printable) and valid UTF-8.
func Safe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		} else if c >= utf8.RuneSelf {
			return safeTail(s[i:])
		}
	}
	return true
}

func safeTail(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !safeRune(r) {
			return false
		}
		i += size
	}
	return true
}

// safeRune: printable in strconv's sense (letters, marks, numbers,
// punctuation, symbols and the ASCII space), which excludes controls (C0,
// C1), format characters such as the bidirectional overrides, and the line
// and paragraph separators.
func safeRune(r rune) bool {
	return r == ' ' || unicode.IsPrint(r)
}

// Strings returns the escaped copies of ss.
func Strings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Escape(s)
	}
	return out
}
