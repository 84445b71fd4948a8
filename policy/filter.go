package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Operator is a scoping clause operator, with Entra's names.
type Operator string

// Operators.
const (
	OpEquals             Operator = "EQUALS"
	OpNotEquals          Operator = "NOT EQUALS"
	OpRegexMatch         Operator = "REGEX MATCH"
	OpNotRegexMatch      Operator = "NOT REGEX MATCH"
	OpIsNull             Operator = "IS NULL"
	OpIsNotNull          Operator = "IS NOT NULL"
	OpIsTrue             Operator = "IS TRUE"
	OpIsFalse            Operator = "IS FALSE"
	OpGreaterThan        Operator = "GREATER THAN"
	OpGreaterThanOrEqual Operator = "GREATER THAN OR EQUALS"
	OpEndsWith           Operator = "ENDS WITH"
	OpIncludes           Operator = "INCLUDES"
)

var operators = []Operator{OpEquals, OpNotEquals, OpRegexMatch, OpNotRegexMatch, OpIsNull, OpIsNotNull,
	OpIsTrue, OpIsFalse, OpGreaterThan, OpGreaterThanOrEqual, OpEndsWith, OpIncludes}

// parseOperator accepts Entra's spellings in any case, with spaces or
// underscores (Greater_Than_OR_EQUALS), and "GREATER THAN OR EQUAL".
func parseOperator(s string) (Operator, bool) {
	norm := strings.Join(strings.Fields(strings.ToUpper(strings.ReplaceAll(s, "_", " "))), " ")
	if norm == "GREATER THAN OR EQUAL" {
		norm = string(OpGreaterThanOrEqual)
	}
	for _, op := range operators {
		if norm == string(op) {
			return op, true
		}
	}
	return "", false
}

// maxPatternLen bounds a clause's regular expression.
const maxPatternLen = 1024

// clause is one compiled scoping clause.
type clause struct {
	attr  string
	op    Operator
	value string
	re    *regexp.Regexp
	num   int64
}

// compileClause checks one clause on user properties; key is its path
// ("scope.filter[0].clause[1]").
// compileFilters compiles a section's [[...filter]] tables (section is
// "scope" or "groups", for the keys of errors), each clause with compile;
// a filter without clauses is an error.
func compileFilters(specs []FilterSpec, section string, compile func(ClauseSpec, string, *collector) *clause, c *collector) []*filter {
	var out []*filter
	for i, fs := range specs {
		fkey := fmt.Sprintf("%s.filter[%d]", section, i)
		if len(fs.Clauses) == 0 {
			c.add(fkey, 0, "a filter needs at least one clause")
			continue
		}
		f := &filter{}
		for j, cs := range fs.Clauses {
			if cl := compile(cs, fmt.Sprintf("%s.clause[%d]", fkey, j), c); cl != nil {
				f.clauses = append(f.clauses, cl)
			}
		}
		out = append(out, f)
	}
	return out
}

func compileClause(cs ClauseSpec, key string, c *collector) *clause {
	return compileClauseIn(cs, key, userTable, c)
}

// clauseAttr resolves a clause's attribute against props: pr is the
// property named (nil when none is), ok whether a clause may filter on it;
// when it may not, clauseAttr reports why at key+".attribute".
func clauseAttr(cs ClauseSpec, key string, props *propTable, c *collector) (pr *prop, ok bool) {
	name := strings.TrimSpace(cs.Attribute)
	pr = props.lookup(name)
	switch {
	case name == "":
		c.add(key+".attribute", 0, "attribute is required")
	case pr == nil:
		c.add(key+".attribute", 0, "%s", props.unknown(props, cs.Attribute, false))
	case pr.kind == kStrings || pr.kind == kRef:
		c.add(key+".attribute", 0, "%s is a %s: scoping filters apply to single-valued attributes only, as in Entra", pr.name, pr.kind)
	default:
		return pr, true
	}
	return pr, false
}

// compileClauseIn is compileClause with the attribute resolved against
// props.
func compileClauseIn(cs ClauseSpec, key string, props *propTable, c *collector) *clause {
	cl := &clause{value: cs.Value}
	pr, ok := clauseAttr(cs, key, props, c)
	if ok {
		cl.attr = pr.name
	}
	op, known := parseOperator(cs.Operator)
	if !known {
		names := make([]string, len(operators))
		for i, o := range operators {
			names[i] = string(o)
		}
		c.add(key+".operator", 0, "unknown operator %q: use one of %s", cs.Operator, strings.Join(names, ", "))
		return nil
	}
	cl.op = op
	vkey := key + ".value"
	switch op {
	case OpIsNull, OpIsNotNull, OpIsTrue, OpIsFalse:
		if cs.Value != "" {
			c.add(vkey, 0, "%s takes no value", op)
			ok = false
		}
		if (op == OpIsTrue || op == OpIsFalse) && pr != nil && pr.kind != kBool && !strings.HasPrefix(pr.name, "extensionAttribute") {
			c.add(key+".operator", 0, "%s needs a boolean attribute; %s is a %s (use EQUALS)", op, pr.name, pr.kind)
			ok = false
		}
	case OpRegexMatch, OpNotRegexMatch:
		if cs.Value == "" {
			c.add(vkey, 0, "%s needs a regular expression", op)
			return nil
		}
		if len(cs.Value) > maxPatternLen {
			c.add(vkey, 0, "regular expression longer than %d bytes", maxPatternLen)
			return nil
		}
		re, err := regexp.Compile(cs.Value)
		if err != nil {
			c.add(vkey, 0, "bad regular expression %q (RE2 syntax: no lookaround or backreferences): %v", cs.Value, err)
			return nil
		}
		cl.re = re
	case OpGreaterThan, OpGreaterThanOrEqual:
		n, err := strconv.ParseInt(strings.TrimSpace(cs.Value), 10, 64)
		if err != nil {
			c.add(vkey, 0, "%s needs an integer value, got %q", op, cs.Value)
			return nil
		}
		cl.num = n
		if pr != nil && pr.kind == kBool {
			c.add(key+".operator", 0, "%s needs an integer attribute; %s is a boolean", op, pr.name)
			ok = false
		}
	default: // EQUALS, NOT EQUALS, ENDS WITH, INCLUDES
		if cs.Value == "" {
			c.add(vkey, 0, "%s needs a value (a null or empty attribute never matches; use IS NULL for that)", op)
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return cl
}

// eval decides the clause for one user and, when it fails, says why.
// Like Entra, a null or empty value fails every operator but IS NULL
// (NOT EQUALS and NOT REGEX MATCH included).
func (cl *clause) eval(u Attributes) (bool, string) {
	raw, _ := u.Attr(cl.attr)
	if list, multi := raw.([]string); multi {
		return false, fmt.Sprintf("%s is multi-valued (%d values): scoping filters need a single value", cl.attr, len(list))
	}
	s, _, err := str(raw)
	if err != nil {
		return false, fmt.Sprintf("%s: %v", cl.attr, err)
	}
	null := s == ""
	switch cl.op {
	case OpIsNull:
		if null {
			return true, ""
		}
		return false, fmt.Sprintf("%s %s is not null (IS NULL)", cl.attr, quote(s))
	case OpIsNotNull:
		if !null {
			return true, ""
		}
		return false, fmt.Sprintf("%s is null (IS NOT NULL)", cl.attr)
	}
	if null {
		return false, fmt.Sprintf("%s is null, which fails %s", cl.attr, cl.op)
	}
	switch cl.op {
	case OpIsTrue, OpIsFalse:
		b, err := toBool(raw)
		if err != nil {
			return false, fmt.Sprintf("%s %s is not a boolean (%s)", cl.attr, quote(s), cl.op)
		}
		if b == (cl.op == OpIsTrue) {
			return true, ""
		}
		return false, fmt.Sprintf("%s is %t (%s)", cl.attr, b, cl.op)
	case OpEquals, OpNotEquals:
		eq := s == cl.value
		if _, isBool := raw.(bool); isBool {
			eq = strings.EqualFold(s, cl.value)
		}
		if eq == (cl.op == OpEquals) {
			return true, ""
		}
		if eq {
			return false, fmt.Sprintf("%s %s equals %s (NOT EQUALS)", cl.attr, quote(s), quote(cl.value))
		}
		return false, fmt.Sprintf("%s %s does not equal %s", cl.attr, quote(s), quote(cl.value))
	case OpRegexMatch, OpNotRegexMatch:
		m := cl.re.MatchString(s)
		if m == (cl.op == OpRegexMatch) {
			return true, ""
		}
		if m {
			return false, fmt.Sprintf("%s %s matches REGEX %s (NOT REGEX MATCH)", cl.attr, quote(s), quote(cl.value))
		}
		return false, fmt.Sprintf("%s %s does not match REGEX %s", cl.attr, quote(s), quote(cl.value))
	case OpGreaterThan, OpGreaterThanOrEqual:
		n, ok := asInt(raw)
		if !ok {
			return false, fmt.Sprintf("%s %s is not an integer (%s)", cl.attr, quote(s), cl.op)
		}
		if n > cl.num || (cl.op == OpGreaterThanOrEqual && n == cl.num) {
			return true, ""
		}
		return false, fmt.Sprintf("%s %d is not %s %d", cl.attr, n, strings.ToLower(string(cl.op)), cl.num)
	case OpEndsWith:
		if strings.HasSuffix(s, cl.value) {
			return true, ""
		}
		return false, fmt.Sprintf("%s %s does not end with %s", cl.attr, quote(s), quote(cl.value))
	}
	// INCLUDES
	if strings.Contains(s, cl.value) {
		return true, ""
	}
	return false, fmt.Sprintf("%s %s does not include %s", cl.attr, quote(s), quote(cl.value))
}

// quote writes a value in single quotes, as the log reads best.
func quote(s string) string {
	if len(s) > 80 {
		s = runePrefix(s, 77) + "..."
	}
	return "'" + s + "'"
}

// filter is a compiled scoping filter: every clause must hold.
type filter struct {
	clauses []*clause
}

// eval returns whether all clauses hold, and the first failure's reason.
func (f *filter) eval(u Attributes) (bool, string) {
	for _, cl := range f.clauses {
		if ok, why := cl.eval(u); !ok {
			return false, why
		}
	}
	return true, ""
}
