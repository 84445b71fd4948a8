// Package app wires a loaded configuration into running parts: the store,
// one Graph client per tenant, and one worker per enabled pair. The CLI
// and the end-to-end tests build ctsync the same way through it.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/storemetrics"
	"github.com/ctsync/ctsync/policy"
	"github.com/ctsync/ctsync/sync/shard"
	"github.com/ctsync/ctsync/sync/worker"
	"github.com/ctsync/ctsync/tenants"
)

// App is a loaded configuration wired into running parts: the store, one
// Graph client per tenant, and one worker per enabled pair.
type App struct {
	Config  *config.Config
	Store   guestmap.Store
	Clients map[string]*tenants.Client // by tenant name
	Pairs   []*worker.Pair
	Log     *slog.Logger
}

// Options adjust how an App is wired. The zero value wires everything as
// the configuration says.
type Options struct {
	// OnlyPair keeps that pair alone.
	OnlyPair string
	// Log receives the workers' structured log (default slog.Default()).
	Log *slog.Logger
	// Store, when set, is used (and owned) instead of opening the
	// configured one.
	Store guestmap.Store
	// AdjustTenant amends each tenant's Graph settings (the demo lifts the
	// pacer for the exact simulator, which never throttles).
	AdjustTenant func(*tenants.Config)
	// GraphObserver, when set, hears every tenant's Graph requests,
	// retries, 429s and pacer waits (the daemon's metrics).
	GraphObserver tenants.Observer
	// StoreObserver, when set, hears how long each store operation took
	// (the daemon's metrics): the store is wrapped by storemetrics.Wrap.
	StoreObserver storemetrics.Observer
}

// Wire builds the App from a validated configuration.
func Wire(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	if opts.OnlyPair != "" && cfg.Pair(opts.OnlyPair) == nil {
		return nil, fmt.Errorf("no pair %q in %s", opts.OnlyPair, cfg.File)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	store := opts.Store
	if store == nil {
		var err error
		if store, err = OpenStore(ctx, cfg.Store); err != nil {
			return nil, err
		}
	}
	if opts.StoreObserver != nil {
		store = storemetrics.Wrap(store, opts.StoreObserver)
	}
	onlyPair, log, adjust := opts.OnlyPair, opts.Log, opts.AdjustTenant
	a := &App{Config: cfg, Store: store, Clients: map[string]*tenants.Client{}, Log: log}
	for _, t := range cfg.Tenants {
		tc := TenantConfig(t)
		if adjust != nil {
			adjust(&tc)
		}
		c, err := tenants.New(tc, tenants.Options{Observer: opts.GraphObserver})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("tenant %s: %w", t.Name, err)
		}
		a.Clients[t.Name] = c
	}
	// Adaptive below the configured bound: from 16 (or the bound), never
	// under 4 (or the bound), see worker.Limiter.
	hi := cfg.Worker.ConcurrencyPerTarget
	limiters := worker.NewAdaptiveLimiters(min(16, hi), min(4, hi), hi)
	for _, pc := range cfg.Pairs {
		if pc.Disabled || (onlyPair != "" && pc.Name != onlyPair) {
			continue
		}
		compiled, err := policy.Compile(pc.Name, pc.PairSpec)
		if err != nil {
			a.Close()
			return nil, err // validated already; kept for safety
		}
		src, dst := a.Clients[pc.Source], a.Clients[pc.Target]
		a.Pairs = append(a.Pairs, &worker.Pair{
			PairName:              pc.Name,
			SourceTenantID:        cfg.Tenant(pc.Source).TenantID,
			Source:                src.Source(),
			Target:                dst.Target(),
			Store:                 store,
			Rules:                 worker.PolicyRules(compiled),
			StampAttribute:        cfg.Tenant(pc.Target).StampAttribute,
			RedirectURL:           pc.InviteRedirectURL,
			SendInvitation:        pc.SendInvitation,
			Limiter:               limiters.For(cfg.Tenant(pc.Target).TenantID),
			LeaseTTL:              cfg.Worker.LeaseTTL.Duration,
			QuarantineRatio:       cfg.Worker.QuarantineRatio,
			QuarantineMinFailures: cfg.Worker.QuarantineMinFailures,
			Retry:                 worker.Backoff{Base: time.Minute, Max: 6 * time.Hour},
			SpoolDir:              spoolDir(cfg),
			RevokeSessions:        pc.Revokes(),
			Groups:                groupSync(compiled, pc.Source, src, dst),
			Log:                   log,
		})
	}
	return a, nil
}

// groupSync is the pair's group sync, nil without [pair.groups].
func groupSync(compiled *policy.Pair, source string, src, dst *tenants.Client) *worker.GroupSync {
	rules := compiled.GroupSync(source)
	if rules == nil {
		return nil
	}
	return &worker.GroupSync{Source: src.Source(), Target: dst.Target(), Rules: rules}
}

// spoolDir is where cycles keep their source read while they plan it:
// beside the embedded store, a directory the admin chose for ctsync's
// data; with Redis, the system's temporary directory. The file is
// unlinked while open either way.
func spoolDir(cfg *config.Config) string {
	if cfg.Store.Path != "" {
		return filepath.Dir(cfg.Store.Path)
	}
	return ""
}

// Share makes the app's pairs share the work with the other replicas on
// the same store (the daemon): it returns the replica's Membership, to Run
// beside the Runner, and every pair asks it before its cycle. The replica
// is named by the store's lease holder (guestmap.DefaultHolder), so status
// can match leases to replicas; pairs into one target tenant share one
// replica (see sync/shard).
func (a *App) Share(version string) *shard.Membership {
	host, _ := os.Hostname()
	w := a.Config.Worker
	m := &shard.Membership{
		Store: a.Store,
		Self: guestmap.Replica{ID: guestmap.DefaultHolder(), Host: host, PID: os.Getpid(), Version: version,
			Started: time.Now().UTC()},
		TTL: w.LeaseTTL.Duration,
		// A pair nobody ran for two intervals and a lease's life is run
		// by anyone: its owner lacks it (a configuration rollout) or is
		// stuck without having lost its heartbeat.
		Grace: 2*w.Interval.Duration + w.LeaseTTL.Duration,
		Log:   a.Log,
	}
	for _, p := range a.Pairs {
		pc := a.Config.Pair(p.PairName)
		m.Pairs = append(m.Pairs, shard.Pair{Name: p.PairName, Target: a.Config.Tenant(pc.Target).TenantID})
		p.Sharing = m
	}
	return m
}

// Runner returns a Runner over the app's pairs.
func (a *App) Runner() *worker.Runner {
	cyclers := make([]worker.Cycler, len(a.Pairs))
	for i, p := range a.Pairs {
		cyclers[i] = p
	}
	return &worker.Runner{
		Pairs:              cyclers,
		Interval:           a.Config.Worker.Interval.Duration,
		QuarantineInterval: a.Config.Worker.QuarantineInterval.Duration,
		CycleTimeout:       a.Config.Worker.CycleTimeout.Duration,
		// Run only (the daemon): Once never starts a fast lane.
		FastInterval: a.Config.Worker.FastInterval.Duration,
		Log:          a.Log,
		// An admin lifts a quarantine in the store (ctsync reset
		// --quarantine); a store that cannot answer keeps it.
		StillQuarantined: func(ctx context.Context, pair string) bool {
			st, err := a.Store.Status(ctx, pair)
			return err != nil || st.Quarantine.On
		},
	}
}

// Pair returns the wired pair named name, or nil.
func (a *App) Pair(name string) *worker.Pair {
	for _, p := range a.Pairs {
		if p.PairName == name {
			return p
		}
	}
	return nil
}

// Close releases the store.
func (a *App) Close() {
	if a.Store != nil {
		_ = a.Store.Close()
	}
}

// OpenStore opens Redis or the embedded store as configured.
func OpenStore(ctx context.Context, s config.Store) (guestmap.Store, error) {
	if s.Path != "" {
		st, err := guestmap.Open(ctx, s.Path, guestmap.Options{})
		if err != nil {
			return nil, fmt.Errorf("open embedded store %s: %w", s.Path, err)
		}
		return st, nil
	}
	dsn := s.URL
	if s.Username != "" {
		u, err := url.Parse(s.URL)
		if err != nil {
			return nil, fmt.Errorf("store.url: %w", err)
		}
		u.User = url.User(s.Username)
		dsn = u.String()
	}
	opts := guestmap.Options{PasswordEnv: s.PasswordEnv}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store.ca_file %s: no PEM certificate in it", s.CAFile)
		}
		opts.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	st, err := guestmap.Open(ctx, dsn, opts)
	if err != nil {
		return nil, fmt.Errorf("open Redis store: %w", err)
	}
	return st, nil
}

// TenantConfig converts the configuration of a tenant for package tenants.
func TenantConfig(t config.Tenant) tenants.Config {
	return tenants.Config{
		Name:                   t.Name,
		TenantID:               t.TenantID,
		Domain:                 t.Domain,
		ClientID:               t.ClientID,
		Credential:             t.Credential,
		SecretFile:             t.ClientSecretFile,
		SecretEnv:              t.ClientSecretEnv,
		CertificateFile:        t.CertificateFile,
		CertificatePasswordEnv: t.CertificatePasswordEnv,
		AuthorityHost:          t.AuthorityHost,
		GraphBaseURL:           t.GraphBaseURL,
		CAFile:                 t.CAFile,
		StampAttribute:         t.StampAttribute,
	}
}
