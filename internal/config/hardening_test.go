package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHardenedInputs: each bounded or refused input stops with its key and
// line, and no message repeats a secret (every secret below holds "s3cr3t").
func TestHardenedInputs(t *testing.T) {
	t.Setenv("CTSYNC_TEST_SET", "x")
	worker := func(extra string) string {
		return strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\n"+extra, 1)
	}
	store := func(line string) string {
		return strings.Replace(base, `url = "redis://127.0.0.1:6379/0"`, line, 1)
	}
	tenant := func(line string) string {
		return strings.Replace(base, `client_secret_file = "/run/secrets/contoso"`, line, 1)
	}
	tests := []struct {
		name, src string
		line      int
		key, want string
	}{
		{"ratio nan", worker("quarantine_ratio = nan"), 7, "worker.quarantine_ratio", "(0, 1]"},
		{"ratio inf", worker("quarantine_ratio = inf"), 7, "worker.quarantine_ratio", "(0, 1]"},
		{"ratio above 1", worker("quarantine_ratio = 1.5"), 7, "worker.quarantine_ratio", "(0, 1]"},
		{"lease ttl huge", worker(`lease_ttl = "2000000h"`), 7, "worker.lease_ttl", "at most 1h0m0s"},
		{"interval over a day", strings.Replace(base, `interval = "2m"`, `interval = "25h"`, 1), 6, "worker.interval", "at most 24h0m0s"},
		{"cycle timeout over a day", worker(`cycle_timeout = "48h"`), 7, "worker.cycle_timeout", "at most 24h0m0s"},
		{"quarantine interval over a week", worker(`quarantine_interval = "200h"`), 7, "worker.quarantine_interval", "at most 168h0m0s"},
		{"path is a URL", store(`path = "redis://127.0.0.1:6379/0"`), 3, "store.path", "looks like a URL"},
		{"unix socket", store(`url = "unix:///run/redis.sock"`), 3, "store.url", "unix:// sockets are not supported"},
		{"password query", store(`url = "redis://127.0.0.1:6379/0?password=s3cr3t"`), 3, "store.url", "?password="},
		{"password breaking the port", store(`url = "redis://user:s3cr3tPart/rest@host:6379/0"`), 3, "store.url", "does not parse as a URL"},
		{"store password_env pasted", store("url = \"redis://127.0.0.1:6379/0\"\npassword_env = \"s3cr3t=+/\""), 4, "store.password_env", "not an environment variable name"},
		{"client_secret_env pasted", tenant(`client_secret_env = "abc~s3cr3t.Q8"`), 13, "tenant[0].client_secret_env", "not an environment variable name"},
		{"certificate_password_env pasted", tenant("credential = \"client_certificate\"\ncertificate_file = \"/c.pem\"\ncertificate_password_env = \"s3cr3t pass\""), 15, "tenant[0].certificate_password_env", "not an environment variable name"},
		{"listen_token_env pasted", worker("listen = \":9464\"\nlisten_token_env = \"s3cr3t-token\""), 8, "worker.listen_token_env", "not an environment variable name"},
		{"unset variable", tenant(`client_secret_env = "CTSYNC_TEST_SURELY_UNSET"`), 13, "tenant[0].client_secret_env", "environment variable CTSYNC_TEST_SURELY_UNSET is unset"},
		{"unset password variable", store("url = \"redis://127.0.0.1:6379/0\"\npassword_env = \"CTSYNC_TEST_SURELY_UNSET\""), 4, "store.password_env", "CTSYNC_TEST_SURELY_UNSET"},
		{"long domain", strings.Replace(base, `domain = "contoso.onmicrosoft.com"`, `domain = "`+strings.Repeat("a.", 200)+`com"`, 1), 11, "tenant[0].domain", "at most 253"},
		{"long authority", tenant("client_secret_file = \"/x\"\nauthority_host = \"https://" + strings.Repeat("a", 3000) + "\""), 14, "tenant[0].authority_host", "at most 2048"},
		{"long path", store(`path = "/` + strings.Repeat("a", 5000) + `"`), 3, "store.path", "longer than 4096"},
		{"long name", strings.Replace(base, `name = "contoso"`, `name = "`+strings.Repeat("a", 100)+`"`, 1), 9, "tenant[0].name", "at most 63"},
		{"long string", worker(`listen = "` + strings.Repeat("a", MaxStringLen+1) + `"`), 7, "", "a string longer than"},
		{"deep arrays", worker("x = " + strings.Repeat("[", 20000)), 7, "", "nesting deeper than 32"},
		{"deep inline tables", worker("x = " + strings.Repeat("{a=", 40)), 7, "", "nesting deeper than 32"},
		{"deep dotted key", worker(strings.Repeat("a.", 40) + "b = 1"), 7, "", "nesting deeper than 32"},
		{"deep header", base + "\n[" + strings.Repeat("a.", 40) + "b]\n", 29, "", "nesting deeper than 32"},
		{"too big", base + "# " + strings.Repeat("x", MaxFileSize) + "\n", 0, "", "larger than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadEnv(t, tt.src)
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("not refused as config.Errors: %T %v", err, err)
			}
			e := es[0]
			for _, x := range es {
				if x.Key == tt.key {
					e = x
					break
				}
			}
			if e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Msg, tt.want) {
				t.Errorf("got %d %q %q; want line %d key %q containing %q\n%v", e.Line, e.Key, e.Msg, tt.line, tt.key, tt.want, err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("a secret is echoed: %v", err)
			}
			if len(err.Error()) > 4096 {
				t.Errorf("the message is %d bytes: a long value was printed back", len(err.Error()))
			}
		})
	}
}

// loadEnv is load checking the environment too, as `ctsync validate` does.
func loadEnv(t *testing.T, src string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctsync.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return LoadAndCheckEnvironment(path)
}

// TestAllProblemsInOneRun: five mistakes past the decoder (an unknown
// key, two bad values, an unknown tenant, an unset variable) come out of
// one run, in file order.
func TestAllProblemsInOneRun(t *testing.T) {
	src := strings.NewReplacer(
		`interval = "2m"`, "interval = \"2m\"\nintreval = \"3m\"\nlease_ttl = \"1s\"\nquarantine_ratio = nan",
		`client_secret_file = "/run/secrets/contoso"`, `client_secret_env = "CTSYNC_TEST_SURELY_UNSET"`,
		`target = "fabrikam"`, `target = "fabricam"`,
	).Replace(base)
	_, err := loadEnv(t, src)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("%T %v", err, err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	want := "worker.intreval worker.lease_ttl worker.quarantine_ratio tenant[0].client_secret_env pair[0].target"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("keys %s\nwant %s\n%v", got, want, err)
	}
}

// TestManyProblemsAreCapped: a file of thousands of unknown keys prints
// the first maxErrors and a count (of the 5000 keys and [worker.x]
// itself), not thousands of lines.
func TestManyProblemsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("[worker.x]\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "k%d = 1\n", i)
	}
	_, err := load(t, b.String())
	var es Errors
	if !errors.As(err, &es) || len(es) != maxErrors+1 || !strings.Contains(es[maxErrors].Msg, "4901 more problems") {
		t.Fatalf("%d errors, last %v", len(es), es[len(es)-1])
	}
}

// TestShapeIgnoresStringsAndComments: brackets, braces and dots inside
// strings and comments do not nest, so real configurations pass.
func TestShapeIgnoresStringsAndComments(t *testing.T) {
	deep := strings.Repeat("[{.", 100)
	src := "a = \"" + deep + "\"\nb = '" + deep + "'\nc = \"\"\"\n" + deep + "\n\"\"\"\nd = '''" + deep + "'''\n# " + deep + "\ne = \"\\\"" + deep + "\"\nf = [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5, 13.5, 14.5, 15.5, 16.5, 17.5, 18.5, 19.5, 20.5, 21.5, 22.5, 23.5, 24.5, 25.5, 26.5, 27.5, 28.5, 29.5, 30.5, 31.5, 32.5, 33.5]\n"
	if err := checkShape("f", []byte(src)); err != nil {
		t.Fatal(err)
	}
	if err := checkShape("f", []byte("a = "+strings.Repeat("[", MaxDepth)+strings.Repeat("]", MaxDepth))); err != nil {
		t.Errorf("depth %d refused: %v", MaxDepth, err)
	}
	if err := checkShape("f", []byte("a = "+strings.Repeat("[", MaxDepth+1))); err == nil {
		t.Errorf("depth %d accepted", MaxDepth+1)
	}
}
