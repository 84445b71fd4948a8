package testredis

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestTLSPasswordRestart: a TLS-only server with a password answers a
// client that trusts ClientTLS, refuses one without the password, and
// comes back empty after Kill and Restart.
func TestTLSPasswordRestart(t *testing.T) {
	ctx := context.Background()
	s := Start(t, Options{TLS: true, Password: "pw"})
	if !strings.HasPrefix(s.URL(), "rediss://") || s.CAFile() == "" || s.ClientTLS() == nil {
		t.Fatalf("TLS server: URL %q, CA file %q", s.URL(), s.CAFile())
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: "pw", TLSConfig: s.ClientTLS(), MaxRetries: -1})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set over TLS: %v", err)
	}
	nopw := redis.NewClient(&redis.Options{Addr: s.Addr(), TLSConfig: s.ClientTLS(), MaxRetries: -1})
	defer nopw.Close()
	if err := nopw.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("ping without the password: %v, want NOAUTH", err)
	}
	s.Kill()
	s.Restart()
	c2 := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: "pw", TLSConfig: s.ClientTLS(), MaxRetries: -1})
	defer c2.Close()
	if n, err := c2.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("after restart: exists=%d err=%v; want an empty server", n, err)
	}

	plain := Start(t, Options{})
	if !strings.HasPrefix(plain.URL(), "redis://") || plain.ClientTLS() != nil || plain.CAFile() != "" {
		t.Errorf("plain server: URL %q, TLS %v, CA %q", plain.URL(), plain.ClientTLS(), plain.CAFile())
	}
}
