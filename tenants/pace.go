package tenants

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
)

// Limits is the throttling budget of ctsync's app in one tenant, as
// documented for identity and access (docs/graph-behaviour.md). Zero fields take the
// defaults in DefaultLimits.
type Limits struct {
	// ResourceUnits per ResourceWindow. Default 3,500 per 10 s (Graph's
	// smallest tenant tier; 5,000 from 50 users, 8,000 above 500).
	ResourceUnits  int
	ResourceWindow time.Duration
	// Writes per WriteWindow. Default 3,000 per 150 s.
	Writes      int
	WriteWindow time.Duration
	// Invitations per InvitationWindow. Default 150 per 5 s.
	Invitations      int
	InvitationWindow time.Duration
	// AppResourceUnits per AppResourceWindow, AppWrites per AppWriteWindow
	// and AppRequests per AppRequestWindow are the budgets of the app
	// (client ID) across all tenants, shared by every Client of that app:
	// identity and access limit type "application" (150,000 RU per 20 s,
	// 70,000 writes per 5 min) and Graph's global limit (130,000 requests
	// per 10 s per app across all tenants). The first Client of an app in a
	// Pacers registry sets them.
	AppResourceUnits  int
	AppResourceWindow time.Duration
	AppWrites         int
	AppWriteWindow    time.Duration
	AppRequests       int
	AppRequestWindow  time.Duration
	// Utilization is the share of each budget ctsync aims at, sustained.
	// Default 0.95.
	Utilization float64
	// Unpaced turns pacing off, the tenant's and the app's (tests that
	// provoke throttling). Retry-After from 429s is still honoured for the
	// whole tenant.
	Unpaced bool
}

// DefaultLimits are Graph's documented limits: per app per tenant
// (identity and access, smallest tenant tier) and per app across all
// tenants ("Microsoft Graph service-specific throttling limits").
var DefaultLimits = Limits{
	ResourceUnits: 3500, ResourceWindow: 10 * time.Second,
	Writes: 3000, WriteWindow: 150 * time.Second,
	Invitations: 150, InvitationWindow: 5 * time.Second,
	AppResourceUnits: 150000, AppResourceWindow: 20 * time.Second,
	AppWrites: 70000, AppWriteWindow: 5 * time.Minute,
	AppRequests: 130000, AppRequestWindow: 10 * time.Second,
	Utilization: 0.95,
}

func (l *Limits) setDefaults() {
	d := DefaultLimits
	if l.ResourceUnits == 0 {
		l.ResourceUnits, l.ResourceWindow = d.ResourceUnits, d.ResourceWindow
	}
	if l.ResourceWindow == 0 {
		l.ResourceWindow = d.ResourceWindow
	}
	if l.Writes == 0 {
		l.Writes, l.WriteWindow = d.Writes, d.WriteWindow
	}
	if l.WriteWindow == 0 {
		l.WriteWindow = d.WriteWindow
	}
	if l.Invitations == 0 {
		l.Invitations, l.InvitationWindow = d.Invitations, d.InvitationWindow
	}
	if l.InvitationWindow == 0 {
		l.InvitationWindow = d.InvitationWindow
	}
	defaultPair(&l.AppResourceUnits, &l.AppResourceWindow, d.AppResourceUnits, d.AppResourceWindow)
	defaultPair(&l.AppWrites, &l.AppWriteWindow, d.AppWrites, d.AppWriteWindow)
	defaultPair(&l.AppRequests, &l.AppRequestWindow, d.AppRequests, d.AppRequestWindow)
	if l.Utilization <= 0 || l.Utilization > 1 {
		l.Utilization = d.Utilization
	}
}

// defaultPair fills a zero limit (with its window) or a zero window.
func defaultPair(n *int, w *time.Duration, dn int, dw time.Duration) {
	if *n == 0 {
		*n, *w = dn, dw
	}
	if *w == 0 {
		*w = dw
	}
}

// Cost is what one request spends of the budgets.
type Cost struct {
	RU, Writes, Invitations int
	// Requests counts against the app's global request budget; 0 counts
	// as 1 (one HTTP request). A $batch counts its sub-requests.
	Requests int
}

func (c Cost) add(o Cost) Cost {
	return Cost{c.RU + o.RU, c.Writes + o.Writes, c.Invitations + o.Invitations, c.Requests + o.Requests}
}

// requests is what c spends of the app's request budget.
func (c Cost) requests() int { return max(c.Requests, 1) }

// PaceEvent is one decision of a Pacer, reported to Pacer observers in the
// order the decisions were taken.
type PaceEvent struct {
	// Blocked is true for a 429's Retry-After window (Until), false for a
	// request admitted at At.
	Blocked bool
	At      time.Time
	Until   time.Time
	Cost    Cost
}

// Pacer holds one tenant's budgets for one app, shared by every Client
// (every pair) that talks to that tenant as that app, and a link to the
// app's budgets across all tenants, shared by every Pacer of the app: a
// request leaves when both have room. Each budget is a token bucket that
// refills at Utilization*limit/window and holds at most
// (1-Utilization)/2*limit: so any interval of one window admits at most
// burst + rate*window < limit, whether Graph counts in sliding or fixed
// windows, with some slack for requests that arrive late.
type Pacer struct {
	clock Clock
	app   *appBudget

	mu           sync.Mutex
	unpaced      bool
	buckets      [3]bucket // RU, writes, invitations
	blockedUntil time.Time
	observers    []func(PaceEvent)
}

// appBudget is one app's budgets across all tenants. Its lock is taken
// inside a Pacer's, never the other way round.
type appBudget struct {
	mu           sync.Mutex
	buckets      [3]bucket // RU, writes, requests
	blockedUntil time.Time
}

func newAppBudget(l Limits, now time.Time) *appBudget {
	a := &appBudget{}
	a.buckets[0] = newBucket(l.AppResourceUnits, l.AppResourceWindow, l.Utilization, now)
	a.buckets[1] = newBucket(l.AppWrites, l.AppWriteWindow, l.Utilization, now)
	a.buckets[2] = newBucket(l.AppRequests, l.AppRequestWindow, l.Utilization, now)
	return a
}

// NewPacer returns a Pacer for the given (defaulted) limits, with an app
// budget of its own (Pacers.For shares one between the tenants of an app).
func NewPacer(l Limits, clock Clock) *Pacer {
	l.setDefaults()
	if clock == nil {
		clock = SystemClock{}
	}
	return newPacer(l, clock, newAppBudget(l, clock.Now()))
}

func newPacer(l Limits, clock Clock, app *appBudget) *Pacer {
	now := clock.Now()
	p := &Pacer{clock: clock, unpaced: l.Unpaced, app: app}
	p.buckets[0] = newBucket(l.ResourceUnits, l.ResourceWindow, l.Utilization, now)
	p.buckets[1] = newBucket(l.Writes, l.WriteWindow, l.Utilization, now)
	p.buckets[2] = newBucket(l.Invitations, l.InvitationWindow, l.Utilization, now)
	return p
}

// Observe registers f to see every decision, in order, under the pacer's
// lock (f must be quick and must not call the Pacer).
func (p *Pacer) Observe(f func(PaceEvent)) {
	p.mu.Lock()
	p.observers = append(p.observers, f)
	p.mu.Unlock()
}

// Wait blocks until the request of cost c may be sent, or ctx ends.
func (p *Pacer) Wait(ctx context.Context, c Cost) error {
	var waited time.Duration
	defer func() { directory.AddPaceWait(ctx, waited) }()
	need := [3]float64{float64(c.RU), float64(c.Writes), float64(c.Invitations)}
	appNeed := [3]float64{float64(c.RU), float64(c.Writes), float64(c.requests())}
	for {
		p.mu.Lock()
		now := p.clock.Now()
		var wait time.Duration
		if now.Before(p.blockedUntil) {
			wait = p.blockedUntil.Sub(now)
		}
		// The app's budget is checked and charged under its lock in the
		// same step, so that Pacers of other tenants cannot take its room
		// between the check and the charge.
		p.app.mu.Lock()
		if now.Before(p.app.blockedUntil) {
			wait = max(wait, p.app.blockedUntil.Sub(now))
		}
		if wait <= 0 && !p.unpaced {
			for i := range p.buckets {
				if w := p.buckets[i].waitFor(need[i], now); w > wait {
					wait = w
				}
			}
			for i := range p.app.buckets {
				if w := p.app.buckets[i].waitFor(appNeed[i], now); w > wait {
					wait = w
				}
			}
			if wait <= 0 {
				for i := range p.app.buckets {
					p.app.buckets[i].take(appNeed[i])
				}
			}
		}
		p.app.mu.Unlock()
		if wait <= 0 {
			if !p.unpaced {
				for i := range p.buckets {
					p.buckets[i].take(need[i])
				}
			}
			p.notify(PaceEvent{At: now, Cost: c})
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		waited += wait
		if err := p.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// Block holds every request to the tenant back until until (a 429's
// Retry-After: Graph keeps counting requests sent while throttled), then
// lets them go at the sustained rate, without burst.
func (p *Pacer) Block(until time.Time) {
	p.mu.Lock()
	if until.After(p.blockedUntil) {
		p.blockedUntil = until
		// Graph counted more than the budget: start again from empty
		// buckets, so that the requests queued behind the block leave at
		// the sustained rate instead of as one burst that would be
		// throttled again (usage keeps accruing while throttled).
		for i := range p.buckets {
			p.buckets[i].tokens = 0
			p.buckets[i].last = until
		}
		p.notify(PaceEvent{Blocked: true, At: p.clock.Now(), Until: until})
	}
	p.mu.Unlock()
}

// BlockApp holds every request of the app back, in every tenant, until
// until: a 429 whose throttle scope is the application across all tenants
// (Retry-After applies to the app's budget, which every tenant of the app
// draws from). Like Block, the app's buckets restart empty.
func (p *Pacer) BlockApp(until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.app.mu.Lock()
	defer p.app.mu.Unlock()
	if until.After(p.app.blockedUntil) {
		p.app.blockedUntil = until
		for i := range p.app.buckets {
			p.app.buckets[i].tokens = 0
			p.app.buckets[i].last = until
		}
		p.notify(PaceEvent{Blocked: true, At: p.clock.Now(), Until: until})
	}
}

// appScope reports whether an x-ms-throttle-scope names the application
// across all tenants ("Application/ReadWrite/{app}/{tenant}"), rather than
// the app in one tenant ("Tenant_Application/...") or the tenant
// ("Tenant/...").
func appScope(scope string) bool {
	kind, _, _ := strings.Cut(scope, "/")
	return strings.EqualFold(kind, "Application")
}

func (p *Pacer) notify(ev PaceEvent) {
	for _, f := range p.observers {
		f(ev)
	}
}

type bucket struct {
	capacity, tokens, rate float64 // rate per second
	last                   time.Time
}

func newBucket(limit int, window time.Duration, util float64, now time.Time) bucket {
	capacity := (1 - util) / 2 * float64(limit)
	if capacity < 1 {
		capacity = 1
	}
	return bucket{
		capacity: capacity,
		tokens:   capacity,
		rate:     util * float64(limit) / window.Seconds(),
		last:     now,
	}
}

func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.capacity, b.tokens+dt*b.rate)
		b.last = now
	}
}

// waitFor returns how long until n tokens are available (0: now). A cost
// above the capacity is treated as the capacity, or it would never pass.
func (b *bucket) waitFor(n float64, now time.Time) time.Duration {
	if n <= 0 {
		return 0
	}
	b.refill(now)
	n = min(n, b.capacity)
	if b.tokens >= n {
		return 0
	}
	d := time.Duration((n - b.tokens) / b.rate * float64(time.Second))
	return max(d, time.Millisecond)
}

func (b *bucket) take(n float64) {
	if n > 0 {
		b.tokens -= min(n, b.capacity)
	}
}

// Pacers shares one Pacer per (tenant ID, client ID): Graph's budgets are
// per app per tenant, so every pair writing into a tenant must draw from
// the same one; and one app budget per client ID, which every Pacer of
// that app draws from as well: one app registration serving many tenants
// has per-app budgets across all of them.
type Pacers struct {
	mu   sync.Mutex
	m    map[string]*Pacer
	apps map[string]*appBudget
}

// DefaultPacers is the process-wide registry used when Options.Pacers is
// nil.
var DefaultPacers = &Pacers{}

// For returns the Pacer of tenantID and clientID, creating it with l and
// clock on first use (later calls share it and ignore their l and clock).
// The app budget of clientID is created by the app's first Pacer, with its
// l's App* limits; every Client of one registry should share one clock.
func (r *Pacers) For(tenantID, clientID string, l Limits, clock Clock) *Pacer {
	l.setDefaults()
	if clock == nil {
		clock = SystemClock{}
	}
	appKey := strings.ToLower(clientID)
	key := strings.ToLower(tenantID) + "/" + appKey
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m, r.apps = map[string]*Pacer{}, map[string]*appBudget{}
	}
	p, ok := r.m[key]
	if !ok {
		app, ok := r.apps[appKey]
		if !ok {
			app = newAppBudget(l, clock.Now())
			r.apps[appKey] = app
		}
		p = newPacer(l, clock, app)
		r.m[key] = p
	}
	return p
}

type costKey struct{}

// withCost overrides the computed cost of the requests made with ctx (used
// by $batch, whose cost is that of its parts).
func withCost(ctx context.Context, c Cost) context.Context {
	return context.WithValue(ctx, costKey{}, c)
}

// requestCost estimates a request's cost as Graph documents it: GET /users
// (list or delta) 2 RU, other GETs 1; writes 1 RU and 1 write; $select -1,
// $expand +1, $top below 20 -1; at least 1 RU. POST /invitations is also an
// invitation.
func requestCost(r *http.Request) Cost {
	if c, ok := r.Context().Value(costKey{}).(Cost); ok {
		return c
	}
	path := strings.TrimRight(r.URL.Path, "/")
	var c Cost
	switch r.Method {
	case http.MethodGet:
		c.RU = 1
		if strings.HasSuffix(path, "/users") || strings.HasSuffix(path, "/users/delta") ||
			strings.HasSuffix(path, "/users/delta()") || strings.HasSuffix(path, "/groups") ||
			strings.HasSuffix(path, "/groups/delta") || strings.HasSuffix(path, "/groups/delta()") {
			c.RU = 2
		}
		q := r.URL.Query()
		if q.Get("$select") != "" {
			c.RU--
		}
		if q.Get("$expand") != "" {
			c.RU++
		}
		if t := q.Get("$top"); t != "" && atoiOr(t, 999) < 20 {
			c.RU--
		}
		c.RU = max(c.RU, 1)
	default:
		c.RU, c.Writes = 1, 1
		if strings.HasSuffix(path, "/invitations") {
			c.Invitations = 1
		}
	}
	return c
}

func atoiOr(s string, def int) int {
	n := 0
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return def
		}
		n = n*10 + int(ch-'0')
	}
	return n
}
