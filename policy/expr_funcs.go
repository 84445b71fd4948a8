package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// funcDef is one function of the mapping language.
type funcDef struct {
	name     string
	min, max int // argument count; max < 0: no upper bound
	usage    string
	// check runs once at compile time on the parsed call: literal
	// arguments, regular expressions, argument combinations.
	check func(c *callNode) *exprError
	eval  func(c *callNode, u Attributes) (any, error)
}

// funcs are the supported functions by their (case-sensitive) names. The
// semantics follow Microsoft's "Reference for writing expressions for
// attribute mappings in Microsoft Entra ID"; where that reference leaves a
// case open, the choice is written on the function.
var funcs = map[string]*funcDef{}

func init() {
	for _, f := range []*funcDef{
		{name: "Append", min: 2, max: 2, usage: "Append(source, suffix)", eval: fnAppend},
		{name: "CStr", min: 1, max: 1, usage: "CStr(value)", eval: strFunc(func(s string) string { return s })},
		{name: "Coalesce", min: 1, max: -1, usage: "Coalesce(source1, source2, ..., defaultValue)", eval: fnCoalesce},
		{name: "IIF", min: 3, max: 3, usage: "IIF(condition, valueIfTrue, valueIfFalse)", eval: fnIIF},
		{name: "IsNull", min: 1, max: 1, usage: "IsNull(expression)", eval: fnIsNull},
		{name: "IsNullOrEmpty", min: 1, max: 1, usage: "IsNullOrEmpty(expression)", eval: fnIsNullOrEmpty},
		{name: "IsPresent", min: 1, max: 1, usage: "IsPresent(expression)", eval: fnIsPresent},
		{name: "Item", min: 2, max: 2, usage: "Item(attribute, index) with index from 1", check: checkItem, eval: fnItem},
		{name: "Join", min: 2, max: -1, usage: "Join(separator, source1, source2, ...)", eval: fnJoin},
		{name: "Left", min: 2, max: 2, usage: "Left(string, numChars)", check: checkIntArgs(1), eval: fnLeft},
		{name: "Mid", min: 3, max: 3, usage: "Mid(source, start, length) with start from 1", check: checkMid, eval: fnMid},
		{name: "NormalizeDiacritics", min: 1, max: 1, usage: "NormalizeDiacritics(source)", eval: strFunc(normalizeDiacritics)},
		{name: "Not", min: 1, max: 1, usage: "Not(source)", eval: fnNot},
		{name: "Replace", min: 3, max: 7, usage: "Replace(source, oldValue, regexPattern, regexGroupName, replacementValue, replacementAttributeName, template)", check: checkReplace, eval: fnReplace},
		{name: "Split", min: 2, max: 2, usage: "Split(source, delimiter)", check: checkSplit, eval: fnSplit},
		{name: "StripSpaces", min: 1, max: 1, usage: "StripSpaces(source)", eval: strFunc(func(s string) string { return strings.ReplaceAll(s, " ", "") })},
		{name: "Switch", min: 4, max: -1, usage: "Switch(source, defaultValue, key1, value1, key2, value2, ...)", check: checkSwitch, eval: fnSwitch},
		{name: "ToLower", min: 1, max: 2, usage: "ToLower(source, culture)", eval: fnCase(true)},
		{name: "ToUpper", min: 1, max: 2, usage: "ToUpper(source, culture)", eval: fnCase(false)},
		{name: "Trim", min: 1, max: 1, usage: "Trim(source)", eval: strFunc(strings.TrimSpace)},
		{name: "Word", min: 3, max: 3, usage: "Word(string, wordNumber, delimiters)", check: checkIntArgs(1), eval: fnWord},
	} {
		funcs[f.name] = f
	}
}

// argStr evaluates argument i as a single string.
func (n *callNode) argStr(i int, u Attributes) (string, bool, error) {
	v, err := n.arg(i, u)
	if err != nil {
		return "", false, err
	}
	s, null, err := str(v)
	if err != nil {
		return "", false, fmt.Errorf("argument %d: %w", i+1, err)
	}
	return s, null, nil
}

// argInt evaluates argument i as an integer.
func (n *callNode) argInt(i int, u Attributes) (int64, error) {
	v, err := n.arg(i, u)
	if err != nil {
		return 0, err
	}
	k, err := toInt(v)
	if err != nil {
		return 0, fmt.Errorf("argument %d: %w", i+1, err)
	}
	return k, nil
}

// checkIntArgs rejects constant arguments at the given indices that are
// not integers.
func checkIntArgs(idx ...int) func(c *callNode) *exprError {
	return func(c *callNode) *exprError {
		for _, i := range idx {
			if v, ok := c.literal(i); ok {
				if _, err := toInt(v); err != nil {
					return c.argErr(i, "%v", err)
				}
			}
			if !c.present(i) {
				return c.argErr(i, "is required")
			}
		}
		return nil
	}
}

// Append(source, suffix): a null source stays null, so a missing
// attribute does not become just the suffix.
var fnAppend = strArgFunc(func(s, suffix string) (any, error) { return s + suffix, nil })

// strFunc is a function of one string argument: CStr (the value as a
// string, True/False for booleans), NormalizeDiacritics, StripSpaces
// (every space removed) and Trim (leading and trailing white space
// removed; not one of Entra's functions). A null argument stays null.
func strFunc(f func(string) string) func(c *callNode, u Attributes) (any, error) {
	return strArgFunc(func(s, _ string) (any, error) { return f(s), nil })
}

// strArgFunc is a function of a source string and a second string
// argument ("" when it is absent or null): Append, Split, ToLower and
// ToUpper. A null source stays null and the second argument is then not
// evaluated.
func strArgFunc(f func(s, arg string) (any, error)) func(c *callNode, u Attributes) (any, error) {
	return func(c *callNode, u Attributes) (any, error) {
		s, null, err := c.argStr(0, u)
		if err != nil || null {
			return nil, err
		}
		arg, _, err := c.argStr(1, u)
		if err != nil {
			return nil, err
		}
		return f(s, arg)
	}
}

// Coalesce: the first argument that is neither null nor empty; the last
// argument doubles as the default. All empty: null.
func fnCoalesce(c *callNode, u Attributes) (any, error) {
	for i := range c.args {
		v, err := c.arg(i, u)
		if err != nil {
			return nil, err
		}
		if !isEmpty(v) {
			return v, nil
		}
	}
	return nil, nil
}

// IIF(condition, valueIfTrue, valueIfFalse): only the chosen branch is
// evaluated, so an error in the other one does not fail the user.
func fnIIF(c *callNode, u Attributes) (any, error) {
	v, err := c.arg(0, u)
	if err != nil {
		return nil, err
	}
	cond, err := toBool(v)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	if cond {
		return c.arg(1, u)
	}
	return c.arg(2, u)
}

func fnIsNull(c *callNode, u Attributes) (any, error) {
	v, err := c.arg(0, u)
	return v == nil, err
}

func fnIsNullOrEmpty(c *callNode, u Attributes) (any, error) {
	v, err := c.arg(0, u)
	return isEmpty(v), err
}

func fnIsPresent(c *callNode, u Attributes) (any, error) {
	v, err := c.arg(0, u)
	return !isEmpty(v), err
}

// Messages for integer arguments out of range, the same whether a
// constant is caught at compile time or a computed value at run time.
const (
	msgItemIndex = "index %d: items are counted from 1"
	msgMidStart  = "start %d: characters are counted from 1"
	msgMidLength = "length %d is negative"
)

// literalBelow returns constant argument i when it is an integer below
// min (checkIntArgs has already rejected non-integers).
func (n *callNode) literalBelow(i int, min int64) (int64, bool) {
	v, ok := n.literal(i)
	if !ok {
		return 0, false
	}
	k, _ := toInt(v)
	return k, k < min
}

func checkItem(c *callNode) *exprError {
	if err := checkIntArgs(1)(c); err != nil {
		return err
	}
	if n, below := c.literalBelow(1, 1); below {
		return c.argErr(1, msgItemIndex, n)
	}
	return nil
}

// Item(attribute, index): the index-th value (from 1) of a multi-valued
// attribute; a single value counts as one item; past the end is null.
func fnItem(c *callNode, u Attributes) (any, error) {
	v, err := c.arg(0, u)
	if err != nil {
		return nil, err
	}
	i, err := c.argInt(1, u)
	if err != nil {
		return nil, err
	}
	if i < 1 {
		return nil, fmt.Errorf(msgItemIndex, i)
	}
	list, err := values(v)
	if err != nil {
		return nil, err
	}
	if i > int64(len(list)) {
		return nil, nil
	}
	return list[i-1], nil
}

// Join(separator, sources...): null and empty values are left out (so
// Join(", ", "", [surname], [givenName]) is "Doe, John"); multi-valued
// sources contribute each of their values.
func fnJoin(c *callNode, u Attributes) (any, error) {
	sep, _, err := c.argStr(0, u)
	if err != nil {
		return nil, err
	}
	var parts []string
	size := 0
	add := func(s string) error {
		if size += len(s) + len(sep); size > maxValueLen {
			return errTooLong
		}
		parts = append(parts, s)
		return nil
	}
	for i := 1; i < len(c.args); i++ {
		v, err := c.arg(i, u)
		if err != nil {
			return nil, err
		}
		list, err := values(v)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		for _, s := range list {
			if s == "" {
				continue
			}
			if err := add(s); err != nil {
				return nil, err
			}
		}
	}
	return strings.Join(parts, sep), nil
}

// values is v as a list: a multi-valued attribute's values, a single
// value as one, null as none.
func values(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return x, nil
	}
	s, _, err := str(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// Left(string, numChars): 0 gives "", a negative count the whole string, a
// null string "". Characters, not bytes.
func fnLeft(c *callNode, u Attributes) (any, error) {
	s, _, err := c.argStr(0, u)
	if err != nil {
		return nil, err
	}
	n, err := c.argInt(1, u)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return s, nil
	}
	return runePrefix(s, n), nil
}

func runePrefix(s string, n int64) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func checkMid(c *callNode) *exprError {
	if err := checkIntArgs(1, 2)(c); err != nil {
		return err
	}
	if n, below := c.literalBelow(1, 1); below {
		return c.argErr(1, msgMidStart, n)
	}
	if n, below := c.literalBelow(2, 0); below {
		return c.argErr(2, msgMidLength, n)
	}
	return nil
}

// Mid(source, start, length): start counts from 1; a length past the end
// stops at the end; a null source stays null.
func fnMid(c *callNode, u Attributes) (any, error) {
	s, null, err := c.argStr(0, u)
	if err != nil || null {
		return nil, err
	}
	start, err := c.argInt(1, u)
	if err != nil {
		return nil, err
	}
	length, err := c.argInt(2, u)
	if err != nil {
		return nil, err
	}
	if start < 1 {
		return nil, fmt.Errorf(msgMidStart, start)
	}
	if length < 0 {
		return nil, fmt.Errorf(msgMidLength, length)
	}
	rest := s
	for k := int64(1); k < start; k++ {
		if rest == "" {
			return "", nil
		}
		_, w := utf8.DecodeRuneInString(rest)
		rest = rest[w:]
	}
	return runePrefix(rest, length), nil
}

// Not(source): source is a boolean or "True"/"False".
func fnNot(c *callNode, u Attributes) (any, error) {
	v, err := c.arg(0, u)
	if err != nil {
		return nil, err
	}
	b, err := toBool(v)
	if err != nil {
		return nil, err
	}
	return !b, nil
}

func checkSplit(c *callNode) *exprError {
	if v, ok := c.literal(1); ok {
		if s, _, _ := str(v); s == "" {
			return c.argErr(1, "the delimiter must not be empty")
		}
	}
	if !c.present(1) {
		return c.argErr(1, "the delimiter is required")
	}
	return nil
}

// Split(source, delimiter): a multi-valued result; values are not trimmed
// (wrap in Trim per item if needed); a null source stays null.
var fnSplit = strArgFunc(func(s, d string) (any, error) {
	if d == "" {
		return nil, errors.New("the delimiter is empty")
	}
	return strings.Split(s, d), nil
})

func checkSwitch(c *callNode) *exprError {
	if len(c.args)%2 != 0 {
		return &exprError{c.pos, fmt.Sprintf("Switch takes keys and values in pairs after source and defaultValue, got %d arguments (an odd count): %s", len(c.args), c.fn.usage)}
	}
	return nil
}

// Switch(source, defaultValue, key1, value1, ...): case-sensitive string
// comparison; a null source matches the key "" (as Entra advises); no
// match gives defaultValue, null when it is left empty.
func fnSwitch(c *callNode, u Attributes) (any, error) {
	src, _, err := c.argStr(0, u)
	if err != nil {
		return nil, err
	}
	for i := 2; i+1 < len(c.args); i += 2 {
		k, _, err := c.argStr(i, u)
		if err != nil {
			return nil, err
		}
		if k == src {
			return c.arg(i+1, u)
		}
	}
	return c.arg(1, u)
}

// fnCase is ToLower/ToUpper(source, culture). Culture is the invariant
// one unless it names Turkish or Azeri (tr, az), whose dotted and dotless
// i differ; other cultures case like the invariant one in practice.
func fnCase(lower bool) func(c *callNode, u Attributes) (any, error) {
	return strArgFunc(func(s, culture string) (any, error) {
		culture = strings.ToLower(culture)
		turkic := strings.HasPrefix(culture, "tr") || strings.HasPrefix(culture, "az")
		switch {
		case turkic && lower:
			return strings.ToLowerSpecial(unicode.TurkishCase, s), nil
		case turkic:
			return strings.ToUpperSpecial(unicode.TurkishCase, s), nil
		case lower:
			return strings.ToLower(s), nil
		}
		return strings.ToUpper(s), nil
	})
}

// Word(string, wordNumber, delimiters): words are runs of characters
// between any of the delimiter characters (empty runs do not count);
// number < 1, a null string or too few words give "".
func fnWord(c *callNode, u Attributes) (any, error) {
	s, _, err := c.argStr(0, u)
	if err != nil {
		return nil, err
	}
	n, err := c.argInt(1, u)
	if err != nil {
		return nil, err
	}
	delims, _, err := c.argStr(2, u)
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return "", nil
	}
	words := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if n > int64(len(words)) {
		return "", nil
	}
	return words[n-1], nil
}

// Replace modes, chosen at compile time by which arguments are written.
const (
	replaceOld           = iota + 1 // oldValue + replacementValue
	replaceTemplate                 // oldValue + template
	replaceRegex                    // regexPattern + replacementValue
	replaceRegexGroup               // regexPattern + regexGroupName + replacementValue
	replaceRegexFallback            // regexPattern + regexGroupName + replacementAttributeName
)

const (
	rSource = iota
	rOld
	rPattern
	rGroup
	rValue
	rAttr
	rTemplate
)

func checkReplace(c *callNode) *exprError {
	has := c.present
	switch {
	case has(rOld) && has(rPattern):
		return c.argErr(rPattern, "give oldValue or regexPattern, not both")
	case has(rOld) && has(rValue) && !has(rTemplate):
		c.mode = replaceOld
	case has(rOld) && has(rTemplate) && !has(rValue):
		c.mode = replaceTemplate
	case has(rPattern) && has(rGroup) && has(rAttr) && !has(rValue):
		c.mode = replaceRegexFallback
	case has(rPattern) && has(rGroup) && has(rValue):
		c.mode = replaceRegexGroup
	case has(rPattern) && has(rValue) && !has(rAttr):
		c.mode = replaceRegex
	default:
		return &exprError{c.pos, "Replace needs oldValue with replacementValue or template, or regexPattern with replacementValue (and optionally regexGroupName), or regexPattern, regexGroupName and replacementAttributeName; leave the other arguments empty: " + c.fn.usage}
	}
	if c.mode == replaceOld || c.mode == replaceTemplate {
		if v, ok := c.literal(rOld); ok {
			if s, _, _ := str(v); s == "" {
				return c.argErr(rOld, "oldValue must not be empty")
			}
		}
		return nil
	}
	v, ok := c.literal(rPattern)
	pat, isStr := v.(string)
	if !ok || !isStr {
		return c.argErr(rPattern, "regexPattern must be a string constant, so it is checked at start-up")
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return c.argErr(rPattern, "bad regular expression (RE2 syntax: no lookaround or backreferences): %v", err)
	}
	c.re = re
	if has(rGroup) {
		g, ok := c.literal(rGroup)
		name, isStr := g.(string)
		if !ok || !isStr {
			return c.argErr(rGroup, "regexGroupName must be a string constant")
		}
		if c.group = re.SubexpIndex(name); c.group < 0 {
			return c.argErr(rGroup, "regexPattern has no group named %q; name it with (?<%s>...)", name, name)
		}
	}
	return nil
}

// Replace: see the modes above. Matching is case-sensitive; a null source
// stays null, except in the replacementAttributeName mode, whose point is
// to fill an empty source from another attribute.
func fnReplace(c *callNode, u Attributes) (any, error) {
	src, null, err := c.argStr(rSource, u)
	if err != nil {
		return nil, err
	}
	if c.mode == replaceRegexFallback {
		if !null && src != "" {
			return src, nil
		}
		other, onull, err := c.argStr(rAttr, u)
		if err != nil || onull {
			return nil, err
		}
		m := c.re.FindStringSubmatchIndex(other)
		if m == nil || m[2*c.group] < 0 {
			return nil, nil
		}
		return other[m[2*c.group]:m[2*c.group+1]], nil
	}
	if null {
		return nil, nil
	}
	switch c.mode {
	case replaceOld, replaceTemplate:
		old, _, err := c.argStr(rOld, u)
		if err != nil {
			return nil, err
		}
		if old == "" {
			return nil, errors.New("oldValue is empty")
		}
		if c.mode == replaceTemplate {
			tpl, _, err := c.argStr(rTemplate, u)
			if err != nil {
				return nil, err
			}
			if len(tpl)+strings.Count(tpl, old)*len(src) > maxValueLen {
				return nil, errTooLong
			}
			return strings.ReplaceAll(tpl, old, src), nil
		}
		repl, _, err := c.argStr(rValue, u)
		if err != nil {
			return nil, err
		}
		if len(src)+strings.Count(src, old)*len(repl) > maxValueLen {
			return nil, errTooLong
		}
		return strings.ReplaceAll(src, old, repl), nil
	case replaceRegex:
		repl, _, err := c.argStr(rValue, u)
		if err != nil {
			return nil, err
		}
		return regexReplaceAll(c.re, src, repl)
	}
	// replaceRegexGroup: only the named group's text inside each match is replaced.
	repl, _, err := c.argStr(rValue, u)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	last := 0
	for _, m := range c.re.FindAllStringSubmatchIndex(src, -1) {
		s, e := m[2*c.group], m[2*c.group+1]
		if s < 0 || s < last {
			continue
		}
		b.WriteString(src[last:s])
		b.WriteString(repl)
		last = e
	}
	b.WriteString(src[last:])
	return b.String(), nil
}

// regexReplaceAll is Regexp.ReplaceAllString ($1, ${name} expand in
// repl) that gives up once the result outgrows maxValueLen.
func regexReplaceAll(re *regexp.Regexp, src, repl string) (string, error) {
	var out []byte
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(src, -1) {
		out = append(out, src[last:m[0]]...)
		out = re.ExpandString(out, repl, src, m)
		last = m[1]
		if len(out) > maxValueLen {
			return "", errTooLong
		}
	}
	out = append(out, src[last:]...)
	if len(out) > maxValueLen {
		return "", errTooLong
	}
	return string(out), nil
}
