package policy

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a token of Entra's expression language.
type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // a function name
	tAttr           // [attributeName]
	tString         // "text" with \" and \\ escapes
	tNumber         // an integer, optionally negative
	tLParen
	tRParen
	tComma
	tCmp // = <> < <= > >=
)

func (k tokKind) String() string {
	switch k {
	case tEOF:
		return "end of expression"
	case tIdent:
		return "function name"
	case tAttr:
		return "attribute"
	case tString:
		return "string"
	case tNumber:
		return "number"
	case tLParen:
		return `"("`
	case tRParen:
		return `")"`
	case tComma:
		return `","`
	case tCmp:
		return "comparison"
	}
	return "token"
}

// token is one lexeme; pos is its byte offset in the expression.
type token struct {
	kind tokKind
	text string // identifier, attribute name, unescaped string, number, operator
	pos  int
}

// exprError is a problem at a byte offset of an expression.
type exprError struct {
	pos int
	msg string
}

func (e *exprError) Error() string { return fmt.Sprintf("at byte %d: %s", e.pos, e.msg) }

// column converts a byte offset of src into a 1-based character column.
func column(src string, pos int) int {
	if pos > len(src) {
		pos = len(src)
	}
	return utf8.RuneCountInString(src[:pos]) + 1
}

// lex splits an expression into tokens.
func lex(src string) ([]token, *exprError) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", i})
			i++
		case c == '=':
			toks = append(toks, token{tCmp, "=", i})
			i++
		case c == '<' || c == '>':
			op := string(c)
			if i+1 < len(src) && (src[i+1] == '=' || (c == '<' && src[i+1] == '>')) {
				op += string(src[i+1])
			}
			toks = append(toks, token{tCmp, op, i})
			i += len(op)
		case c == '[':
			end := strings.IndexByte(src[i+1:], ']')
			if end < 0 {
				return nil, &exprError{i, `attribute name not closed: missing "]"`}
			}
			name := strings.TrimSpace(src[i+1 : i+1+end])
			if name == "" {
				return nil, &exprError{i, "empty attribute name []"}
			}
			if strings.ContainsAny(name, `["`) {
				return nil, &exprError{i, fmt.Sprintf("bad attribute name %q", name)}
			}
			toks = append(toks, token{tAttr, name, i})
			i += end + 2
		case c == '"':
			s, n, err := lexString(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tString, s, i})
			i = n
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			if c == '-' && j == i+1 {
				return nil, &exprError{i, `"-" must start a number`}
			}
			if j-i > 18 {
				return nil, &exprError{i, "number too long"}
			}
			toks = append(toks, token{tNumber, src[i:j], i})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && (isIdentStart(src[j]) || (src[j] >= '0' && src[j] <= '9')) {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j], i})
			i = j
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			hint := ""
			if r == '\'' || r == '“' || r == '”' {
				hint = `: string constants are written in straight double quotes, "like this"`
			}
			return nil, &exprError{i, fmt.Sprintf("unexpected character %q%s", r, hint)}
		}
	}
	toks = append(toks, token{tEOF, "", len(src)})
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// lexString reads a string constant starting at the quote at src[start]
// and returns its value and the offset after the closing quote. A
// backslash escapes a quote or a backslash; before any other character it
// is kept as written, so regular expressions like "\d" read naturally.
func lexString(src string, start int) (string, int, *exprError) {
	var b strings.Builder
	i := start + 1
	for i < len(src) {
		c := src[i]
		switch c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 < len(src) && (src[i+1] == '"' || src[i+1] == '\\') {
				b.WriteByte(src[i+1])
				i += 2
				continue
			}
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, &exprError{start, `string constant not closed: missing '"'`}
}
