package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(context.Background(), &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestValidateExample(t *testing.T) {
	code, out, errs := run(t, "validate", "-c", "../../config.toml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "ok (3 tenants") {
		t.Errorf("output: %q", out)
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

func TestUnknownCommandAndHelp(t *testing.T) {
	if code, _, _ := run(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := run(t, "validate", "--help"); code != exitOK {
		t.Errorf("--help: exit %d", code)
	}
}
