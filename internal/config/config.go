// Package config owns ctsync's configuration file: the TOML schema as typed
// structs, strict decoding (an unknown key is an error, not a silent no-op),
// defaults, and validation whose every message names the file, the line and
// the key at fault, so a bad configuration stops ctsync at start-up instead
// of half-working against a real directory.
//
// Secrets are never stored in the file: tenants reference a file or an
// environment variable holding the client secret, a certificate file, or a
// credential kind that needs no secret at all (managed identity, workload
// identity, Azure CLI). A secret written inline is rejected.
package config

import (
	"time"

	"github.com/ctsync/ctsync/policy"
)

// Config is a whole ctsync configuration file.
type Config struct {
	Store   Store    `toml:"store"`
	Worker  Worker   `toml:"worker"`
	Tenants []Tenant `toml:"tenant"`
	Pairs   []Pair   `toml:"pair"`

	// File is the path the configuration was loaded from ("" when built in
	// code); lines maps key paths to their line in File.
	File  string   `toml:"-"`
	lines keyLines `toml:"-"`
}

// Store says where ctsync keeps its state: a Redis server (production,
// several replicas) or the embedded single-node store on local disk.
// Exactly one of URL or Path is set.
type Store struct {
	// URL is redis://host:port/db, rediss:// for TLS. It must not carry a
	// password; see PasswordEnv.
	URL string `toml:"url"`
	// Username is the Redis ACL user, if any.
	Username string `toml:"username"`
	// PasswordEnv names the environment variable holding the Redis password.
	PasswordEnv string `toml:"password_env"`
	// CAFile is an extra CA bundle for rediss:// servers.
	CAFile string `toml:"ca_file"`
	// Path is the embedded store's database file.
	Path string `toml:"path"`
}

// Worker tunes the sync runner.
type Worker struct {
	// Interval between cycles of a pair. Default 15s: a cycle with nothing
	// changed is one delta request, so an idle 6-pair mesh of 10,000-user
	// tenants costs each tenant about 20 Graph requests (40 RU at most) a
	// minute with the fast lane's, under 0.1 % of its RU budget
	// (BenchmarkIdleMesh, `make bench-idle`).
	Interval Duration `toml:"interval"`
	// CycleTimeout bounds one cycle of one pair. Default 30m.
	CycleTimeout Duration `toml:"cycle_timeout"`
	// ConcurrencyPerTarget bounds the users in flight into one target
	// tenant, shared by every pair writing into it. Default 64. The
	// tenant's pacer, not this bound, holds the write rate at Graph's quota
	// (3,000 per 150 s, paced at 95 %, 19/s); concurrency only hides the
	// latency of each user's chain of sequential round trips, and ctsync
	// sizes it itself below this bound (sync/worker's adaptive Limiter):
	// it starts at 16 and grows while the pacer leaves write budget unused
	// and users queue, and shrinks while the pacer holds users back. How
	// much it takes depends on Graph's latency: BenchmarkWriteBudget
	// (sync/e2e; 1,000 users, realistic simulator) measured fixed sizes of
	// 4, 8, 16 and 32 at 0.24, 0.45, 0.78 and 0.95 of the quota.
	ConcurrencyPerTarget int `toml:"concurrency_per_target"`
	// LeaseTTL is how long a pair's lease lives without being extended.
	// Default 30s.
	LeaseTTL Duration `toml:"lease_ttl"`
	// Listen is the HTTP address for metrics, health, the status page and
	// the sync-now trigger; empty disables it. A host left out (":9464")
	// means 127.0.0.1: every interface is only ever asked for by name
	// ("0.0.0.0:9464", "[::]:9464").
	Listen string `toml:"listen"`
	// ListenTokenFile or ListenTokenEnv hold the bearer token the
	// listener's mutating endpoints (POST /sync) require; never the token
	// itself. Without either, those endpoints are refused.
	ListenTokenFile string `toml:"listen_token_file"`
	ListenTokenEnv  string `toml:"listen_token_env"`
	// QuarantineRatio is the share of failing users in a cycle (with at
	// least QuarantineMinFailures failures) that puts a pair in quarantine.
	// Default 0.4, as Entra.
	QuarantineRatio float64 `toml:"quarantine_ratio"`
	// QuarantineMinFailures is the minimum number of failures before the
	// ratio counts. Default 10.
	QuarantineMinFailures int `toml:"quarantine_min_failures"`
	// QuarantineInterval is the slower cycle interval of a quarantined pair.
	// Default 1h.
	QuarantineInterval Duration `toml:"quarantine_interval"`
	// FastInterval is the time between rounds of each pair's fast lane in
	// `ctsync run`: a delta read of its own that disables (and revokes the
	// sessions of) the guests of source users disabled, deleted or out of
	// scope, within seconds instead of at the next cycle. Default 10s, or
	// Interval when that is shorter; "0s" turns the fast lane off.
	FastInterval Duration `toml:"fast_interval"`
}

// Credential kinds a tenant can use.
const (
	CredClientSecret      = "client_secret"
	CredClientCertificate = "client_certificate"
	CredManagedIdentity   = "managed_identity"
	CredWorkloadIdentity  = "workload_identity"
	CredAzureCLI          = "azure_cli"
)

// Tenant is one Entra tenant and how ctsync signs in to it.
type Tenant struct {
	// Name is how pairs refer to the tenant.
	Name string `toml:"name"`
	// TenantID is the directory (tenant) ID, a GUID.
	TenantID string `toml:"tenant_id"`
	// Domain is the tenant's primary (initial) domain, e.g.
	// contoso.onmicrosoft.com.
	Domain string `toml:"domain"`
	// ClientID is the application (client) ID ctsync signs in as.
	ClientID string `toml:"client_id"`
	// Credential is one of client_secret, client_certificate,
	// managed_identity, workload_identity, azure_cli.
	Credential string `toml:"credential"`
	// ClientSecretFile or ClientSecretEnv hold the client secret.
	ClientSecretFile string `toml:"client_secret_file"`
	ClientSecretEnv  string `toml:"client_secret_env"`
	// CertificateFile is a PEM or PFX file with the certificate and key;
	// CertificatePasswordEnv names the variable holding its password.
	CertificateFile        string `toml:"certificate_file"`
	CertificatePasswordEnv string `toml:"certificate_password_env"`
	// AuthorityHost overrides the Entra authority (sovereign clouds, the
	// simulator), e.g. https://login.microsoftonline.us.
	AuthorityHost string `toml:"authority_host"`
	// GraphBaseURL overrides Microsoft Graph's base URL,
	// e.g. https://graph.microsoft.us/v1.0.
	GraphBaseURL string `toml:"graph_base_url"`
	// CAFile is an extra CA bundle to trust (the simulator's CA).
	CAFile string `toml:"ca_file"`
	// StampAttribute is the onPremisesExtensionAttributes slot where ctsync
	// stamps the guests it owns in this tenant. Default extensionAttribute15.
	StampAttribute string `toml:"stamp_attribute"`
}

// Pair is one one-way sync from a source tenant to a target tenant.
type Pair struct {
	// Name identifies the pair in the store, logs and the CLI.
	Name string `toml:"name"`
	// Source and Target are tenant names.
	Source string `toml:"source"`
	Target string `toml:"target"`
	// SendInvitation sends Microsoft's invitation mail to new guests.
	// Default false: cross-tenant users need none.
	SendInvitation bool `toml:"send_invitation"`
	// InviteRedirectURL is where a redeemed invitation lands. Default
	// https://myapplications.microsoft.com.
	InviteRedirectURL string `toml:"invite_redirect_url"`
	// Disabled keeps a pair in the file without running it.
	Disabled bool `toml:"disabled"`
	// RevokeSessions makes the fast lane revoke the sign-in sessions of the
	// guests it disables. Default true; see Revokes.
	RevokeSessions *bool `toml:"revoke_sessions"`

	policy.PairSpec
}

// Revokes reports whether the pair's fast lane revokes the sessions of the
// guests it disables (revoke_sessions, default true).
func (p *Pair) Revokes() bool { return p.RevokeSessions == nil || *p.RevokeSessions }

// Duration is a time.Duration written as a Go duration string ("90s", "1m").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Tenant returns the tenant named name, or nil.
func (c *Config) Tenant(name string) *Tenant {
	for i := range c.Tenants {
		if c.Tenants[i].Name == name {
			return &c.Tenants[i]
		}
	}
	return nil
}

// Pair returns the pair named name, or nil.
func (c *Config) Pair(name string) *Pair {
	for i := range c.Pairs {
		if c.Pairs[i].Name == name {
			return &c.Pairs[i]
		}
	}
	return nil
}
