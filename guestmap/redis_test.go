package guestmap

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/testredis"
	"github.com/redis/go-redis/v9"
)

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// quickFail makes a dead server fail operations fast (one retry).
func quickFail(o *redis.UniversalOptions) {
	o.MaxRetries = 1
	o.DialTimeout = time.Second
	o.DialerRetries = 1
	o.MinRetryBackoff, o.MaxRetryBackoff = time.Millisecond, 5*time.Millisecond
}

// TestRedisRestart kills redis-server under a working store: operations
// fail with ErrUnavailable, nothing is taken as done, and the store works
// again once Redis is back (its script cache lost: NOSCRIPT is handled).
func TestRedisRestart(t *testing.T) {
	redis.SetLogger(quietLogger{}) // go-redis logs every refused dial
	srv := testredis.Start(t, testredis.Options{})
	s, err := Open(ctx, srv.URL(), Options{Redis: quickFail})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := mustAcquire(t, s, pairAB, time.Minute)
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}})

	srv.Kill()
	link := "after-crash"
	checks := map[string]error{
		"get":     func() error { _, _, err := s.Get(ctx, pairAB, "x"); return err }(),
		"apply":   s.Apply(ctx, l, Batch{Put: []Entry{sampleEntry(2)}, DeltaLink: &link}),
		"acquire": func() error { _, err := s.Acquire(ctx, "p2", time.Minute); return err }(),
		"extend":  l.Extend(ctx),
		"scan":    s.Scan(ctx, pairAB, func([]Entry) error { return nil }),
		"logs":    func() error { _, err := s.Logs(ctx, LogQuery{Pair: pairAB}); return err }(),
	}
	for op, err := range checks {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", op, err)
		}
	}
	if err := l.Extend(ctx); errors.Is(err, ErrLeaseLost) {
		t.Error("an unreachable Redis reported as a lost lease")
	}

	srv.Restart() // empty: no persistence, no scripts cached
	if _, ok, err := s.Get(ctx, pairAB, sampleEntry(1).SourceID); err != nil || ok {
		t.Fatalf("get after restart: ok=%v err=%v", ok, err)
	}
	// The lease died with the data: the old holder is fenced off.
	if err := s.Apply(ctx, l, Batch{Put: []Entry{sampleEntry(2)}}); !errors.Is(err, ErrFenced) {
		t.Fatalf("old lease after restart: %v, want ErrFenced", err)
	}
	l2 := mustAcquire(t, s, pairAB, time.Minute)
	var es []Entry
	for i := range 2500 { // several chunks: the pipelined EVALSHA path
		es = append(es, sampleEntry(i))
	}
	mustApply(t, s, l2, Batch{Put: es, DeltaLink: &link})
	if n, _ := s.Count(ctx, pairAB); n != 2500 {
		t.Errorf("count after recovery %d", n)
	}

	srv.Kill()
	if _, err := Open(ctx, srv.URL(), Options{Redis: quickFail}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("open with Redis down: %v", err)
	}
}

// TestRedisFlushedScripts: a SCRIPT FLUSH (as after a failover) only
// costs a reload.
func TestRedisFlushedScripts(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	s, err := Open(ctx, srv.URL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs := s.(*redisStore)
	l := mustAcquire(t, s, pairAB, time.Minute)
	for _, step := range []func() error{
		func() error { return s.Apply(ctx, l, Batch{Put: []Entry{sampleEntry(1)}}) },
		func() error { return l.Extend(ctx) },
		func() error { _, _, err := s.LockUser(ctx, pairAB, "u", time.Minute); return err },
		func() error { _, err := s.Acquire(ctx, "p3", time.Minute); return err },
		func() error { _, _, _, err := s.LeaseHolder(ctx, "p3"); return err },
	} {
		if err := rs.c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := step(); err != nil {
			t.Errorf("after SCRIPT FLUSH: %v", err)
		}
	}
}

// TestRedisAuthFromEnv: username and password come from the environment,
// the database from the URL, and errors never show a password.
func TestRedisAuthFromEnv(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{Password: "s3cret-pw"})
	t.Setenv("CTSYNC_REDIS_PASSWORD", "s3cret-pw")
	s, err := Open(ctx, srv.URL()+"/3", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := mustAcquire(t, s, pairAB, time.Minute)
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: "s3cret-pw", DB: 3})
	defer c.Close()
	if n, _ := c.HLen(ctx, "ctsync:{"+pairAB+"}:map").Result(); n != 1 {
		t.Errorf("entry not in db 3 under the documented key (HLEN %d)", n)
	}

	t.Setenv("MY_PW", "wrong")
	_, err = Open(ctx, srv.URL(), Options{PasswordEnv: "MY_PW"})
	if err == nil || errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %v", err)
	}
	_, err = Open(ctx, "redis://u:topsecret@"+srv.Addr()+"/0", Options{})
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("password in URL: %v", err)
	}
}

func TestParseRedisURL(t *testing.T) {
	t.Setenv("CTSYNC_REDIS_PASSWORD", "pw")
	t.Setenv("CTSYNC_REDIS_USERNAME", "envuser")
	o, err := parseRedisURL("rediss://cache.example:6380/2?dial_timeout=2s&max_retries=5", Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if o.Addrs[0] != "cache.example:6380" || o.DB != 2 || o.Password != "pw" || o.Username != "envuser" ||
		o.TLSConfig == nil || o.TLSConfig.ServerName != "cache.example" || o.DialTimeout != 2*time.Second || o.MaxRetries != 5 {
		t.Errorf("rediss: %+v", o)
	}
	o, err = parseRedisURL("redis://me@s1:26379,s2:26379?master=mymaster", Options{}.withDefaults())
	if err != nil || len(o.Addrs) != 2 || o.MasterName != "mymaster" || o.Username != "me" || o.TLSConfig != nil {
		t.Errorf("sentinel: %+v %v", o, err)
	}
	if c := redis.NewUniversalClient(o); c == nil {
		t.Error("no client")
	} else {
		_ = c.Close()
	}
	o, err = parseRedisURL("redis://n1,n2:7000?cluster=true", Options{}.withDefaults())
	if err != nil || o.Addrs[0] != "n1:6379" || !o.IsClusterMode {
		t.Errorf("cluster: %+v %v", o, err)
	}
	for _, bad := range []string{
		"redis://n1:1,n2:2/1", "redis://h/x", "redis:///", "redis://h?cluster=maybe", "redis://h?dial_timeout=soon",
	} {
		if _, err := parseRedisURL(bad, Options{}.withDefaults()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	_, err = parseRedisURL("redis://u:hunter2@h/x", Options{}.withDefaults())
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("password leaked: %v", err)
	}
	if _, err := Open(ctx, "memcache://h", Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown scheme: %v", err)
	}
}

// TestRedisLeaseHolderAcrossReplicas: two replicas share one Redis; each
// sees the other as the holder, the name changes hands with the lease, and
// a lease taken by a ctsync that wrote no holder shows as held by "".
func TestRedisLeaseHolderAcrossReplicas(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	open := func(holder string) Store {
		s, err := Open(ctx, srv.URL(), Options{Holder: holder})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open("host-a:1"), open("host-b:2")
	la := mustAcquire(t, a, pairAB, time.Minute)
	if h, _, held := holderOf(t, b, pairAB); !held || h != "host-a:1" {
		t.Fatalf("b sees holder %q held %v; want host-a:1", h, held)
	}
	if _, err := b.Acquire(ctx, pairAB, time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("b took a held lease: %v", err)
	}
	if h, _, _ := holderOf(t, b, pairAB); h != "host-a:1" {
		t.Errorf("a refused acquire renamed the holder to %q", h)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lb := mustAcquire(t, b, pairAB, time.Minute)
	if h, _, held := holderOf(t, a, pairAB); !held || h != "host-b:2" {
		t.Errorf("after the hand-over a sees holder %q held %v; want host-b:2", h, held)
	}
	// a's stale lease can neither extend nor release b's, nor rename it.
	if err := la.Extend(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("stale extend: %v", err)
	}
	if h, _, _ := holderOf(t, a, pairAB); h != "host-b:2" {
		t.Errorf("a stale extend renamed the holder to %q", h)
	}
	_ = lb.Release(ctx)

	// An older ctsync sets the lease key alone.
	rs := a.(*redisStore)
	if err := rs.c.Set(ctx, rs.key(pairAB, "lease"), "old-token", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if h, until, held := holderOf(t, a, pairAB); !held || h != "" || until.IsZero() {
		t.Errorf("lease without holder key: holder %q until %v held %v; want held by \"\"", h, until, held)
	}
}
