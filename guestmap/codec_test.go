package guestmap

import (
	"errors"
	"github.com/ctsync/ctsync/internal/directory"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, e := range []Entry{
		sampleEntry(42),
		{SourceID: "x", State: StateParked},
		{SourceID: "ABCDEF01-0000-4000-8000-000000000001", GuestID: "ABCDEF01-0000-4000-8000-000000000002",
			Stamp: directory.Stamp("ABCDEF01-0000-4000-8000-000000000003", "ABCDEF01-0000-4000-8000-000000000001"),
			State: StateDisabled, Attempts: 1000, NextRetry: time.Unix(-5, 0).UTC(), LastError: "é ∑"},
		{SourceID: guid(1, 1), Stamp: directory.Stamp(tenantA, guid(1, 2)), State: StateStaged}, // stamp of another user
		func() Entry { e := sampleEntry(7); e.ManagerPending = true; return e }(),
	} {
		got, err := decodeEntry(e.SourceID, encodeEntry(&e))
		if err != nil || got != e {
			t.Errorf("round trip:\n got %+v %v\nwant %+v", got, err, e)
		}
	}
	e := sampleEntry(1)
	b := encodeEntry(&e)
	if len(b) > 80+len(e.GuestUPN) {
		t.Errorf("encoded entry is %d bytes (UPN %d)", len(b), len(e.GuestUPN))
	}
	for i := range b {
		if _, err := decodeEntry("x", b[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
	// The flags byte is optional and last: an entry without it (written
	// before it existed) reads as no flags, and one with it keeps every
	// other field where a reader that ignores trailing bytes finds it.
	e.ManagerPending = true
	flagged := encodeEntry(&e)
	if len(flagged) != len(b)+1 || string(flagged[:len(b)]) != string(b) {
		t.Errorf("the flags byte is not a trailing addition: %d vs %d bytes", len(flagged), len(b))
	}
	if got, err := decodeEntry(e.SourceID, b); err != nil || got.ManagerPending {
		t.Errorf("an entry without flags: %+v %v", got, err)
	}
}

func TestParseStamp(t *testing.T) {
	tn, id, ok := directory.ParseStamp(directory.Stamp("t", "s"))
	if !ok || tn != "t" || id != "s" {
		t.Error("round trip")
	}
	for _, bad := range []string{"", "ctsync:", "ctsync:t", "ctsync::s", "other:t:s"} {
		if _, _, ok := directory.ParseStamp(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
