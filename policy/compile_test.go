package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCompileCollectsEveryError(t *testing.T) {
	s := PairSpec{
		UserType:          "Visitor",
		ExistingGuest:     "merge",
		DeletionThreshold: ptr(-1),
		Scope: ScopeSpec{All: true, Filters: []FilterSpec{{Clauses: []ClauseSpec{
			{Attribute: "department", Operator: "EQUALS", Value: "x"},
			{Attribute: "department", Operator: "SOUNDS LIKE", Value: "x"},
		}}}},
		Mappings: []MappingSpec{
			{Target: "city", Source: "city"},
			{Target: "city", Source: "city"},
			{Target: "displayName", Expression: `Join(" ", [givenName], Lft([surname], 1))`},
		},
		Lifecycle: LifecycleSpec{OutOfScope: "purge"},
	}
	_, err := Compile("contoso-to-fabrikam", s)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %T %v", err, err)
	}
	want := []struct {
		key string
		col int
	}{
		{"user_type", 0}, {"existing_guest", 0}, {"deletion_threshold", 0},
		{"scope.filter[0].clause[1].operator", 0}, {"mapping[1].target", 0},
		{"mapping[2].expression", 24}, {"lifecycle.out_of_scope", 0},
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), errs)
	}
	for i, w := range want {
		if errs[i].Key != w.key || errs[i].Column != w.col || errs[i].Pair != "contoso-to-fabrikam" {
			t.Errorf("error %d: %+v, want key %s column %d", i, errs[i], w.key, w.col)
		}
	}
	var one *Error
	if !errors.As(err, &one) || one.Key != "user_type" {
		t.Errorf("errors.As(*Error) = %+v", one)
	}
	if got := errs[5].Error(); !strings.HasPrefix(got, `pair "contoso-to-fabrikam": mapping[2].expression: column 24: expression for displayName: unknown function "Lft"`) {
		t.Errorf("formatted: %q", got)
	}
	if got := errs[5].Detail(); !strings.HasPrefix(got, "column 24: ") {
		t.Errorf("Detail: %q", got)
	}
}

func TestCompileSettings(t *testing.T) {
	s := PairSpec{UserType: " guest ", ExistingGuest: "ADOPT", DeletionThreshold: ptr(0), Scope: ScopeSpec{All: true}}
	p := mustCompile(t, s)
	if p.UserType() != "Guest" || p.ExistingGuest() != AdoptExisting || p.DeletionThreshold() != 0 || p.Name() != "p" {
		t.Fatalf("%q %q %d", p.UserType(), p.ExistingGuest(), p.DeletionThreshold())
	}
	s.ExistingGuest = "fail"
	if mustCompile(t, s).ExistingGuest() != FailExisting {
		t.Fatal("fail policy")
	}
}

func TestSourceProperties(t *testing.T) {
	s := allMembers()
	s.DefaultMappings = ptr(false)
	s.Scope.Filters = []FilterSpec{{Clauses: []ClauseSpec{{Attribute: "EmployeeType", Operator: "EQUALS", Value: "FTE"}}}}
	s.Mappings = []MappingSpec{
		{Target: "displayName", Expression: `Join(" ", [givenName], [surname])`},
		{Target: "extensionAttribute2", Source: "extensionAttribute7"},
		{Target: "manager", Source: "manager"},
	}
	p := mustCompile(t, s)
	want := []string{"accountEnabled", "creationType", "employeeType", "extensionAttribute7", "givenName", "id", "mail", "manager", "surname", "userPrincipalName", "userType"}
	if got := p.SourceProperties(); !reflect.DeepEqual(got, want) {
		t.Fatalf("SourceProperties:\n got %v\nwant %v", got, want)
	}
}

// TestExampleConfigPairs compiles the policies of the repository's
// config.toml example, as internal/config decodes them.
func TestExampleConfigPairs(t *testing.T) {
	specs := map[string]PairSpec{
		"contoso-to-fabrikam": {UserType: "Member", ExistingGuest: "adopt", Scope: ScopeSpec{All: true, ExcludeUPN: []string{"svc-*@contoso.onmicrosoft.com", "admin-*@*"}}},
		"fabrikam-to-contoso": {UserType: "Guest", DeletionThreshold: ptr(50),
			Scope: ScopeSpec{Groups: []string{g1}, Transitive: true, Filters: []FilterSpec{{Clauses: []ClauseSpec{
				{Attribute: "department", Operator: "REGEX MATCH", Value: "^Eng"},
				{Attribute: "accountEnabled", Operator: "IS TRUE"},
			}}}},
			Mappings: []MappingSpec{
				{Target: "displayName", Expression: `Append([displayName], " (Fabrikam)")`},
				{Target: "companyName", Constant: ptr("Fabrikam")},
			},
			Lifecycle: LifecycleSpec{OutOfScope: "disable"}},
		"northwind-to-contoso": {ExistingGuest: "skip", Scope: ScopeSpec{All: true}, Lifecycle: LifecycleSpec{HardDeleted: "hard-delete"}},
	}
	for name, s := range specs {
		if _, err := Compile(name, s); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
