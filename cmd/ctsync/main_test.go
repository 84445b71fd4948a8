package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(context.Background(), &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestValidateExample(t *testing.T) {
	t.Setenv("CTSYNC_NORTHWIND_SECRET", "x") // config.toml's northwind reads it
	code, out, errs := run(t, "validate", "-c", "../../config.toml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "ok (3 tenants") {
		t.Errorf("output: %q", out)
	}
	// The example restores soft-deleted guests (the default lifecycle) and
	// one pair adopts existing guests: the permissions list says so.
	for _, want := range []string{
		"  fabrikam: GroupMember.Read.All, User.DeleteRestore.All, User.Invite.All, User.ReadWrite.All\n",
		"Domain.Read.All: read the source's verified domains",
		"User.DeleteRestore.All: restore guests from deleted items",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("permissions: %q missing from\n%s", want, out)
		}
	}
}

func TestValidateBadConfigExits2WithPosition(t *testing.T) {
	example, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(example), `target = "northwind"`, `target = "nortwind"`, 1)
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "validate", "-c", path)
	if code != exitUsage {
		t.Fatalf("exit %d, want 2", code)
	}
	line := 0
	for i, l := range strings.Split(bad, "\n") {
		if strings.Contains(l, `"nortwind"`) {
			line = i + 1
		}
	}
	want := path + ":" + strconv.Itoa(line) + ": pair[2].target: tenant \"nortwind\" is not defined"
	if !strings.Contains(errs, want) {
		t.Errorf("stderr %q lacks %q", errs, want)
	}
}

// TestValidateEachMistakeExits2 runs the CLI on one mistake of each kind
// the configuration rejects: every one exits 2 naming file:line and key.
func TestValidateEachMistakeExits2(t *testing.T) {
	example, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CTSYNC_NORTHWIND_SECRET", "x")
	src := string(example)
	cases := []struct{ name, from, to, key string }{
		{"ratio nan", `interval = "15s"`, "interval = \"15s\"\nquarantine_ratio = nan", "worker.quarantine_ratio"},
		{"lease too long", `lease_ttl = "30s"`, `lease_ttl = "2000000h"`, "worker.lease_ttl"},
		{"interval too long", `interval = "15s"`, `interval = "720h"`, "worker.interval"},
		{"path is a URL", `url = "redis://127.0.0.1:6379/0"`, `path = "redis://127.0.0.1:6379/0"`, "store.path"},
		{"unix socket", `url = "redis://127.0.0.1:6379/0"`, `url = "unix:///run/redis.sock"`, "store.url"},
		{"password query", `url = "redis://127.0.0.1:6379/0"`, `url = "redis://127.0.0.1:6379/0?password=abc"`, "store.url"},
		{"password in URL breaking the port", `url = "redis://127.0.0.1:6379/0"`, `url = "redis://user:abc/rest@127.0.0.1:6379/0"`, "store.url"},
		{"pasted secret as variable name", `client_secret_env = "CTSYNC_NORTHWIND_SECRET"`, `client_secret_env = "abc~Q8.x-secret"`, "tenant[2].client_secret_env"},
		{"unset variable", `client_secret_env = "CTSYNC_NORTHWIND_SECRET"`, `client_secret_env = "CTSYNC_TEST_SURELY_UNSET"`, "tenant[2].client_secret_env"},
		{"long domain", `domain = "contoso.onmicrosoft.com"`, `domain = "` + strings.Repeat("a.", 200) + `com"`, "tenant[0].domain"},
		{"unknown key", `interval = "15s"`, "interval = \"15s\"\nintervall = \"2m\"", "worker.intervall"},
		{"wrong type", `concurrency_per_target = 64`, `concurrency_per_target = "four"`, "worker.concurrency_per_target"},
		{"bad duration", `lease_ttl = "30s"`, `lease_ttl = "30 seconds"`, "worker.lease_ttl"},
		{"unknown tenant", `target = "fabrikam"`, `target = "fabricam"`, "pair[0].target"},
		{"duplicate pair", `name = "contoso-to-northwind"`, `name = "contoso-to-fabrikam"`, "pair[2].name"},
		{"same source and target", `target = "northwind"`, `target = "contoso"`, "pair[2].target"},
		{"inline secret", `client_secret_file = "/run/secrets/ctsync-contoso"`, `client_secret = "abc"`, "tenant[0].client_secret"},
		{"policy operator", `operator = "REGEX MATCH"`, `operator = "MATCHES"`, "pair[1].scope.filter[0].clause[0].operator"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(src, c.from) {
				t.Fatalf("config.toml no longer has %q", c.from)
			}
			bad := strings.Replace(src, c.from, c.to, 1)
			path := filepath.Join(t.TempDir(), "bad.toml")
			if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errs := run(t, "validate", "-c", path)
			if code != exitUsage {
				t.Fatalf("exit %d, want 2: %s", code, errs)
			}
			if !regexp.MustCompile(regexp.QuoteMeta(path) + `:[1-9][0-9]*: ` + regexp.QuoteMeta(c.key) + `: `).MatchString(errs) {
				t.Errorf("stderr lacks file:line: %s: %s", c.key, errs)
			}
			if strings.Contains(errs, "abc") {
				t.Errorf("the secret is echoed: %s", errs)
			}
		})
	}
}

func TestUnknownCommandAndHelp(t *testing.T) {
	if code, _, _ := run(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := run(t, "validate", "--help"); code != exitOK {
		t.Errorf("--help: exit %d", code)
	}
	// Help, every way of asking: exit 0, on stdout, with the examples.
	for _, args := range [][]string{{}, {"help"}, {"--help"}, {"-h"}, {"help", "once"}, {"once", "--help"}, {"map", "--help"},
		{"help", "map", "rebuild"}, {"map", "rebuild", "-h"}, {"plan", "--detailed-exitcode", "--help"}} {
		code, out, errs := run(t, args...)
		if code != exitOK || !strings.Contains(out, "Usage:") || errs != "" {
			t.Errorf("%q: exit %d, stdout %.200q, stderr %q", args, code, out, errs)
		}
		if len(args) > 0 && args[0] != "map" && !strings.Contains(out, "Examples:") {
			t.Errorf("%q: no examples in %s", args, out)
		}
	}
	// Usage errors: exit 2 with the command's usage line on stderr.
	for _, args := range [][]string{{"help", "frobnicate"}, {"map"}, {"map", "frobnicate"}, {"once", "--no-such-flag"},
		{"once", "-x"}, {"status", "--pair"}, {"completion"}, {"completion", "tcsh"}, {"once", "-pair", "p"}, {"once", "-config", "x.toml"}, {"logs", "--limit", "many"}} {
		code, out, errs := run(t, args...)
		if code != exitUsage || out != "" || !strings.Contains(errs, "usage: ctsync ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and the usage line", args, code, out, errs)
		}
	}
	if _, _, errs := run(t, "once", "-config", "x.toml"); !strings.Contains(errs, "--config") {
		t.Errorf("a single-dash long flag: %q does not name --config", errs)
	}
}

// TestEveryCommandHasExamples: each command's help has an Examples
// section, cobra's completion commands included.
func TestEveryCommandHasExamples(t *testing.T) {
	code := 0
	root, _ := newRootCmd(&env{stdout: io.Discard, stderr: io.Discard}, &code)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.IsAvailableCommand() && c.Example == "" {
			t.Errorf("%s: no examples", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}

// TestExtraArgumentsAreUsageErrors: every command refuses an argument it
// does not take with exit 2, before doing anything.
func TestExtraArgumentsAreUsageErrors(t *testing.T) {
	var paths [][]string
	for _, c := range commands {
		if len(c.subs) == 0 {
			paths = append(paths, []string{c.name})
		}
		for _, s := range c.subs {
			paths = append(paths, []string{c.name, s.name})
		}
	}
	for _, p := range paths {
		args := append(p, "extra-arg")
		if p[0] == "validate" {
			args = append(args, "another")
		}
		code, _, errs := run(t, args...)
		if code != exitUsage || !strings.Contains(errs, "usage: ctsync "+strings.Join(p, " ")) {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs)
		}
	}
}

// TestValidateFileArgument: the file as an argument or with --config, not
// both.
func TestValidateFileArgument(t *testing.T) {
	t.Setenv("CTSYNC_NORTHWIND_SECRET", "x")
	if code, out, errs := run(t, "validate", "../../config.toml"); code != exitOK || !strings.HasPrefix(out, "../../config.toml: ok") {
		t.Errorf("validate FILE: exit %d: %s%s", code, out, errs)
	}
	if code, _, errs := run(t, "validate", "--config=../../config.toml"); code != exitOK {
		t.Errorf("validate --config=FILE: exit %d: %s", code, errs)
	}
	if code, _, errs := run(t, "validate", "../../config.toml", "-c", "../../config.toml"); code != exitUsage || !strings.Contains(errs, "not both") {
		t.Errorf("validate FILE -c FILE: exit %d: %s", code, errs)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "ctsync ") || !strings.Contains(out, "\nrevision: ") || !strings.Contains(out, "\ngo: go1.") {
		t.Errorf("version: exit %d: %q", code, out)
	}
	if code, flagOut, _ := run(t, "--version"); code != exitOK || flagOut != out {
		t.Errorf("--version: exit %d: %q, want %q", code, flagOut, out)
	}
	code, out, _ = run(t, "version", "--json")
	var v versionInfo
	if code != exitOK || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || v.Revision == "" || !strings.HasPrefix(v.Go, "go1.") {
		t.Errorf("version --json: exit %d: %q", code, out)
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if code, out, errs := run(t, "completion", shell); code != exitOK || !strings.Contains(out, "ctsync") {
			t.Errorf("completion %s: exit %d: %.100q %s", shell, code, out, errs)
		}
	}
	// The completion of flags and subcommands works from the commands.
	if _, out, _ := run(t, "__complete", "map", ""); !strings.Contains(out, "export") || !strings.Contains(out, "rebuild") {
		t.Errorf("completing map: %q", out)
	}
	if _, out, _ := run(t, "__complete", "plan", "--det"); !strings.Contains(out, "--detailed-exitcode") {
		t.Errorf("completing plan --det: %q", out)
	}
}

// TestRunMainInParallel: each run builds its own commands, so runs do not
// share flag values.
func TestRunMainInParallel(t *testing.T) {
	t.Setenv("CTSYNC_NORTHWIND_SECRET", "x")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, errb bytes.Buffer
			args := []string{"validate", "--log-level", "debug", "-c", "../../config.toml"}
			if i%2 == 1 {
				args = []string{"validate", filepath.Join(t.TempDir(), "none.toml")}
			}
			code := runMain(context.Background(), &env{stdout: &out, stderr: &errb}, args)
			if want := []int{exitOK, exitUsage}[i%2]; code != want {
				t.Errorf("run %d: exit %d, want %d: %s", i, code, want, errb.String())
			}
		}()
	}
	wg.Wait()
}

// TestValidateRefusesHostileInputsBeforeParsing: a file of nested brackets
// and an oversized file exit 2 with file:line from the pre-parse bounds
// (the time and memory they take are in BenchmarkLoadDeep's figures), and
// every problem of a file is reported in one run.
func TestValidateRefusesHostileInputsBeforeParsing(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct{ name, src, want string }{
		{"deep.toml", "a = " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", ":1: nesting deeper than 32"},
		{"deep400k.toml", "\n" + strings.Repeat("{", 400000), ":2: nesting deeper than 32"},
		{"big.toml", "# " + strings.Repeat("x", 2<<20) + "\n", ": the file is larger than"},
	} {
		path := write(c.name, c.src)
		code, _, errs := run(t, "validate", "-c", path)
		if code != exitUsage || !strings.HasPrefix(errs, path+c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %.300q; want one line starting %q", c.name, code, errs, path+c.want)
		}
	}
	example, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	bad := string(example)
	for _, r := range [][2]string{
		{`interval = "15s"`, `interval = "1 minute"`},
		{`lease_ttl = "30s"`, `lease_ttl = "1s"`},
		{`target = "fabrikam"`, `target = "fabricam"`},
		{`client_secret_env = "CTSYNC_NORTHWIND_SECRET"`, `client_secret_env = "CTSYNC_TEST_SURELY_UNSET"`},
		{`url = "redis://127.0.0.1:6379/0"`, `url = "redis://127.0.0.1:6379/0?password=abc"`},
	} {
		bad = strings.Replace(bad, r[0], r[1], 1)
	}
	// A syntax-level mistake (the duration) stops decoding; the other four
	// are all reported in one run once it is fixed.
	code, _, errs := run(t, "validate", "-c", write("five.toml", bad))
	if code != exitUsage || !strings.Contains(errs, "worker.interval") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	bad = strings.Replace(bad, `interval = "1 minute"`, `interval = "15s"`, 1)
	code, _, errs = run(t, "validate", "-c", write("four.toml", bad))
	for _, key := range []string{"worker.lease_ttl", "pair[0].target", "tenant[2].client_secret_env", "store.url"} {
		if code != exitUsage || !strings.Contains(errs, ": "+key+": ") {
			t.Errorf("exit %d, %s missing from one run: %s", code, key, errs)
		}
	}
	if strings.Contains(errs, "abc") {
		t.Errorf("the password is echoed: %s", errs)
	}
}
