package guestmap

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/testredis"
)

// TestBoltGroupContract runs the group suite on the embedded store.
func TestBoltGroupContract(t *testing.T) {
	runGroupContract(t, func(t *testing.T, opts Options) Store {
		opts.NoSync = true
		s, err := Open(ctx, "bolt://"+filepath.Join(t.TempDir(), "ctsync.db"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestRedisGroupContract runs the group suite on a private redis-server;
// every subtest gets its own key prefix.
func TestRedisGroupContract(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	var n atomic.Int64
	runGroupContract(t, func(t *testing.T, opts Options) Store {
		opts.Prefix = fmt.Sprintf("g%d", n.Add(1))
		s, err := Open(ctx, srv.URL(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func runGroupContract(t *testing.T, open opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open opener)
	}{
		{"RoundTripLarge", testGroupRoundTrip},
		{"DeleteAndOverwrite", testGroupDelete},
		{"DropGroups", testDropGroups},
		{"ResetAndRebuild", testGroupResetAndRebuild},
		{"GroupLink", testGroupLink},
		{"Fenced", testGroupFenced},
		{"MixedBatch", testGroupMixedBatch},
		{"MultiChunkMixed", testGroupMultiChunk},
		{"PairsListGroupOnlyPair", testGroupOnlyPair},
		{"Invalid", testGroupInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// sampleGroup is a group entry with users members, canonical GUIDs.
func sampleGroup(i, users int) GroupEntry {
	g := GroupEntry{
		SourceID: guid(3, i), Name: fmt.Sprintf("Group %d", i), Description: "déscription, \"quoted\"",
		MembersKnown: true, InScope: i%2 == 0, TargetID: guid(4, i), AttrHash: uint64(i) * 0x9e3779b97f4a7c15,
		Groups:  []string{guid(3, i+1), guid(3, i+2)},
		Updated: time.Unix(1_700_000_200, 0).UTC(),
	}
	for u := range users {
		g.Users = append(g.Users, guid(1, u))
	}
	for u := range users / 2 {
		g.Managed = append(g.Managed, guid(2, u))
	}
	return g
}

func groupsOf(t *testing.T, s Store, pair string) []GroupEntry {
	t.Helper()
	gs, err := s.GroupEntries(ctx, pair)
	if err != nil {
		t.Fatalf("group entries of %s: %v", pair, err)
	}
	return gs
}

func sameGroup(t *testing.T, got, want GroupEntry) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, w := got, want
		g.Users, g.Managed, w.Users, w.Managed = nil, nil, nil, nil
		t.Errorf("group %s:\n got %+v (%d users, %d managed)\nwant %+v (%d users, %d managed)",
			want.SourceID, g, len(got.Users), len(got.Managed), w, len(want.Users), len(want.Managed))
	}
}

func testGroupRoundTrip(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	if gs := groupsOf(t, s, pairAB); len(gs) != 0 {
		t.Fatalf("fresh pair has %d group entries", len(gs))
	}
	big := sampleGroup(1, 100_000)
	odd := GroupEntry{ // nothing canonical: IDs as strings, a pending create
		SourceID: "not-a-guid", Name: "odd", Users: []string{"A-UPPER", "b", "c"},
		TargetID: "ABCDEF00-0000-4000-8000-000000000001", Creating: time.Unix(1_700_000_300, 0).UTC(),
		LastError: "Request_ResourceNotFound", Updated: time.Unix(1_700_000_301, 0).UTC(),
	}
	empty := GroupEntry{SourceID: guid(3, 9), Updated: time.Unix(1_700_000_302, 0).UTC()}
	start := time.Now()
	mustApply(t, s, l, Batch{PutGroups: []GroupEntry{odd, big, empty}})
	put := time.Since(start)
	start = time.Now()
	gs := groupsOf(t, s, pairAB)
	t.Logf("100,000-member group: put %v, read %v", put, time.Since(start))
	if len(gs) != 3 {
		t.Fatalf("%d group entries, want 3", len(gs))
	}
	// Sorted by source ID: the GUIDs (prefix 00000003) before "not-a-guid".
	sameGroup(t, gs[0], big)
	sameGroup(t, gs[1], empty)
	sameGroup(t, gs[2], odd)

	// Members not sorted, or repeated, are stored sorted and once; the
	// caller's slices are left as they were; a zero Updated is filled.
	messy := GroupEntry{SourceID: guid(3, 5), Users: []string{guid(1, 3), guid(1, 1), guid(1, 3)},
		Managed: []string{guid(2, 2), guid(2, 1)}}
	users := slices.Clone(messy.Users)
	mustApply(t, s, l, Batch{PutGroups: []GroupEntry{messy}})
	if !slices.Equal(messy.Users, users) {
		t.Errorf("caller's members changed: %v", messy.Users)
	}
	gs = groupsOf(t, s, pairAB)
	i := slices.IndexFunc(gs, func(g GroupEntry) bool { return g.SourceID == messy.SourceID })
	if i < 0 {
		t.Fatal("messy group missing")
	}
	if got := gs[i]; !slices.Equal(got.Users, []string{guid(1, 1), guid(1, 3)}) ||
		!slices.Equal(got.Managed, []string{guid(2, 1), guid(2, 2)}) || got.Updated.IsZero() {
		t.Errorf("messy group stored as %+v", got)
	}
	// The user map is not touched by group writes.
	if n, err := s.Count(ctx, pairAB); n != 0 || err != nil {
		t.Errorf("user map: %d entries, %v", n, err)
	}
	if gs := groupsOf(t, s, "other"); len(gs) != 0 {
		t.Errorf("other pair: %d group entries", len(gs))
	}
}

func testGroupDelete(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	mustApply(t, s, l, Batch{PutGroups: []GroupEntry{sampleGroup(1, 10), sampleGroup(2, 10), sampleGroup(3, 10)}})
	mustApply(t, s, l, Batch{DeleteGroups: []string{guid(3, 2), "absent"}})
	gs := groupsOf(t, s, pairAB)
	if len(gs) != 2 || gs[0].SourceID != guid(3, 1) || gs[1].SourceID != guid(3, 3) {
		t.Fatalf("after delete: %v", ids(gs))
	}
	// Delete then put of one ID in one batch: deletes run first. A put
	// replaces the whole entry.
	g := sampleGroup(1, 3)
	g.TargetID, g.Managed = "", nil
	mustApply(t, s, l, Batch{DeleteGroups: []string{g.SourceID}, PutGroups: []GroupEntry{g}})
	gs = groupsOf(t, s, pairAB)
	if len(gs) != 2 {
		t.Fatalf("after delete+put: %v", ids(gs))
	}
	sameGroup(t, gs[0], g)
}

func ids(gs []GroupEntry) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.SourceID)
	}
	return out
}

func testDropGroups(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	other := mustAcquire(t, s, "a->b", time.Minute)
	link, dl := "glink-1", "delta-1"
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}, PutGroups: []GroupEntry{sampleGroup(1, 5), sampleGroup(2, 5)},
		GroupLink: &link, DeltaLink: &dl})
	mustApply(t, s, other, Batch{PutGroups: []GroupEntry{sampleGroup(1, 5)}, GroupLink: &link})

	// DropGroups runs first: a put in the same batch survives it.
	mustApply(t, s, l, Batch{DropGroups: true, PutGroups: []GroupEntry{sampleGroup(3, 5)}})
	if gs := groupsOf(t, s, pairAB); len(gs) != 1 || gs[0].SourceID != guid(3, 3) {
		t.Errorf("after DropGroups with a put: %v", ids(gs))
	}
	if got, err := s.GroupLink(ctx, pairAB); got != "" || err != nil {
		t.Errorf("group link after DropGroups = %q, %v", got, err)
	}
	// The user map, the users' delta link and the other pair stay.
	if n, _ := s.Count(ctx, pairAB); n != 1 {
		t.Errorf("DropGroups touched the user map: %d entries", n)
	}
	if got, _ := s.DeltaLink(ctx, pairAB); got != dl {
		t.Errorf("DropGroups touched the delta link: %q", got)
	}
	if gs := groupsOf(t, s, "a->b"); len(gs) != 1 {
		t.Errorf("other pair: %d group entries", len(gs))
	}
	if got, _ := s.GroupLink(ctx, "a->b"); got != link {
		t.Errorf("other pair's group link %q", got)
	}
	// A drop and a new link in one batch: the new link is committed.
	link2 := "glink-2"
	mustApply(t, s, l, Batch{DropGroups: true, GroupLink: &link2})
	if got, _ := s.GroupLink(ctx, pairAB); got != link2 {
		t.Errorf("link committed with a drop = %q", got)
	}
	if gs := groupsOf(t, s, pairAB); len(gs) != 0 {
		t.Errorf("after DropGroups: %v", ids(gs))
	}
}

func testGroupResetAndRebuild(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	link := "glink"
	fill := func() {
		mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}, PutGroups: []GroupEntry{sampleGroup(1, 5)}, GroupLink: &link})
	}
	fill()
	// DropMap and DropDeltaLink are the users' alone.
	mustApply(t, s, l, Batch{DropMap: true, DropDeltaLink: true})
	if gs := groupsOf(t, s, pairAB); len(gs) != 1 {
		t.Errorf("DropMap dropped group entries: %v", ids(gs))
	}
	if got, _ := s.GroupLink(ctx, pairAB); got != link {
		t.Errorf("DropDeltaLink dropped the group link: %q", got)
	}
	// A rebuild of the user map, even from nothing, keeps the groups.
	fill()
	none := func(func([]Fact) error) error { return nil }
	if _, err := Rebuild(ctx, s, l, none, RebuildOptions{SourceTenantID: tenantA, Drop: true}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx, pairAB); n != 0 {
		t.Errorf("rebuild from no facts left %d entries", n)
	}
	if gs := groupsOf(t, s, pairAB); len(gs) != 1 {
		t.Errorf("Rebuild dropped group entries: %v", ids(gs))
	}
	if got, _ := s.GroupLink(ctx, pairAB); got != link {
		t.Errorf("Rebuild dropped the group link: %q", got)
	}
	// A pair reset forgets everything.
	fill()
	if err := ResetPair(ctx, s, l); err != nil {
		t.Fatal(err)
	}
	if gs := groupsOf(t, s, pairAB); len(gs) != 0 {
		t.Errorf("ResetPair kept group entries: %v", ids(gs))
	}
	if got, _ := s.GroupLink(ctx, pairAB); got != "" {
		t.Errorf("ResetPair kept the group link: %q", got)
	}
	if n, _ := s.Count(ctx, pairAB); n != 0 {
		t.Errorf("ResetPair kept %d entries", n)
	}
	if ps, _ := s.Pairs(ctx); !slices.Contains(ps, pairAB) {
		t.Errorf("reset pair no longer listed: %v", ps)
	}
}

func testGroupLink(t *testing.T, open opener) {
	s := open(t, Options{})
	if got, err := s.GroupLink(ctx, pairAB); got != "" || err != nil {
		t.Fatalf("fresh group link = %q, %v", got, err)
	}
	l := mustAcquire(t, s, pairAB, time.Minute)
	mustApply(t, s, l, Batch{PutGroups: []GroupEntry{sampleGroup(1, 5)}})
	if got, _ := s.GroupLink(ctx, pairAB); got != "" {
		t.Fatalf("group link written without commit: %q", got)
	}
	if err := CommitGroupLink(ctx, s, l, "g-1"); err != nil {
		t.Fatal(err)
	}
	// Apart from the other links, both ways.
	d, f := "d-1", "f-1"
	mustApply(t, s, l, Batch{DeltaLink: &d, FastLink: &f})
	got, _ := s.GroupLink(ctx, pairAB)
	gotD, _ := s.DeltaLink(ctx, pairAB)
	gotF, _ := s.FastLink(ctx, pairAB)
	if got != "g-1" || gotD != d || gotF != f {
		t.Fatalf("links: group %q delta %q fast %q", got, gotD, gotF)
	}
	g2 := "g-2"
	mustApply(t, s, l, Batch{GroupLink: &g2})
	got, _ = s.GroupLink(ctx, pairAB)
	gotD, _ = s.DeltaLink(ctx, pairAB)
	gotF, _ = s.FastLink(ctx, pairAB)
	if got != g2 || gotD != d || gotF != f {
		t.Fatalf("links: group %q delta %q fast %q", got, gotD, gotF)
	}
	// "" forgets it.
	if err := CommitGroupLink(ctx, s, l, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GroupLink(ctx, pairAB); got != "" {
		t.Errorf("group link after committing \"\" = %q", got)
	}
	if got, _ := s.GroupLink(ctx, "other"); got != "" {
		t.Errorf("other pair's group link = %q", got)
	}
}

func testGroupFenced(t *testing.T, open opener) {
	s := open(t, Options{})
	old := mustAcquire(t, s, pairAB, 40*time.Millisecond)
	waitLost(t, s, old)
	cur := mustAcquire(t, s, pairAB, time.Minute)
	link := "g-cur"
	kept := sampleGroup(1, 10)
	mustApply(t, s, cur, Batch{PutGroups: []GroupEntry{kept}, GroupLink: &link})

	stale := sampleGroup(1, 3)
	stale.TargetID = "stale"
	staleLink := "g-stale"
	for _, b := range []Batch{
		{PutGroups: []GroupEntry{stale, sampleGroup(2, 3)}, GroupLink: &staleLink, Put: []Entry{sampleEntry(1)}},
		{DeleteGroups: []string{kept.SourceID}},
		{DropGroups: true},
		{GroupLink: &staleLink},
	} {
		if err := s.Apply(ctx, old, b); !errors.Is(err, ErrFenced) {
			t.Fatalf("stale write %+v: %v, want ErrFenced", b, err)
		}
	}
	// A forged token (never held) is fenced too.
	if err := s.Apply(ctx, forge(cur), Batch{DropGroups: true}); !errors.Is(err, ErrFenced) {
		t.Fatalf("forged write: %v, want ErrFenced", err)
	}
	gs := groupsOf(t, s, pairAB)
	if len(gs) != 1 {
		t.Fatalf("stale holder changed the group entries: %v", ids(gs))
	}
	sameGroup(t, gs[0], kept)
	if got, _ := s.GroupLink(ctx, pairAB); got != link {
		t.Errorf("stale holder wrote the group link %q", got)
	}
	if n, _ := s.Count(ctx, pairAB); n != 0 {
		t.Errorf("stale holder wrote %d user entries", n)
	}
}

func testGroupMixedBatch(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	d, g := "d-1", "g-1"
	es := []Entry{sampleEntry(1), sampleEntry(2)}
	gs := []GroupEntry{sampleGroup(1, 2), sampleGroup(2, 2)}
	mustApply(t, s, l, Batch{Put: es, PutGroups: gs, DeltaLink: &d, GroupLink: &g,
		Log: []Record{{SourceID: es[0].SourceID, Action: "create", Result: "ok"}}, Status: &Status{Cycle: "c1"}})
	got, err := s.GetMany(ctx, pairAB, []string{es[0].SourceID, es[1].SourceID})
	if err != nil || len(got) != 2 || got[es[0].SourceID] != es[0] {
		t.Fatalf("users: %v, %v", got, err)
	}
	stored := groupsOf(t, s, pairAB)
	if len(stored) != 2 {
		t.Fatalf("groups: %v", ids(stored))
	}
	sameGroup(t, stored[0], gs[0])
	sameGroup(t, stored[1], gs[1])
	if gl, _ := s.GroupLink(ctx, pairAB); gl != g {
		t.Errorf("group link %q", gl)
	}
	if dl, _ := s.DeltaLink(ctx, pairAB); dl != d {
		t.Errorf("delta link %q", dl)
	}
	if st, _ := s.Status(ctx, pairAB); st.Cycle != "c1" {
		t.Errorf("status %+v", st)
	}
	// Users and groups deleted together, each from its own side even
	// under the same ID.
	shared := sampleGroup(7, 1)
	shared.SourceID = es[1].SourceID
	mustApply(t, s, l, Batch{PutGroups: []GroupEntry{shared}})
	mustApply(t, s, l, Batch{Delete: []string{es[0].SourceID}, DeleteGroups: []string{gs[0].SourceID}})
	if n, _ := s.Count(ctx, pairAB); n != 1 {
		t.Errorf("users after delete: %d", n)
	}
	if _, ok, _ := s.Get(ctx, pairAB, es[1].SourceID); !ok {
		t.Error("a group entry with a user's ID replaced the user")
	}
	if stored := groupsOf(t, s, pairAB); len(stored) != 2 || stored[0].SourceID != shared.SourceID {
		t.Errorf("groups after delete: %v", ids(stored))
	}
}

// testGroupMultiChunk writes a batch of users and groups larger than a
// chunk, with large groups: everything lands, links included.
func testGroupMultiChunk(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	var es []Entry
	for i := range 1500 {
		es = append(es, sampleEntry(i))
	}
	var gs []GroupEntry
	for i := range 30 {
		gs = append(gs, sampleGroup(i, 5000)) // 7,500 IDs: 76 items each on Redis
	}
	d, g := "d-big", "g-big"
	mustApply(t, s, l, Batch{Put: es, PutGroups: gs, DeltaLink: &d, GroupLink: &g})
	if n, _ := s.Count(ctx, pairAB); n != 1500 {
		t.Errorf("users: %d", n)
	}
	stored := groupsOf(t, s, pairAB)
	if len(stored) != 30 {
		t.Fatalf("groups: %d", len(stored))
	}
	for i := range stored {
		sameGroup(t, stored[i], gs[i])
	}
	if gl, _ := s.GroupLink(ctx, pairAB); gl != g {
		t.Errorf("group link %q", gl)
	}
	if dl, _ := s.DeltaLink(ctx, pairAB); dl != d {
		t.Errorf("delta link %q", dl)
	}
}

func testGroupOnlyPair(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	link := "g"
	mustApply(t, s, l, Batch{PutGroups: []GroupEntry{sampleGroup(1, 1)}, GroupLink: &link})
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Pairs(ctx)
	if err != nil || !slices.Equal(ps, []string{pairAB}) {
		t.Errorf("pairs %v, %v", ps, err)
	}
	if n, _ := s.Count(ctx, pairAB); n != 0 {
		t.Errorf("users %d", n)
	}
}

func testGroupInvalid(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	for _, b := range []Batch{
		{PutGroups: []GroupEntry{{Name: "no ID"}}},
		{DeleteGroups: []string{""}},
		{PutGroups: []GroupEntry{sampleGroup(1, 1), {SourceID: string(make([]byte, 201))}}},
	} {
		if err := s.Apply(ctx, l, b); !errors.Is(err, ErrInvalid) {
			t.Errorf("batch %+v: %v, want ErrInvalid", b, err)
		}
	}
	if gs := groupsOf(t, s, pairAB); len(gs) != 0 {
		t.Errorf("an invalid batch wrote %v", ids(gs))
	}
	if _, err := s.GroupEntries(ctx, "bad{pair}"); !errors.Is(err, ErrInvalid) {
		t.Errorf("GroupEntries of a bad pair: %v", err)
	}
	if _, err := s.GroupLink(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("GroupLink of an empty pair: %v", err)
	}
}

// TestSplitGroupBatch checks the Redis chunking of group writes: resets
// first, links and the rest of the tail last, a batch that fits stays one
// chunk, and a group entry weighs its members.
func TestSplitGroupBatch(t *testing.T) {
	link, g := "d", "g"
	small := Batch{DropMap: true, DropGroups: true, Put: []Entry{sampleEntry(1)}, PutGroups: []GroupEntry{sampleGroup(1, 10)},
		DeleteGroups: []string{"x"}, DeltaLink: &link, GroupLink: &g}
	if cs := splitGroupBatch(small, 10); len(cs) != 1 || !cs[0].DropGroups || !cs[0].DropMap ||
		len(cs[0].PutGroups) != 1 || len(cs[0].DeleteGroups) != 1 || cs[0].GroupLink != &g || cs[0].DeltaLink != &link {
		t.Fatalf("small batch: %+v", cs)
	}
	// At 10 items a chunk: 2 users, a group delete, then groups of weight
	// 1 (no member), 7 (1 + 602 IDs/100) and 31 (1 + 3,002 IDs/100).
	big := Batch{DropGroups: true, Put: []Entry{sampleEntry(1), sampleEntry(2)},
		PutGroups:    []GroupEntry{{SourceID: "a"}, sampleGroup(2, 400), sampleGroup(3, 2000)},
		DeleteGroups: []string{"x"}, DeltaLink: &link, GroupLink: &g, Status: &Status{}}
	cs := splitGroupBatch(big, 10)
	var got [][]string
	for i, c := range cs {
		got = append(got, ids(c.PutGroups))
		if (i == 0) != c.DropGroups {
			t.Errorf("chunk %d: DropGroups %v", i, c.DropGroups)
		}
		last := i == len(cs)-1
		if last != (c.GroupLink != nil) || last != (c.DeltaLink != nil) || last != (c.Status != nil) {
			t.Errorf("chunk %d of %d: links %v %v, status %v", i, len(cs), c.GroupLink, c.DeltaLink, c.Status)
		}
	}
	// Chunk 1: 2 users, 1 delete and "a" (4 items); group 2 would make 11,
	// so it opens chunk 2; group 3 goes alone.
	want := [][]string{{"a"}, {guid(3, 2)}, {guid(3, 3)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chunks' groups %v, want %v", got, want)
	}
	if len(cs[0].Put) != 2 || len(cs[0].DeleteGroups) != 1 {
		t.Errorf("first chunk %+v", cs[0])
	}
}

func TestGroupCodec(t *testing.T) {
	g := sampleGroup(1, 1000)
	g.Creating = time.Unix(1_700_000_000, 0).UTC()
	g.Users = append(g.Users, "", "Not-A-GUID")
	v := encodeGroup(&g)
	got, err := decodeGroup(g.SourceID, v)
	if err != nil || !reflect.DeepEqual(got, g) {
		t.Fatalf("round trip: %v", err)
	}
	// Trailing bytes (a later version's fields) are read past.
	if _, err := decodeGroup(g.SourceID, append(v, 7, 7)); err != nil {
		t.Errorf("trailing bytes: %v", err)
	}
	small := sampleGroup(2, 4)
	small.Users = append(small.Users, "Not-A-GUID")
	v = encodeGroup(&small)
	for n := range len(v) {
		if _, err := decodeGroup(small.SourceID, v[:n]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d of %d bytes: %v", n, len(v), err)
		}
	}
	if _, err := decodeGroup("x", []byte{9}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown version: %v", err)
	}
}

func BenchmarkGroupCodec(b *testing.B) {
	g := sampleGroup(1, 100_000)
	v := encodeGroup(&g)
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		for b.Loop() {
			encodeGroup(&g)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		for b.Loop() {
			if _, err := decodeGroup(g.SourceID, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
