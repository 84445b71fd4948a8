package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestMappingsOverrideAddAndDrop(t *testing.T) {
	s := allMembers()
	s.Mappings = []MappingSpec{
		{Target: "displayName", Expression: `Append([displayName], " (Contoso)")`},
		{Target: "companyName", Constant: ptr("Contoso")},
		{Target: "extensionAttribute1", Source: "department", Apply: "create"},
		{Target: "mobilePhone", Apply: "never"},
		{Target: "otherMails", Source: "userPrincipalName"},
		{Target: "ShowInAddressList", Constant: ptr("false")},
	}
	p := mustCompile(t, s)
	d, err := p.Desired(member(nil), true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"displayName": "Ada Lovelace (Contoso)", "companyName": "Contoso", "extensionAttribute1": "Engineering",
		"otherMails": []string{"ada@contoso.com"}, "showInAddressList": false,
	}
	for k, v := range want {
		if !reflect.DeepEqual(d[k], v) {
			t.Errorf("%s = %#v, want %#v", k, d[k], v)
		}
	}
	if _, ok := d["mobilePhone"]; ok {
		t.Error(`mobilePhone was dropped with apply = "never" but is mapped`)
	}
	u, _ := p.Desired(member(nil), false)
	if _, ok := u["extensionAttribute1"]; ok {
		t.Error("a create-only mapping was applied on update")
	}
}

func TestDefaultMappingsOff(t *testing.T) {
	s := allMembers()
	s.DefaultMappings = ptr(false)
	s.Mappings = []MappingSpec{{Target: "displayName", Source: "displayName"}}
	p := mustCompile(t, s)
	if got := p.TargetProperties(); !reflect.DeepEqual(got, []string{"displayName", "userType"}) {
		t.Fatalf("targets %v", got)
	}
}

func TestCoercionToTargetTypes(t *testing.T) {
	cases := []struct {
		v    any
		k    kind
		want any
		err  bool
	}{
		{"x", kString, "x", false},
		{int64(7), kString, "7", false},
		{true, kString, "True", false},
		{nil, kString, nil, false},
		{[]string{"a"}, kString, nil, true},
		{"TRUE", kBool, true, false},
		{"false", kBool, false, false},
		{"", kBool, nil, false},
		{"yes", kBool, nil, true},
		{[]string{"a", "b"}, kStrings, []string{"a", "b"}, false},
		{"a", kStrings, []string{"a"}, false},
		{"", kStrings, nil, false},
		{int64(1), kStrings, []string{"1"}, false},
		{"m1", kRef, "m1", false},
		{"", kRef, nil, false},
		{true, kRef, nil, true},
	}
	for _, c := range cases {
		got, err := coerce(c.v, c.k)
		if (err != nil) != c.err || (!c.err && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("coerce(%#v, %s) = %#v, %v; want %#v (error %v)", c.v, c.k, got, err, c.want, c.err)
		}
	}
}

func TestDesiredCopiesCollections(t *testing.T) {
	p := mustCompile(t, allMembers())
	phones := []string{"+1"}
	d, _ := p.Desired(member(map[string]any{"businessPhones": phones}), false)
	d["businessPhones"].([]string)[0] = "changed"
	if phones[0] != "+1" {
		t.Fatal("Desired shares the source user's slice")
	}
}

func TestEvalErrorsAreReturnedPerUser(t *testing.T) {
	s := allMembers()
	s.Mappings = []MappingSpec{
		{Target: "jobTitle", Expression: `Left([jobTitle], [employeeId])`},
		{Target: "accountEnabled", Source: "department"},
	}
	p := mustCompile(t, s)
	if _, err := p.Desired(member(map[string]any{"jobTitle": "Boss", "employeeId": "2", "department": "true"}), false); err != nil {
		t.Fatalf("good user: %v", err)
	}
	_, err := p.Desired(member(map[string]any{"jobTitle": "Boss", "employeeId": "two"}), false)
	var ee *EvalError
	if !errors.As(err, &ee) {
		t.Fatalf("want *EvalError, got %T %v", err, err)
	}
	msg := err.Error()
	for _, part := range []string{"mapping of jobTitle (mapping[0])", "Left (column 1)", "want an integer", "mapping of accountEnabled (mapping[1])", "want True or False"} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q lacks %q", msg, part)
		}
	}
}

func TestMappingCompileErrors(t *testing.T) {
	cases := []struct {
		m       MappingSpec
		key     string
		col     int
		msgPart string
	}{
		{MappingSpec{Source: "city"}, "mapping[0].target", 0, "required"},
		{MappingSpec{Target: "id", Source: "id"}, "mapping[0].target", 0, "id cannot be written"},
		{MappingSpec{Target: "userPrincipalName", Source: "userPrincipalName"}, "mapping[0].target", 0, "UPN"},
		{MappingSpec{Target: "creationType", Constant: ptr("x")}, "mapping[0].target", 0, "cannot be written"},
		{MappingSpec{Target: "externalUserState", Constant: ptr("x")}, "mapping[0].target", 0, "cannot be written"},
		{MappingSpec{Target: "proxyAddresses", Source: "proxyAddresses"}, "mapping[0].target", 0, "cannot be written"},
		{MappingSpec{Target: "userType", Constant: ptr("Guest")}, "mapping[0].target", 0, "user_type"},
		{MappingSpec{Target: "nickname", Source: "city"}, "mapping[0].target", 0, "unknown guest property"},
		{MappingSpec{Target: "city", Source: "cty"}, "mapping[0].source", 0, "unknown source attribute"},
		{MappingSpec{Target: "city"}, "mapping[0]", 0, "exactly one"},
		{MappingSpec{Target: "city", Source: "city", Constant: ptr("x")}, "mapping[0]", 0, "exactly one"},
		{MappingSpec{Target: "city", Source: "city", Apply: "sometimes"}, "mapping[0].apply", 0, "unknown apply"},
		{MappingSpec{Target: "city", Source: "city", Apply: "never"}, "mapping[0].apply", 0, "leave source"},
		{MappingSpec{Target: "postalCode", Apply: "never"}, "mapping[0].apply", 0, "has none"},
		{MappingSpec{Target: "manager", Expression: `[manager]`}, "mapping[0].expression", 0, "manager maps only from manager"},
		{MappingSpec{Target: "manager", Source: "displayName"}, "mapping[0].source", 0, "manager maps only from manager"},
		{MappingSpec{Target: "city", Source: "manager"}, "mapping[0].source", 0, "manager maps only from manager"},
		{MappingSpec{Target: "city", Source: "proxyAddresses"}, "mapping[0].source", 0, "Item("},
		{MappingSpec{Target: "accountEnabled", Constant: ptr("maybe")}, "mapping[0].constant", 0, "want True or False"},
		{MappingSpec{Target: "displayName", Expression: `Join(" ", [givenName], [surnmae])`}, "mapping[0].expression", 24, "unknown source attribute [surnmae]"},
	}
	for _, c := range cases {
		s := allMembers()
		s.Mappings = []MappingSpec{c.m}
		errs := compileErrs(t, s)
		e := findErr(t, errs, c.key, c.msgPart)
		if e.Column != c.col {
			t.Errorf("%+v: column %d, want %d", c.m, e.Column, c.col)
		}
	}
}

func TestDuplicateTargetMapping(t *testing.T) {
	s := allMembers()
	s.Mappings = []MappingSpec{{Target: "city", Source: "city"}, {Target: "City", Constant: ptr("x")}}
	findErr(t, compileErrs(t, s), "mapping[1].target", "already mapped by mapping[0]")
}
