package tenants

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

// startSim starts an in-process simulator on a free port.
func startSim(tb testing.TB, opts graphsim.Options) *graphsim.Server {
	tb.Helper()
	if opts.Profile == "" {
		opts.Profile = graphsim.ProfileExact
	}
	s, err := graphsim.Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// simConfig is the Config of a simulated tenant, signing in with the
// tenant's client secret from its file.
func simConfig(tb testing.TB, s *graphsim.Server, name string) Config {
	tb.Helper()
	for _, ti := range s.Info().Tenants {
		if ti.Name == name {
			return Config{
				Name: name, TenantID: ti.TenantID, Domain: ti.Domain, ClientID: ti.ClientID,
				Credential: CredClientSecret, SecretFile: s.SecretFile(name),
				AuthorityHost: s.AuthorityURL(), GraphBaseURL: s.GraphURL(), CAFile: s.CAFile(),
			}
		}
	}
	tb.Fatalf("no tenant %s", name)
	return Config{}
}

// simClient builds a Client for a simulated tenant with its own pacers.
func simClient(tb testing.TB, s *graphsim.Server, name string, tweak func(*Config, *Options)) *Client {
	tb.Helper()
	cfg := simConfig(tb, s, name)
	opts := Options{Pacers: &Pacers{}}
	if tweak != nil {
		tweak(&cfg, &opts)
	}
	c, err := New(cfg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// certPEM writes the tenant's certificate and key into one PEM file, as
// azidentity.ParseCertificates wants them.
func certPEM(tb testing.TB, s *graphsim.Server, name string) string {
	tb.Helper()
	for _, ti := range s.Info().Tenants {
		if ti.Name != name {
			continue
		}
		c, err := os.ReadFile(ti.CertFile)
		if err != nil {
			tb.Fatal(err)
		}
		k, err := os.ReadFile(ti.KeyFile)
		if err != nil {
			tb.Fatal(err)
		}
		p := filepath.Join(tb.TempDir(), name+".pem")
		if err := os.WriteFile(p, append(append(c, '\n'), k...), 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	tb.Fatalf("no tenant %s", name)
	return ""
}

// scaledClock runs k times faster than the wall clock: the simulator and
// the client share it, so Graph's 150 s write window passes in 150/k s.
type scaledClock struct {
	start time.Time
	k     float64
}

func newScaledClock(k float64) *scaledClock { return &scaledClock{start: time.Now(), k: k} }

func (c *scaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.start)) * c.k))
}

func (c *scaledClock) Sleep(ctx context.Context, d time.Duration) error {
	return SystemClock{}.Sleep(ctx, time.Duration(float64(d)/c.k))
}

// wireEvent is one HTTP exchange seen by recordingTransport.
type wireEvent struct {
	reqID      string // client-request-id: the same on every try of a call
	sent, recv time.Time
	status     int
	retryAfter time.Duration
}

// recordingTransport sits under the pacer and records what went out.
type recordingTransport struct {
	next  http.RoundTripper
	clock Clock
	mu    sync.Mutex
	log   []wireEvent
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ev := wireEvent{reqID: req.Header.Get("client-request-id"), sent: r.clock.Now()}
	resp, err := r.next.RoundTrip(req)
	ev.recv = r.clock.Now()
	if resp != nil {
		ev.status = resp.StatusCode
		ev.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), ev.recv)
	}
	r.mu.Lock()
	r.log = append(r.log, ev)
	r.mu.Unlock()
	return resp, err
}

func (r *recordingTransport) events() []wireEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wireEvent(nil), r.log...)
}
