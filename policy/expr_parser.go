package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits that keep a hostile or mistaken expression from exhausting the
// stack or the start-up time.
const (
	maxExprLen   = 8192
	maxExprDepth = 64
)

// expr is a parsed, checked expression.
type expr struct {
	src   string
	root  node
	attrs []string // canonical names of the attributes it reads, in order of appearance
}

// eval evaluates the expression for one user.
func (e *expr) eval(u Attributes) (any, error) { return e.root.eval(u) }

// parser is a recursive-descent parser over the token list.
type parser struct {
	src   string
	toks  []token
	i     int
	attrs []string
	seen  map[string]bool
	props *propTable // what attribute names resolve against
}

// parseExpr parses and checks src: syntax, known functions and their
// arity, literal arguments (regular expressions compile, indices are
// positive), known attributes (user properties). The error carries the
// byte offset of the problem.
func parseExpr(src string) (*expr, *exprError) { return parseExprIn(src, userTable) }

// parseExprIn is parseExpr with attribute names resolved against props.
func parseExprIn(src string, props *propTable) (*expr, *exprError) {
	if len(src) > maxExprLen {
		return nil, &exprError{maxExprLen, fmt.Sprintf("expression longer than %d bytes", maxExprLen)}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &exprError{0, "empty expression"}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks, seen: map[string]bool{}, props: props}
	root, err := p.expression(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &exprError{t.pos, fmt.Sprintf("unexpected %s after the end of the expression", describe(t))}
	}
	return &expr{src: src, root: root, attrs: p.attrs}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) col(pos int) int { return column(p.src, pos) }

// expression := operand [ comparison operand ]
func (p *parser) expression(depth int) (node, *exprError) {
	if depth > maxExprDepth {
		return nil, &exprError{p.peek().pos, fmt.Sprintf("expression nested deeper than %d levels", maxExprDepth)}
	}
	l, err := p.operand(depth)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tCmp {
		p.next()
		r, err := p.operand(depth)
		if err != nil {
			return nil, err
		}
		if t2 := p.peek(); t2.kind == tCmp {
			return nil, &exprError{t2.pos, "comparisons cannot be chained; nest IIF calls instead"}
		}
		return &cmpNode{op: t.text, l: l, r: r, col: p.col(t.pos)}, nil
	}
	return l, nil
}

// operand := [attr] | "string" | number | Function( args )
func (p *parser) operand(depth int) (node, *exprError) {
	t := p.next()
	switch t.kind {
	case tAttr:
		pr := p.props.lookup(t.text)
		if pr == nil {
			return nil, &exprError{t.pos, p.props.unknown(p.props, t.text, true)}
		}
		if !p.seen[pr.name] {
			p.seen[pr.name] = true
			p.attrs = append(p.attrs, pr.name)
		}
		return &attrNode{name: pr.name, col: p.col(t.pos)}, nil
	case tString:
		return &litNode{v: t.text, col: p.col(t.pos)}, nil
	case tNumber:
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, &exprError{t.pos, fmt.Sprintf("bad number %s", t.text)}
		}
		return &litNode{v: n, col: p.col(t.pos)}, nil
	case tIdent:
		return p.call(t, depth)
	case tLParen:
		return nil, &exprError{t.pos, `"(" must follow a function name`}
	}
	return nil, &exprError{t.pos, fmt.Sprintf("expected an attribute, a string, a number or a function, found %s", describe(t))}
}

// call parses a function call whose name was just read, then checks it.
func (p *parser) call(name token, depth int) (node, *exprError) {
	fn, ok := funcs[name.text]
	if !ok {
		return nil, &exprError{name.pos, fmt.Sprintf("unknown function %q%s", name.text, suggestFunc(name.text))}
	}
	if t := p.next(); t.kind != tLParen {
		return nil, &exprError{t.pos, fmt.Sprintf(`expected "(" after %s, found %s`, fn.name, describe(t))}
	}
	c := &callNode{fn: fn, col: p.col(name.pos), pos: name.pos}
	if p.peek().kind == tRParen {
		p.next()
	} else {
		for {
			var arg node
			c.argStart = append(c.argStart, p.peek().pos)
			if t := p.peek(); t.kind == tComma || t.kind == tRParen {
				arg = &omitNode{col: p.col(t.pos)} // an empty argument: Replace([x], , "re", , "", , )
			} else {
				var err *exprError
				if arg, err = p.expression(depth + 1); err != nil {
					return nil, err
				}
			}
			c.args = append(c.args, arg)
			t := p.next()
			if t.kind == tRParen {
				break
			}
			if t.kind != tComma {
				return nil, &exprError{t.pos, fmt.Sprintf(`expected "," or ")" in %s(...), found %s`, fn.name, describe(t))}
			}
		}
	}
	if n := len(c.args); n < fn.min || (fn.max >= 0 && n > fn.max) {
		return nil, &exprError{name.pos, fmt.Sprintf("%s takes %s, got %d: %s", fn.name, arity(fn), n, fn.usage)}
	}
	if fn.check != nil {
		if err := fn.check(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func arity(fn *funcDef) string {
	switch {
	case fn.max == fn.min && fn.min == 1:
		return "1 argument"
	case fn.max == fn.min:
		return fmt.Sprintf("%d arguments", fn.min)
	case fn.max < 0:
		return fmt.Sprintf("at least %d arguments", fn.min)
	}
	return fmt.Sprintf("%d to %d arguments", fn.min, fn.max)
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tString:
		return fmt.Sprintf("string %q", t.text)
	case tAttr:
		return "[" + t.text + "]"
	}
	return fmt.Sprintf("%s %q", t.kind, t.text)
}

func suggestFunc(name string) string {
	for n := range funcs {
		if strings.EqualFold(n, name) {
			return fmt.Sprintf(" (names are case-sensitive: %s)", n)
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b, or max when it is
// at least max (which keeps the search cheap).
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= max {
			return max
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}
