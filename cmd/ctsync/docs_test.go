package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestDocsCLIUpToDate: docs/cli is what `ctsync gen-docs` writes now, file
// for file; `make docs` brings it up to date.
func TestDocsCLIUpToDate(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "gen-docs", "--dir", dir); code != exitOK {
		t.Fatalf("gen-docs: exit %d: %s", code, errs)
	}
	names := func(d string) []string {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	const committed = "../../docs/cli"
	want, got := names(dir), names(committed)
	if !slices.Equal(got, want) {
		t.Fatalf("docs/cli is stale (run make docs): it has %q, gen-docs writes %q", got, want)
	}
	for _, n := range want {
		w, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(committed, n))
		if err != nil {
			t.Fatal(err)
		}
		if string(g) != string(w) {
			t.Errorf("docs/cli/%s is stale: run make docs", n)
		}
	}
}

// TestGenDocsMan: --man writes a man page per command beside the markdown.
func TestGenDocsMan(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "gen-docs", "--dir", dir, "--man"); code != exitOK {
		t.Fatalf("gen-docs --man: exit %d: %s", code, errs)
	}
	for _, n := range []string{"ctsync.1", "ctsync-map-rebuild.1", "ctsync.md", "ctsync_map_rebuild.md"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Error(err)
		}
	}
	if code, _, _ := run(t, "gen-docs"); code != exitUsage {
		t.Errorf("gen-docs without --dir: exit %d, want 2", code)
	}
}
