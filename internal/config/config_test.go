package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// base is a small valid configuration; cases below change one thing in it.
const base = `
[store]
url = "redis://127.0.0.1:6379/0"

[worker]
interval = "2m"

[[tenant]]
name = "contoso"
tenant_id = "11111111-1111-4111-8111-111111111111"
domain = "contoso.onmicrosoft.com"
client_id = "aaaaaaaa-0000-4000-8000-000000000001"
client_secret_file = "/run/secrets/contoso"

[[tenant]]
name = "fabrikam"
tenant_id = "22222222-2222-4222-8222-222222222222"
domain = "fabrikam.onmicrosoft.com"
client_id = "aaaaaaaa-0000-4000-8000-000000000002"
credential = "managed_identity"

[[pair]]
name = "c2f"
source = "contoso"
target = "fabrikam"
  [pair.scope]
  all_members = true
`

func load(t *testing.T, src string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctsync.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

func TestExampleConfigIsValid(t *testing.T) {
	cfg, err := Load("../../config.toml")
	if err != nil {
		t.Fatalf("config.toml: %v", err)
	}
	if len(cfg.Tenants) != 3 || len(cfg.Pairs) < 3 {
		t.Fatalf("example has %d tenants and %d pairs", len(cfg.Tenants), len(cfg.Pairs))
	}
}

func TestSetDefaults(t *testing.T) {
	tests := []struct {
		name  string
		in    Config
		check func(t *testing.T, c *Config)
	}{
		{"empty worker gets every default", Config{}, func(t *testing.T, c *Config) {
			w := c.Worker
			if w.Interval.Duration != 15*time.Second || w.CycleTimeout.Duration != 30*time.Minute ||
				w.LeaseTTL.Duration != 30*time.Second || w.ConcurrencyPerTarget != 64 ||
				w.QuarantineRatio != 0.4 || w.QuarantineMinFailures != 10 || w.QuarantineInterval.Duration != time.Hour {
				t.Errorf("worker defaults: %+v", w)
			}
		}},
		{"set values are kept", Config{Worker: Worker{Interval: Duration{5 * time.Minute}, ConcurrencyPerTarget: 9}}, func(t *testing.T, c *Config) {
			if c.Worker.Interval.Duration != 5*time.Minute || c.Worker.ConcurrencyPerTarget != 9 {
				t.Errorf("overwrote set values: %+v", c.Worker)
			}
		}},
		{"tenant stamp slot and credential", Config{Tenants: []Tenant{{Name: "a"}, {Name: "b", StampAttribute: "extensionAttribute3", Credential: CredAzureCLI}}}, func(t *testing.T, c *Config) {
			if c.Tenants[0].StampAttribute != "extensionAttribute15" || c.Tenants[0].Credential != CredClientSecret {
				t.Errorf("tenant defaults: %+v", c.Tenants[0])
			}
			if c.Tenants[1].StampAttribute != "extensionAttribute3" || c.Tenants[1].Credential != CredAzureCLI {
				t.Errorf("tenant overrides lost: %+v", c.Tenants[1])
			}
		}},
		{"pair redirect URL", Config{Pairs: []Pair{{Name: "p"}}}, func(t *testing.T, c *Config) {
			if c.Pairs[0].InviteRedirectURL != DefaultInviteRedirectURL {
				t.Errorf("redirect: %q", c.Pairs[0].InviteRedirectURL)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			c.SetDefaults()
			tt.check(t, &c)
		})
	}
}

// TestBadConfigs proves each kind of mistake stops start-up with a message
// naming file:line and the key.
func TestBadConfigs(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		line     int    // expected line of the error at key
		key      string // expected key in the message
		contains string
	}{
		{"unknown key", strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\nintreval = \"3m\"", 1), 7, "worker.intreval", `unknown key "intreval"`},
		{"unknown key in second tenant", strings.Replace(base, `credential = "managed_identity"`, "credential = \"managed_identity\"\ncolour = \"red\"", 1), 21, "tenant[1].colour", "unknown key"},
		{"number as duration", strings.Replace(base, `interval = "2m"`, `interval = 2`, 1), 6, "worker.interval", "missing unit"},
		{"wrong type", strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\nconcurrency_per_target = \"four\"", 1), 7, "worker.concurrency_per_target", "incompatible types"},
		{"bad duration", strings.Replace(base, `interval = "2m"`, `interval = "2 minutes"`, 1), 6, "worker.interval", "unknown unit"},
		{"pair names unknown tenant", strings.Replace(base, `target = "fabrikam"`, `target = "fabricam"`, 1), 25, "pair[0].target", `tenant "fabricam" is not defined`},
		{"same source and target", strings.Replace(base, `target = "fabrikam"`, `target = "contoso"`, 1), 25, "pair[0].target", "same tenant"},
		{"duplicate pair name", base + "\n[[pair]]\nname = \"c2f\"\nsource = \"fabrikam\"\ntarget = \"contoso\"\n[pair.scope]\nall_members = true\n", 30, "pair[1].name", `pair "c2f" is already defined at line 23`},
		{"two pairs on one route", base + "\n[[pair]]\nname = \"c2f-again\"\nsource = \"contoso\"\ntarget = \"fabrikam\"\n[pair.scope]\nall_members = true\n", 32, "pair[1].target", `pair "c2f" already syncs contoso -> fabrikam`},
		{"inline secret", strings.Replace(base, `client_secret_file = "/run/secrets/contoso"`, `client_secret = "s3cr3t~value"`, 1), 13, "tenant[0].client_secret", "secrets are never written"},
		{"password in redis URL", strings.Replace(base, `redis://127.0.0.1`, `redis://:hunter2@127.0.0.1`, 1), 3, "store.url", "password_env"},
		{"duplicate tenant name", strings.Replace(base, `name = "fabrikam"`, `name = "contoso"`, 1), 16, "tenant[1].name", "already defined at line 9"},
		{"bad tenant id", strings.Replace(base, `11111111-1111-4111-8111-111111111111`, `contoso`, 1), 10, "tenant[0].tenant_id", "not a tenant ID"},
		{"secret kind without reference", strings.Replace(base, `client_secret_file = "/run/secrets/contoso"`, ``, 1), 8, "tenant[0].credential", "needs client_secret_file or client_secret_env"},
		{"unknown credential kind", strings.Replace(base, `credential = "managed_identity"`, `credential = "password"`, 1), 20, "tenant[1].credential", "want client_secret"},
		{"http authority", strings.Replace(base, `client_secret_file = "/run/secrets/contoso"`, "client_secret_file = \"/x\"\nauthority_host = \"http://login.example\"", 1), 14, "tenant[0].authority_host", "https"},
		{"stamp slot", strings.Replace(base, `client_secret_file = "/run/secrets/contoso"`, "client_secret_file = \"/x\"\nstamp_attribute = \"extensionAttribute16\"", 1), 14, "tenant[0].stamp_attribute", "extensionAttribute1 .. extensionAttribute15"},
		{"no store", strings.Replace(base, `url = "redis://127.0.0.1:6379/0"`, ``, 1), 2, "store", "store.url"},
		{"listen without a port", strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\nlisten = \"127.0.0.1\"", 1), 7, "worker.listen", "host:port"},
		{"listen on a host name", strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\nlisten = \"ctsync.example:9464\"", 1), 7, "worker.listen", "IP address"},
		{"two listener tokens", strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\nlisten = \":9464\"\nlisten_token_file = \"/run/secrets/t\"\nlisten_token_env = \"CTSYNC_TOKEN\"", 1), 9, "worker.listen_token_env", "exclusive"},
		{"listener token without listener", strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\nlisten_token_file = \"/run/secrets/t\"", 1), 7, "worker.listen_token_file", "worker.listen is not"},
		{"inline listener token", strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\nlisten = \":9464\"\nlisten_token = \"s3cr3t-token\"", 1), 8, "worker.listen_token", "listen_token_file"},
		{"lease too short", strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\nlease_ttl = \"1s\"", 1), 7, "worker.lease_ttl", "at least 5s"},
		{"policy: bad operator", base + "\n  [[pair.scope.filter]]\n  clause = [\n    { attribute = \"department\", operator = \"EQUALS\", value = \"Eng\" },\n    { attribute = \"country\", operator = \"LIKE\", value = \"D*\" },\n  ]\n", 32, "pair[0].scope.filter[0].clause[1].operator", "LIKE"},
		{"policy: expression column", base + "\n  [[pair.mapping]]\n  target = \"displayName\"\n  expression = 'Join(\" \", [givenName], [surname]'\n", 31, "pair[0].mapping[0].expression", "column"},
		{"policy: lifecycle action", base + "\n  [pair.lifecycle]\n  disabled = \"delete\"\n", 30, "pair[0].lifecycle.disabled", "delete"},
		{"syntax error", base + "\n[[pair]\n", 30, "pair.scope", "expected end of table array name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.src)
			if err == nil {
				t.Fatal("config accepted")
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not config.Errors: %T %v", err, err)
			}
			// Every problem is reported in one run: find the one the
			// case is about.
			first := es[0]
			for _, e := range es {
				if e.Key == tt.key {
					first = e
					break
				}
			}
			if !strings.HasSuffix(first.File, "ctsync.toml") {
				t.Errorf("file = %q", first.File)
			}
			if first.Line != tt.line {
				t.Errorf("line = %d, want %d (%v)", first.Line, tt.line, err)
			}
			if first.Key != tt.key {
				t.Errorf("key = %q, want %q (%v)", first.Key, tt.key, err)
			}
			if !strings.Contains(first.Msg, tt.contains) {
				t.Errorf("message %q lacks %q", first.Msg, tt.contains)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestKeyLines(t *testing.T) {
	src := `top = 1
[a]
b = "x" # comment
"quoted.key" = 2
c.d = 3
[[p]]
n = 1
[[p.m]]
t = "1"
[[p]]
n = 2
  [p.s]
  f = [
    { x = 1, y = "]" },
    { x = 2 },
  ]
[[p.m]]
t = '''multi
line'''
after = true
`
	k := scanKeyLines(src)
	want := map[string]int{
		"top": 1, "a": 2, "a.b": 3, "a.quoted.key": 4, "a.c.d": 5,
		"p[0]": 6, "p[0].n": 7, "p[0].m[0]": 8, "p[0].m[0].t": 9,
		"p[1]": 10, "p[1].n": 11, "p[1].s": 12, "p[1].s.f": 13,
		"p[1].s.f[0]": 14, "p[1].s.f[0].y": 14, "p[1].s.f[1].x": 15,
		"p[1].m[0].t": 18, "p[1].m[0].after": 20,
	}
	for path, line := range want {
		if got := k[path]; got != line {
			t.Errorf("%s: line %d, want %d", path, got, line)
		}
	}
	if got := k.line("p[1].s.f[1].missing"); got != 15 {
		t.Errorf("ancestor fallback: %d", got)
	}
}
