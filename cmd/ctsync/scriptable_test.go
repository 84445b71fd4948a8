package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
)

// TestLogsJSON: `ctsync logs --json` prints one object a line with full
// keys, times in UTC and durations in seconds, and the output (text and
// JSON) is the same whether the records come from the store or through
// the daemon's GET /api/v1/logs, from this ctsync or an older one.
func TestLogsJSON(t *testing.T) {
	ctx := context.Background()
	s, err := guestmap.OpenBolt(filepath.Join(t.TempDir(), "store.db"), guestmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cet := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 30, 15, 4, 5, 123456789, cet)
	recs := []guestmap.Record{
		{Time: at, Pair: "p", Cycle: "c1", SourceID: "s1", GuestID: "g1", Action: "create", Result: "ok", Duration: 41 * time.Millisecond,
			Changes: []guestmap.Change{{Prop: "displayName", New: hostileName}, {Prop: "manager", Old: "m1", New: nil}}},
		{Time: at.Add(time.Second), Pair: "p", Cycle: "c1", SourceID: "s2", Action: "update", Result: "parked", Error: "conflict: mail held by\nuser x"},
	}
	if err := s.AppendLog(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	stored, err := queryLogs(ctx, s, guestmap.LogQuery{Pair: "p"}, "")
	if err != nil {
		t.Fatal(err)
	}
	direct := logRecords(stored)

	mux := http.NewServeMux()
	apiRoutes(mux, &app.App{Store: s}, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var body json.RawMessage
	if err := apiGet(ctx, srv.URL+"/api/v1/logs?pair=p", &body); err != nil {
		t.Fatal(err)
	}
	viaAPI, err := decodeAPILogs(body)
	if err != nil {
		t.Fatal(err)
	}
	// An older daemon answers the store's records as they are.
	oldBody, _ := json.Marshal(stored)
	viaOld, err := decodeAPILogs(oldBody)
	if err != nil {
		t.Fatal(err)
	}
	render := func(recs []logRecord, asJSON bool) string {
		var b bytes.Buffer
		writeLogs(&b, recs, asJSON)
		return b.String()
	}
	for _, asJSON := range []bool{false, true} {
		want := render(direct, asJSON)
		if got := render(viaAPI, asJSON); got != want {
			t.Errorf("json=%v: through the API:\n%s\nfrom the store:\n%s", asJSON, got, want)
		}
		if got := render(viaOld, asJSON); got != want {
			t.Errorf("json=%v: through an older daemon:\n%s\nfrom the store:\n%s", asJSON, got, want)
		}
	}
	checkEscaped(t, "logs", render(direct, false), true)

	lines := strings.Split(strings.TrimSuffix(render(direct, true), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines:\n%s", strings.Join(lines, "\n"))
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": 1.0, "time": "2026-11-30T14:04:05.123456789Z", "pair": "p", "cycle": "c1", "sourceId": "s1", "guestId": "g1",
		"action": "create", "result": "ok", "durationSeconds": 0.041,
		"changes": []any{
			map[string]any{"property": "displayName", "old": nil, "new": hostileName},
			map[string]any{"property": "manager", "old": "m1", "new": nil},
		}}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first line:\n got %v\nwant %v", first, want)
	}
	if second["error"] != "conflict: mail held by\nuser x" || second["result"] != "parked" || second["durationSeconds"] != nil || second["guestId"] != nil {
		t.Errorf("second line: %v", second)
	}

	// Nothing matched: [] from the API, never null.
	res, err := http.Get(srv.URL + "/api/v1/logs?pair=nobody")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("no records: %q", b)
	}
}

// TestPlanExitCodes: with --detailed-exitcode every stop before planning
// that is not help exits 1, since 2 means changes pending.
func TestPlanExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--detailed-exitcode"}, true},
		{[]string{"-detailed-exitcode"}, true},
		{[]string{"--detailed-exitcode=true"}, true},
		{[]string{"--detailed-exitcode=1"}, true},
		{[]string{"--detailed-exitcode=maybe"}, true},
		{[]string{"--detailed-exitcode=false"}, false},
		{[]string{"--json", "--pair", "p"}, false},
		{[]string{"--", "--detailed-exitcode"}, false},
		{[]string{"detailed-exitcode"}, false},
	} {
		if got := detailedAsked(tc.args); got != tc.want {
			t.Errorf("detailedAsked(%q) = %v", tc.args, got)
		}
	}
	for _, tc := range []struct {
		code     int
		detailed bool
		want     int
	}{
		{exitUsage, true, exitFailures},
		{exitUsage, false, exitUsage},
		{exitOK, true, exitOK}, // --help
		{exitFailures, true, exitFailures},
	} {
		if got := planExit(tc.code, tc.detailed); got != tc.want {
			t.Errorf("planExit(%d, %v) = %d, want %d", tc.code, tc.detailed, got, tc.want)
		}
	}
	// A bad flag before --detailed-exitcode stops parsing before it.
	var out, errs bytes.Buffer
	e := &env{stdout: &out, stderr: &errs}
	if code := runMain(context.Background(), e, []string{"plan", "--no-such-flag", "--detailed-exitcode"}); code != exitFailures {
		t.Errorf("plan with a bad flag and --detailed-exitcode: exit %d, want 1\n%s", code, errs.String())
	}
	if code := runMain(context.Background(), e, []string{"plan", "--detailed-exitcode", "-c", filepath.Join(t.TempDir(), "none.toml")}); code != exitFailures {
		t.Errorf("plan with a missing configuration and --detailed-exitcode: exit %d, want 1\n%s", code, errs.String())
	}
	if code := runMain(context.Background(), e, []string{"plan", "-c", filepath.Join(t.TempDir(), "none.toml")}); code != exitUsage {
		t.Errorf("plan with a missing configuration: exit %d, want 2\n%s", code, errs.String())
	}
}
