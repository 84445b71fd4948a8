package guestmap

import (
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/testredis"
)

// TestRedisTLS opens rediss:// against a TLS-only redis-server, and sees
// an untrusted server refused.
func TestRedisTLS(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{TLS: true})
	dsn := srv.URL() // rediss://
	s, err := Open(ctx, dsn, Options{TLSConfig: srv.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := mustAcquire(t, s, pairAB, time.Minute)
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}})
	if _, ok, err := s.Get(ctx, pairAB, sampleEntry(1).SourceID); !ok || err != nil {
		t.Fatalf("get over TLS: %v %v", ok, err)
	}
	// System roots do not know the test CA.
	_, err = Open(ctx, dsn, Options{Redis: quickFail})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted server: %v", err)
	}
}
