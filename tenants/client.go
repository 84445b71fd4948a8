package tenants

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	coreauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
)

// Options are the injectable parts of a Client: none is needed in
// production.
type Options struct {
	// Clock drives retries and pacing. Default SystemClock.
	Clock Clock
	// Pacers shares pacers between Clients. Default DefaultPacers.
	Pacers *Pacers
	// Transport is the network round tripper for Graph and the authority,
	// under ctsync's pacing. Default: an http.Transport trusting the
	// system roots and Config.CAFile.
	Transport http.RoundTripper
	// Credential replaces the credential built from Config (its failures
	// become CredentialErrors all the same).
	Credential azcore.TokenCredential
	// Jitter returns a number in [0,1) for backoff jitter. Default
	// math/rand.
	Jitter func() float64
	// Observer hears every Graph request, retry, 429 and pacer wait
	// (metrics). Default: none.
	Observer Observer
}

// Client is one tenant reached as one app: the request adapter, the
// credential, the retry policy and the tenant's shared pacer. It is safe
// for concurrent use. Source and Target are views of it.
type Client struct {
	cfg     Config
	clock   Clock
	jitter  func() float64
	pacer   *Pacer
	adapter abs.RequestAdapter
	obs     Observer
	// basePath is the Graph base URL's path, cut off the paths of the
	// routes reported to obs.
	basePath string

	// created remembers objects created a moment ago (by this client, or
	// as callers told Target.Young), whose requests may still answer 404
	// until Graph has replicated them everywhere.
	createdMu sync.Mutex
	created   map[string]time.Time
	// pruned is when created was last cleared of old entries.
	pruned time.Time

	// signedIn is raised by the credential at the first token obtained.
	signedIn atomic.Bool
}

// New builds a Client for cfg (defaults applied, then validated). It does
// not call Graph: a bad credential shows at the first call, as a
// CredentialError inside a GraphError.
func New(cfg Config, opts Options) (*Client, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, clock: opts.Clock, jitter: opts.Jitter, created: map[string]time.Time{},
		obs: opts.Observer, basePath: basePathOf(cfg.GraphBaseURL)}
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	if c.clock == nil {
		c.clock = SystemClock{}
	}
	if c.jitter == nil {
		c.jitter = rand.Float64
	}
	pacers := opts.Pacers
	if pacers == nil {
		pacers = DefaultPacers
	}
	c.pacer = pacers.For(cfg.TenantID, cfg.ClientID, cfg.Limits, c.clock)

	base := opts.Transport
	if base == nil {
		t, err := newTransport(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", cfg.Name, err)
		}
		base = t
	}
	cred := opts.Credential
	if cred == nil {
		var err error
		if cred, err = newCredential(&c.cfg, &http.Client{Transport: base}); err != nil {
			return nil, err
		}
	} else {
		// An injected credential's failures are classified like the
		// built ones': refused is fatal, a flaky authority transient.
		cred = &namedCredential{inner: cred, tenant: cfg.Name, kind: cfg.Credential}
	}
	if nc, ok := cred.(*namedCredential); ok {
		nc.signedIn = &c.signedIn
	}
	// The kiota provider silently sends no token to a host outside its
	// allowed list (compared by host name): the configured Graph host is
	// always on it.
	auth, err := coreauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		cred, []string{cfg.scope()}, []string{cfg.graphHost()})
	if err != nil {
		return nil, fmt.Errorf("tenant %q: auth provider: %w", cfg.Name, err)
	}

	// The middleware chain is chosen, not defaulted: kiota's RetryHandler
	// is left out on purpose. It would resend 429s and 503s below the
	// pacer, at most 3 times with its own delays, hidden from Client.call:
	// Retry-After would then not block the other requests to the tenant,
	// attempts would multiply (3 SDK tries per ctsync try) and a context
	// deadline could not bound them. The compression handler is left out
	// too (request bodies are small). What remains is harmless: telemetry,
	// parameter-name decoding ($select rather than %24select), user agent
	// and redirects.
	opt := core.GraphClientOptions{GraphServiceLibraryVersion: "1.89.0"}
	middleware := []khttp.Middleware{
		core.NewGraphTelemetryHandler(&opt),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
		khttp.NewRedirectHandler(),
	}
	httpClient := &http.Client{
		// No overall timeout: the pacer may hold a request back for a
		// Retry-After window; contexts bound calls instead.
		Transport: khttp.NewCustomTransportWithParentTransport(&pacedTransport{c: c, next: base}, middleware...),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	parse := absser.NewParseNodeFactoryRegistry()
	parse.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonParseNodeFactory()
	parse.ContentTypeAssociatedFactories["text/plain"] = textser.NewTextParseNodeFactory()
	write := absser.NewSerializationWriterFactoryRegistry()
	write.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonSerializationWriterFactory()
	write.ContentTypeAssociatedFactories["text/plain"] = textser.NewTextSerializationWriterFactory()
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, opt, parse, write, httpClient)
	if err != nil {
		return nil, fmt.Errorf("tenant %q: request adapter: %w", cfg.Name, err)
	}
	adapter.SetBaseUrl(cfg.GraphBaseURL)
	c.adapter = adapter
	return c, nil
}

// SignedIn reports whether the client's credential has obtained a token
// at least once since the client was built: a local fact (no call is
// made), for the daemon's readiness probe. A credential refused from the
// start (a wrong secret) never signs in.
func (c *Client) SignedIn() bool { return c.signedIn.Load() }

// Config returns the client's defaulted configuration.
func (c *Client) Config() Config { return c.cfg }

// Pacer returns the tenant's shared pacer.
func (c *Client) Pacer() *Pacer { return c.pacer }

// Source returns the tenant as a sync source.
func (c *Client) Source() *Source { return &Source{c: c} }

// Target returns the tenant as a sync target.
func (c *Client) Target() *Target { return &Target{c: c} }

// newTransport returns an HTTP transport trusting the system roots and the
// PEM bundle in caFile, if any.
func newTransport(caFile string) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 100 * time.Second
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return t, nil
}

// pacedTransport is the innermost layer before the network: it waits for
// the tenant's pacer, records the response's status and headers for
// asGraphError, and turns a 429's Retry-After into a block of the whole
// tenant at once (of every tenant of the app, when the throttle scope is
// the application), before any other goroutine sends its next request.
type pacedTransport struct {
	c    *Client
	next http.RoundTripper
}

func (t *pacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchangeFrom(req.Context())
	if ex != nil && ex.requestID != "" {
		req = req.Clone(req.Context())
		req.Header.Set("client-request-id", ex.requestID)
	}
	name := t.c.cfg.Name
	start := t.c.clock.Now()
	if err := t.c.pacer.Wait(req.Context(), requestCost(req)); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	sent := t.c.clock.Now()
	t.c.obs.PacerWait(name, sent.Sub(start))
	resp, err := t.next.RoundTrip(req)
	route := graphRoute(t.c.basePath, req.URL.Path)
	if err != nil {
		t.c.obs.Request(name, req.Method, route, 0, t.c.clock.Now().Sub(sent))
		return nil, err
	}
	t.c.obs.Request(name, req.Method, route, resp.StatusCode, t.c.clock.Now().Sub(sent))
	if ex != nil {
		ex.record(resp)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		t.c.obs.Throttled(name)
		now := t.c.clock.Now()
		if ra := parseRetryAfter(resp.Header.Get("Retry-After"), now); ra > 0 {
			until := now.Add(min(ra, t.c.cfg.Retry.MaxRetryAfter))
			if appScope(resp.Header.Get("x-ms-throttle-scope")) {
				t.c.pacer.BlockApp(until)
			}
			t.c.pacer.Block(until)
		}
	}
	return resp, nil
}

// noteCreated remembers that id was created now.
func (c *Client) noteCreated(id string) { c.noteCreatedAt(id, c.clock.Now()) }

// noteCreatedAt remembers that id was created at created: until
// Retry.Replication after it, a 404 on any call naming id is retried.
// Graph's replicas can answer 404 for a young object even after an earlier
// request for it succeeded (msgraph-sdk-go#221), so one success proves
// nothing: only age does.
func (c *Client) noteCreatedAt(id string, created time.Time) {
	now := c.clock.Now()
	window := c.cfg.Retry.Replication
	if id == "" || now.Sub(created) >= window {
		return
	}
	c.createdMu.Lock()
	defer c.createdMu.Unlock()
	if now.Sub(c.pruned) >= window/8 {
		// Keep the map small, but not by a scan per create: a first sync
		// creates hundreds of guests a second when unpaced, and the map
		// holds a whole window of them.
		c.pruned = now
		for k, t := range c.created {
			if now.Sub(t) >= window {
				delete(c.created, k)
			}
		}
	}
	if t, ok := c.created[id]; !ok || created.After(t) {
		c.created[id] = created
	}
}

// forget drops id after a delete succeeded: from then on a 404 means the
// object is gone, not that it has not replicated yet.
func (c *Client) forget(id string) {
	c.createdMu.Lock()
	delete(c.created, id)
	c.createdMu.Unlock()
}

// callOptsFor returns the retry options for a call naming the objects ids
// (the object addressed, and any object referenced, like the manager of a
// manager/$ref): 404s are retried while any of them is younger than
// Retry.Replication.
func (c *Client) callOptsFor(ids ...string) callOpts {
	c.createdMu.Lock()
	defer c.createdMu.Unlock()
	var o callOpts
	for _, id := range ids {
		if t, ok := c.created[id]; ok {
			if until := t.Add(c.cfg.Retry.Replication); until.After(o.notFoundUntil) {
				o.notFoundUntil = until
			}
		}
	}
	return o
}
