package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	guidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	domainRE    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$`)
	stampAttrRE = regexp.MustCompile(`^extensionAttribute([1-9]|1[0-5])$`)
)

// PolicyCheck validates one pair's policy; it returns an error per problem,
// each naming the key (relative to the pair) it is about. The default is
// installed by policy_check.go; tests may replace it.
type PolicyCheck func(p *Pair) []KeyError

// KeyError is a problem at a key path relative to some table.
type KeyError struct {
	Key string
	Msg string
}

// checkPolicy validates pair policies; see policy_check.go.
var checkPolicy PolicyCheck

// Validate checks the whole configuration after SetDefaults and returns
// every problem found (as Errors), not just the first.
func (c *Config) Validate() error {
	p := &problems{file: c.File, lines: c.lines}
	c.validateStore(p)
	c.validateWorker(p)
	c.validateTenants(p)
	c.validatePairs(p)
	return p.err()
}

func (c *Config) validateStore(p *problems) {
	s := c.Store
	envName(p, "store.password_env", s.PasswordEnv)
	switch {
	case s.URL == "" && s.Path == "":
		p.addf("store", "set store.url (Redis) or store.path (the embedded single-node store)")
	case s.URL != "" && s.Path != "":
		p.addf("store.path", "store.url and store.path are exclusive: one store only")
	case s.URL != "":
		validateRedisURL(p, s.URL)
	default:
		if strings.Contains(s.Path, "://") {
			// guestmap.Open takes any DSN: a URL here would silently open
			// Redis (or fail) instead of the embedded store the key promises.
			p.addf("store.path", "looks like a URL: put a Redis URL in store.url; path is the embedded store's file")
		} else if len(s.Path) > maxPathLen {
			p.addf("store.path", "longer than %d bytes", maxPathLen)
		}
		if s.PasswordEnv != "" || s.Username != "" || s.CAFile != "" {
			p.addf("store.path", "username, password_env and ca_file are for Redis; the embedded store at path needs none")
		}
	}
}

// validateRedisURL checks store.url without ever repeating it or any part
// of it that might be a password: url.Parse's errors quote the input (a
// password holding a '/' ends up "quoted" as a port), so they are not shown.
func validateRedisURL(p *problems, raw string) {
	if len(raw) > maxURLLen {
		p.addf("store.url", "longer than %d bytes", maxURLLen)
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		p.addf("store.url", "does not parse as a URL (not repeated here: it may hold a password); want redis://host:port/db")
		return
	}
	switch u.Scheme {
	case "redis", "rediss":
	case "unix":
		p.addf("store.url", "unix:// sockets are not supported: use redis://host:port/db or rediss://")
	default:
		p.addf("store.url", "scheme %q: want redis:// or rediss://", show(u.Scheme))
	}
	if _, has := u.User.Password(); has {
		p.addf("store.url", "the URL carries a password; put it in an environment variable and name it in store.password_env")
	}
	for k := range u.Query() {
		if strings.Contains(strings.ToLower(k), "password") {
			p.addf("store.url", "the URL carries ?%s=; put the password in an environment variable and name it in store.password_env", show(k))
		}
	}
	if u.Path != "" && u.Path != "/" && u.Scheme != "unix" {
		if _, err := strconv.Atoi(u.Path[1:]); err != nil {
			p.addf("store.url", "database %q is not a number", show(u.Path[1:]))
		}
	}
}

func (c *Config) validateWorker(p *problems) {
	w := c.Worker
	within := func(key string, d Duration, max time.Duration, why string) {
		if d.Duration <= 0 {
			p.addf(key, "must be a positive duration, got %s", d.Duration)
		} else if d.Duration > max {
			p.addf(key, "at most %s (%s), got %s", max, why, d.Duration)
		}
	}
	within("worker.interval", w.Interval, MaxInterval, "a pair synced less than daily is not being synced")
	within("worker.cycle_timeout", w.CycleTimeout, MaxCycleTimeout, "a cycle still running after a day is stuck, not slow")
	within("worker.quarantine_interval", w.QuarantineInterval, MaxQuarantineInterval, "a quarantined pair still retries weekly")
	if f := w.FastInterval.Duration; f < 0 || (f > 0 && f < time.Second) {
		p.addf("worker.fast_interval", "must be \"0s\" (no fast lane) or at least 1s (each round is a Graph request per pair), got %s", f)
	} else if f > MaxInterval {
		p.addf("worker.fast_interval", "at most %s (a fast lane slower than the cycles does nothing they do not), got %s", MaxInterval, f)
	}
	if w.LeaseTTL.Duration < 5e9 {
		p.addf("worker.lease_ttl", "must be at least 5s so a lease survives a slow Graph call, got %s", w.LeaseTTL.Duration)
	} else if w.LeaseTTL.Duration > MaxLeaseTTL {
		p.addf("worker.lease_ttl", "at most %s (a crashed replica's lease blocks its pairs that long), got %s", MaxLeaseTTL, w.LeaseTTL.Duration)
	}
	if w.ConcurrencyPerTarget < 1 || w.ConcurrencyPerTarget > 256 {
		p.addf("worker.concurrency_per_target", "must be between 1 and 256, got %d", w.ConcurrencyPerTarget)
	}
	// NaN fails every comparison: test for the range, not against it, so
	// that "nan" (a ratio quarantine could never reach) is refused too.
	if !(w.QuarantineRatio > 0 && w.QuarantineRatio <= 1) {
		p.addf("worker.quarantine_ratio", "must be in (0, 1], got %g", w.QuarantineRatio)
	}
	if w.QuarantineMinFailures < 1 {
		p.addf("worker.quarantine_min_failures", "must be at least 1, got %d", w.QuarantineMinFailures)
	}
	validateListen(p, w)
}

// envNameRE is a POSIX environment variable name.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// envName checks that a *_env value names a variable. A value that does
// not is most likely the secret itself pasted in the wrong key, so it is
// never repeated.
func envName(p *problems, key, name string) {
	if name != "" && !envNameRE.MatchString(name) {
		p.addf(key, "is not an environment variable name (letters, digits and '_', at most 128; the value is not shown: it may be the secret itself): name the variable that holds the secret")
	}
}

// Upper bounds of the worker's durations. They catch a unit typo
// ("2000000h") that would otherwise make a pair silently never run again.
const (
	MaxInterval           = 24 * time.Hour
	MaxCycleTimeout       = 24 * time.Hour
	MaxQuarantineInterval = 7 * 24 * time.Hour
	MaxLeaseTTL           = time.Hour
)

// Lengths no real value comes near: DNS limits a domain to 253 bytes,
// browsers and proxies a URL to about 2 KB, Linux a path to 4 KB.
const (
	maxDomainLen = 253
	maxURLLen    = 2048
	maxPathLen   = 4096
)

// show bounds a value quoted in a message: a 10 MB domain is refused by
// naming its start, not by printing it back.
func show(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func validateListen(p *problems, w Worker) {
	if w.Listen != "" {
		host, port, err := net.SplitHostPort(w.Listen)
		if err != nil {
			p.addf("worker.listen", "%q: want host:port or :port (e.g. \"127.0.0.1:9464\")", w.Listen)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			p.addf("worker.listen", "port %q is not a port number", port)
		} else if host != "" && net.ParseIP(host) == nil && host != "localhost" {
			p.addf("worker.listen", "host %q: give an IP address (or localhost), so what is exposed does not depend on name resolution", host)
		}
	}
	if w.ListenTokenFile != "" && w.ListenTokenEnv != "" {
		p.addf("worker.listen_token_env", "listen_token_file and listen_token_env are exclusive")
	}
	envName(p, "worker.listen_token_env", w.ListenTokenEnv)
	if len(w.ListenTokenFile) > maxPathLen {
		p.addf("worker.listen_token_file", "longer than %d bytes", maxPathLen)
	}
	if (w.ListenTokenFile != "" || w.ListenTokenEnv != "") && w.Listen == "" {
		p.addf("worker.listen_token_file", "a listener token is set but worker.listen is not: nothing would use it")
	}
}

func (c *Config) validateTenants(p *problems) {
	if len(c.Tenants) == 0 {
		p.addf("tenant", "no [[tenant]] is defined")
	}
	seen := map[string]int{}
	seenID := map[string]int{}
	for i, t := range c.Tenants {
		key := func(k string) string { return fmt.Sprintf("tenant[%d].%s", i, k) }
		switch {
		case t.Name == "":
			p.addf(fmt.Sprintf("tenant[%d]", i), "name is required")
		case !nameRE.MatchString(t.Name):
			p.addf(key("name"), "%q: use lower-case letters, digits, '-', '_' or '.' (at most 63)", show(t.Name))
		default:
			if j, dup := seen[t.Name]; dup {
				p.addf(key("name"), "tenant %q is already defined at line %d", t.Name, c.lines.line(fmt.Sprintf("tenant[%d].name", j)))
			}
			seen[t.Name] = i
		}
		if !guidRE.MatchString(t.TenantID) {
			p.addf(key("tenant_id"), "%q is not a tenant ID (a GUID)", show(t.TenantID))
		} else if j, dup := seenID[t.TenantID]; dup {
			p.addf(key("tenant_id"), "tenant ID %s is already used by tenant %q", t.TenantID, c.Tenants[j].Name)
		} else {
			seenID[t.TenantID] = i
		}
		if len(t.Domain) > maxDomainLen || !domainRE.MatchString(t.Domain) {
			p.addf(key("domain"), "%q is not a domain name (the tenant's primary domain, e.g. contoso.onmicrosoft.com; at most %d bytes)", show(t.Domain), maxDomainLen)
		}
		validateCredential(p, key, t)
		envName(p, key("client_secret_env"), t.ClientSecretEnv)
		envName(p, key("certificate_password_env"), t.CertificatePasswordEnv)
		for _, f := range []struct{ key, value string }{{"client_secret_file", t.ClientSecretFile}, {"certificate_file", t.CertificateFile}, {"ca_file", t.CAFile}} {
			if len(f.value) > maxPathLen {
				p.addf(key(f.key), "longer than %d bytes", maxPathLen)
			}
		}
		for _, u := range []struct{ key, value string }{{"authority_host", t.AuthorityHost}, {"graph_base_url", t.GraphBaseURL}} {
			if u.value == "" {
				continue
			}
			if parsed, err := url.Parse(u.value); len(u.value) > maxURLLen || err != nil || parsed.Scheme != "https" || parsed.Host == "" {
				p.addf(key(u.key), "%q must be an https:// URL (at most %d bytes)", show(u.value), maxURLLen)
			}
		}
		if !stampAttrRE.MatchString(t.StampAttribute) {
			p.addf(key("stamp_attribute"), "%q: want extensionAttribute1 .. extensionAttribute15", show(t.StampAttribute))
		}
	}
}

func validateCredential(p *problems, key func(string) string, t Tenant) {
	secretRef := t.ClientSecretFile != "" || t.ClientSecretEnv != ""
	certRef := t.CertificateFile != "" || t.CertificatePasswordEnv != ""
	needsClientID := true
	switch t.Credential {
	case CredClientSecret:
		if t.ClientSecretFile != "" && t.ClientSecretEnv != "" {
			p.addf(key("client_secret_env"), "client_secret_file and client_secret_env are exclusive")
		}
		if !secretRef {
			p.addf(key("credential"), "client_secret needs client_secret_file or client_secret_env")
		}
		if certRef {
			p.addf(key("certificate_file"), "a certificate is set but credential is client_secret")
		}
	case CredClientCertificate:
		if t.CertificateFile == "" {
			p.addf(key("credential"), "client_certificate needs certificate_file (PEM or PFX)")
		}
		if secretRef {
			p.addf(key("client_secret_file"), "a client secret is set but credential is client_certificate")
		}
	case CredManagedIdentity, CredAzureCLI:
		// A system-assigned identity or the developer's CLI login need no
		// client ID; a user-assigned identity gives one.
		needsClientID = false
		fallthrough
	case CredWorkloadIdentity:
		if secretRef || certRef {
			p.addf(key("credential"), "%s takes no client secret or certificate; remove them", t.Credential)
		}
	default:
		p.addf(key("credential"), "%q: want client_secret, client_certificate, managed_identity, workload_identity or azure_cli", show(t.Credential))
	}
	if t.ClientID == "" && needsClientID {
		p.addf(key("client_id"), "client_id (the application ID, a GUID) is required for %s", t.Credential)
	} else if t.ClientID != "" && !guidRE.MatchString(t.ClientID) {
		p.addf(key("client_id"), "%q is not an application ID (a GUID)", show(t.ClientID))
	}
}

func (c *Config) validatePairs(p *problems) {
	if len(c.Pairs) == 0 {
		p.addf("pair", "no [[pair]] is defined: nothing to sync")
	}
	seen := map[string]int{}
	routes := map[[2]string]string{}
	for i := range c.Pairs {
		pr := &c.Pairs[i]
		base := fmt.Sprintf("pair[%d]", i)
		key := func(k string) string { return base + "." + k }
		switch {
		case pr.Name == "":
			p.addf(base, "name is required")
		case !nameRE.MatchString(pr.Name):
			p.addf(key("name"), "%q: use lower-case letters, digits, '-', '_' or '.' (at most 63)", show(pr.Name))
		default:
			if j, dup := seen[pr.Name]; dup {
				p.addf(key("name"), "pair %q is already defined at line %d", pr.Name, c.lines.line(fmt.Sprintf("pair[%d].name", j)))
			}
			seen[pr.Name] = i
		}
		for _, end := range []struct{ key, name string }{{"source", pr.Source}, {"target", pr.Target}} {
			if end.name == "" {
				p.addf(key(end.key), "%s tenant is required", end.key)
			} else if c.Tenant(end.name) == nil {
				p.addf(key(end.key), "tenant %q is not defined (no [[tenant]] with that name)", show(end.name))
			}
		}
		if pr.Source != "" && pr.Source == pr.Target {
			p.addf(key("target"), "source and target are the same tenant %q", pr.Source)
		}
		// Two pairs on one route would fight over the same stamped guests.
		route := [2]string{pr.Source, pr.Target}
		if other, dup := routes[route]; dup && pr.Source != "" && pr.Target != "" {
			p.addf(key("target"), "pair %q already syncs %s -> %s; merge the two scopes into one pair", other, pr.Source, pr.Target)
		} else {
			routes[route] = pr.Name
		}
		if u, err := url.Parse(pr.InviteRedirectURL); len(pr.InviteRedirectURL) > maxURLLen || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.addf(key("invite_redirect_url"), "%q must be an absolute http(s) URL (at most %d bytes)", show(pr.InviteRedirectURL), maxURLLen)
		}
		if checkPolicy != nil {
			for _, e := range checkPolicy(pr) {
				k := base
				if e.Key != "" {
					k = key(e.Key)
				}
				p.addf(k, "%s", e.Msg)
			}
		}
	}
}
