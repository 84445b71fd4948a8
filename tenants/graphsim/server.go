package graphsim

import (
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Profile names a preset of realism switches.
type Profile string

const (
	// ProfileExact: no faults, no latency, no throttling, no replication lag.
	ProfileExact Profile = "exact"
	// ProfileRealistic: Graph's documented throttling, small latency, rare
	// deterministic faults and a short replication lag.
	ProfileRealistic Profile = "realistic"
	// ProfileHostile: realistic plus a lagging search index, replica
	// regressions, limits below the documented ones and token-endpoint
	// failures (see HostileRealism).
	ProfileHostile Profile = "hostile"
)

// Options configure a simulator. The zero value is a usable exact
// simulator of three seeded tenants on a free loopback port.
type Options struct {
	// Addr is the listen address; default "127.0.0.1:0" (a free port).
	Addr string
	// Tenants are the tenant names; default contoso, fabrikam, northwind.
	Tenants []string
	// Users is the number of seeded users per tenant (deterministic from Seed).
	Users int
	// Seed drives every random choice: IDs, names, faults, latency.
	Seed int64
	// SeedFile, when set, loads tenants, users and groups from a JSON file
	// (see LoadSeed) instead of generating them.
	SeedFile string
	// Profile chooses the realism preset (default exact).
	Profile Profile
	// Realism overrides the profile's switches when non-nil.
	Realism *Realism
	// StateDir receives ca.pem, NAME.secret, NAME.cert.pem and NAME.key.pem;
	// a temporary directory (removed by Close) when empty.
	StateDir string
	// Now is the clock for tokens, delta expiry, deleted items and
	// throttling windows; default time.Now.
	Now func() time.Time
	// TokenLifetime is the access-token lifetime; default one hour.
	TokenLifetime time.Duration
	// DeltaTokenMaxAge is how long a delta or skip token stays valid;
	// default 7 days, as Graph documents for directory objects.
	DeltaTokenMaxAge time.Duration
	// DeltaExpiredStatus is how an expired delta token is answered: 400 with
	// code syncStateNotFound (the default) or 410 Gone.
	DeltaExpiredStatus int
	// SharedApp registers one multi-tenant app (one client ID, one secret,
	// one certificate) consented in every tenant, as a single ctsync
	// deployment serving many tenants would; throttling then also enforces
	// the per-application limits across all tenants against it.
	SharedApp bool
}

// Server is a running simulator.
type Server struct {
	opts     Options
	now      func() time.Time
	ln       net.Listener
	hs       *http.Server
	base     string
	stateDir string
	ownDir   bool
	ca       *authority
	caFile   string
	tokenKey []byte
	// tokCache holds verified access tokens (auth.go, verifiedClaims).
	tokMu    sync.Mutex
	tokCache map[string]verified
	tenants  []*Tenant
	byKey    map[string]*Tenant
	files    map[string]tenantFiles
	stats    statsRec
	reqSeq   atomic.Uint64
	closed   atomic.Bool

	rmu     sync.Mutex
	realism Realism
	rng     *mrand.Rand
	thr     *throttler
	shared  *app // the multi-tenant app of Options.SharedApp
}

type tenantFiles struct {
	secret, cert, key string
}

// Start seeds the tenants, writes the state files and starts serving HTTPS.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if len(opts.Tenants) == 0 && opts.SeedFile == "" {
		opts.Tenants = []string{"contoso", "fabrikam", "northwind"}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.DeltaTokenMaxAge <= 0 {
		opts.DeltaTokenMaxAge = 7 * 24 * time.Hour
	}
	if opts.DeltaExpiredStatus != http.StatusGone {
		opts.DeltaExpiredStatus = http.StatusBadRequest
	}
	if opts.Profile == "" {
		opts.Profile = ProfileExact
	}
	realism, known := ProfileRealism(opts.Profile)
	if !known {
		return nil, fmt.Errorf("graphsim: unknown profile %q", opts.Profile)
	}
	if opts.Realism != nil {
		realism = *opts.Realism
	}
	s := &Server{
		opts:    opts,
		now:     opts.Now,
		byKey:   map[string]*Tenant{},
		files:   map[string]tenantFiles{},
		realism: realism,
		rng:     mrand.New(mrand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15)),
	}
	s.thr = newThrottler()
	s.stats.init()
	s.tokCache = map[string]verified{}
	s.tokenKey = make([]byte, 32)
	if _, err := rand.Read(s.tokenKey); err != nil {
		return nil, fmt.Errorf("graphsim: token key: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("graphsim: listen %s: %w", opts.Addr, err)
	}
	s.ln = ln
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ca, err := newAuthority([]string{host})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.ca = ca
	urlHost := host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		urlHost = "127.0.0.1"
	}
	s.base = "https://" + net.JoinHostPort(urlHost, port)
	if err := s.setupState(); err != nil {
		ln.Close()
		return nil, err
	}
	if err := s.seed(); err != nil {
		s.cleanup()
		ln.Close()
		return nil, err
	}
	// The seeded directory existed long before: the index has caught up.
	s.SettleIndexes()
	if len(s.opts.Tenants)*s.opts.Users >= 20000 {
		// Generating a large directory leaves as much garbage as it keeps;
		// hand it back now rather than hold it for the whole run.
		debug.FreeOSMemory()
	}
	s.hs = &http.Server{
		Handler:           s,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{ca.tlsCert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	s.hs.ErrorLog = discardLogger()
	go func() { _ = s.hs.ServeTLS(ln, "", "") }()
	return s, nil
}

func (s *Server) setupState() error {
	dir := s.opts.StateDir
	if dir == "" {
		d, err := os.MkdirTemp("", "graphsim-")
		if err != nil {
			return fmt.Errorf("graphsim: state dir: %w", err)
		}
		dir, s.ownDir = d, true
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("graphsim: state dir: %w", err)
	}
	s.stateDir = dir
	p, err := writeFile(dir, "ca.pem", s.ca.certPEM, 0o644)
	if err != nil {
		return err
	}
	s.caFile = p
	return nil
}

func (s *Server) cleanup() {
	if s.ownDir && s.stateDir != "" {
		_ = os.RemoveAll(s.stateDir)
	}
}

// newTenant registers an empty tenant with its default app and writes its
// credential files.
func (s *Server) newTenant(name string) (*Tenant, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || strings.ContainsAny(name, "/\\ .@") {
		return nil, fmt.Errorf("graphsim: invalid tenant name %q", name)
	}
	if s.byKey[name] != nil {
		return nil, fmt.Errorf("graphsim: duplicate tenant %q", name)
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("graphsim-tenant:%s:%d", name, s.opts.Seed)))
	var idb [16]byte
	copy(idb[:], h[:16])
	t := &Tenant{
		s:       s,
		name:    name,
		id:      formatGUID(idb),
		domain:  name + ".onmicrosoft.com",
		rng:     mrand.New(mrand.NewPCG(uint64(s.opts.Seed), uint64(h[16])<<56|uint64(h[17])<<48|uint64(h[18])<<40|uint64(h[19])<<32|uint64(h[20])<<24|uint64(h[21])<<16|uint64(h[22])<<8|uint64(h[23]))),
		users:   map[string]*user{},
		upns:    map[string]string{},
		deleted: map[string]*user{},
		tombs:   map[string]uint64{},
		groups:  map[string]*group{},
		apps:    map[string]*app{},
	}
	cert, err := s.ca.issueAppCert("ctsync-" + name)
	if err != nil {
		return nil, err
	}
	t.mainApp = t.registerApp(DefaultPermissions)
	t.mainApp.cert = cert
	files := tenantFiles{}
	if files.secret, err = writeFile(s.stateDir, name+".secret", []byte(t.mainApp.secret), 0o600); err != nil {
		return nil, err
	}
	if files.cert, err = writeFile(s.stateDir, name+".cert.pem", cert.certPEM, 0o644); err != nil {
		return nil, err
	}
	if files.key, err = writeFile(s.stateDir, name+".key.pem", cert.keyPEM, 0o600); err != nil {
		return nil, err
	}
	s.files[name] = files
	if s.opts.SharedApp {
		if err := s.shareApp(t); err != nil {
			return nil, err
		}
	}
	s.tenants = append(s.tenants, t)
	for _, k := range []string{name, t.id, t.domain} {
		s.byKey[k] = t
	}
	return t, nil
}

// registerApp adds an app with a random secret; the caller holds no lock
// or t.mu.
func (t *Tenant) registerApp(perms []string) *app {
	a := &app{clientID: t.newID(), perms: map[string]bool{}}
	var b [24]byte
	_, _ = rand.Read(b[:])
	a.secret = "sim~" + base64url(b[:])
	for _, p := range perms {
		a.perms[p] = true
	}
	t.apps[a.clientID] = a
	return a
}

// Close stops the server at once (in-flight requests are cut, as a
// simulator needs no graceful drain) and removes a temporary state directory.
func (s *Server) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := s.hs.Close()
	s.cleanup()
	if err != nil {
		return fmt.Errorf("graphsim: close: %w", err)
	}
	return nil
}

// URL is the server's base URL, "https://127.0.0.1:PORT".
func (s *Server) URL() string { return s.base }

// AuthorityURL is the identity authority host for azidentity
// (ClientOptions.Cloud.ActiveDirectoryAuthorityHost).
func (s *Server) AuthorityURL() string { return s.base }

// GraphURL is the Graph base URL, "https://127.0.0.1:PORT/v1.0".
func (s *Server) GraphURL() string { return s.base + "/v1.0" }

// CAFile is the path of the throw-away CA certificate (PEM).
func (s *Server) CAFile() string { return s.caFile }

// CAPool is a certificate pool holding the simulator's CA.
func (s *Server) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.ca.cert)
	return p
}

// StateDir is the directory holding the CA, secrets and certificates.
func (s *Server) StateDir() string { return s.stateDir }

// HTTPClient returns a client that trusts the simulator's CA.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: s.CAPool(), MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64,
		ForceAttemptHTTP2:   true,
	}}
}

// Tenant finds a tenant by name, ID or domain; nil when unknown.
func (s *Server) Tenant(name string) *Tenant { return s.byKey[strings.ToLower(name)] }

// Tenants lists the tenants in creation order.
func (s *Server) Tenants() []*Tenant { return append([]*Tenant(nil), s.tenants...) }

// ServeHTTP routes identity and Graph requests, and the simulator's own
// read-only endpoint StatsPath.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1.0/") || r.URL.Path == "/v1.0" {
		s.serveGraph(w, r)
		return
	}
	if r.URL.Path == StatsPath {
		s.serveStats(w, r)
		return
	}
	s.serveIdentity(w, r)
}

func (s *Server) newRequestID() string {
	n := s.reqSeq.Add(1)
	var b [16]byte
	h := sha256.Sum256([]byte(fmt.Sprintf("%d:%d", s.opts.Seed, n)))
	copy(b[:], h[:16])
	return formatGUID(b)
}

const maxBody = 4 << 20

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	var src io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		// kiota's compression handler gzips request bodies by default.
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	b, err := io.ReadAll(io.LimitReader(src, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(b) > maxBody {
		return nil, errors.New("request body too large")
	}
	return b, nil
}

// writeResponse writes a built response with Graph's standard headers.
func writeResponse(w http.ResponseWriter, resp response, rid, clientRID string) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("request-id", rid)
	if clientRID == "" {
		clientRID = rid
	}
	h.Set("client-request-id", clientRID)
	if resp.body != nil && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.status)
	if resp.body != nil {
		_, _ = w.Write(resp.body)
	}
}

// tenantDir resolves the file paths written for a tenant.
func (s *Server) tenantDir(name string) tenantFiles { return s.files[name] }
