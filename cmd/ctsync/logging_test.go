package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/sync/worker"
	"github.com/ctsync/ctsync/tenants"
)

// credErr is a Graph error whose cause is a credential's multi-line dump,
// wrapped as the worker wraps it.
func credErr() error {
	ge := &tenants.GraphError{Tenant: "contoso", Op: "GET /users/delta", Err: &tenants.CredentialError{Tenant: "contoso", Kind: "client_secret",
		Err: errors.New("ClientSecretCredential authentication failed.\nPOST https://login/token\n-----\nRESPONSE 401\n{\n \"error\": \"invalid_client\"\n}")}}
	return fmt.Errorf("pair a-to-b: read source: %w", ge)
}

// TestLogErrorsCondensed: at info an error is one short line with the
// wrapping context kept; at debug it is in full, still on one log line.
func TestLogErrorsCondensed(t *testing.T) {
	for _, format := range []string{logText, logJSON} {
		var buf bytes.Buffer
		newLogger(&buf, format, slog.LevelInfo).Error("cycle failed", "pair", "a-to-b", "error", credErr())
		out := buf.String()
		if strings.Count(out, "\n") != 1 || strings.Contains(out, "RESPONSE 401") || !strings.Contains(out, "pair a-to-b: read source: tenant") {
			t.Errorf("%s at info: %q", format, out)
		}
		buf.Reset()
		newLogger(&buf, format, slog.LevelDebug).Error("cycle failed", "error", credErr())
		out = buf.String()
		if strings.Count(out, "\n") != 1 || !strings.Contains(out, "RESPONSE 401") {
			t.Errorf("%s at debug: %q", format, out)
		}
	}
}

// TestLogEscapesDirectoryText: a displayName with a newline and an ANSI
// escape cannot forge a line or colour the terminal, in either format.
func TestLogEscapesDirectoryText(t *testing.T) {
	hostile := "Eve\n2026-01-01 FAKE LINE\x1b[31m\u009b\u202e"
	for _, format := range []string{logText, logJSON} {
		var buf bytes.Buffer
		l := newLogger(&buf, format, slog.LevelInfo)
		l.Warn("user parked", "displayName", hostile, "error", errors.New("guest "+hostile+" conflicts"))
		out := buf.String()
		if strings.Count(out, "\n") != 1 || strings.ContainsAny(out, "\x1b\r\u009b\u202e") {
			t.Errorf("%s: not escaped: %q", format, out)
		}
		if format == logJSON {
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Errorf("json line does not parse: %v", err)
			}
		}
	}
}

// TestLogFlags: every command accepts the global flags; a bad format is a
// usage error.
func TestLogFlags(t *testing.T) {
	if code, _, errs := run(t, "validate", "--log-format", "xml", "-c", "/nonexistent.toml"); code != exitUsage || !strings.Contains(errs, "log-format") {
		t.Errorf("--log-format xml: exit %d: %s", code, errs)
	}
	if code, _, errs := run(t, "validate", "--log-level", "loud", "-c", "/nonexistent.toml"); code != exitUsage || !strings.Contains(errs, "log-level") {
		t.Errorf("--log-level loud: exit %d: %s", code, errs)
	}
}

// TestProgressLogCadence: a short cycle logs no progress at info; a long
// one logs when it passes the cadence, at phase changes, and at most once
// per cadence in between, with rate and ETA while applying.
func TestProgressLogCadence(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressLog(newLogger(&buf, logText, slog.LevelInfo))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	p.now = func() time.Time { return now }
	step := func(d time.Duration, ph worker.Phase, read, planned, applied int) int {
		now = now.Add(d)
		before := strings.Count(buf.String(), "\n")
		p.observe(worker.Progress{Pair: "a-to-b", Start: t0, Phase: ph, Read: read, Planned: planned, Applied: applied})
		return strings.Count(buf.String(), "\n") - before
	}
	for i, s := range []struct {
		d                      time.Duration
		ph                     worker.Phase
		read, planned, applied int
		lines                  int
	}{
		{0, worker.PhaseRead, 100, 0, 0, 0},                   // just started
		{10 * time.Second, worker.PhaseRead, 1000, 0, 0, 0},   // short so far
		{25 * time.Second, worker.PhaseRead, 3000, 0, 0, 1},   // 35 s: long now
		{10 * time.Second, worker.PhaseRead, 4000, 0, 0, 0},   // within the cadence
		{1 * time.Second, worker.PhasePlan, 4000, 2000, 0, 1}, // phase change
		{1 * time.Second, worker.PhaseApply, 4000, 2000, 10, 1},
		{10 * time.Second, worker.PhaseApply, 4000, 2000, 110, 0},
		{30 * time.Second, worker.PhaseApply, 4000, 2000, 410, 1},
		{0, worker.PhaseDone, 4000, 2000, 2000, 0},
	} {
		if got := step(s.d, s.ph, s.read, s.planned, s.applied); got != s.lines {
			t.Fatalf("step %d (%s): %d lines, want %d:\n%s", i, s.ph, got, s.lines, buf.String())
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	last := lines[len(lines)-1]
	// 400 applied in the 40 s since applying began: 10/s, 1,590 left.
	for _, want := range []string{"phase=apply", "applied=410", "planned=2000", "rate_per_s=10", "eta=2m39s"} {
		if !strings.Contains(last, want) {
			t.Errorf("last line lacks %s: %s", want, last)
		}
	}
	if len(p.cycles) != 0 {
		t.Errorf("a finished cycle is still remembered")
	}
}

// TestRedisLogThroughSlog: go-redis's own messages come out as one
// structured warning in the configured format, not as raw lines.
func TestRedisLogThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf, logJSON, slog.LevelInfo)
	redisLogger{}.Printf(context.Background(), "redis: %s:%d: connection pool: failed to dial after %d attempts: %v", "pool.go", 770, 5, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["level"] != "WARN" || m["msg"] != "redis client" ||
		!strings.HasPrefix(m["detail"].(string), "pool.go:770: connection pool") {
		t.Errorf("redis line %q (%v)", buf.String(), err)
	}
}
