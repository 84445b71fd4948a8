package guestmap

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestBoltCountKeptWithTheMap: the embedded store's Count comes from a
// count kept with the map's writes (no walk of the map), exact through
// overwrites, deletes of missing entries, DropMap, and a store written
// before the count was kept.
func TestBoltCountKeptWithTheMap(t *testing.T) {
	ctx := context.Background()
	s := openBoltT(t, Options{})
	l, err := s.Acquire(ctx, pairAB, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(id string) Entry { return Entry{SourceID: id, GuestID: "g-" + id, State: StateActive} }
	count := func(want int, when string) {
		t.Helper()
		if n, err := s.Count(ctx, pairAB); n != want || err != nil {
			t.Fatalf("%s: Count = %d, %v; want %d", when, n, err, want)
		}
	}
	count(0, "empty")
	if err := s.Apply(ctx, l, Batch{Put: []Entry{entry("a"), entry("b"), entry("c")}}); err != nil {
		t.Fatal(err)
	}
	count(3, "three puts")
	if err := s.Apply(ctx, l, Batch{Put: []Entry{entry("a")}, Delete: []string{"b", "missing"}}); err != nil {
		t.Fatal(err)
	}
	count(2, "an overwrite, a delete and a delete of a missing entry")
	// A store from before the count: the key is absent, Count walks the
	// map, and the next write starts keeping it from the walk.
	if err := s.db.Update(func(tx *bolt.Tx) error { return pairBucket(tx, pairAB).Delete(keyMapN) }); err != nil {
		t.Fatal(err)
	}
	count(2, "without the kept count")
	if err := s.Apply(ctx, l, Batch{Put: []Entry{entry("d")}}); err != nil {
		t.Fatal(err)
	}
	count(3, "a put after the walk")
	if err := s.Apply(ctx, l, Batch{DropMap: true, Put: []Entry{entry("e")}}); err != nil {
		t.Fatal(err)
	}
	count(1, "DropMap and a put")
}
