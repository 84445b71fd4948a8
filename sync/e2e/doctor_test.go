package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// doctorMesh starts a two-tenant simulator (contoso <-> fabrikam), grants
// each app Policy.Read.All (optional for ctsync, needed to read the
// invitation settings) and writes the mesh's configuration.
func doctorMesh(t *testing.T) (*graphsim.Server, string) {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Options{Tenants: []string{"contoso", "fabrikam"}, Users: 3, Seed: 7, StateDir: t.TempDir()})
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
	cfg := filepath.Join(dir, "ctsync.toml")
	toml := app.SimConfig(sim, config.Store{Path: filepath.Join(dir, "state.db")}, "")
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, cfg
}

// doctor runs `ctsync validate --online` as a real process.
func doctor(t *testing.T, cfg string, args ...string) (int, string) {
	t.Helper()
	return runCtsync(t, cfg, time.Minute, append([]string{"validate", "--online"}, args...)...)
}

// findingLines returns the output's finding lines of a severity.
func findingLines(out, severity string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, severity+" ") {
			ls = append(ls, l)
		}
	}
	return ls
}

// TestDoctorHealthyMesh: every check of a healthy simulated mesh is ok,
// in text and in JSON, and the exit code is 0.
func TestDoctorHealthyMesh(t *testing.T) {
	sim, cfg := doctorMesh(t)
	code, out := doctor(t, cfg)
	if code != 0 || len(findingLines(out, "warning")) != 0 || len(findingLines(out, "error")) != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"ok      contoso sign-in", "ok      fabrikam permissions", "ok      fabrikam invitations",
		"ok      fabrikam cross-tenant-access", "ok      contoso stamp-slot", "0 warnings, 0 errors"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out = doctor(t, cfg, "--json")
	var doc struct {
		Version  int `json:"version"`
		Findings []struct {
			Tenant, Check, Severity, Message, Fix string
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || doc.Version != 1 {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}
	checks := map[string]bool{}
	for _, f := range doc.Findings {
		if f.Severity != "ok" {
			t.Errorf("not ok: %+v", f)
		}
		checks[f.Tenant+" "+f.Check] = true
	}
	for _, ten := range []string{"contoso", "fabrikam"} {
		for _, c := range []string{"sign-in", "permissions", "invitations", "cross-tenant-access", "stamp-slot"} {
			if !checks[ten+" "+c] {
				t.Errorf("no %s finding for %s: %s", c, ten, out)
			}
		}
	}
	// The secret and the token never reach the output.
	if strings.Contains(out, sim.Tenant("fabrikam").ClientSecret()) || strings.Contains(out, "eyJ") {
		t.Error("output holds a secret or a token")
	}
}

// TestDoctorFailures: each mistake is one error line naming the tenant,
// with the fix, and the exit code is 1.
func TestDoctorFailures(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(t *testing.T, sim *graphsim.Server)
		want    []string
	}{
		{"wrong secret", func(t *testing.T, sim *graphsim.Server) {
			if err := os.WriteFile(sim.SecretFile("fabrikam"), []byte("sim~not-the-secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"error   fabrikam sign-in: ", "AADSTS7000215 wrong client secret", "fix: put the secret's Value"}},
		{"expired secret", func(t *testing.T, sim *graphsim.Server) {
			fab := sim.Tenant("fabrikam")
			if err := fab.ExpireSecret(fab.ClientID()); err != nil {
				t.Fatal(err)
			}
		}, []string{"error   fabrikam sign-in: ", "AADSTS7000222 the client secret has expired"}},
		{"missing permission", func(t *testing.T, sim *graphsim.Server) {
			fab := sim.Tenant("fabrikam")
			// User.Invite.All alone would not do: User.ReadWrite.All includes it.
			if err := fab.RevokePermissions(fab.ClientID(), "User.DeleteRestore.All"); err != nil {
				t.Fatal(err)
			}
		}, []string{"error   fabrikam permissions: missing application permission User.DeleteRestore.All, needed to restore guests from deleted items", "(contoso-to-fabrikam (target))", "grant admin consent"}},
		{"invitations blocked", func(t *testing.T, sim *graphsim.Server) {
			if err := sim.Tenant("fabrikam").SetAuthorizationPolicy(graphsim.InvitesFromNone); err != nil {
				t.Fatal(err)
			}
		}, []string{"error   fabrikam invitations: guest invitations are blocked", "Guest invite settings"}},
		{"inbound blocked", func(t *testing.T, sim *graphsim.Server) {
			fab := sim.Tenant("fabrikam")
			if err := fab.SetCrossTenantPartner(sim.Tenant("contoso").ID(), &graphsim.CrossTenantAccess{InboundUsers: "blocked"}); err != nil {
				t.Fatal(err)
			}
		}, []string{"error   fabrikam cross-tenant-access: B2B collaboration inbound from contoso blocks all users and groups"}},
		{"slot used", func(t *testing.T, sim *graphsim.Server) {
			fab := sim.Tenant("fabrikam")
			if _, err := fab.AddUser(map[string]any{"displayName": "Cost Center", "userPrincipalName": "cc@fabrikam.onmicrosoft.com",
				"onPremisesExtensionAttributes": map[string]any{"extensionAttribute15": "cost-center-42"}}); err != nil {
				t.Fatal(err)
			}
			sim.SettleIndexes()
		}, []string{"error   fabrikam stamp-slot: 1 users of tenant fabrikam use extensionAttribute15 for something else (e.g. cc@fabrikam.onmicrosoft.com)", "choose another stamp_attribute"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, cfg := doctorMesh(t)
			tc.breakIt(t, sim)
			code, out := doctor(t, cfg)
			errs := findingLines(out, "error")
			if code != 1 || len(errs) != 1 {
				t.Fatalf("want exit 1 and one error line: exit %d\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs[0], w) {
					t.Errorf("error line lacks %q:\n%s", w, errs[0])
				}
			}
			if !strings.Contains(out, "1 errors") || len(findingLines(out, "ok")) == 0 {
				t.Errorf("summary or the other checks missing:\n%s", out)
			}
		})
	}
}

// TestDoctorSignInLine: a failed sign-in points at the tenant in the
// configuration file, and the tenant's other checks are left out.
func TestDoctorSignInLine(t *testing.T) {
	sim, cfg := doctorMesh(t)
	if err := os.WriteFile(sim.SecretFile("fabrikam"), []byte("sim~wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, out := doctor(t, cfg)
	m := regexp.MustCompile(`ctsync\.toml:(\d+): sign-in failed`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no file:line:\n%s", out)
	}
	src, _ := os.ReadFile(cfg)
	n, _ := strconv.Atoi(m[1])
	if lines := strings.Split(string(src), "\n"); n < 1 || n > len(lines) || lines[n-1] != `name = "fabrikam"` {
		t.Errorf("line %d is not fabrikam's name", n)
	}
	if strings.Contains(out, "fabrikam permissions") || strings.Contains(out, "sim~wrong") {
		t.Errorf("checks after a failed sign-in, or the secret:\n%s", out)
	}
}

// TestDoctorPolicyReadOptional: without Policy.Read.All the policy checks
// are skipped with a warning naming it, and the exit code stays 0.
func TestDoctorPolicyReadOptional(t *testing.T) {
	sim, cfg := doctorMesh(t)
	for _, ten := range sim.Tenants() {
		if err := ten.RevokePermissions(ten.ClientID(), "Policy.Read.All"); err != nil {
			t.Fatal(err)
		}
	}
	code, out := doctor(t, cfg)
	warns := findingLines(out, "warning")
	if code != 0 || len(warns) != 4 || !strings.Contains(warns[0], "Policy.Read.All") {
		t.Fatalf("exit %d, warnings %d\n%s", code, len(warns), out)
	}
}

// TestWrongSecretOneLineWithHint: a cycle refused at sign-in prints one
// line per pair with the AADSTS code, what it means and where the fix is.
func TestWrongSecretOneLineWithHint(t *testing.T) {
	sim, cfg := doctorMesh(t)
	if err := os.WriteFile(sim.SecretFile("contoso"), []byte("sim~not-the-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runCtsync(t, cfg, time.Minute, "once", "--pair", "contoso-to-fabrikam", "--log-level", "error")
	var failed []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "FAILED") {
			failed = append(failed, l)
		}
	}
	if code != 1 || len(failed) != 1 || !strings.Contains(failed[0], "AADSTS7000215") || !strings.Contains(failed[0], "[wrong client secret; `ctsync validate --online` names the fix]") {
		t.Errorf("exit %d, FAILED lines %q\n%s", code, failed, out)
	}
	if strings.Contains(out, "sim~not-the-secret") {
		t.Error("the secret was printed")
	}
}
