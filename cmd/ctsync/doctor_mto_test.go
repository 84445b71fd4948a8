package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestMTOFindings: each disagreement between the configuration and the
// multi-tenant organisation is one warning naming the tenant; agreement is
// one ok line.
func TestMTOFindings(t *testing.T) {
	const a, b, c = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	org := tenants.MTO{DisplayName: "Org", State: tenants.MTOActive}
	tens := []mtoTenant{{"alpha", a}, {"beta", b}}
	cases := []struct {
		name    string
		org     tenants.MTO
		members []tenants.MTOMember
		want    []string // "severity tenant: message part"
	}{
		{"agree", org, []tenants.MTOMember{{TenantID: a, State: "active"}, {TenantID: strings.ToUpper(b), State: "active"}, {TenantID: c, State: "pending"}},
			[]string{"ok alpha: the 2 configured tenants are the active members"}},
		{"left and joined", org, []tenants.MTOMember{{TenantID: a, State: "active"}, {TenantID: c, DisplayName: "Gamma\x1b[2J", State: "active"}},
			[]string{"warning beta: tenant beta (" + b + ") is configured but is not a member", `warning alpha: tenant "Gamma\x1b[2J" (` + c + ") is an active member"}},
		{"pending", org, []tenants.MTOMember{{TenantID: a, State: "active"}, {TenantID: b, State: "pending"}},
			[]string{"warning beta: tenant beta (" + b + `) is configured but is pending in the multi-tenant organisation "Org", not active`}},
		{"no MTO", tenants.MTO{State: "inactive"}, nil, []string{"warning alpha: tenant alpha is in no multi-tenant organisation"}},
	}
	for _, tc := range cases {
		got := mtoFindings("alpha", tens, tc.org, tc.members)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %+v", tc.name, got)
			continue
		}
		for i, f := range got {
			line := f.Severity + " " + f.Tenant + ": " + f.Message
			if !strings.Contains(line, tc.want[i]) || f.Check != checkMTO || (f.Severity != sevOK && f.Fix == "") {
				t.Errorf("%s: %q, want %q", tc.name, line, tc.want[i])
			}
		}
	}
}

// TestValidateOnlineMTO: validate --online against the simulator warns
// when a configured tenant left the organisation and when a member is not
// configured, and, when no app may read the organisation, says so in one
// warning line; warnings never change the exit code.
func TestValidateOnlineMTO(t *testing.T) {
	sim, err := graphsim.Start(graphsim.Options{Users: 1, Seed: 3, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	for _, ten := range sim.Tenants() {
		if err := ten.GrantPermissions(ten.ClientID(), "Policy.Read.All"); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(cfg, []byte(app.SimConfig(sim, config.Store{Path: filepath.Join(dir, "s.db")}, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetMTOMemberState("northwind", graphsim.MTORemoved); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddMTOMember("5036a0a0-a7a4-4933-9086-5dd54535dd6e", "Woodgrove Bank", graphsim.MTOActive); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "validate", "--online", cfg)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"warning northwind mto: tenant northwind (" + sim.Tenant("northwind").ID() + `) is configured but is removed in the multi-tenant organisation "Contoso organization"`,
		`warning contoso mto: tenant "Woodgrove Bank" (5036a0a0-a7a4-4933-9086-5dd54535dd6e) is an active member`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, ten := range sim.Tenants() {
		if err := ten.RevokePermissions(ten.ClientID(), tenants.PermReadMTO); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ = run(t, "validate", "--online", cfg)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " mto: ") {
			lines = append(lines, l)
		}
	}
	if code != exitOK || len(lines) != 1 || !strings.HasPrefix(lines[0], "warning contoso mto: not checked: reading the multi-tenant organisation needs the application permission MultiTenantOrganization.Read.All") ||
		!strings.Contains(lines[0], "tried contoso, fabrikam, northwind") {
		t.Errorf("without the permission: exit %d, %q\n%s", code, lines, out)
	}
}
