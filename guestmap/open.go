package guestmap

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options tune Open. The zero value is usable.
type Options struct {
	// UsernameEnv and PasswordEnv name the environment variables holding
	// the Redis username and password (defaults CTSYNC_REDIS_USERNAME and
	// CTSYNC_REDIS_PASSWORD). A username in the URL wins over the env; a
	// password in the URL is accepted but never printed.
	UsernameEnv, PasswordEnv string
	// SentinelPasswordEnv names the variable with the Sentinel password
	// (default CTSYNC_REDIS_SENTINEL_PASSWORD).
	SentinelPasswordEnv string
	// TLSConfig is used for rediss:// (default: system roots, TLS 1.2+,
	// server name from the URL).
	TLSConfig *tls.Config
	// Redis, when set, adjusts the go-redis options after the DSN is
	// parsed (timeouts, pool size, hooks via the returned client).
	Redis func(*redis.UniversalOptions)

	// Prefix starts every Redis key (default "ctsync").
	Prefix string
	// LogCap is the number of provisioning records kept per pair
	// (default DefaultLogCap).
	LogCap int
	// DriftFactor is the share of a lease's TTL that Lease.Until keeps as
	// a margin for clock drift (default 0.01).
	DriftFactor float64

	// LockTimeout bounds the wait for the embedded store's file lock
	// (default 500ms) before Open fails with ErrStoreLocked.
	LockTimeout time.Duration
	// NoSync skips fsync in the embedded store: faster, and a crash may
	// lose the last writes. For tests and benchmarks only.
	NoSync bool

	// Holder names this process in the leases it takes, for reports such
	// as `ctsync status` (default "HOSTNAME:PID"). It identifies, it does
	// not fence: two stores with one Holder still exclude each other by
	// token.
	Holder string

	// Now is the clock for timestamps and the embedded store's lease
	// expiry (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.UsernameEnv == "" {
		o.UsernameEnv = "CTSYNC_REDIS_USERNAME"
	}
	if o.PasswordEnv == "" {
		o.PasswordEnv = "CTSYNC_REDIS_PASSWORD"
	}
	if o.SentinelPasswordEnv == "" {
		o.SentinelPasswordEnv = "CTSYNC_REDIS_SENTINEL_PASSWORD"
	}
	if o.Prefix == "" {
		o.Prefix = "ctsync"
	}
	if o.LogCap <= 0 {
		o.LogCap = DefaultLogCap
	}
	if o.DriftFactor <= 0 {
		o.DriftFactor = 0.01
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Holder == "" {
		o.Holder = DefaultHolder()
	}
	return o
}

// DefaultHolder is "HOSTNAME:PID": enough to find the replica, and the
// process on it, that holds a pair.
func DefaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

// Open opens the store named by dsn:
//
//	redis://[user[:password]@]host:port[,host:port...][/db][?options]
//	rediss://...            the same over TLS
//	bolt:///path/to/file.db the embedded store
//	/path/to/file.db        the embedded store (any DSN without "://")
//
// Redis query options: master=NAME (the addresses are Sentinels),
// cluster=true (Redis Cluster; implied by several addresses without
// master), dial_timeout, read_timeout, write_timeout (Go durations),
// max_retries, pool_size. The password comes from the environment (see
// Options.PasswordEnv). Open pings Redis and fails with ErrUnavailable when
// it cannot reach it; errors print the DSN with any password redacted.
func Open(ctx context.Context, dsn string, opts Options) (Store, error) {
	opts = opts.withDefaults()
	scheme, rest, found := strings.Cut(dsn, "://")
	if !found {
		return OpenBolt(dsn, opts)
	}
	switch scheme {
	case "bolt":
		if rest == "" {
			return nil, errorf("bolt DSN %q has no path", dsn)
		}
		return OpenBolt(rest, opts)
	case "redis", "rediss":
		uo, err := parseRedisURL(dsn, opts)
		if err != nil {
			return nil, err
		}
		return openRedis(ctx, redis.NewUniversalClient(uo), describe(uo), opts)
	default:
		return nil, errorf("DSN scheme %q: want redis, rediss or bolt", scheme)
	}
}

// redact returns the DSN with any password replaced, for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "<unparsable DSN>"
	}
	return u.Redacted()
}

// parseRedisURL turns a redis:// or rediss:// DSN into go-redis options.
func parseRedisURL(dsn string, opts Options) (*redis.UniversalOptions, error) {
	bad := func(format string, args ...any) error {
		return errorf("redis DSN %s: "+format, append([]any{redact(dsn)}, args...)...)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url's error quotes the input, password included: do not wrap it.
		return nil, errorf("redis DSN %s does not parse as a URL", redact(dsn))
	}
	uo := &redis.UniversalOptions{}
	for _, a := range strings.Split(u.Host, ",") {
		if a == "" {
			continue
		}
		if !strings.Contains(a, ":") {
			a += ":6379"
		}
		uo.Addrs = append(uo.Addrs, a)
	}
	if len(uo.Addrs) == 0 {
		return nil, bad("no host")
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, bad("database %q is not a number", db)
		}
		uo.DB = n
	}
	uo.Username = u.User.Username()
	if uo.Username == "" {
		uo.Username = os.Getenv(opts.UsernameEnv)
	}
	if p, ok := u.User.Password(); ok {
		uo.Password = p
	} else {
		uo.Password = os.Getenv(opts.PasswordEnv)
	}
	uo.SentinelPassword = os.Getenv(opts.SentinelPasswordEnv)
	q := u.Query()
	uo.MasterName = q.Get("master")
	if c := q.Get("cluster"); c != "" {
		if uo.IsClusterMode, err = strconv.ParseBool(c); err != nil {
			return nil, bad("cluster=%q is not a boolean", c)
		}
	}
	if (uo.IsClusterMode || (len(uo.Addrs) > 1 && uo.MasterName == "")) && uo.DB != 0 {
		return nil, bad("Redis Cluster has only database 0")
	}
	for name, dst := range map[string]*time.Duration{
		"dial_timeout": &uo.DialTimeout, "read_timeout": &uo.ReadTimeout, "write_timeout": &uo.WriteTimeout,
	} {
		if v := q.Get(name); v != "" {
			if *dst, err = time.ParseDuration(v); err != nil {
				return nil, bad("%s=%q: %v", name, v, err)
			}
		}
	}
	for name, dst := range map[string]*int{"max_retries": &uo.MaxRetries, "pool_size": &uo.PoolSize} {
		if v := q.Get(name); v != "" {
			if *dst, err = strconv.Atoi(v); err != nil {
				return nil, bad("%s=%q is not a number", name, v)
			}
		}
	}
	if u.Scheme == "rediss" {
		if opts.TLSConfig != nil {
			uo.TLSConfig = opts.TLSConfig.Clone()
		} else {
			uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if uo.TLSConfig.ServerName == "" {
			host, _, _ := net.SplitHostPort(uo.Addrs[0])
			uo.TLSConfig.ServerName = host
		}
	}
	if opts.Redis != nil {
		opts.Redis(uo)
	}
	return uo, nil
}

// describe names a store for errors without secrets.
func describe(uo *redis.UniversalOptions) string {
	return fmt.Sprintf("redis %s db %d", strings.Join(uo.Addrs, ","), uo.DB)
}
