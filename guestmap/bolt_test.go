package guestmap

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBoltSecondProcessRefused: the file lock refuses a second opener
// (flock is per open file, so a second open in this process stands in for
// a second process) with a message naming the file.
func TestBoltSecondProcessRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, "bolt://"+path, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrStoreLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another ctsync") {
		t.Fatalf("second open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

// TestBoltDurable: what was written survives closing and reopening, and
// fence numbers keep growing across reopenings.
func TestBoltDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(ctx, "bolt://"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := mustAcquire(t, s, pairAB, time.Minute)
	link := "d"
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}, DeltaLink: &link, Log: []Record{{Action: "create", Result: "ok"}}})
	s.Close()
	if _, _, err := s.Get(ctx, pairAB, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("get on a closed store: %v", err)
	}
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, ok, err := s.Get(ctx, pairAB, sampleEntry(1).SourceID)
	d, _ := s.DeltaLink(ctx, pairAB)
	logs, _ := s.Logs(ctx, LogQuery{Pair: pairAB})
	if !ok || err != nil || e != sampleEntry(1) || d != "d" || len(logs) != 1 {
		t.Errorf("after reopen: %+v %v %v link %q logs %d", e, ok, err, d, len(logs))
	}
	// The in-memory lease did not survive; a new one has a higher fence.
	l2 := mustAcquire(t, s, pairAB, time.Minute)
	if l2.Fence() <= l.Fence() {
		t.Errorf("fence %d after %d", l2.Fence(), l.Fence())
	}
}
