package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// node is one part of a parsed expression. Values are string, bool,
// int64, []string or nil (null), as on Attributes.
type node interface {
	eval(u Attributes) (any, error)
}

// attrNode reads a source attribute; a missing one is null.
type attrNode struct {
	name string
	col  int
}

func (n *attrNode) eval(u Attributes) (any, error) {
	v, _ := u.Attr(n.name)
	return v, nil
}

// litNode is a string or number constant.
type litNode struct {
	v   any
	col int
}

func (n *litNode) eval(Attributes) (any, error) { return n.v, nil }

// omitNode is an argument left empty; it is null.
type omitNode struct{ col int }

func (n *omitNode) eval(Attributes) (any, error) { return nil, nil }

// cmpNode is a comparison (=, <>, <, <=, >, >=), as IIF conditions use.
type cmpNode struct {
	op   string
	l, r node
	col  int
}

func (n *cmpNode) eval(u Attributes) (any, error) {
	l, err := n.l.eval(u)
	if err != nil {
		return nil, err
	}
	r, err := n.r.eval(u)
	if err != nil {
		return nil, err
	}
	c, err := compareValues(l, r, n.op == "=" || n.op == "<>")
	if err != nil {
		return nil, fmt.Errorf("column %d: %s: %w", n.col, n.op, err)
	}
	switch n.op {
	case "=":
		return c == 0, nil
	case "<>":
		return c != 0, nil
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil // ">="
}

// compareValues orders two values: numerically when both are integers,
// else as strings (ordinal, case-sensitive; booleans compare without
// case for equality so [accountEnabled] = "true" holds). Null compares
// as the empty string: unlike Entra, where a null attribute makes an IIF
// condition fail, IIF([country] = "", ...) works here.
func compareValues(l, r any, equality bool) (int, error) {
	li, lok := asInt(l)
	ri, rok := asInt(r)
	if lok && rok {
		switch {
		case li < ri:
			return -1, nil
		case li > ri:
			return 1, nil
		}
		return 0, nil
	}
	ls, _, err := str(l)
	if err != nil {
		return 0, err
	}
	rs, _, err := str(r)
	if err != nil {
		return 0, err
	}
	_, lb := l.(bool)
	_, rb := r.(bool)
	if equality && (lb || rb) && strings.EqualFold(ls, rs) {
		return 0, nil
	}
	return strings.Compare(ls, rs), nil
}

// callNode is a function call. The fields after args are set by the
// function's static check (a compiled regular expression, a mode).
type callNode struct {
	fn       *funcDef
	args     []node
	argStart []int // byte offset where each argument starts (for errors)
	col      int
	pos      int

	re    *regexp.Regexp
	group int
	mode  int
}

func (n *callNode) eval(u Attributes) (any, error) {
	v, err := n.fn.eval(n, u)
	if err == nil {
		err = checkSize(v)
	}
	if err != nil {
		return nil, fmt.Errorf("%s (column %d): %w", n.fn.name, n.col, err)
	}
	return v, nil
}

// maxValueLen bounds every intermediate value (Graph's strings hold at
// most 1,024 characters), so that nested Replace or Join calls cannot
// blow a value up exponentially.
const maxValueLen = 16 << 10

var errTooLong = fmt.Errorf("value longer than %d bytes", maxValueLen)

func checkSize(v any) error {
	switch x := v.(type) {
	case string:
		if len(x) > maxValueLen {
			return errTooLong
		}
	case []string:
		n := 0
		for _, s := range x {
			n += len(s)
		}
		if n > maxValueLen {
			return errTooLong
		}
	}
	return nil
}

// arg evaluates argument i (0-based); a missing one is null.
func (n *callNode) arg(i int, u Attributes) (any, error) {
	if i >= len(n.args) {
		return nil, nil
	}
	return n.args[i].eval(u)
}

// present reports whether argument i was written (not left empty).
func (n *callNode) present(i int) bool {
	if i >= len(n.args) {
		return false
	}
	_, omitted := n.args[i].(*omitNode)
	return !omitted
}

// literal returns argument i when it is a constant.
func (n *callNode) literal(i int) (any, bool) {
	if i >= len(n.args) {
		return nil, false
	}
	l, ok := n.args[i].(*litNode)
	if !ok {
		return nil, false
	}
	return l.v, true
}

// argErr is a static error about argument i, at its position.
func (n *callNode) argErr(i int, format string, args ...any) *exprError {
	pos := n.pos
	if i < len(n.argStart) {
		pos = n.argStart[i]
	}
	return &exprError{pos, fmt.Sprintf("%s argument %d: %s", n.fn.name, i+1, fmt.Sprintf(format, args...))}
}

// str converts a single value to a string; null is "" with null true.
func str(v any) (s string, null bool, err error) {
	switch x := v.(type) {
	case nil:
		return "", true, nil
	case string:
		return x, false, nil
	case int64:
		return strconv.FormatInt(x, 10), false, nil
	case int:
		return strconv.Itoa(x), false, nil
	case bool:
		if x {
			return "True", false, nil
		}
		return "False", false, nil
	case []string:
		return "", false, fmt.Errorf("want a single value, got a multi-valued one (%d values)", len(x))
	}
	return "", false, fmt.Errorf("unsupported value type %T", v)
}

// asInt reads an integer from an int or a string holding one.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// toInt is asInt with a helpful error.
func toInt(v any) (int64, error) {
	n, ok := asInt(v)
	if !ok {
		return 0, fmt.Errorf("want an integer, got %s", show(v))
	}
	return n, nil
}

// toBool reads a boolean from a bool or "True"/"False" in any case.
func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch {
		case strings.EqualFold(x, "true"):
			return true, nil
		case strings.EqualFold(x, "false"):
			return false, nil
		}
	}
	return false, fmt.Errorf("want True or False, got %s", show(v))
}

// isEmpty: null, "" or an empty collection.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []string:
		return len(x) == 0
	}
	return false
}

// show renders a value for messages.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprintf("%v", v)
}
