package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/policy"
	"github.com/ctsync/ctsync/sync/worker"
	"github.com/ctsync/ctsync/tenants"
)

// app is a loaded configuration wired into running parts: the store, one
// Graph client per tenant, and one worker per enabled pair.
type app struct {
	cfg     *config.Config
	store   guestmap.Store
	clients map[string]*tenants.Client
	pairs   []*worker.Pair
	log     *slog.Logger
}

// openApp loads the configuration and wires it. onlyPair, when set, keeps
// that pair alone (and fails when it does not exist).
func openApp(ctx context.Context, e *env, path, onlyPair string) (*app, int) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, exitUsage
	}
	if onlyPair != "" && cfg.Pair(onlyPair) == nil {
		e.errorf("no pair %q in %s", onlyPair, path)
		return nil, exitUsage
	}
	a, err := wire(ctx, cfg, onlyPair, e.logger())
	if err != nil {
		e.errorf("%v", err)
		return nil, exitFailures
	}
	return a, exitOK
}

// wire builds the app from a validated configuration.
func wire(ctx context.Context, cfg *config.Config, onlyPair string, log *slog.Logger) (*app, error) {
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	return wireWith(cfg, onlyPair, log, store, nil)
}

// wireWith builds the app around an open store, which it then owns.
// adjust, when set, amends each tenant's Graph settings (the demo lifts
// the pacer for the exact simulator, which never throttles).
func wireWith(cfg *config.Config, onlyPair string, log *slog.Logger, store guestmap.Store, adjust func(*tenants.Config)) (*app, error) {
	a := &app{cfg: cfg, store: store, clients: map[string]*tenants.Client{}, log: log}
	for _, t := range cfg.Tenants {
		tc := tenantConfig(t)
		if adjust != nil {
			adjust(&tc)
		}
		c, err := tenants.New(tc, tenants.Options{})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("tenant %s: %w", t.Name, err)
		}
		a.clients[t.Name] = c
	}
	limiters := worker.NewLimiters(cfg.Worker.ConcurrencyPerTarget)
	for _, pc := range cfg.Pairs {
		if pc.Disabled || (onlyPair != "" && pc.Name != onlyPair) {
			continue
		}
		compiled, err := policy.Compile(pc.Name, pc.PairSpec)
		if err != nil {
			a.Close()
			return nil, err // validated already; kept for safety
		}
		src, dst := a.clients[pc.Source], a.clients[pc.Target]
		a.pairs = append(a.pairs, &worker.Pair{
			PairName:              pc.Name,
			SourceTenantID:        cfg.Tenant(pc.Source).TenantID,
			Source:                src.Source(),
			Target:                dst.Target(),
			Errors:                tenants.Errors{},
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
			Log:                   log,
		})
	}
	return a, nil
}

// runner returns a Runner over the app's pairs.
func (a *app) runner() *worker.Runner {
	cyclers := make([]worker.Cycler, len(a.pairs))
	for i, p := range a.pairs {
		cyclers[i] = p
	}
	return &worker.Runner{
		Pairs:              cyclers,
		Interval:           a.cfg.Worker.Interval.Duration,
		QuarantineInterval: a.cfg.Worker.QuarantineInterval.Duration,
		CycleTimeout:       a.cfg.Worker.CycleTimeout.Duration,
		Log:                a.log,
	}
}

// pair returns the wired pair named name, or nil.
func (a *app) pair(name string) *worker.Pair {
	for _, p := range a.pairs {
		if p.PairName == name {
			return p
		}
	}
	return nil
}

// Close releases the store.
func (a *app) Close() {
	if a.store != nil {
		_ = a.store.Close()
	}
}

// openStore opens Redis or the embedded store as configured.
func openStore(ctx context.Context, s config.Store) (guestmap.Store, error) {
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

// tenantConfig converts the configuration of a tenant for package tenants.
func tenantConfig(t config.Tenant) tenants.Config {
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

var _ worker.Errors = tenants.Errors{}
