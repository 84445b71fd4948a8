package policy

import (
	"strings"
	"testing"
)

func TestExternalUsersAreNeverInScope(t *testing.T) {
	p := mustCompile(t, allMembers())
	cases := []struct {
		u   user
		why string
	}{
		{member(map[string]any{"userType": "Guest"}), "userType Guest"},
		{member(map[string]any{"userType": "guest"}), "userType Guest"},
		{member(map[string]any{"creationType": "Invitation"}), "creationType Invitation"},
		{member(map[string]any{"userPrincipalName": "bob_fabrikam.com#EXT#@contoso.onmicrosoft.com"}), "#EXT#"},
		{member(map[string]any{"userPrincipalName": "bob_fabrikam.com#ext#@contoso.onmicrosoft.com"}), "#EXT#"},
	}
	for _, c := range cases {
		d := p.InScope(c.u, nil)
		if d.In || !strings.Contains(d.Reason, c.why) {
			t.Errorf("%v: %v, want out of scope for %q", c.u, d, c.why)
		}
	}
	if d := p.InScope(member(nil), nil); !d.In || d.Reason != "all members" {
		t.Errorf("member: %v", d)
	}
	if d := p.InScope(member(map[string]any{"userType": nil}), nil); !d.In {
		t.Errorf("a null userType (older accounts) is a member: %v", d)
	}
}

func TestExclusions(t *testing.T) {
	s := allMembers()
	s.Scope.ExcludeUPN = []string{"svc-*@contoso.com", "ADMIN-*@*"}
	s.Scope.ExcludeMail = []string{"*@noreply.contoso.com"}
	p := mustCompile(t, s)
	cases := []struct {
		u   user
		in  bool
		why string
	}{
		{member(map[string]any{"userPrincipalName": "svc-backup@contoso.com"}), false, "userPrincipalName 'svc-backup@contoso.com' matches exclude_upn pattern 'svc-*@contoso.com'"},
		{member(map[string]any{"userPrincipalName": "Admin-Ada@fabrikam.com"}), false, "exclude_upn pattern 'admin-*@*'"},
		{member(map[string]any{"mail": "Bot@NoReply.contoso.com"}), false, "exclude_mail"},
		{member(map[string]any{"mail": nil}), true, ""},
		{member(nil), true, ""},
	}
	for _, c := range cases {
		d := p.InScope(c.u, nil)
		if d.In != c.in || !strings.Contains(d.Reason, c.why) {
			t.Errorf("%v: got %v, want in=%v reason ~ %q", c.u["userPrincipalName"], d, c.in, c.why)
		}
	}
}

const g1, g2 = "9c1b3f7e-5b7a-4d3e-8a21-6f0c2d4e9b10", "0f1e2d3c-4b5a-4968-8776-655443322110"

func TestGroupScope(t *testing.T) {
	s := PairSpec{Scope: ScopeSpec{Groups: []string{strings.ToUpper(g1), g2}}}
	p := mustCompile(t, s)
	if got := p.Groups(); len(got) != 2 || got[0] != g1 {
		t.Fatalf("Groups() = %v (want lower case)", got)
	}
	in := p.InScope(member(nil), func(g string) bool { return g == g2 })
	if !in.In || in.Reason != "member of a scoped group" {
		t.Errorf("member of g2: %v", in)
	}
	out := p.InScope(member(nil), func(string) bool { return false })
	if out.In || !strings.Contains(out.Reason, "not a direct member") || !strings.Contains(out.Reason, "transitive") {
		t.Errorf("non-member: %v", out)
	}
	if d := p.InScope(member(nil), nil); d.In {
		t.Errorf("nil memberOf with groups: %v", d)
	}
	s.Scope.Transitive = true
	p = mustCompile(t, s)
	if !p.Transitive() {
		t.Fatal("Transitive() false")
	}
	if d := p.InScope(member(nil), func(string) bool { return false }); !strings.Contains(d.Reason, "nested groups") {
		t.Errorf("transitive non-member: %v", d)
	}
	if d := p.InScope(member(nil), func(string) bool { return true }); d.Reason != "member of a scoped group (nested groups included)" {
		t.Errorf("transitive member: %v", d)
	}
}

func TestFiltersAndOr(t *testing.T) {
	s := allMembers()
	s.Scope.Filters = []FilterSpec{
		{Clauses: []ClauseSpec{
			{Attribute: "department", Operator: "REGEX MATCH", Value: "^Eng"},
			{Attribute: "accountEnabled", Operator: "IS TRUE"},
		}},
		{Clauses: []ClauseSpec{{Attribute: "country", Operator: "EQUALS", Value: "Austria"}}},
	}
	p := mustCompile(t, s)
	cases := []struct {
		u   user
		in  bool
		why string
	}{
		{member(nil), true, "all members; filter[0] matched"},
		{member(map[string]any{"department": "Sales", "country": "Austria"}), true, "all members; filter[1] matched"},
		{member(map[string]any{"accountEnabled": false, "country": "Austria"}), true, "filter[1] matched"},
		{member(map[string]any{"department": "Sales"}), false, "no scoping filter matched: filter[0]: department 'Sales' does not match REGEX '^Eng'; filter[1]: country 'Germany' does not equal 'Austria'"},
		{member(map[string]any{"accountEnabled": false}), false, "filter[0]: accountEnabled is false (IS TRUE)"},
	}
	for _, c := range cases {
		d := p.InScope(c.u, nil)
		if d.In != c.in || !strings.Contains(d.Reason, c.why) {
			t.Errorf("got %v, want in=%v reason ~ %q", d, c.in, c.why)
		}
	}
}

func TestSingleFilterReasonReadsPlainly(t *testing.T) {
	s := allMembers()
	s.Scope.Filters = []FilterSpec{{Clauses: []ClauseSpec{{Attribute: "department", Operator: "REGEX MATCH", Value: "^Eng"}}}}
	p := mustCompile(t, s)
	d := p.InScope(member(map[string]any{"department": "Sales"}), nil)
	if got, want := d.String(), "out of scope: department 'Sales' does not match REGEX '^Eng'"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := p.InScope(member(nil), nil).String(); got != "in scope: all members; the scoping filter matched" {
		t.Errorf("in: %q", got)
	}
}

func TestScopeCompileErrors(t *testing.T) {
	cases := []struct {
		sc      ScopeSpec
		key     string
		msgPart string
	}{
		{ScopeSpec{}, "scope", "all_members"},
		{ScopeSpec{All: true, Groups: []string{g1}}, "scope.groups", "exclude each other"},
		{ScopeSpec{All: true, Transitive: true}, "scope.transitive", "groups"},
		{ScopeSpec{Groups: []string{g1, "engineering"}}, "scope.groups[1]", "not a group object ID"},
		{ScopeSpec{Groups: []string{g1, strings.ToUpper(g1)}}, "scope.groups[1]", "twice"},
		{ScopeSpec{All: true, Filters: []FilterSpec{{}}}, "scope.filter[0]", "at least one clause"},
		{ScopeSpec{All: true, Filters: []FilterSpec{{Clauses: []ClauseSpec{{Attribute: "city", Operator: "EQUALS", Value: "x"}, {Attribute: "city", Operator: "IS"}}}}}, "scope.filter[0].clause[1].operator", "unknown operator"},
		{ScopeSpec{All: true, ExcludeUPN: []string{"[a-"}}, "scope.exclude_upn[0]", "bad pattern"},
		{ScopeSpec{All: true, ExcludeMail: []string{"ok@*", " "}}, "scope.exclude_mail[1]", "empty pattern"},
	}
	for _, c := range cases {
		errs := compileErrs(t, PairSpec{Scope: c.sc})
		findErr(t, errs, c.key, c.msgPart)
	}
}
