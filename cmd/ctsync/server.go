package main

import (
	"container/list"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/sync/worker"
)

// Listener limits. The timeouts close connections that send nothing (an
// idle flood) or too slowly; maxConns bounds the file descriptors the
// listener can hold whatever clients do.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 30 * time.Second
	maxHeaderBytes    = 16 << 10
	maxConns          = 256
	// livezStale is how long the scheduler may go without a heartbeat
	// before /livez says the process loop is stuck (it ticks every second).
	livezStale = 30 * time.Second
	// livezStartup is how long /livez answers "starting" before the
	// scheduler's first tick.
	livezStartup = time.Minute
	// readyzStoreTimeout bounds the store check of /readyz, so a probe
	// with the timeoutSeconds: 3 docs/operating.md suggests gets an answer
	// (503, naming the store) rather than a timeout.
	readyzStoreTimeout = 2 * time.Second
)

// server is the daemon's HTTP listener: the status page, metrics, health
// probes and the sync-now trigger.
type server struct {
	app     *app.App
	runner  *worker.Runner
	hub     *progressHub
	metrics http.Handler
	log     *slog.Logger
	// tokenSum is the SHA-256 of the bearer token POST /sync requires; nil
	// when no token is configured (POST /sync refused).
	tokenSum []byte
	started  time.Time
	draining atomic.Bool
	page     *pageCache

	http  *http.Server
	ln    net.Listener
	guard *connGuard
}

// newServer builds the listener's handlers for a. The token is read now,
// so a missing file stops start-up rather than the first POST.
func newServer(a *app.App, r *worker.Runner, hub *progressHub, metrics http.Handler) (*server, error) {
	s := &server{app: a, runner: r, hub: hub, metrics: metrics, log: a.Log, started: time.Now(),
		page: &pageCache{}}
	token, err := readListenToken(a.Config.Worker)
	if err != nil {
		return nil, err
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		s.tokenSum = sum[:]
	}
	return s, nil
}

// readListenToken reads the bearer token from the file or variable the
// configuration names; "" when it names none.
func readListenToken(w config.Worker) (string, error) {
	switch {
	case w.ListenTokenFile != "":
		b, err := os.ReadFile(w.ListenTokenFile)
		if err != nil {
			return "", fmt.Errorf("worker.listen_token_file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("worker.listen_token_file %s is empty", w.ListenTokenFile)
		}
		return t, nil
	case w.ListenTokenEnv != "":
		t := strings.TrimSpace(os.Getenv(w.ListenTokenEnv))
		if t == "" {
			return "", fmt.Errorf("worker.listen_token_env: environment variable %s is empty or unset", w.ListenTokenEnv)
		}
		return t, nil
	}
	return "", nil
}

// listenAddress returns the address to bind for the configured listen
// value: a missing host means 127.0.0.1, never every interface. loopback
// reports whether the result only listens on the machine itself.
func listenAddress(listen string) (addr string, loopback bool, err error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", false, err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if host == "localhost" {
		return net.JoinHostPort(host, port), true, nil
	}
	ip := net.ParseIP(host)
	return net.JoinHostPort(host, port), ip != nil && ip.IsLoopback(), nil
}

// handler returns the listener's routes. Only POST /sync, POST
// /api/v1/decide, POST /api/v1/reset and POST /api/v1/map/rebuild change
// anything, and they need the bearer token; the rest is read-only and open
// (see docs/operating.md).
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", s.livez)
	mux.HandleFunc("GET /healthz", s.livez) // the older name, kept
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics)
	mux.HandleFunc("POST /sync", s.syncNow)
	mux.HandleFunc("GET /{$}", s.statusPage)
	apiRoutes(mux, s.app, s.hub) // read-only JSON for `ctsync status`, `logs` and `map export`
	// approve/reject, reset and map rebuild through the daemon: the same
	// token as POST /sync; without one configured, refused.
	var authorized func(*http.Request) bool
	if s.tokenSum != nil {
		authorized = s.authorized
	}
	apiStateRoutes(mux, s.app, authorized)
	return mux
}

// start binds listen and serves in the background.
func (s *server) start(ctx context.Context, listen string) error {
	addr, loopback, err := listenAddress(listen)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.guard = newConnGuard(maxConns, s.log)
	s.ln = &guardedListener{Listener: ln, guard: s.guard}
	s.http = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         s.guard.connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if !loopback {
		s.log.Warn("the listener is reachable from other machines: the status page and /metrics are open to them; POST /sync needs the bearer token",
			"addr", ln.Addr().String())
	}
	if s.tokenSum == nil {
		s.log.Info("POST /sync is disabled: set worker.listen_token_file or worker.listen_token_env to enable it")
	}
	go func() {
		<-ctx.Done()
		s.draining.Store(true) // /readyz turns unready at once
	}()
	go func() {
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "error", err)
		}
	}()
	s.log.Info("serving the status page, /metrics, /livez, /readyz and POST /sync", "addr", ln.Addr().String())
	return nil
}

// Addr returns the bound address (the port when listen asked for 0).
func (s *server) Addr() string { return s.ln.Addr().String() }

// shutdown stops accepting, lets requests in flight finish for a moment,
// then closes what remains.
func (s *server) shutdown() {
	s.draining.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
}

// livez answers whether the process loop is alive: the runner's scheduler
// ticked recently. It checks nothing outside the process, so a Graph or
// Redis outage never gets the pod restarted (that is /readyz's business).
func (s *server) livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	tick := s.runner.LastTick()
	switch {
	case tick.IsZero() && time.Since(s.started) < livezStartup:
		fmt.Fprintln(w, "ok (starting)")
	case tick.IsZero():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "the scheduler is not running")
	case time.Since(tick) > livezStale:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "the scheduler last ticked %s ago\n", time.Since(tick).Round(time.Second))
	default:
		fmt.Fprintln(w, "ok")
	}
}

// readyz answers whether the daemon can do its work: not shutting down,
// the store reachable, every tenant of an enabled pair signed in at least
// once. Each check is listed, so a failing probe says why.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var lines []string
	ready := true
	check := func(ok bool, name, detail string) {
		mark := "ok"
		if !ok {
			mark, ready = "FAIL", false
		}
		if detail != "" {
			name += ": " + detail
		}
		lines = append(lines, mark+" "+name)
	}
	if s.draining.Load() {
		check(false, "running", "shutting down")
	} else {
		check(true, "running", "")
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyzStoreTimeout)
	_, err := s.app.Store.Pairs(ctx)
	cancel()
	if err != nil {
		check(false, "store", firstLine(err.Error()))
	} else {
		check(true, "store", "")
	}
	for _, name := range s.pairTenants() {
		c := s.app.Clients[name]
		if c == nil {
			continue
		}
		detail := ""
		if !c.SignedIn() {
			detail = "not signed in yet (a wrong or expired credential never signs in; see the log)"
		}
		check(c.SignedIn(), "tenant "+name, detail)
	}
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// pairTenants lists the tenants the enabled pairs use, in configuration
// order: a tenant no pair uses never signs in and must not hold readiness.
func (s *server) pairTenants() []string {
	used := map[string]bool{}
	for _, p := range s.app.Pairs {
		if pc := s.app.Config.Pair(p.PairName); pc != nil {
			used[pc.Source], used[pc.Target] = true, true
		}
	}
	var out []string
	for _, t := range s.app.Config.Tenants {
		if used[t.Name] {
			out = append(out, t.Name)
		}
	}
	return out
}

// syncNow is POST /sync: authenticated by the bearer token, JSON only (a
// browser's simple cross-site request cannot carry either, so no CSRF),
// coalesced and quarantine-aware in the runner (Runner.SyncNow).
func (s *server) syncNow(w http.ResponseWriter, r *http.Request) {
	if s.tokenSum == nil {
		httpJSON(w, http.StatusForbidden, map[string]string{"error": "POST /sync is disabled: set worker.listen_token_file or worker.listen_token_env"})
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ctsync"`)
		httpJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		httpJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
		return
	}
	s.runner.SyncNow()
	s.log.Info("POST /sync: sync-now requested", "remote", r.RemoteAddr)
	httpJSON(w, http.StatusAccepted, map[string]string{"status": "accepted",
		"detail": "every pair not in a cycle started in the last seconds and not quarantined starts one"})
}

// authorized compares the request's bearer token with the configured one
// in constant time. Both are hashed first so the comparison's length is
// fixed too.
func (s *server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	return subtle.ConstantTimeCompare(sum[:], s.tokenSum) == 1
}

func httpJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// firstLine keeps the first line of s, for a probe's answer.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// guardedListener admits each accepted connection through its guard.
type guardedListener struct {
	net.Listener
	guard *connGuard
}

func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.guard.admit(c) {
			return c, nil
		}
	}
}

// connGuard caps the listener's open connections. Unlike
// golang.org/x/net/netutil.LimitListener, which stops calling Accept at
// the cap, it never leaves a new connection waiting: waiting connections
// queue in the kernel in arrival order, so behind a flood of idle ones a
// health probe would wait for every one of them to time out. At the cap a
// new connection instead evicts the oldest connection that is idle (no
// request sent yet, or between keep-alive requests); it is shed itself
// only when every held connection has a request in flight. A probe, which
// sends its request at once, thus always gets through an idle flood.
type connGuard struct {
	max int
	log *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]*list.Element // held connections; element in idle when idle
	idle  *list.List                 // of net.Conn, oldest first
	// shed counts connections closed by the guard since the last warning.
	shed     int
	lastWarn time.Time
}

func newConnGuard(max int, log *slog.Logger) *connGuard {
	return &connGuard{max: max, log: log, conns: map[net.Conn]*list.Element{}, idle: list.New()}
}

// admit holds c, evicting the oldest idle connection at the cap; it
// returns false (having closed c) when nothing could be evicted.
func (g *connGuard) admit(c net.Conn) bool {
	g.mu.Lock()
	var evict net.Conn
	if len(g.conns) >= g.max {
		if e := g.idle.Front(); e != nil {
			evict = g.idle.Remove(e).(net.Conn)
			delete(g.conns, evict)
		}
	}
	admitted := len(g.conns) < g.max
	if admitted {
		g.conns[c] = g.idle.PushBack(c) // new: idle until its first request
	}
	if evict != nil || !admitted {
		g.shed++
	}
	warn := g.shed > 0 && time.Since(g.lastWarn) > time.Minute
	n := g.shed
	if warn {
		g.lastWarn, g.shed = time.Now(), 0
	}
	g.mu.Unlock()
	if evict != nil {
		_ = evict.Close()
	}
	if !admitted {
		_ = c.Close()
	}
	if warn {
		g.log.Warn("the listener is at its connection cap: idle connections closed to make room", "cap", g.max, "closed", n)
	}
	return admitted
}

// connState follows each connection: active ones cannot be evicted, idle
// ones can, closed ones free their place.
func (g *connGuard) connState(c net.Conn, st http.ConnState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, held := g.conns[c]
	if !held {
		return // evicted already
	}
	switch st {
	case http.StateActive:
		if e != nil {
			g.idle.Remove(e)
			g.conns[c] = nil
		}
	case http.StateIdle:
		if e == nil {
			g.conns[c] = g.idle.PushBack(c)
		}
	case http.StateClosed, http.StateHijacked:
		if e != nil {
			g.idle.Remove(e)
		}
		delete(g.conns, c)
	}
}

// held returns the number of connections the guard holds (tests).
func (g *connGuard) held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}
