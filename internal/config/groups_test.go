package config

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
)

// groupsSection is a valid [pair.groups] for base's pair, in the
// array-of-tables form; base ends at line 27, so [pair.groups] is line 29.
const groupsSection = `
  [pair.groups]
  names = ["Engineering", "9c1b3f7e-5b7a-4d3e-8a21-6f0c2d4e9b10"]
  transitive = true
  members = "exact"
  display_name = 'Append("[Contoso] ", [displayName])'
  description = 'Coalesce([description], "synced")'
  out_of_scope = "keep"

    [[pair.groups.filter]]
      [[pair.groups.filter.clause]]
      attribute = "displayName"
      operator = "REGEX MATCH"
      value = "^Eng"
      [[pair.groups.filter.clause]]
      attribute = "mailNickname"
      operator = "NOT EQUALS"
      value = "secret"
`

func TestGroupsSectionDecodes(t *testing.T) {
	cfg, err := load(t, base+groupsSection)
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Pairs[0].Groups
	if g == nil {
		t.Fatal("[pair.groups] not decoded")
	}
	if len(g.Names) != 2 || !g.Transitive || g.Members != "exact" || g.OutOfScope != "keep" ||
		g.DisplayName != `Append("[Contoso] ", [displayName])` || g.Description != `Coalesce([description], "synced")` ||
		len(g.Filters) != 1 || len(g.Filters[0].Clauses) != 2 || g.Filters[0].Clauses[1].Attribute != "mailNickname" {
		t.Errorf("decoded %+v", g)
	}
	if cfg.Line("pair[0].groups.filter[0].clause[1].value") != 45 {
		t.Errorf("clause line %d", cfg.Line("pair[0].groups.filter[0].clause[1].value"))
	}
	plain, err := load(t, base)
	if err != nil || plain.Pairs[0].Groups != nil {
		t.Errorf("no [pair.groups]: %+v, %v", plain.Pairs[0].Groups, err)
	}
}

// TestGroupsSectionErrors: each mistake in [pair.groups] stops start-up
// with file:line, the key and what to write instead.
func TestGroupsSectionErrors(t *testing.T) {
	edit := func(old, new string) string { return base + strings.Replace(groupsSection, old, new, 1) }
	tests := []struct {
		name     string
		src      string
		line     int
		key      string
		contains string
	}{
		{"unknown key", edit(`transitive = true`, "transitive = true\n  nested = true"), 32, "pair[0].groups.nested", `unknown key "nested"`},
		{"unknown key in a clause", edit(`value = "^Eng"`, "value = \"^Eng\"\n      negate = true"), 42, "pair[0].groups.filter[0].clause[0].negate", `unknown key "negate"`},
		{"wrong type", edit(`transitive = true`, `transitive = "yes"`), 31, "pair.groups.transitive", "incompatible types"},
		{"members", edit(`members = "exact"`, `members = "mirror"`), 32, "pair[0].groups.members", `unknown members mode "mirror": use "managed"`},
		{"out_of_scope", edit(`out_of_scope = "keep"`, `out_of_scope = "disable"`), 35, "pair[0].groups.out_of_scope", `unknown action "disable": use "delete"`},
		{"display_name syntax", edit(`'Append("[Contoso] ", [displayName])'`, `'Append("[Contoso] ", [displayName]'`), 33, "pair[0].groups.display_name", "column 35: expression for displayName"},
		{"display_name user attribute", edit(`[displayName])'`, `[department])'`), 33, "pair[0].groups.display_name", `column 22: expression for displayName: unknown group attribute "department"`},
		{"description function", edit(`Coalesce(`, `Coalesc(`), 34, "pair[0].groups.description", `unknown function "Coalesc"`},
		{"filter attribute", edit(`attribute = "mailNickname"`, `attribute = "department"`), 43, "pair[0].groups.filter[0].clause[1].attribute", `unknown group attribute "department": group filters and expressions read displayName, description or mailNickname`},
		{"filter operator", edit(`operator = "REGEX MATCH"`, `operator = "MATCHES"`), 40, "pair[0].groups.filter[0].clause[0].operator", `unknown operator "MATCHES"`},
		{"filter regex", edit(`value = "^Eng"`, `value = "^(Eng"`), 41, "pair[0].groups.filter[0].clause[0].value", "bad regular expression"},
		{"duplicate name", edit(`names = ["Engineering", `, `names = ["Engineering", "ENGINEERING", `), 30, "pair[0].groups.names[1]", "listed twice"},
		{"nothing in scope", base + "\n  [pair.groups]\n  transitive = true\n", 29, "pair[0].groups", "say which source groups to sync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.src)
			if err == nil {
				t.Fatal("config accepted")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is not config.Errors: %T %v", err, err)
			}
			var got *Error
			for _, e := range es {
				if e.Key == tt.key {
					got = e
					break
				}
			}
			if got == nil {
				t.Fatalf("no error at %s:\n%v", tt.key, err)
			}
			if got.Line != tt.line || !strings.Contains(got.Msg, tt.contains) {
				t.Errorf("got %v; want line %d containing %q", got, tt.line, tt.contains)
			}
			if !strings.HasSuffix(got.File, "ctsync.toml") {
				t.Errorf("file %q", got.File)
			}
		})
	}
}

// TestExampleGroupsSection uncomments config.toml's [pair.groups] example:
// it must load and compile as written.
func TestExampleGroupsSection(t *testing.T) {
	data, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	start := slices.Index(lines, "  # [pair.groups]")
	if start < 0 {
		t.Fatal("config.toml has no commented [pair.groups] example")
	}
	for i := start; i < len(lines) && strings.HasPrefix(lines[i], "  #"); i++ {
		lines[i] = "  " + strings.TrimPrefix(strings.TrimPrefix(lines[i], "  #"), " ")
	}
	cfg, err := load(t, strings.Join(lines, "\n"))
	if err != nil {
		t.Fatalf("the uncommented example: %v", err)
	}
	p := cfg.Pair("fabrikam-to-contoso")
	if p == nil || p.Groups == nil || len(p.Groups.Names) != 2 || len(p.Groups.Filters) != 1 {
		t.Fatalf("example decoded as %+v", p)
	}
	compiled, err := policy.Compile(p.Name, p.PairSpec)
	if err != nil {
		t.Fatal(err)
	}
	r := compiled.GroupSync(p.Source)
	in, why := r.InScope(directory.Group{ID: "0f0e0d0c-0b0a-4908-8706-050403020100", Attrs: map[string]any{"displayName": "ENG-Platform"}})
	if !in {
		t.Errorf("ENG-Platform out of scope: %s", why)
	}
	dn, _, err := r.Target(directory.Group{ID: "0f0e0d0c-0b0a-4908-8706-050403020100", Attrs: map[string]any{"displayName": "ENG-Platform"}})
	if err != nil || dn != "[Fabrikam] ENG-Platform" {
		t.Errorf("Target = %q, %v", dn, err)
	}
	plain, err := Load("../../config.toml")
	if err != nil || plain.Pair("fabrikam-to-contoso").Groups != nil {
		t.Errorf("the example as shipped syncs groups: %v", err)
	}
}
