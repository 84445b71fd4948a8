package graphsim

import (
	"fmt"
	"strconv"
	"strings"
)

// This file holds a real OData $filter tokenizer, parser and evaluator for
// the subset Graph supports on users. Anything outside it is rejected with
// 400 rather than guessed at.

type tokKind int

const (
	tkEOF tokKind = iota
	tkIdent
	tkString
	tkNumber
	tkLParen
	tkRParen
	tkComma
	tkColon
)

type token struct {
	kind tokKind
	text string // identifier, unescaped string, or number text
	pos  int
}

func tokenize(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tkLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tkRParen, ")", i})
			i++
		case c == ',':
			out = append(out, token{tkComma, ",", i})
			i++
		case c == ':':
			out = append(out, token{tkColon, ":", i})
			i++
		case c == '\'':
			start := i
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string literal at position %d", start)
			}
			out = append(out, token{tkString, b.String(), start})
		case c == '-' || (c >= '0' && c <= '9'):
			start := i
			i++
			for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
				i++
			}
			// A GUID without quotes or a date is not a number: reject.
			if i < len(s) && (isIdentByte(s[i]) || s[i] == '-') {
				return nil, fmt.Errorf("syntax error at position %d", start)
			}
			out = append(out, token{tkNumber, s[start:i], start})
		case isIdentByte(c) || c == '$':
			start := i
			for i < len(s) && (isIdentByte(s[i]) || s[i] == '/' || s[i] == '$' || s[i] == '.') {
				i++
			}
			out = append(out, token{tkIdent, s[start:i], start})
		default:
			return nil, fmt.Errorf("syntax error: character '%c' at position %d is not valid", c, i)
		}
	}
	out = append(out, token{kind: tkEOF, pos: len(s)})
	return out, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// literal is a constant in a filter.
type literal struct {
	null  bool
	isStr bool
	str   string
	isB   bool
	b     bool
	isNum bool
	num   float64
}

// operand is a property reference: a user property, an extension
// attribute, or the range variable of a lambda (optionally with a member).
type operand struct {
	prop   *propDef
	ext    string // extensionAttributeN when prop is onPremisesExtensionAttributes
	rvar   bool   // the lambda's range variable
	member string // member of the range variable (identities/any(c:c/issuer ...))
	count  bool   // path/$count
}

type fnode interface {
	eval(u *user, elem any) bool
}

type andNode struct{ l, r fnode }
type orNode struct{ l, r fnode }
type notNode struct{ x fnode }
type cmpNode struct {
	o   operand
	op  string
	lit literal
}
type inNode struct {
	o    operand
	lits []literal
}
type fnNode struct {
	name string // startswith, endswith
	o    operand
	lit  literal
}
type anyNode struct {
	o    operand
	body fnode // nil: any() without a predicate
}

func (n andNode) eval(u *user, e any) bool { return n.l.eval(u, e) && n.r.eval(u, e) }
func (n orNode) eval(u *user, e any) bool  { return n.l.eval(u, e) || n.r.eval(u, e) }
func (n notNode) eval(u *user, e any) bool { return !n.x.eval(u, e) }

// value resolves an operand against a user (and the lambda element).
func (o operand) value(u *user, elem any) any {
	switch {
	case o.rvar:
		if o.member != "" {
			if m, ok := elem.(map[string]any); ok {
				return m[o.member]
			}
			return nil
		}
		return elem
	case o.prop.kind == kExt:
		m, _ := u.props[o.prop.name].(map[string]any)
		return m[o.ext]
	case o.prop.name == "id":
		return u.id
	}
	return u.props[o.prop.name]
}

func (n cmpNode) eval(u *user, e any) bool {
	v := n.o.value(u, e)
	if n.o.count {
		cnt := 0
		switch x := v.(type) {
		case []string:
			cnt = len(x)
		case []map[string]any:
			cnt = len(x)
		}
		return compareNum(float64(cnt), n.op, n.lit.num)
	}
	if n.lit.null {
		isNull := v == nil
		if s, ok := v.(string); ok && s == "" {
			isNull = true
		}
		if n.op == "eq" {
			return isNull
		}
		return !isNull
	}
	switch x := v.(type) {
	case string:
		c := strings.Compare(strings.ToLower(x), strings.ToLower(n.lit.str))
		switch n.op {
		case "eq":
			return c == 0
		case "ne":
			return c != 0
		case "ge":
			return c >= 0
		case "le":
			return c <= 0
		}
	case bool:
		switch n.op {
		case "eq":
			return x == n.lit.b
		case "ne":
			return x != n.lit.b
		}
	case nil:
		return n.op == "ne"
	}
	return false
}

func compareNum(a float64, op string, b float64) bool {
	switch op {
	case "eq":
		return a == b
	case "ne":
		return a != b
	case "ge":
		return a >= b
	case "le":
		return a <= b
	}
	return false
}

func (n inNode) eval(u *user, e any) bool {
	for _, l := range n.lits {
		if (cmpNode{o: n.o, op: "eq", lit: l}).eval(u, e) {
			return true
		}
	}
	return false
}

func (n fnNode) eval(u *user, e any) bool {
	s, ok := n.o.value(u, e).(string)
	if !ok {
		return false
	}
	s, p := strings.ToLower(s), strings.ToLower(n.lit.str)
	if n.name == "startswith" {
		return strings.HasPrefix(s, p)
	}
	return strings.HasSuffix(s, p)
}

func (n anyNode) eval(u *user, _ any) bool {
	switch coll := u.props[n.o.prop.name].(type) {
	case []string:
		if n.body == nil {
			return len(coll) > 0
		}
		for _, x := range coll {
			if n.body.eval(u, x) {
				return true
			}
		}
	case []map[string]any:
		if n.body == nil {
			return len(coll) > 0
		}
		for _, x := range coll {
			if n.body.eval(u, x) {
				return true
			}
		}
	}
	return false
}

// filterQuery is a parsed $filter.
type filterQuery struct {
	root fnode
	// advanced is Graph's error message for this filter when it is sent
	// without the advanced query parameters ("" if it needs none).
	advanced string
}

type parser struct {
	toks     []token
	i        int
	rvar     string // current lambda range variable
	rvarColl *propDef
	advanced string
	neg      int // depth of enclosing not operators
}

// filterError is a 400 for a filter the simulator (and Graph) rejects.
type filterError struct{ msg string }

func (e filterError) Error() string { return e.msg }

func parseFilter(s string) (*filterQuery, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, filterError{"Invalid filter clause: " + err.Error()}
	}
	p := &parser{toks: toks}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tkEOF {
		return nil, p.errAt("unexpected '" + p.peek().text + "'")
	}
	return &filterQuery{root: n, advanced: p.advanced}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(msg string) error {
	return filterError{fmt.Sprintf("Invalid filter clause: %s at position %d.", msg, p.peek().pos)}
}

func (p *parser) isKeyword(w string) bool {
	t := p.peek()
	return t.kind == tkIdent && t.text == w
}

// advancedHint ends every "needs the advanced parameters" message, as in
// Graph's answer to endsWith without them (aad-advanced-queries, "Error
// handling for advanced queries on directory objects").
const advancedHint = " is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"

// needAdvanced records that the filter is an advanced query because of
// operator op (on prop, when the operator alone is not the reason).
func (p *parser) needAdvanced(op string, prop *propDef) {
	if p.advanced != "" {
		return
	}
	switch {
	case prop == nil || op == opNe || op == opNot || op == opEndsWith || op == "$count":
		p.advanced = "Operator '" + op + "'" + advancedHint
	case op == opNull:
		p.advanced = "Filtering '" + prop.name + "' on null values" + advancedHint
	default:
		// Graph documents the property-level case only in its tables; the
		// message follows the operator one.
		p.advanced = "Operator '" + op + "' on property '" + prop.name + "'" + advancedHint
	}
}

// unsupportedProp is Graph's 400 for an operator a property does not
// support even as an advanced query (aad-advanced-queries, same section).
func unsupportedProp(name string) error {
	return filterError{"Unsupported or invalid query filter clause specified for property '" + name + "' of resource 'User'."}
}

// use checks that operand o supports op (and not, inside a negation)
// according to the property's table, and records an advanced requirement.
func (p *parser) use(o operand, op string) error {
	prop := o.prop
	if o.count {
		return nil // $count in a filter is checked where it is parsed
	}
	ops := []string{op}
	if p.neg > 0 {
		ops = append(ops, opNot)
	}
	for _, x := range ops {
		switch prop.opm[x] {
		case opNone:
			name := prop.name
			if o.ext != "" {
				name += "/" + o.ext
			}
			return unsupportedProp(name)
		case opAdvanced:
			p.needAdvanced(x, prop)
		}
	}
	return nil
}

func (p *parser) expr() (fnode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *parser) and() (fnode, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("and") {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *parser) unary() (fnode, error) {
	if p.isKeyword("not") {
		p.next()
		p.needAdvanced(opNot, nil)
		p.neg++
		x, err := p.unary()
		p.neg--
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.primary()
}

func (p *parser) expect(k tokKind, what string) error {
	if p.peek().kind != k {
		return p.errAt("expected " + what)
	}
	p.next()
	return nil
}

func (p *parser) primary() (fnode, error) {
	t := p.peek()
	switch t.kind {
	case tkLParen:
		p.next()
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tkRParen, "')'"); err != nil {
			return nil, err
		}
		return n, nil
	case tkIdent:
	default:
		return nil, p.errAt("expected a property or function")
	}
	lower := strings.ToLower(t.text)
	if lower == "startswith" || lower == "endswith" {
		if p.toks[p.i+1].kind == tkLParen {
			return p.function(lower)
		}
	}
	if strings.HasSuffix(t.text, "/any") || strings.HasSuffix(t.text, "/all") {
		return p.lambda()
	}
	p.next()
	o, err := p.operand(t.text)
	if err != nil {
		return nil, err
	}
	op := p.next()
	if op.kind != tkIdent {
		return nil, p.errAt("expected an operator")
	}
	switch op.text {
	case "eq", "ne", "ge", "le":
		if op.text == opNe {
			p.needAdvanced(opNe, nil)
		}
		lit, err := p.literal()
		if err != nil {
			return nil, err
		}
		if err := p.checkLiteral(o, lit); err != nil {
			return nil, err
		}
		if err := p.use(o, op.text); err != nil {
			return nil, err
		}
		if lit.null {
			if err := p.use(o, opNull); err != nil {
				return nil, err
			}
			p.needAdvanced(opNull, o.prop)
		}
		return cmpNode{o: o, op: op.text, lit: lit}, nil
	case "in":
		if err := p.expect(tkLParen, "'('"); err != nil {
			return nil, err
		}
		var lits []literal
		for {
			lit, err := p.literal()
			if err != nil {
				return nil, err
			}
			if err := p.checkLiteral(o, lit); err != nil {
				return nil, err
			}
			lits = append(lits, lit)
			if p.peek().kind == tkComma {
				p.next()
				continue
			}
			break
		}
		if err := p.expect(tkRParen, "')'"); err != nil {
			return nil, err
		}
		if len(lits) > 15 {
			return nil, filterError{"Too many values in the 'in' operator; the maximum is 15."}
		}
		if err := p.use(o, opIn); err != nil {
			return nil, err
		}
		return inNode{o: o, lits: lits}, nil
	case "gt", "lt", "has", "add", "sub", "mul", "div", "mod":
		return nil, filterError{fmt.Sprintf("Unsupported query: the operator '%s' is not supported.", op.text)}
	}
	return nil, p.errAt("unknown operator '" + op.text + "'")
}

func (p *parser) function(name string) (fnode, error) {
	p.next() // name
	p.next() // (
	t := p.next()
	if t.kind != tkIdent {
		return nil, p.errAt("expected a property")
	}
	o, err := p.operand(t.text)
	if err != nil {
		return nil, err
	}
	if err := p.expect(tkComma, "','"); err != nil {
		return nil, err
	}
	lit, err := p.literal()
	if err != nil {
		return nil, err
	}
	if !lit.isStr {
		return nil, filterError{"The function '" + name + "' needs a string literal."}
	}
	if err := p.expect(tkRParen, "')'"); err != nil {
		return nil, err
	}
	if o.count || (!o.rvar && o.prop.kind != kString && o.prop.kind != kExt) {
		return nil, unsupportedProp(o.prop.name)
	}
	op := opStartsWith
	if name == "endswith" {
		op = opEndsWith
		p.needAdvanced(opEndsWith, nil)
	}
	if err := p.use(o, op); err != nil {
		return nil, err
	}
	return fnNode{name: name, o: o, lit: lit}, nil
}

func (p *parser) lambda() (fnode, error) {
	t := p.next()
	path, kindWord, _ := strings.Cut(t.text, "/")
	if kindWord == "all" {
		return nil, filterError{"Unsupported query: the lambda operator 'all' is not supported."}
	}
	if p.rvar != "" {
		return nil, filterError{"Unsupported query: nested lambda expressions are not supported."}
	}
	prop := propFold[strings.ToLower(path)]
	if prop == nil {
		return nil, filterError{"Could not find a property named '" + path + "' on type 'microsoft.graph.user'."}
	}
	if prop.kind != kStrings && prop.kind != kIdentities {
		return nil, filterError{"The any operator requires a collection property; '" + prop.name + "' is not a collection."}
	}
	if len(prop.opm) == 0 {
		return nil, unsupportedProp(prop.name)
	}
	if err := p.expect(tkLParen, "'('"); err != nil {
		return nil, err
	}
	if p.peek().kind == tkRParen {
		p.next()
		return anyNode{o: operand{prop: prop}}, nil
	}
	v := p.next()
	if v.kind != tkIdent || strings.Contains(v.text, "/") {
		return nil, p.errAt("expected a range variable")
	}
	if err := p.expect(tkColon, "':'"); err != nil {
		return nil, err
	}
	p.rvar, p.rvarColl = v.text, prop
	body, err := p.expr()
	p.rvar, p.rvarColl = "", nil
	if err != nil {
		return nil, err
	}
	if err := p.expect(tkRParen, "')'"); err != nil {
		return nil, err
	}
	return anyNode{o: operand{prop: prop}, body: body}, nil
}

// operand resolves a property path.
func (p *parser) operand(path string) (operand, error) {
	if p.rvar != "" {
		if path == p.rvar {
			if p.rvarColl.kind != kStrings {
				return operand{}, filterError{"The range variable of '" + p.rvarColl.name + "' needs a member."}
			}
			return operand{rvar: true, prop: p.rvarColl}, nil
		}
		if m, ok := strings.CutPrefix(path, p.rvar+"/"); ok {
			if p.rvarColl.kind != kIdentities || (m != "issuer" && m != "issuerAssignedId" && m != "signInType") {
				return operand{}, filterError{"Could not find a property named '" + m + "' on the range variable."}
			}
			return operand{rvar: true, member: m, prop: p.rvarColl}, nil
		}
	}
	parts := strings.Split(path, "/")
	prop := propFold[strings.ToLower(parts[0])]
	if prop == nil {
		return operand{}, filterError{"Could not find a property named '" + parts[0] + "' on type 'microsoft.graph.user'."}
	}
	if len(prop.opm) == 0 {
		return operand{}, unsupportedProp(prop.name)
	}
	o := operand{prop: prop}
	switch {
	case len(parts) == 1:
		if prop.kind == kExt {
			return operand{}, filterError{"Filter on onPremisesExtensionAttributes needs a member, e.g. onPremisesExtensionAttributes/extensionAttribute1."}
		}
		if prop.kind == kStrings || prop.kind == kIdentities {
			return operand{}, filterError{"Unsupported or invalid query filter clause specified for property '" + prop.name + "' of resource 'User'; use any() on collections."}
		}
	case len(parts) == 2 && prop.kind == kExt:
		n, ok := isExtAttrName(parts[1])
		if !ok {
			return operand{}, filterError{"Could not find a property named '" + parts[1] + "' on type 'microsoft.graph.onPremisesExtensionAttributes'."}
		}
		o.ext = n
	case len(parts) == 2 && parts[1] == "$count" && (prop.kind == kStrings || prop.kind == kIdentities):
		p.needAdvanced("$count", nil)
		o.count = true
	default:
		return operand{}, filterError{"Unsupported property path '" + path + "'."}
	}
	return o, nil
}

func (p *parser) literal() (literal, error) {
	t := p.next()
	switch t.kind {
	case tkString:
		return literal{isStr: true, str: t.text}, nil
	case tkNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return literal{}, p.errAt("bad number")
		}
		return literal{isNum: true, num: f}, nil
	case tkIdent:
		switch t.text {
		case "true":
			return literal{isB: true, b: true}, nil
		case "false":
			return literal{isB: true}, nil
		case "null":
			return literal{null: true}, nil
		}
	}
	return literal{}, filterError{fmt.Sprintf("Invalid filter clause: expected a literal at position %d.", t.pos)}
}

// checkLiteral enforces type compatibility between an operand and a literal.
func (p *parser) checkLiteral(o operand, l literal) error {
	if l.null {
		return nil
	}
	want := "string"
	switch {
	case o.count:
		want = "number"
	case o.rvar:
	case o.prop.kind == kBool:
		want = "bool"
	}
	ok := (want == "string" && l.isStr) || (want == "bool" && l.isB) || (want == "number" && l.isNum)
	if !ok {
		name := o.prop.name
		return filterError{fmt.Sprintf("A binary operator with incompatible types was detected. Found operand types for property '%s' that do not match (expected %s).", name, want)}
	}
	return nil
}

// idsOnly checks a users-delta filter: only "id eq '...'" joined by or,
// at most 50 of them; it returns the IDs.
func idsOnly(n fnode) ([]string, bool) {
	switch x := n.(type) {
	case orNode:
		l, ok1 := idsOnly(x.l)
		r, ok2 := idsOnly(x.r)
		return append(l, r...), ok1 && ok2
	case cmpNode:
		if x.op == "eq" && !x.o.rvar && x.o.prop.name == "id" && x.lit.isStr {
			return []string{x.lit.str}, true
		}
	}
	return nil, false
}
