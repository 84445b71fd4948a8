package policy

import (
	"strings"
	"testing"
)

func TestParseOperatorSpellings(t *testing.T) {
	cases := map[string]Operator{
		"EQUALS": OpEquals, "equals": OpEquals, "NOT EQUALS": OpNotEquals, "not_equals": OpNotEquals,
		"REGEX MATCH": OpRegexMatch, "NOT  REGEX MATCH": OpNotRegexMatch, "IS NULL": OpIsNull,
		"IS_NOT_NULL": OpIsNotNull, "IS TRUE": OpIsTrue, "is false": OpIsFalse,
		"Greater_Than": OpGreaterThan, "Greater_Than_OR_EQUALS": OpGreaterThanOrEqual,
		"GREATER THAN OR EQUAL": OpGreaterThanOrEqual, "ENDS_WITH": OpEndsWith, "Includes": OpIncludes,
	}
	for in, want := range cases {
		if got, ok := parseOperator(in); !ok || got != want {
			t.Errorf("parseOperator(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "EQUAL", "LIKE", "&", "GREATER"} {
		if _, ok := parseOperator(bad); ok {
			t.Errorf("parseOperator(%q) accepted", bad)
		}
	}
}

// TestClauseOperators covers every operator: a match, a miss with its
// reason, and a null value (which fails every operator but IS NULL).
func TestClauseOperators(t *testing.T) {
	cases := []struct {
		attr, op, value string
		v               any
		want            bool
		why             string // substring of the reason when false
	}{
		{"department", "EQUALS", "Engineering", "Engineering", true, ""},
		{"department", "EQUALS", "Engineering", "engineering", false, "department 'engineering' does not equal 'Engineering'"},
		{"department", "EQUALS", "Engineering", nil, false, "department is null, which fails EQUALS"},
		{"department", "EQUALS", "Engineering", "", false, "is null"},
		{"accountEnabled", "EQUALS", "true", true, true, ""},
		{"employeeId", "EQUALS", "42", int64(42), true, ""},
		{"department", "NOT EQUALS", "Sales", "Engineering", true, ""},
		{"department", "NOT EQUALS", "Sales", "Sales", false, "department 'Sales' equals 'Sales' (NOT EQUALS)"},
		{"department", "NOT EQUALS", "Sales", nil, false, "is null, which fails NOT EQUALS"},
		{"department", "REGEX MATCH", "^Eng", "Engineering", true, ""},
		{"department", "REGEX MATCH", "^Eng", "Sales", false, "department 'Sales' does not match REGEX '^Eng'"},
		{"department", "REGEX MATCH", "eng", "Engineering", false, "does not match"}, // case-sensitive
		{"department", "REGEX MATCH", "^Eng", nil, false, "fails REGEX MATCH"},
		{"department", "NOT REGEX MATCH", "^Eng", "Sales", true, ""},
		{"department", "NOT REGEX MATCH", "^Eng", "Engineering", false, "matches REGEX '^Eng' (NOT REGEX MATCH)"},
		{"department", "NOT REGEX MATCH", "^Eng", nil, false, "fails NOT REGEX MATCH"},
		{"department", "IS NULL", "", nil, true, ""},
		{"department", "IS NULL", "", "", true, ""},
		{"department", "IS NULL", "", "Sales", false, "department 'Sales' is not null"},
		{"department", "IS NOT NULL", "", "Sales", true, ""},
		{"department", "IS NOT NULL", "", nil, false, "department is null (IS NOT NULL)"},
		{"accountEnabled", "IS TRUE", "", true, true, ""},
		{"accountEnabled", "IS TRUE", "", false, false, "accountEnabled is false (IS TRUE)"},
		{"accountEnabled", "IS TRUE", "", nil, false, "fails IS TRUE"},
		{"extensionAttribute1", "IS TRUE", "", "TRUE", true, ""},
		{"extensionAttribute1", "IS TRUE", "", "yes", false, "is not a boolean"},
		{"accountEnabled", "IS FALSE", "", false, true, ""},
		{"accountEnabled", "IS FALSE", "", true, false, "accountEnabled is true (IS FALSE)"},
		{"employeeId", "GREATER THAN", "100", "101", true, ""},
		{"employeeId", "GREATER THAN", "100", int64(101), true, ""},
		{"employeeId", "GREATER THAN", "100", "100", false, "employeeId 100 is not greater than 100"},
		{"employeeId", "GREATER THAN", "100", "abc", false, "employeeId 'abc' is not an integer"},
		{"employeeId", "GREATER THAN", "100", nil, false, "fails GREATER THAN"},
		{"employeeId", "GREATER THAN OR EQUALS", "100", "100", true, ""},
		{"employeeId", "GREATER THAN OR EQUALS", "100", "99", false, "99 is not greater than or equals 100"},
		{"mail", "ENDS WITH", "@contoso.com", "a@contoso.com", true, ""},
		{"mail", "ENDS WITH", "@contoso.com", "a@fabrikam.com", false, "does not end with '@contoso.com'"},
		{"mail", "ENDS WITH", "@contoso.com", nil, false, "fails ENDS WITH"},
		{"jobTitle", "INCLUDES", "Engineer", "Senior Engineer II", true, ""},
		{"jobTitle", "INCLUDES", "Engineer", "Senior engineer", false, "does not include 'Engineer'"},
		{"jobTitle", "INCLUDES", "Engineer", nil, false, "fails INCLUDES"},
		{"extensionAttribute2", "EQUALS", "x", []string{"x"}, false, "multi-valued"},
	}
	for _, c := range cases {
		ec := &collector{pair: "p"}
		cl := compileClause(ClauseSpec{Attribute: c.attr, Operator: c.op, Value: c.value}, "k", ec)
		if cl == nil {
			t.Fatalf("%s %s %q: compile: %v", c.attr, c.op, c.value, ec.errs)
		}
		got, why := cl.eval(user{c.attr: c.v})
		if got != c.want {
			t.Errorf("%s %s %q on %#v = %v (%s), want %v", c.attr, c.op, c.value, c.v, got, why, c.want)
			continue
		}
		if !got && !strings.Contains(why, c.why) {
			t.Errorf("%s %s %q on %#v: reason %q, want it to contain %q", c.attr, c.op, c.value, c.v, why, c.why)
		}
		if got && why != "" {
			t.Errorf("passing clause has reason %q", why)
		}
	}
}

func TestClauseMissingAttributeIsNull(t *testing.T) {
	ec := &collector{}
	cl := compileClause(ClauseSpec{Attribute: "department", Operator: "IS NULL"}, "k", ec)
	if ok, _ := cl.eval(user{}); !ok {
		t.Fatal("a property not read should count as null")
	}
}

func TestClauseCompileErrors(t *testing.T) {
	cases := []struct {
		cs      ClauseSpec
		key     string
		msgPart string
	}{
		{ClauseSpec{Operator: "EQUALS", Value: "x"}, "k.attribute", "required"},
		{ClauseSpec{Attribute: "departmnt", Operator: "EQUALS", Value: "x"}, "k.attribute", "unknown source attribute"},
		{ClauseSpec{Attribute: "proxyAddresses", Operator: "EQUALS", Value: "x"}, "k.attribute", "single-valued"},
		{ClauseSpec{Attribute: "manager", Operator: "IS NULL"}, "k.attribute", "single-valued"},
		{ClauseSpec{Attribute: "department", Operator: "LIKE", Value: "x"}, "k.operator", "unknown operator"},
		{ClauseSpec{Attribute: "department", Operator: "IS NULL", Value: "x"}, "k.value", "takes no value"},
		{ClauseSpec{Attribute: "department", Operator: "IS TRUE"}, "k.operator", "boolean attribute"},
		{ClauseSpec{Attribute: "department", Operator: "REGEX MATCH", Value: "("}, "k.value", "bad regular expression"},
		{ClauseSpec{Attribute: "department", Operator: "REGEX MATCH", Value: "(?=x)"}, "k.value", "bad regular expression"},
		{ClauseSpec{Attribute: "department", Operator: "NOT REGEX MATCH"}, "k.value", "needs a regular expression"},
		{ClauseSpec{Attribute: "employeeId", Operator: "GREATER THAN", Value: "ten"}, "k.value", "integer"},
		{ClauseSpec{Attribute: "accountEnabled", Operator: "GREATER THAN", Value: "1"}, "k.operator", "boolean"},
		{ClauseSpec{Attribute: "department", Operator: "EQUALS"}, "k.value", "IS NULL"},
		{ClauseSpec{Attribute: "department", Operator: "ENDS WITH"}, "k.value", "needs a value"},
	}
	for _, c := range cases {
		ec := &collector{pair: "p"}
		if cl := compileClause(c.cs, "k", ec); cl != nil {
			t.Errorf("%+v compiled", c.cs)
			continue
		}
		found := false
		for _, e := range ec.errs {
			found = found || (e.Key == c.key && strings.Contains(e.Msg, c.msgPart))
		}
		if !found {
			t.Errorf("%+v: want error at %s containing %q, got %v", c.cs, c.key, c.msgPart, ec.errs)
		}
	}
}

func TestClauseAttributeCaseIsCanonicalised(t *testing.T) {
	ec := &collector{}
	cl := compileClause(ClauseSpec{Attribute: "Department", Operator: "EQUALS", Value: "Sales"}, "k", ec)
	if cl == nil || cl.attr != "department" {
		t.Fatalf("got %+v, %v", cl, ec.errs)
	}
}
