package guestmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStore is the production Store: state shared by every replica.
type redisStore struct {
	c      redis.UniversalClient
	name   string // for errors: addresses and db, never credentials
	opts   Options
	prefix string
	// replica is set once this store announced its holder as a replica
	// (Heartbeat), so its user locks name it (see lockToken).
	replica atomic.Bool
}

var _ Store = (*redisStore)(nil)

// OpenRedis returns a Store over an existing go-redis client (one built
// with hooks or options Open does not cover). It pings Redis first; the
// store owns the client and closes it in Close.
func OpenRedis(ctx context.Context, c redis.UniversalClient, opts Options) (Store, error) {
	return openRedis(ctx, c, "redis", opts.withDefaults())
}

func openRedis(ctx context.Context, c redis.UniversalClient, name string, opts Options) (*redisStore, error) {
	s := &redisStore{c: c, name: name, opts: opts, prefix: opts.Prefix}
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, s.wrap(ctx, "open", err)
	}
	return s, nil
}

// key returns the key of one part of a pair's state, hash-tagged by pair.
func (s *redisStore) key(pair, part string) string {
	return s.prefix + ":{" + pair + "}:" + part
}

func (s *redisStore) pairsKey() string { return s.prefix + ":pairs" }

func (s *redisStore) now() time.Time { return s.opts.Now() }

// Close closes the client.
func (s *redisStore) Close() error {
	if err := s.c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("guestmap: close %s: %w", s.name, err)
	}
	return nil
}

// wrap gives a Redis error its typed meaning: ErrFenced from our scripts,
// ErrUnavailable for anything that says the server is out of reach or not
// ready, the caller's context error as is.
func (s *redisStore) wrap(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case redis.HasErrorPrefix(err, "FENCED"):
		return fmt.Errorf("guestmap: %s: %w", op, ErrFenced)
	case errors.Is(err, redis.ErrClosed):
		return fmt.Errorf("guestmap: %s: %w", op, ErrClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("guestmap: %s on %s: %w", op, s.name, ctx.Err())
	case unavailable(err):
		return fmt.Errorf("guestmap: %s on %s: %w: %w", op, s.name, ErrUnavailable, err)
	default:
		return fmt.Errorf("guestmap: %s on %s: %w", op, s.name, err)
	}
}

// unavailablePrefixes are Redis replies meaning "not now, try later".
var unavailablePrefixes = []string{"LOADING", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS", "BUSY"}

func unavailable(err error) bool {
	for _, p := range unavailablePrefixes {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "closed network connection")
}

// runScript runs a script, loading it when Redis lost its script cache (a
// restart) so the call still succeeds.
func (s *redisStore) runScript(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	return sc.Run(ctx, s.c, keys, args...)
}

// Pairs lists every pair ever leased.
func (s *redisStore) Pairs(ctx context.Context) ([]string, error) {
	ps, err := s.c.SMembers(ctx, s.pairsKey()).Result()
	if err != nil {
		return nil, s.wrap(ctx, "list pairs", err)
	}
	sort.Strings(ps)
	return ps, nil
}

// DeltaLink returns the committed delta link.
func (s *redisStore) DeltaLink(ctx context.Context, pair string) (string, error) {
	return s.link(ctx, pair, "delta", "delta link")
}

// FastLink returns the committed delta link of the pair's fast lane.
func (s *redisStore) FastLink(ctx context.Context, pair string) (string, error) {
	return s.link(ctx, pair, "fast", "fast lane link")
}

// GroupLink returns the committed delta link of the pair's groups read.
func (s *redisStore) GroupLink(ctx context.Context, pair string) (string, error) {
	return s.link(ctx, pair, "glink", "group link")
}

// link reads one of the pair's delta links ("" none).
func (s *redisStore) link(ctx context.Context, pair, key, what string) (string, error) {
	if err := checkPair(pair); err != nil {
		return "", err
	}
	v, err := s.c.Get(ctx, s.key(pair, key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", s.wrap(ctx, "read "+what+" of "+pair, err)
	}
	return v, nil
}
