package policy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzExpr parses and evaluates arbitrary expressions: no panic, no hang,
// and every error has a position inside the expression.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		`Join(" ", [givenName], [surname])`,
		`IIF([country]="USA",IIF([state]="CA","True","False"),"False")`,
		`Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [mobilePhone], )`,
		`Replace([mail], "@contoso.com", , ,"", ,)`,
		`Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane")`,
		`Item(Split([proxyAddresses], ","), 1)`,
		`Mid([givenName], 1, 3)`, `Left("John Doe", -3)`, `Word("a,b", 2, ",")`,
		`ToLower(NormalizeDiacritics(StripSpaces(Trim(Coalesce([mail], [userPrincipalName])))), "tr")`,
		`Not(IsNullOrEmpty([city]))`, `"\"\\"`, `[a`, `Join(`, `IIF([employeeId] >= 10, 1, -1)`,
	} {
		f.Add(s)
	}
	u := member(map[string]any{"proxyAddresses": []string{"a", "b"}, "employeeId": "12", "city": ""})
	f.Fuzz(func(t *testing.T, src string) {
		e, err := parseExpr(src)
		if err != nil {
			if err.pos < 0 || err.pos > len(src) {
				t.Fatalf("error position %d outside [0,%d]: %s", err.pos, len(src), err.msg)
			}
			if col := column(src, err.pos); col < 1 || col > utf8.RuneCountInString(src)+1 {
				t.Fatalf("column %d out of range", col)
			}
			if err.msg == "" {
				t.Fatal("empty message")
			}
			return
		}
		v, evalErr := e.eval(u)
		if evalErr == nil {
			if _, err := coerce(v, kString); err != nil && !strings.Contains(err.Error(), "multi-valued") {
				t.Fatalf("unexpected value %#v: %v", v, err)
			}
		}
	})
}

// FuzzFilterClause compiles and runs scoping clauses with arbitrary
// operators, values (regular expressions included) and attribute values.
func FuzzFilterClause(f *testing.F) {
	f.Add("department", "REGEX MATCH", "^Eng", "Engineering")
	f.Add("department", "NOT_REGEX_MATCH", "(a+)+$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa!")
	f.Add("employeeId", "Greater_Than_OR_EQUALS", "10", "9")
	f.Add("accountEnabled", "IS TRUE", "", "true")
	f.Add("mail", "ENDS_WITH", "@contoso.com", "")
	f.Add("city", "Includes", "ber", "Berlin")
	f.Add("city", "EQUALS", "x", "\xff")
	f.Fuzz(func(t *testing.T, attr, op, value, actual string) {
		c := &collector{pair: "p"}
		cl := compileClause(ClauseSpec{Attribute: attr, Operator: op, Value: value}, "scope.filter[0].clause[0]", c)
		if cl == nil {
			if len(c.errs) == 0 {
				t.Fatal("rejected without an error")
			}
			for _, e := range c.errs {
				if !strings.HasPrefix(e.Key, "scope.filter[0].clause[0].") || e.Msg == "" {
					t.Fatalf("bad error %+v", e)
				}
			}
			return
		}
		ok, why := cl.eval(user{cl.attr: actual})
		if !ok && why == "" {
			t.Fatal("failing clause without a reason")
		}
		ok2, _ := cl.eval(user{})
		if ok2 && cl.op != OpIsNull {
			t.Fatalf("%s held on a null value", cl.op)
		}
	})
}
