package tenants

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Name: "c", TenantID: "t", ClientID: "a", Credential: CredClientSecret, SecretEnv: "X"}
	ok.SetDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.StampAttribute != "extensionAttribute15" || ok.GraphBaseURL != DefaultGraphBaseURL || ok.PageSize != 999 {
		t.Fatalf("defaults %+v", ok)
	}
	for name, mod := range map[string]func(*Config){
		"no tenant":      func(c *Config) { c.TenantID = "" },
		"both secrets":   func(c *Config) { c.SecretFile = "f" },
		"no secret":      func(c *Config) { c.SecretEnv = "" },
		"bad kind":       func(c *Config) { c.Credential = "password" },
		"cert no file":   func(c *Config) { c.Credential = CredClientCertificate },
		"http authority": func(c *Config) { c.AuthorityHost = "http://login" },
		"http graph":     func(c *Config) { c.GraphBaseURL = "http://graph.example/v1.0" },
		"bad stamp":      func(c *Config) { c.StampAttribute = "extensionAttribute16" },
		"page size":      func(c *Config) { c.PageSize = 1000 },
		"no client ID":   func(c *Config) { c.ClientID = "" },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"c"`) {
			t.Errorf("%s: %v", name, err)
		}
	}
	mi := Config{Name: "c", TenantID: "t", Credential: CredManagedIdentity}
	mi.SetDefaults()
	if err := mi.Validate(); err != nil {
		t.Errorf("managed identity without client ID: %v", err)
	}
}

func TestScope(t *testing.T) {
	for base, want := range map[string]string{
		"https://graph.microsoft.com/v1.0": "https://graph.microsoft.com/.default",
		"https://graph.microsoft.us/v1.0":  "https://graph.microsoft.us/.default",
		"https://127.0.0.1:4443/v1.0":      "https://graph.microsoft.com/.default",
		"https://localhost:4443/v1.0":      "https://graph.microsoft.com/.default",
	} {
		c := Config{GraphBaseURL: base}
		if got := c.scope(); got != want {
			t.Errorf("%s: %s", base, got)
		}
	}
}

// TestCredentialErrors: a credential that cannot be built names the tenant
// and kind, and never shows a secret.
func TestCredentialErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	notPEM := filepath.Join(dir, "cert.pem")
	_ = os.WriteFile(notPEM, []byte("s3cr3t-not-a-cert"), 0o600)
	t.Setenv("CTSYNC_TEST_EMPTY", "")
	cases := map[string]Config{
		"missing file": {Credential: CredClientSecret, SecretFile: filepath.Join(dir, "nope")},
		"empty file":   {Credential: CredClientSecret, SecretFile: empty},
		"unset env":    {Credential: CredClientSecret, SecretEnv: "CTSYNC_TEST_EMPTY"},
		"missing cert": {Credential: CredClientCertificate, CertificateFile: filepath.Join(dir, "nope.pem")},
		"bad cert":     {Credential: CredClientCertificate, CertificateFile: notPEM},
	}
	for name, cfg := range cases {
		cfg.Name, cfg.TenantID, cfg.ClientID = "contoso", "tid", "app"
		_, err := New(cfg, Options{Pacers: &Pacers{}})
		var ce *CredentialError
		if !errors.As(err, &ce) || ce.Tenant != "contoso" || ce.Kind != cfg.Credential {
			t.Errorf("%s: %v", name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"contoso"`) || !strings.Contains(msg, cfg.Credential) || strings.Contains(msg, "s3cr3t") {
			t.Errorf("%s: message %q", name, msg)
		}
	}
}
