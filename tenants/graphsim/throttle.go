package graphsim

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits are Graph's documented identity-and-access throttling limits; a
// zero field means the documented value. Source: "Microsoft Graph
// service-specific throttling limits", section "Identity and access service
// limits" (learn.microsoft.com/graph/throttling-limits), and its global
// per-app limit.
type Limits struct {
	// ResourceUnits per app per tenant per 10 s; 0: by tenant size
	// (< 50 users 3,500; 50–500 5,000; > 500 8,000).
	ResourceUnits int
	// WritesPerApp per app per tenant per 150 s; 0: 3,000.
	WritesPerApp int
	// WritesPerTenant for all apps of a tenant per 5 min; 0: 18,000.
	WritesPerTenant int
	// InvitationsPerTenant per 5 s; 0: 150.
	InvitationsPerTenant int
	// RequestsPerApp for one app across all tenants per 10 s; 0: 130,000
	// (the global limit every Graph service shares).
	RequestsPerApp int
	// AppResourceUnits for one app across all tenants per 20 s; 0: 150,000
	// (identity and access, limit type "application").
	AppResourceUnits int
	// AppWrites for one app across all tenants per 5 min; 0: 70,000
	// (identity and access, limit type "application").
	AppWrites int
}

// window is a sliding-window counter: the previous fixed window's count
// weighted by its remaining overlap, plus the current window's count.
type window struct {
	size  time.Duration
	start time.Time
	prev  float64
	cur   float64
}

func (w *window) roll(now time.Time) {
	if w.start.IsZero() {
		w.start = now.Truncate(w.size)
		return
	}
	elapsed := now.Sub(w.start)
	switch {
	case elapsed < w.size:
	case elapsed < 2*w.size:
		w.prev, w.cur = w.cur, 0
		w.start = w.start.Add(w.size)
	default:
		w.prev, w.cur = 0, 0
		w.start = now.Truncate(w.size)
	}
}

func (w *window) usageAt(now time.Time) float64 {
	elapsed := now.Sub(w.start)
	switch {
	case elapsed < 0:
		return w.prev + w.cur
	case elapsed < w.size:
		return w.prev*(1-float64(elapsed)/float64(w.size)) + w.cur
	case elapsed < 2*w.size:
		return w.cur * (1 - float64(elapsed-w.size)/float64(w.size))
	}
	return 0
}

// add charges n units and returns the usage afterwards.
func (w *window) add(now time.Time, n float64) float64 {
	w.roll(now)
	w.cur += n
	return w.usageAt(now)
}

// retryAfter is the whole number of seconds until usage drops below limit.
func (w *window) retryAfter(now time.Time, limit float64) int {
	for s := 1; s <= int(2*w.size/time.Second)+1; s++ {
		if w.usageAt(now.Add(time.Duration(s)*time.Second)) < limit {
			return s
		}
	}
	return int(2*w.size/time.Second) + 1
}

type throttler struct {
	mu      sync.Mutex
	windows map[string]*window
}

func newThrottler() *throttler { return &throttler{windows: map[string]*window{}} }

func (t *throttler) win(key string, size time.Duration) *window {
	w := t.windows[key]
	if w == nil {
		w = &window{size: size}
		t.windows[key] = w
	}
	return w
}

type throttleResult struct {
	throttled bool
	headers   http.Header
}

// ruCost is Graph's resource-unit cost of a request.
func ruCost(c *call) int {
	cost := 1
	if c.method == http.MethodGet && (c.route.name == "GET /users" || c.route.name == "GET /groups") {
		cost = 2
	}
	if c.query.Get("$select") != "" {
		cost--
	}
	if c.query.Get("$expand") != "" {
		cost++
	}
	if top := c.query.Get("$top"); top != "" {
		if n, err := strconv.Atoi(top); err == nil && n < 20 {
			cost--
		}
	}
	if cost < 1 {
		cost = 1
	}
	return cost
}

type limitCheck struct {
	w     *window
	limit float64
	scope string
	info  string
}

// charge accrues the request's usage (also when it ends up throttled, as
// Graph does) and decides whether it is throttled. factor scales every
// limit (0: 1); Graph warns it can throttle "even when the following limits
// are not reached" (throttling-limits, identity and access).
func (t *throttler) charge(c *call, l Limits, factor float64) throttleResult {
	if factor <= 0 {
		factor = 1
	}
	cost := ruCost(c)
	now := c.now
	appT := c.app.clientID + "/" + c.t.id
	ru := l.ResourceUnits
	if ru == 0 {
		switch n := c.t.members.Load(); {
		case n < 50:
			ru = 3500
		case n <= 500:
			ru = 5000
		default:
			ru = 8000
		}
	}
	or := func(v, d int) float64 {
		if v > 0 {
			return float64(v) * factor
		}
		return float64(d) * factor
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var checks []limitCheck
	worst := 0.0 // the highest use/limit ratio of the windows charged
	// charge adds n to the window key (of the given span), checked against lim.
	charge := func(key string, span time.Duration, n, lim float64, scope, info string) {
		w := t.win(key, span)
		worst = math.Max(worst, w.add(now, n)/lim)
		checks = append(checks, limitCheck{w, lim, scope, info})
	}
	charge("ru/"+appT, 10*time.Second, float64(cost), or(ru, 0), "Tenant_Application/ReadWrite/"+appT, "ResourceUnitLimitExceeded")
	if c.route.write {
		charge("wa/"+appT, 150*time.Second, 1, or(l.WritesPerApp, 3000), "Tenant_Application/Write/"+appT, "WriteLimitExceeded")
		charge("wt/"+c.t.id, 5*time.Minute, 1, or(l.WritesPerTenant, 18000), "Tenant/Write/"+appT, "WriteLimitExceeded")
	}
	if c.route.name == "POST /invitations" {
		charge("inv/"+c.t.id, 5*time.Second, 1, or(l.InvitationsPerTenant, 150), "Tenant/Invitation/"+appT, "WriteLimitExceeded")
	}
	// Per application across all tenants: one multi-tenant app (Options.
	// SharedApp) has one client ID in every tenant, so these windows span
	// tenants. The scope names the app and the tenant the request hit.
	appScope := "Application/ReadWrite/" + appT
	charge("glob/"+c.app.clientID, 10*time.Second, 1, or(l.RequestsPerApp, 130000), appScope, "RequestLimitExceeded")
	charge("appru/"+c.app.clientID, 20*time.Second, float64(cost), or(l.AppResourceUnits, 150000), appScope, "ResourceUnitLimitExceeded")
	if c.route.write {
		charge("appw/"+c.app.clientID, 5*time.Minute, 1, or(l.AppWrites, 70000), "Application/Write/"+appT, "WriteLimitExceeded")
	}

	h := http.Header{}
	h.Set("x-ms-resource-unit", strconv.Itoa(cost))
	if worst >= 0.8 {
		h.Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(math.Min(worst, 1.8), 'f', 1, 64))
	}
	for _, ch := range checks {
		if ch.w.usageAt(now) > ch.limit {
			h.Set("Retry-After", strconv.Itoa(ch.w.retryAfter(now, ch.limit)))
			h.Set("x-ms-throttle-scope", ch.scope)
			h.Set("x-ms-throttle-information", ch.info)
			return throttleResult{throttled: true, headers: h}
		}
	}
	return throttleResult{headers: h}
}
