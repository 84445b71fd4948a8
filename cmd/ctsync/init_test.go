package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// initSim starts a simulator of three tenants sharing one multi-tenant app
// (one client ID and secret consented in every tenant, as one ctsync
// deployment for an MTO would be registered).
func initSim(t *testing.T) *graphsim.Server {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Options{Users: 3, Seed: 5, SharedApp: true, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// initArgs are init's flags for the simulator, signing in to tenant with
// the shared app's secret.
func initArgs(t *testing.T, sim *graphsim.Server, tenant, out string, extra ...string) []string {
	t.Helper()
	ten := sim.Tenant(tenant)
	secret := filepath.Join(t.TempDir(), "signin.secret")
	if err := os.WriteFile(secret, []byte(ten.ClientSecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	return append([]string{"init", "--from-mto", "--tenant-id", ten.ID(), "--client-id", ten.ClientID(),
		"--client-secret-file", secret, "--authority-host", sim.AuthorityURL(), "--graph-base-url", sim.GraphURL(),
		"--ca-file", sim.CAFile(), "--out", out}, extra...)
}

// TestInitFromMTOValidatesAndSyncs is the acceptance test: init
// --from-mto against the simulator writes a configuration that validate
// accepts once the TODO credentials are filled in, and that once syncs.
// Pending and removed members are in comments only; the file is not
// overwritten without --force; validate --online finds the file and the
// MTO in agreement.
func TestInitFromMTOValidatesAndSyncs(t *testing.T) {
	sim := initSim(t)
	if err := sim.AddMTOMember("5036a0a0-a7a4-4933-9086-5dd54535dd6e", "Woodgrove Bank", graphsim.MTOPending); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "ctsync.toml")
	secrets := filepath.Join(dir, "secrets")
	store := filepath.Join(dir, "state.db")
	args := initArgs(t, sim, "fabrikam", out, "--secrets-dir", secrets, "--store-path", store)
	code, stdout, stderr := run(t, args...)
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "3 tenants, 6 pairs") {
		t.Errorf("init's summary: %q", stdout)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, want := range []string{
		`the full mesh of the multi-tenant organisation "Contoso organization"`,
		"Written by `ctsync init --from-mto` at ", "signed in to tenant " + sim.Tenant("fabrikam").ID(),
		"#   - Woodgrove Bank (5036a0a0-a7a4-4933-9086-5dd54535dd6e): pending",
		"# TODO: put the app's client secret", "path = " + tomlString(store),
		`domain = "northwind.onmicrosoft.com"`, "# Fabrikam, member of the organisation; init signed in here",
		"# Verified domains: fabrikam.onmicrosoft.com", `name = "contoso-to-northwind"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("config lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "woodgrove") || strings.Contains(text, sim.Tenant("fabrikam").ClientSecret()) {
		t.Errorf("a pending member configured, or a secret written:\n%s", text)
	}
	cfg, err := config.Load(out)
	if err != nil {
		t.Fatalf("the file does not load: %v\n%s", err, text)
	}
	if len(cfg.Tenants) != 3 || len(cfg.Pairs) != 6 {
		t.Fatalf("%d tenants, %d pairs", len(cfg.Tenants), len(cfg.Pairs))
	}

	// Refused without --force, written again with it.
	if code, _, stderr := run(t, args...); code != exitUsage || !strings.Contains(stderr, "exists; give --force") {
		t.Errorf("overwrite without --force: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, append(args, "--force")...); code != exitOK {
		t.Errorf("--force: exit %d %s", code, stderr)
	}

	// The admin's part: the secrets the TODOs ask for.
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, ten := range cfg.Tenants {
		if strings.HasPrefix(ten.ClientSecretFile, secrets) {
			if err := os.WriteFile(ten.ClientSecretFile, []byte(sim.Tenant(ten.Name).ClientSecret()), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if code, stdout, stderr := run(t, "validate", out); code != exitOK || !strings.Contains(stdout, "ok (3 tenants, 6 pairs, 6 enabled)") {
		t.Fatalf("validate: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "validate", "--online", out)
	if code != exitOK || !regexp.MustCompile(`ok +contoso mto: the 3 configured tenants are the active members`).MatchString(stdout) {
		t.Errorf("validate --online: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := run(t, "once", "-c", out, "--log-level", "error"); code != exitOK {
		t.Fatalf("once: exit %d\n%s%s", code, stdout, stderr)
	}
	// Every member of each tenant is now a guest in the two others.
	for _, ten := range sim.Tenants() {
		n := 0
		for _, u := range ten.Users() {
			if upn, _ := u.Attrs["userPrincipalName"].(string); strings.Contains(upn, "#EXT#") {
				n++
			}
		}
		if n != 6 {
			t.Errorf("%s holds %d synced users, want 6", ten.Name(), n)
		}
	}
}

// TestInitUsageErrors: each bad input is a usage error naming it.
func TestInitUsageErrors(t *testing.T) {
	const id = "11111111-1111-4111-8111-111111111111"
	secret := filepath.Join(t.TempDir(), "s")
	existing := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(existing, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"init", "--from-mto", "--tenant-id", id, "--client-id", id, "--client-secret-file", secret}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"init", "--tenant-id", id}, "--from-mto is required"},
		{[]string{"init", "--from-mto", "--client-id", id}, "--tenant-id is required"},
		{[]string{"init", "--from-mto", "--tenant-id", "contoso.com", "--client-id", id}, `--tenant-id "contoso.com" is not a tenant ID`},
		{[]string{"init", "--from-mto", "--tenant-id", id, "--client-id", "x"}, `--client-id "x" is not an application ID`},
		{[]string{"init", "--from-mto", "--tenant-id", id, "--client-id", id}, "exactly one of --client-secret-file"},
		{append(base, "--certificate", "c.pem"), "exactly one of --client-secret-file"},
		{[]string{"init", "--from-mto", "--tenant-id", id, "--client-id", id, "--client-secret-env", "CTSYNC_TEST_UNSET_VAR"}, "--client-secret-env: the variable it names is unset"},
		{append(base, "--graph-base-url", "http://graph"), `--graph-base-url "http://graph": want an https:// URL`},
		{append(base, "--store-path", "redis://x"), "--store-path"},
		{append(base, "--out", existing), "the file exists; give --force"},
	}
	for _, c := range cases {
		code, _, stderr := run(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "# mine\n" {
		t.Error("the existing file was changed")
	}
}

// TestInitRefusals: without the permission to read the MTO, or from a
// tenant in no MTO, init says why and writes nothing (exit 1).
func TestInitRefusals(t *testing.T) {
	sim := initSim(t)
	out := filepath.Join(t.TempDir(), "c.toml")
	con := sim.Tenant("fabrikam")
	if err := con.RevokePermissions(con.ClientID(), tenants.PermReadMTO); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, initArgs(t, sim, "fabrikam", out)...)
	if code != exitFailures || !strings.Contains(stderr, "needs the application permission MultiTenantOrganization.Read.All") {
		t.Errorf("without the permission: exit %d %s", code, stderr)
	}
	if err := con.GrantPermissions(con.ClientID(), tenants.PermReadMTO); err != nil {
		t.Fatal(err)
	}
	if err := sim.RemoveMTOMember("fabrikam"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, initArgs(t, sim, "fabrikam", out)...)
	if code != exitFailures || !strings.Contains(stderr, "is in no multi-tenant organisation") {
		t.Errorf("no MTO: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a file was written")
	}
}

// TestRenderMTOConfigNames: display names become distinct configuration
// names short enough for pair names; hostile text stays in its comment.
func TestRenderMTOConfigNames(t *testing.T) {
	taken := map[string]bool{}
	for _, c := range []struct{ in, want string }{
		{"Contoso Ltd.", "contoso-ltd"}, {"Contoso  Ltd", "contoso-ltd-2"}, {"Ünïcode Bank", "n-code-bank"},
		{"!!!", "tenant-5036a0a0"}, {strings.Repeat("long name ", 10), "long-name-long-name-long-n"},
	} {
		if got := tenantName(c.in, "5036a0a0-a7a4-4933-9086-5dd54535dd6e", taken); got != c.want {
			t.Errorf("tenantName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	r := &mtoRead{
		signedIn: tenants.Config{TenantID: "11111111-1111-4111-8111-111111111111", ClientID: "aaaaaaaa-0000-4000-8000-000000000001",
			Credential: "client_certificate", CertificateFile: "/etc/ctsync/app.pem"},
		org: tenants.MTO{DisplayName: "Evil\n[store]\nurl = \"x\"", State: "active"},
		members: []tenants.MTOMember{
			{TenantID: "11111111-1111-4111-8111-111111111111", DisplayName: "A\nname = \"x\"", State: "active", Role: "owner"},
			{TenantID: "22222222-2222-4222-8222-222222222222", DisplayName: "B", State: "active"},
			{TenantID: "33333333-3333-4333-8333-333333333333", DisplayName: "C", State: "removed", Transition: "removed (running)"},
		},
		domains: map[string]string{"11111111-1111-4111-8111-111111111111": "a.example", "22222222-2222-4222-8222-222222222222": "not a domain"},
	}
	text, n, pairs, err := renderMTOConfig(r, &initOpts{storePath: "/var/lib/ctsync/state.db", secretsDir: "/etc/ctsync/secrets"}, time.Unix(0, 0))
	if err != nil || n != 2 || pairs != 2 {
		t.Fatalf("%d %d %v", n, pairs, err)
	}
	cfgPath := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(cfgPath)
	// The one problem is the domain left to fill in: nothing injected.
	if err == nil || !strings.Contains(err.Error(), "tenant[1].domain") || strings.Count(err.Error(), "\n") > 1 {
		t.Errorf("load: %v\n%s", err, text)
	}
	for _, want := range []string{`certificate_file = "/etc/ctsync/secrets/b.pem"`, `certificate_file = "/etc/ctsync/app.pem"`,
		"C (33333333-3333-4333-8333-333333333333): removed, in transition to removed (running)", "# TODO: the tenant's primary domain"} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q:\n%s", want, text)
		}
	}
	r.members = r.members[:1]
	if _, _, _, err := renderMTOConfig(r, &initOpts{}, time.Now()); err == nil || !strings.Contains(err.Error(), "a mesh needs two") {
		t.Errorf("one tenant: %v", err)
	}
}
