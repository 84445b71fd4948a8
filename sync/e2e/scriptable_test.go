package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// planDoc is what a script reads of `ctsync plan --json` (docs/operating.md,
// "## Plan").
type planDoc struct {
	Version   int       `json:"version"`
	Generated time.Time `json:"generated"`
	Pairs     []struct {
		Pair    string `json:"pair"`
		Changes []struct {
			Action   string `json:"action"`
			SourceID string `json:"sourceId"`
			Reason   string `json:"reason"`
		} `json:"changes"`
		Counts     map[string]int `json:"counts"`
		Pending    int            `json:"pending"`
		Unchanged  int            `json:"unchanged"`
		OutOfScope int            `json:"outOfScope"`
		Error      string         `json:"error"`
	} `json:"pairs"`
}

// ctsyncOut runs `ctsync ARGS -c cfgPath` as a real process and returns
// its exit code, stdout and stderr apart: a script parses stdout alone.
func ctsyncOut(t *testing.T, cfgPath string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctsyncBinary(t), append(args, "-c", cfgPath)...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errs.String()
	}
	if err != nil {
		t.Fatalf("ctsync %v: %v", args, err)
	}
	return 0, out.String(), errs.String()
}

// planJSON runs `plan --json --pair P ARGS` and decodes stdout as one document.
func planJSON(t *testing.T, cfgPath string, args ...string) (int, planDoc) {
	t.Helper()
	code, out, errs := ctsyncOut(t, cfgPath, append([]string{"plan", "--json", "--pair", pairName}, args...)...)
	var doc planDoc
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("plan --json %v: exit %d: not one JSON document: %v\n%s\nstderr:\n%s", args, code, err, out, errs)
	}
	if dec.More() {
		t.Fatalf("plan --json %v: more than one JSON document:\n%s", args, out)
	}
	if doc.Version != 1 || doc.Generated.IsZero() || time.Since(doc.Generated) > time.Hour {
		t.Errorf("plan --json %v: version %d, generated %v", args, doc.Version, doc.Generated)
	}
	return code, doc
}

// TestPlanScriptable: `plan --json` is one versioned document naming the
// pair's changes, and `plan --detailed-exitcode` exits 2 while creates are
// pending, 0 once a sync made them, 1 when the pair cannot be planned (a
// wrong secret), even with changes pending. Without the flag plan exits 0
// with changes pending, 1 on the error.
func TestPlanScriptable(t *testing.T) {
	h := newHarness(t, setup{users: 5})
	nia := h.addMember(h.src, map[string]any{"displayName": "Nia Script"})

	code, doc := planJSON(t, h.cfgPath, "--detailed-exitcode")
	if code != 2 {
		t.Errorf("plan --detailed-exitcode with creates pending: exit %d, want 2", code)
	}
	if len(doc.Pairs) != 1 || doc.Pairs[0].Pair != pairName || doc.Pairs[0].Error != "" {
		t.Fatalf("plan --json: %+v", doc)
	}
	p := doc.Pairs[0]
	creates, niaPlanned := 0, false
	for _, c := range p.Changes {
		if c.Action == "create" {
			creates++
			niaPlanned = niaPlanned || (c.SourceID == nia && c.Reason != "")
		}
	}
	if creates == 0 || creates != p.Counts["create"] || p.Pending != len(p.Changes) || !niaPlanned {
		t.Errorf("plan --json: %d creates, counts %v, pending %d of %d changes, Nia planned %v", creates, p.Counts, p.Pending, len(p.Changes), niaPlanned)
	}
	if code, _, errs := ctsyncOut(t, h.cfgPath, "plan", "--pair", pairName); code != 0 {
		t.Errorf("plan without --detailed-exitcode and changes pending: exit %d, want 0\n%s", code, errs)
	}
	if h.writes() != 0 {
		t.Fatalf("plan wrote to the target")
	}

	h.mustCtsync("once", "--pair", pairName)
	code, doc = planJSON(t, h.cfgPath, "--detailed-exitcode")
	if code != 0 || len(doc.Pairs) != 1 || doc.Pairs[0].Changes == nil || len(doc.Pairs[0].Changes) != 0 || doc.Pairs[0].Pending != 0 {
		t.Errorf("plan --detailed-exitcode after a sync: exit %d, want 0 and no changes: %+v", code, doc)
	}
	if code, _, errs := ctsyncOut(t, h.cfgPath, "plan", "--pair", pairName, "--detailed-exitcode"); code != 0 {
		t.Errorf("plan --detailed-exitcode (text) after a sync: exit %d\n%s", code, errs)
	}

	// A joiner is pending, but the source's secret is wrong: 1, the
	// error wins, and the document still says which pair failed and why.
	h.addMember(h.src, map[string]any{"displayName": "Oli Pending"})
	wrong := filepath.Join(t.TempDir(), "wrong-secret")
	if err := os.WriteFile(wrong, []byte("not-the-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	good := fmt.Sprintf("client_secret_file = %q", h.sim.SecretFile("contoso"))
	if !strings.Contains(string(cfg), good) {
		t.Fatalf("the configuration has no %s", good)
	}
	broken := filepath.Join(t.TempDir(), "broken.toml")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(cfg), good, fmt.Sprintf("client_secret_file = %q", wrong), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, doc = planJSON(t, broken, "--detailed-exitcode")
	if code != 1 || len(doc.Pairs) != 1 || doc.Pairs[0].Error == "" || doc.Pairs[0].Changes != nil || strings.Contains(doc.Pairs[0].Error, "\n") {
		t.Errorf("plan --detailed-exitcode with a wrong secret: exit %d, want 1 and the pair's error on one line: %+v", code, doc)
	}
	if len(doc.Pairs) == 1 {
		t.Logf("the wrong secret's error: %s", doc.Pairs[0].Error)
	}
	if code, _, _ := ctsyncOut(t, broken, "plan", "--pair", pairName); code != 1 {
		t.Errorf("plan with a wrong secret: exit %d, want 1", code)
	}
	// A usage error is 1 too with the flag: 2 would read "changes pending".
	if code, _, _ := ctsyncOut(t, h.cfgPath, "plan", "--detailed-exitcode", "--pair", "no-such-pair"); code != 1 {
		t.Errorf("plan --detailed-exitcode with an unknown pair: exit %d, want 1", code)
	}
	if code, _, _ := ctsyncOut(t, h.cfgPath, "plan", "--pair", "no-such-pair"); code != 2 {
		t.Errorf("plan with an unknown pair: exit %d, want 2", code)
	}
	// The healthy configuration still plans the joiner: 2.
	if code, _ := planJSON(t, h.cfgPath, "--detailed-exitcode"); code != 2 {
		t.Errorf("plan --detailed-exitcode with a joiner pending: exit %d, want 2", code)
	}
}

// TestLogsJSONLines: `ctsync logs --json` prints one JSON object a line,
// with version 1, full keys, times in UTC and durations in seconds.
func TestLogsJSONLines(t *testing.T) {
	h := newHarness(t, setup{users: 5})
	start := time.Now()
	h.mustCtsync("once", "--pair", pairName)
	took := time.Since(start)

	code, out, errs := ctsyncOut(t, h.cfgPath, "logs", "--json", "--pair", pairName, "--action", "create")
	if code != 0 {
		t.Fatalf("logs --json: exit %d\n%s", code, errs)
	}
	type change struct {
		Property string `json:"property"`
		Old      any    `json:"old"`
		New      any    `json:"new"`
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		n++
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &keys); err != nil {
			t.Fatalf("line %d is not a JSON object: %v: %s", n, err, sc.Text())
		}
		for _, short := range []string{"src", "guest", "dur"} {
			if _, ok := keys[short]; ok {
				t.Errorf("line %d has the store's short key %q: %s", n, short, sc.Text())
			}
		}
		var r struct {
			Version         int      `json:"version"`
			Time            string   `json:"time"`
			Pair            string   `json:"pair"`
			Cycle           string   `json:"cycle"`
			SourceID        string   `json:"sourceId"`
			GuestID         string   `json:"guestId"`
			Action          string   `json:"action"`
			Result          string   `json:"result"`
			DurationSeconds float64  `json:"durationSeconds"`
			Changes         []change `json:"changes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		tm, err := time.Parse(time.RFC3339Nano, r.Time)
		if r.Version != 1 || err != nil || !strings.HasSuffix(r.Time, "Z") || tm.Before(start.Add(-time.Minute)) ||
			r.Pair != pairName || r.Cycle == "" || r.SourceID == "" || r.GuestID == "" || r.Action != "create" || r.Result != "ok" {
			t.Errorf("line %d: %+v (time: %v)", n, r, err)
		}
		// Seconds: more than nothing, less than the whole run took (the
		// nanoseconds of old would be millions).
		if r.DurationSeconds <= 0 || r.DurationSeconds > took.Seconds() {
			t.Errorf("line %d: durationSeconds %v, want seconds within the run's %v", n, r.DurationSeconds, took)
		}
		props := map[string]bool{}
		for _, c := range r.Changes {
			props[c.Property] = true
		}
		if !props["displayName"] || !props["mail"] {
			t.Errorf("line %d: changes %+v lack displayName or mail", n, r.Changes)
		}
	}
	if n == 0 {
		t.Fatalf("logs --json printed no create:\n%s\n%s", out, errs)
	}
}
