package guestmap

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/testredis"
)

func testReplicas(t *testing.T, open opener) {
	s := open(t, Options{Holder: "a:1"})
	if rs, err := s.Replicas(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("new store: replicas %v, %v; want none", rs, err)
	}
	start := time.Now()
	a := Replica{ID: "a:1", Host: "a", PID: 1, Version: "v1", Configured: []string{"p1", "p2"}, Pairs: []string{"p1"}}
	if err := s.Heartbeat(ctx, a, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, Replica{ID: "b:2", Pairs: []string{"p2"}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Replicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID != "a:1" || rs[1].ID != "b:2" {
		t.Fatalf("replicas %+v; want a:1 then b:2", rs)
	}
	got := rs[0]
	if got.Host != "a" || got.PID != 1 || got.Version != "v1" || !slices.Equal(got.Pairs, []string{"p1"}) || !slices.Equal(got.Configured, a.Configured) {
		t.Errorf("replica a:1 read back as %+v", got)
	}
	if got.Seen.Before(start.Add(-time.Second)) || !got.Until.After(start) || got.Until.After(time.Now().Add(time.Minute)) {
		t.Errorf("seen %v until %v: not around now and within a TTL", got.Seen, got.Until)
	}
	// A heartbeat replaces what the replica said.
	a.Pairs = []string{"p1", "p2"}
	if err := s.Heartbeat(ctx, a, time.Minute); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.Replicas(ctx); len(rs) != 2 || !slices.Equal(rs[0].Pairs, a.Pairs) {
		t.Errorf("after a second heartbeat: %+v", rs)
	}
	if err := s.Leave(ctx, "b:2"); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.Replicas(ctx); len(rs) != 1 || rs[0].ID != "a:1" {
		t.Errorf("after b:2 left: %+v", rs)
	}
	// A heartbeat lapses by itself.
	if err := s.Heartbeat(ctx, Replica{ID: "c:3"}, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c:3's heartbeat to lapse", func() bool {
		rs, _ := s.Replicas(ctx)
		return !slices.ContainsFunc(rs, func(r Replica) bool { return r.ID == "c:3" })
	})
	if err := s.Heartbeat(ctx, Replica{}, time.Minute); err == nil {
		t.Error("a heartbeat without an ID was accepted")
	}
}

func testEpoch(t *testing.T, open opener) {
	s := open(t, Options{})
	e1, err := s.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !e1.New || e1.ID == "" || e1.Created.IsZero() {
		t.Fatalf("first epoch %+v: want a new marker", e1)
	}
	e2, err := s.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e2.New || e2.ID != e1.ID || !e2.Created.Equal(e1.Created) {
		t.Errorf("second read %+v; want the same marker as %+v, not new", e2, e1)
	}
}

// waitFor polls cond until it holds, failing after a generous bound (the
// bound only guards against a hang; nothing is asserted about speed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisLockOfGoneReplicaTakenOver: a user lock held by a replica whose
// heartbeat is gone is taken over by the next LockUser at once; a lock of a
// live replica, or of a process that never announced itself, is not.
func TestRedisLockOfGoneReplicaTakenOver(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	open := func(holder string) Store {
		s, err := Open(context.Background(), srv.URL(), Options{Holder: holder})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b, once := open("a:1"), open("b:2"), open("once:3")
	for _, r := range []string{"a:1", "b:2"} {
		st := map[string]Store{"a:1": a, "b:2": b}[r]
		if err := st.Heartbeat(ctx, Replica{ID: r}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	lock := func(s Store, user string) error {
		_, _, err := s.LockUser(ctx, pairAB, user, time.Hour)
		return err
	}
	for i, holder := range []Store{a, once} {
		if err := lock(holder, fmt.Sprint("u", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := lock(b, "u0"); err != ErrHeld {
		t.Fatalf("lock of live replica a:1 taken: %v", err)
	}
	if err := a.Leave(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	if err := lock(b, "u0"); err != nil {
		t.Fatalf("lock of gone replica a:1 not taken over: %v", err)
	}
	if err := lock(b, "u1"); err != ErrHeld {
		t.Errorf("lock of a process that never announced itself taken over: %v", err)
	}
	// a:1 back again cannot take the lock of b:2, which is live.
	if err := lock(a, "u0"); err != ErrHeld {
		t.Errorf("b:2's lock (live) taken by a:1: %v", err)
	}
}
