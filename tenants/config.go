// Package tenants is ctsync's only door to Microsoft Entra: it signs in to a
// tenant through azidentity, talks to Microsoft Graph through msgraph-sdk-go
// (its sub-packages only), and offers the rest of ctsync two small views of
// a tenant in ctsync's own types (package internal/directory):
//
//   - a Source, which streams the internal members of a tenant, by full
//     read or delta query, with group membership and managers;
//   - a Target, which finds, invites, updates, disables and deletes the B2B
//     guests ctsync owns, recognised by a stamp in an extension attribute.
//
// It owns everything Graph-specific that the rest of ctsync must not know:
// OData escaping, the error shapes of Graph and of the SDK (one GraphError
// type, classified once, by status and Graph code, never by message text),
// retries (Retry-After first, then capped exponential backoff with jitter),
// and pacing that keeps every pair writing into one tenant under that
// tenant's documented throttling budget, and every tenant served by one app
// registration under the app's budget across all tenants.
package tenants

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Credential kinds (Config.Credential).
const (
	CredClientSecret      = "client_secret"
	CredClientCertificate = "client_certificate"
	CredManagedIdentity   = "managed_identity"
	CredWorkloadIdentity  = "workload_identity"
	CredAzureCLI          = "azure_cli"
)

// Defaults applied by Config.SetDefaults.
const (
	DefaultGraphBaseURL   = "https://graph.microsoft.com/v1.0"
	DefaultAuthorityHost  = "https://login.microsoftonline.com/"
	DefaultStampAttribute = "extensionAttribute15"
	DefaultPageSize       = 999
)

// Config says how to reach one tenant. The lead's config package converts
// its TOML tenant section into it. Secrets are referenced (file,
// environment variable), never held in the configuration itself.
type Config struct {
	// Name is the tenant's name in ctsync's configuration; it appears in
	// every error.
	Name string
	// TenantID is the directory (tenant) ID.
	TenantID string
	// Domain is the tenant's initial domain (NAME.onmicrosoft.com).
	Domain string
	// ClientID is the application (client) ID ctsync signs in as.
	ClientID string
	// Credential is one of the Cred* kinds.
	Credential string
	// SecretFile or SecretEnv hold the client secret (client_secret).
	SecretFile string
	SecretEnv  string
	// CertificateFile is a PEM or PFX file with certificate and private key
	// (client_certificate); CertificatePasswordEnv names the variable that
	// holds its password, if any.
	CertificateFile        string
	CertificatePasswordEnv string
	// AuthorityHost overrides the Entra authority (sovereign clouds, the
	// simulator). Must be https.
	AuthorityHost string
	// GraphBaseURL overrides Graph's base URL, version included
	// (https://graph.microsoft.us/v1.0). Default DefaultGraphBaseURL.
	GraphBaseURL string
	// Scope overrides the token scope. Default: "https://HOST/.default" for
	// the Graph host, or Microsoft Graph's own scope when GraphBaseURL is a
	// local address (the simulator).
	Scope string
	// CAFile is an extra PEM bundle of CAs to trust, for Graph and the
	// authority (the simulator's throw-away CA).
	CAFile string
	// StampAttribute is the onPremisesExtensionAttributes slot holding
	// ctsync's stamp on guests of this tenant. Default extensionAttribute15.
	StampAttribute string

	// PageSize is $top for full user reads (1..999). Default 999.
	PageSize int
	// Limits is this tenant's throttling budget for ctsync's app. Zero
	// fields take Graph's documented values (DefaultLimits).
	Limits Limits
	// Retry bounds retries of one request. Zero fields take defaults.
	Retry RetryPolicy
}

// SetDefaults fills the zero fields with ctsync's defaults.
func (c *Config) SetDefaults() {
	if c.GraphBaseURL == "" {
		c.GraphBaseURL = DefaultGraphBaseURL
	}
	c.GraphBaseURL = strings.TrimRight(c.GraphBaseURL, "/")
	if c.StampAttribute == "" {
		c.StampAttribute = DefaultStampAttribute
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	c.Limits.setDefaults()
	c.Retry.setDefaults()
}

// Validate reports the first problem of a defaulted Config.
func (c *Config) Validate() error {
	if c.Name == "" {
		return errors.New("tenant config: name is empty")
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("tenant %q: "+format, append([]any{c.Name}, a...)...)
	}
	if c.TenantID == "" {
		return fail("tenant_id is empty")
	}
	switch c.Credential {
	case CredClientSecret:
		if (c.SecretFile == "") == (c.SecretEnv == "") {
			return fail("client_secret credential needs exactly one of a secret file or a secret environment variable")
		}
	case CredClientCertificate:
		if c.CertificateFile == "" {
			return fail("client_certificate credential needs a certificate file")
		}
	case CredManagedIdentity, CredWorkloadIdentity, CredAzureCLI:
	default:
		return fail("unknown credential kind %q", c.Credential)
	}
	if c.Credential != CredAzureCLI && c.Credential != CredManagedIdentity && c.ClientID == "" {
		return fail("client_id is empty")
	}
	if c.AuthorityHost != "" {
		if u, err := url.Parse(c.AuthorityHost); err != nil || u.Scheme != "https" || u.Host == "" {
			return fail("authority host %q is not an https URL", c.AuthorityHost)
		}
	}
	u, err := url.Parse(c.GraphBaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !isLocalHost(u.Hostname())) {
		return fail("graph base URL %q is not an https URL", c.GraphBaseURL)
	}
	if !stampSlot(c.StampAttribute) {
		return fail("stamp attribute %q is not extensionAttribute1..15", c.StampAttribute)
	}
	if c.PageSize < 1 || c.PageSize > 999 {
		return fail("page size %d is outside 1..999", c.PageSize)
	}
	return nil
}

// graphHost returns the host name of the Graph base URL.
func (c *Config) graphHost() string {
	u, err := url.Parse(c.GraphBaseURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// scope returns the token scope for Graph.
func (c *Config) scope() string {
	if c.Scope != "" {
		return c.Scope
	}
	host := c.graphHost()
	if host == "" || isLocalHost(host) {
		return "https://graph.microsoft.com/.default"
	}
	return "https://" + host + "/.default"
}

func isLocalHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// stampSlot reports whether name is extensionAttribute1..15.
func stampSlot(name string) bool {
	_, ok := extensionSlot(name)
	return ok
}

// RetryPolicy bounds the retries of one request.
type RetryPolicy struct {
	// MaxAttempts is the most tries of one request, the first included.
	// Default 8.
	MaxAttempts int
	// BaseDelay is the first backoff step without Retry-After. Default 1s.
	BaseDelay time.Duration
	// MaxDelay caps one backoff step. Default 60s.
	MaxDelay time.Duration
	// MaxRetryAfter caps the wait a server may ask for. Default 5m.
	MaxRetryAfter time.Duration
	// Replication is how long a 404 on an object ctsync just created is
	// retried (Graph's replication lag). Default 30s.
	Replication time.Duration
}

func (p *RetryPolicy) setDefaults() {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 8
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = time.Minute
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = 5 * time.Minute
	}
	if p.Replication == 0 {
		p.Replication = 30 * time.Second
	}
}
