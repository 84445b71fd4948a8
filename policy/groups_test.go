package policy

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ctsync/ctsync/internal/directory"
)

const (
	engID   = "9c1b3f7e-5b7a-4d3e-8a21-6f0c2d4e9b10"
	otherID = "0f0e0d0c-0b0a-4908-8706-050403020100"
)

// withGroups is the smallest valid pair plus g as its [pair.groups].
func withGroups(g GroupsSpec) PairSpec {
	s := allMembers()
	s.Groups = &g
	return s
}

// groupRules compiles g and binds it to the source tenant "contoso".
func groupRules(t *testing.T, g GroupsSpec) *GroupRules {
	t.Helper()
	r := mustCompile(t, withGroups(g)).GroupSync("contoso")
	if r == nil {
		t.Fatal("GroupSync is nil for a pair with [pair.groups]")
	}
	return r
}

// group is a source security group.
func group(id, displayName, description, nick string) directory.Group {
	attrs := map[string]any{"securityEnabled": true}
	for k, v := range map[string]string{"displayName": displayName, "description": description, "mailNickname": nick} {
		if v != "" {
			attrs[k] = v
		}
	}
	return directory.Group{ID: id, Attrs: attrs}
}

func clauses(cs ...ClauseSpec) FilterSpec { return FilterSpec{Clauses: cs} }

func TestGroupSyncOff(t *testing.T) {
	if r := mustCompile(t, allMembers()).GroupSync("contoso"); r != nil {
		t.Fatalf("no [pair.groups] but GroupSync = %+v", r)
	}
}

func TestGroupDefaults(t *testing.T) {
	r := groupRules(t, GroupsSpec{Names: []string{"Engineering"}})
	if r.Transitive() || r.Exact() || !r.DeleteOnLeave() {
		t.Errorf("defaults: transitive %v exact %v deleteOnLeave %v, want false false true", r.Transitive(), r.Exact(), r.DeleteOnLeave())
	}
	dn, desc, err := r.Target(group(engID, "Engineering", "The engineers", "eng"))
	if err != nil {
		t.Fatal(err)
	}
	if dn != "Engineering" {
		t.Errorf("default displayName %q", dn)
	}
	if want := "Synced by ctsync from tenant contoso (group " + engID + ")"; desc != want {
		t.Errorf("default description %q, want %q", desc, want)
	}
	set := groupRules(t, GroupsSpec{Names: []string{"Engineering"}, Transitive: true, Members: " Exact ", OutOfScope: "KEEP"})
	if !set.Transitive() || !set.Exact() || set.DeleteOnLeave() {
		t.Errorf("set: transitive %v exact %v deleteOnLeave %v, want true true false", set.Transitive(), set.Exact(), set.DeleteOnLeave())
	}
	explicit := groupRules(t, GroupsSpec{Names: []string{"Engineering"}, Members: "managed", OutOfScope: "delete"})
	if explicit.Exact() || !explicit.DeleteOnLeave() {
		t.Error("explicit defaults read differently")
	}
}

func TestGroupNames(t *testing.T) {
	r := groupRules(t, GroupsSpec{Names: []string{" Engineering ", strings.ToUpper(engID), "Sales"}})
	want := []string{"Engineering", engID, "Sales"}
	if got := r.Names(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Names = %q, want %q", got, want)
	}
	r.Names()[0] = "changed"
	if r.Names()[0] != "Engineering" {
		t.Error("Names shares its slice")
	}
}

func TestGroupInScope(t *testing.T) {
	eng := clauses(ClauseSpec{Attribute: "displayName", Operator: "REGEX MATCH", Value: "^Eng"})
	desc := clauses(ClauseSpec{Attribute: "Description", Operator: "INCLUDES", Value: "sync-me"},
		ClauseSpec{Attribute: "mailNickname", Operator: "NOT EQUALS", Value: "secret"})
	stamp, err := directory.GroupStamp("11111111-1111-4111-8111-111111111111", engID)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		spec   GroupsSpec
		g      directory.Group
		in     bool
		reason string
	}{
		{"named by ID", GroupsSpec{Names: []string{strings.ToUpper(engID)}}, group(engID, "Whatever", "", ""), true, "named in groups.names by object ID"},
		{"named by display name, any case", GroupsSpec{Names: []string{"engineering"}}, group(otherID, "Engineering", "", ""), true, "named in groups.names by display name 'Engineering'"},
		{"not named", GroupsSpec{Names: []string{"Engineering", engID}}, group(otherID, "Sales", "", ""), false, "not named in groups.names"},
		{"an ID is not a display name", GroupsSpec{Names: []string{engID}}, group(otherID, engID, "", ""), false, "not named in groups.names"},
		{"one filter matched", GroupsSpec{Filters: []FilterSpec{eng}}, group(otherID, "Engineering EU", "", ""), true, "the group filter matched"},
		{"one filter failed", GroupsSpec{Filters: []FilterSpec{eng}}, group(otherID, "Sales", "", ""), false, "the group filter did not match: displayName 'Sales' does not match REGEX '^Eng'"},
		{"second filter matched", GroupsSpec{Filters: []FilterSpec{eng, desc}}, group(otherID, "Sales", "please sync-me", "sales"), true, "group filter[1] matched"},
		{"clauses AND-ed", GroupsSpec{Filters: []FilterSpec{desc}}, group(otherID, "Sales", "please sync-me", "secret"), false, "mailNickname 'secret' equals 'secret' (NOT EQUALS)"},
		{"null description fails INCLUDES", GroupsSpec{Filters: []FilterSpec{desc}}, group(otherID, "Sales", "", "sales"), false, "description is null, which fails INCLUDES"},
		{"no filter matched", GroupsSpec{Filters: []FilterSpec{eng, desc}}, group(otherID, "Sales", "", ""), false, "no group filter matched: filter[0]: displayName 'Sales' does not match REGEX '^Eng'; filter[1]: description is null, which fails INCLUDES"},
		{"named OR filtered: named", GroupsSpec{Names: []string{"Sales"}, Filters: []FilterSpec{eng}}, group(otherID, "Sales", "", ""), true, "named in groups.names by display name 'Sales'"},
		{"named OR filtered: filtered", GroupsSpec{Names: []string{"Sales"}, Filters: []FilterSpec{eng}}, group(otherID, "Engineering", "", ""), true, "the group filter matched"},
		{"named OR filtered: neither", GroupsSpec{Names: []string{"Sales"}, Filters: []FilterSpec{eng}}, group(otherID, "HR", "", ""), false, "not named in groups.names and the group filter did not match: displayName 'HR' does not match REGEX '^Eng'"},
		{"deleted at the source", GroupsSpec{Names: []string{engID}}, directory.Group{ID: engID, Removed: directory.SoftDeleted}, false, "deleted at the source"},
		{"a group ctsync created", GroupsSpec{Names: []string{engID}}, group(engID, "Engineering", "", strings.ToUpper(stamp)), false, "created by ctsync"},
		{"a ctsync-looking nickname that is no stamp", GroupsSpec{Names: []string{engID}}, group(engID, "Engineering", "", "ctsync-team"), true, "named in groups.names by object ID"},
		{"not a security group", GroupsSpec{Names: []string{engID}}, directory.Group{ID: engID, Attrs: map[string]any{"securityEnabled": false}}, false, "not a security group"},
		{"securityEnabled not read", GroupsSpec{Names: []string{engID}}, directory.Group{ID: engID, Attrs: map[string]any{}}, true, "named in groups.names by object ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, why := groupRules(t, tt.spec).InScope(tt.g)
			if in != tt.in || !strings.Contains(why, tt.reason) {
				t.Errorf("InScope = %v, %q; want %v, containing %q", in, why, tt.in, tt.reason)
			}
		})
	}
}

func TestGroupTarget(t *testing.T) {
	g := group(engID, "Engineering", "The engineers", "eng")
	tests := []struct {
		name           string
		spec           GroupsSpec
		g              directory.Group
		dn, desc, err  string
		errTarget      string
		noDefaultCheck bool
	}{
		{"prefix", GroupsSpec{DisplayName: `Append("[Contoso] ", [displayName])`}, g, "[Contoso] Engineering", "Synced by ctsync from tenant contoso (group " + engID + ")", "", "", false},
		{"description from the source", GroupsSpec{Description: `Coalesce([description], "no description")`}, g, "Engineering", "The engineers", "", "", false},
		{"description fallback", GroupsSpec{Description: `Coalesce([Description], Join(" ", "group", [mailNickname]))`}, group(engID, "Engineering", "", "eng"), "Engineering", "group eng", "", "", false},
		{"empty description", GroupsSpec{Description: `""`}, g, "Engineering", "", "", "", false},
		{"every attribute", GroupsSpec{DisplayName: `Join("/", [displayName], [description], [mailNickname])`}, g, "Engineering/The engineers/eng", "", "", "", true},
		{"no displayName", GroupsSpec{}, group(engID, "", "x", ""), "", "", "a group needs a displayName", "displayName", false},
		{"blank displayName", GroupsSpec{DisplayName: `" "`}, g, "", "", "a group needs a displayName", "displayName", false},
		{"displayName too long", GroupsSpec{DisplayName: `Append([displayName], "` + strings.Repeat("x", 250) + `")`}, g, "", "", "more than the 256", "displayName", false},
		{"description too long", GroupsSpec{Description: `"` + strings.Repeat("é", 1025) + `"`}, g, "", "", "more than the 1024", "description", false},
		{"expression fails for this group", GroupsSpec{DisplayName: `Left([displayName], [mailNickname])`}, g, "", "", "", "displayName", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Names = []string{engID}
			dn, desc, err := groupRules(t, tt.spec).Target(tt.g)
			if tt.errTarget != "" {
				var ee *EvalError
				if !errors.As(err, &ee) || ee.Target != tt.errTarget || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want an EvalError for %s containing %q", err, tt.errTarget, tt.err)
				}
				if !strings.HasPrefix(ee.Key, "groups.") {
					t.Errorf("EvalError key %q", ee.Key)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if dn != tt.dn || (!tt.noDefaultCheck && desc != tt.desc) {
				t.Errorf("Target = %q, %q; want %q, %q", dn, desc, tt.dn, tt.desc)
			}
		})
	}
}

func TestGroupDefaultDescriptionUnbound(t *testing.T) {
	r := mustCompile(t, withGroups(GroupsSpec{Names: []string{engID}})).GroupSync("")
	_, desc, err := r.Target(group(engID, "Engineering", "", ""))
	if err != nil || desc != "Synced by ctsync (group "+engID+")" {
		t.Errorf("description without a tenant name: %q, %v", desc, err)
	}
}

func TestGroupCompileErrors(t *testing.T) {
	names := func(n ...string) GroupsSpec { return GroupsSpec{Names: n} }
	filtered := func(cs ...ClauseSpec) GroupsSpec { return GroupsSpec{Filters: []FilterSpec{clauses(cs...)}} }
	tests := []struct {
		name string
		spec GroupsSpec
		key  string
		msg  string
		col  int
	}{
		{"nothing in scope", GroupsSpec{Transitive: true}, "groups", "say which source groups to sync", 0},
		{"empty name", names("Eng", " "), "groups.names[1]", "empty name", 0},
		{"duplicate ID", names(engID, strings.ToUpper(engID)), "groups.names[1]", "listed twice", 0},
		{"duplicate display name", names("Eng", "ENG"), "groups.names[1]", "listed twice", 0},
		{"long display name", names(strings.Repeat("x", 257)), "groups.names[0]", "longer than 256", 0},
		{"members", GroupsSpec{Names: []string{"Eng"}, Members: "all"}, "groups.members", `unknown members mode "all": use "managed"`, 0},
		{"out_of_scope", GroupsSpec{Names: []string{"Eng"}, OutOfScope: "soft-delete"}, "groups.out_of_scope", `unknown action "soft-delete": use "delete"`, 0},
		{"empty filter", GroupsSpec{Filters: []FilterSpec{{}}}, "groups.filter[0]", "at least one clause", 0},
		{"user attribute in a filter", filtered(ClauseSpec{Attribute: "department", Operator: "EQUALS", Value: "x"}), "groups.filter[0].clause[0].attribute", `unknown group attribute "department"`, 0},
		{"no attribute", filtered(ClauseSpec{Operator: "EQUALS", Value: "x"}), "groups.filter[0].clause[0].attribute", "attribute is required", 0},
		{"bad operator", filtered(ClauseSpec{Attribute: "displayName", Operator: "LIKE", Value: "x"}), "groups.filter[0].clause[0].operator", `unknown operator "LIKE"`, 0},
		{"boolean operator", filtered(ClauseSpec{Attribute: "description", Operator: "IS TRUE"}), "groups.filter[0].clause[0].operator", "group attributes (displayName, description, mailNickname) are strings", 0},
		{"bad regex", filtered(ClauseSpec{Attribute: "description", Operator: "REGEX MATCH", Value: "("}), "groups.filter[0].clause[0].value", "bad regular expression", 0},
		{"missing value", filtered(ClauseSpec{Attribute: "mailNickname", Operator: "ENDS WITH"}), "groups.filter[0].clause[0].value", "needs a value", 0},
		{"unknown attribute: value still checked", filtered(ClauseSpec{Attribute: "owner", Operator: "EQUALS"}), "groups.filter[0].clause[0].value", "needs a value", 0},
		{"display_name syntax", GroupsSpec{Names: []string{"Eng"}, DisplayName: `Append("[C] ", [displayName]`}, "groups.display_name", "expression for displayName", 29},
		{"display_name user attribute", GroupsSpec{Names: []string{"Eng"}, DisplayName: `Append("x", [department])`}, "groups.display_name", `unknown group attribute "department"`, 13},
		{"description unknown function", GroupsSpec{Names: []string{"Eng"}, Description: `Foo([description])`}, "groups.description", `expression for description: unknown function "Foo"`, 1},
		{"description lexer", GroupsSpec{Names: []string{"Eng"}, Description: `[description`}, "groups.description", "not closed", 1},
		{"column after a description attribute", GroupsSpec{Names: []string{"Eng"}, Description: `Join(" ", [ Description ], Foo([displayName]))`}, "groups.description", `unknown function "Foo"`, 28},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := findErr(t, compileErrs(t, withGroups(tt.spec)), tt.key, tt.msg)
			if e.Column != tt.col {
				t.Errorf("column %d, want %d (%v)", e.Column, tt.col, e)
			}
			if strings.Contains(e.Msg, "source attribute") {
				t.Errorf("a group message speaks of user attributes: %v", e)
			}
		})
	}
}

// TestGroupAttributeTable: group filters and expressions resolve names
// against the group's attributes only, and suggest from them.
func TestGroupAttributeTable(t *testing.T) {
	expr := func(src string) GroupsSpec { return GroupsSpec{Names: []string{"Eng"}, Description: src} }
	filtered := func(attr string) GroupsSpec {
		return GroupsSpec{Filters: []FilterSpec{clauses(ClauseSpec{Attribute: attr, Operator: "EQUALS", Value: "x"})}}
	}
	const clauseKey = "groups.filter[0].clause[0].attribute"
	tests := []struct {
		name, key, msg string
		spec           GroupsSpec
		col            int
		noSuggestion   bool
	}{
		{"typo in an expression", "groups.description", `unknown group attribute "descripton" (did you mean description?)`, expr(`Append("x", [descripton])`), 13, false},
		{"typo in a clause", clauseKey, `unknown group attribute "mailNicknam" (did you mean mailNickname?)`, filtered("mailNicknam"), 0, false},
		{"a user attribute in an expression", "groups.description", `unknown group attribute "companyName"`, expr(`[companyName]`), 1, true},
		{"a user attribute in a clause", clauseKey, `unknown group attribute "companyName"`, filtered("companyName"), 0, true},
		{"no suggestion from the user table", "groups.description", `unknown group attribute "departmnt"`, expr(`Join(" ", "a", [departmnt])`), 16, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := findErr(t, compileErrs(t, withGroups(tt.spec)), tt.key, tt.msg)
			if e.Column != tt.col {
				t.Errorf("column %d, want %d (%v)", e.Column, tt.col, e)
			}
			if tt.noSuggestion && strings.Contains(e.Msg, "did you mean") {
				t.Errorf("suggests for a name no group attribute is near: %v", e)
			}
		})
	}
	// The user side still knows companyName, and suggests from its own table.
	if _, err := parseExpr(`[companyName]`); err != nil {
		t.Errorf("[companyName] in a user expression: %s", err.msg)
	}
	if _, err := parseExpr(`[descripton]`); err == nil || strings.Contains(err.msg, "did you mean description") {
		t.Errorf("[descripton] in a user expression: %v", err)
	}
	// Any case resolves to the canonical name, which evaluation reads.
	r := groupRules(t, GroupsSpec{Names: []string{engID}, DisplayName: `[DISPLAYNAME]`, Description: `[ description ]`})
	dn, desc, err := r.Target(group(engID, "Engineering", "The engineers", "eng"))
	if err != nil || dn != "Engineering" || desc != "The engineers" {
		t.Errorf("Target = %q, %q, %v", dn, desc, err)
	}
}

func TestGroupFingerprint(t *testing.T) {
	fp := func(g GroupsSpec, tenant string) uint64 {
		t.Helper()
		return mustCompile(t, withGroups(g)).GroupSync(tenant).Fingerprint()
	}
	base := GroupsSpec{Names: []string{"Eng", engID}, Filters: []FilterSpec{clauses(ClauseSpec{Attribute: "displayName", Operator: "ENDS WITH", Value: "-sync"})}}
	h := fp(base, "contoso")
	if fp(base, "contoso") != h {
		t.Fatal("fingerprint is not stable")
	}
	same := []struct {
		name string
		edit func(g *GroupsSpec)
	}{
		{"names reordered, case of an ID", func(g *GroupsSpec) { g.Names = []string{strings.ToUpper(engID), " Eng"} }},
		{"defaults written out", func(g *GroupsSpec) {
			g.Members, g.DisplayName, g.OutOfScope = "managed", "[displayName]", "delete"
		}},
		{"out_of_scope (a lifecycle setting)", func(g *GroupsSpec) { g.OutOfScope = "keep" }},
	}
	for _, tt := range same {
		g := base
		tt.edit(&g)
		if fp(g, "contoso") != h {
			t.Errorf("%s changes the fingerprint", tt.name)
		}
	}
	differ := []struct {
		name string
		edit func(g *GroupsSpec)
	}{
		{"a name", func(g *GroupsSpec) { g.Names = []string{"Eng", otherID} }},
		{"a filter", func(g *GroupsSpec) { g.Filters = nil }},
		{"transitive", func(g *GroupsSpec) { g.Transitive = true }},
		{"members", func(g *GroupsSpec) { g.Members = "exact" }},
		{"display_name", func(g *GroupsSpec) { g.DisplayName = `Append("[C] ", [displayName])` }},
		{"description", func(g *GroupsSpec) { g.Description = `[description]` }},
	}
	seen := map[uint64]string{h: "base"}
	for _, tt := range differ {
		g := base
		tt.edit(&g)
		got := fp(g, "contoso")
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: fingerprint equals that of %s", tt.name, prev)
		}
		seen[got] = tt.name
	}
	if fp(base, "fabrikam") == h {
		t.Error("the tenant named in the default description does not change the fingerprint")
	}
	own := base
	own.Description = `[description]`
	if fp(own, "contoso") != fp(own, "fabrikam") {
		t.Error("the tenant name changes the fingerprint although the description does not hold it")
	}
}

// TestPairFingerprintIgnoresGroups: editing [pair.groups] never forces
// every user to be read again.
func TestPairFingerprintIgnoresGroups(t *testing.T) {
	users := mustCompile(t, allMembers()).Fingerprint()
	for _, g := range []GroupsSpec{
		{Names: []string{"Eng"}},
		{Names: []string{engID}, Transitive: true, Members: "exact", DisplayName: `Append("[C] ", [displayName])`},
	} {
		if got := mustCompile(t, withGroups(g)).Fingerprint(); got != users {
			t.Errorf("[pair.groups] %+v changes the pair's fingerprint", g)
		}
	}
}

func TestGroupHash(t *testing.T) {
	h := GroupHash("Engineering", "The engineers")
	if GroupHash("Engineering", "The engineers") != h {
		t.Fatal("not stable")
	}
	if h != Hash(map[string]any{"displayName": "Engineering", "description": "The engineers"}) {
		t.Error("GroupHash is not Hash of the two properties")
	}
	for _, o := range [][2]string{{"Engineering", "the engineers"}, {"Engineering ", "The engineers"}, {"The engineers", "Engineering"}, {"EngineeringThe", " engineers"}} {
		if GroupHash(o[0], o[1]) == h {
			t.Errorf("%q collides", o)
		}
	}
	if GroupHash("x", "") != Hash(map[string]any{"displayName": "x", "description": nil}) {
		t.Error(`an empty description hashes unlike none`)
	}
}

// FuzzGroupExpr checks arbitrary display_name expressions: no panic, every
// error at a column inside the expression and never a user attribute's
// message, and a compiled expression evaluates without panicking.
func FuzzGroupExpr(f *testing.F) {
	for _, s := range []string{
		`[displayName]`, `Append("[Contoso] ", [displayName])`, `Coalesce([description], [mailNickname])`,
		`[ DESCRIPTION ]`, `[department]`, `Join(" ", [description]`, `Left([displayName], [mailNickname])`, `[a`,
	} {
		f.Add(s)
	}
	g := group(engID, "Engineering", "The engineers", "eng")
	f.Fuzz(func(t *testing.T, src string) {
		c := &collector{pair: "p"}
		e := compileGroupExpr(src, "groups.display_name", "displayName", c)
		for _, err := range c.errs {
			if err.Column < 1 || err.Column > utf8.RuneCountInString(src)+1 {
				t.Fatalf("column %d outside the expression: %v", err.Column, err)
			}
			if strings.Contains(err.Msg, "source attribute") && !strings.Contains(src, "source attribute") {
				t.Fatalf("a group message speaks of user attributes: %v", err)
			}
		}
		if (e == nil) == (len(c.errs) == 0) {
			t.Fatalf("expression %v with errors %v", e, c.errs)
		}
		if e != nil {
			_, _ = e.eval(groupAttrs(g.Attrs))
		}
	})
}
