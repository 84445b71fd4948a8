package graphsim

import (
	"encoding/json"
	"net/http"
	"sync"
)

// StatsPath is where the simulator serves its counters to other
// processes: GET https://HOST:PORT/_sim/stats answers Stats as JSON (the
// same as Server.Stats), so a benchmark that runs the simulator as its own
// process (`ctsync sim`, to measure that process's memory apart from
// ctsync's) can still read how many requests, writes and 429s it served.
//
// It needs no token: it is outside Graph's /v1.0 and the identity routes,
// served only on the simulator's own listener (loopback by default), reads
// counters and nothing of a tenant's directory or credentials, and changes
// nothing. Requests to it are not counted. Any method but GET (or HEAD) is
// answered 405.
const StatsPath = "/_sim/stats"

// Stats counts the Graph requests the simulator served.
//
// A request is one Graph operation: a top-level call, or one item of a
// $batch (the $batch envelope itself is listed under Routes as
// "POST /$batch" but is neither a read nor a write). Writes are POST,
// PATCH, PUT and DELETE operations; token requests are counted apart.
// Requests answered 403, 429 or with an injected fault still count.
type Stats struct {
	// Tenants holds the counters per tenant name.
	Tenants map[string]TenantStats `json:"tenants"`
	// Unauthorized counts Graph requests rejected with 401 (no tenant is
	// known for them).
	Unauthorized int64 `json:"unauthorized"`
}

// TenantStats are the counters of one tenant.
type TenantStats struct {
	Requests    int64 `json:"requests"`
	Reads       int64 `json:"reads"`
	Writes      int64 `json:"writes"`
	Invitations int64 `json:"invitations"`
	Throttled   int64 `json:"throttled"` // answered 429
	Faults      int64 `json:"faults"`    // injected 5xx, resets, lost responses
	Tokens      int64 `json:"tokens"`    // token endpoint calls
	// TokenFaults counts token requests answered with an injected 5xx
	// (Realism.TokenFaultRate).
	TokenFaults int64 `json:"token_faults"`
	// ReplicaMisses counts requests answered 404 because they named an
	// object their replica did not hold yet (Realism.ReplicaMissRate).
	ReplicaMisses int64 `json:"replica_misses"`
	// Routes counts by "METHOD /route", e.g. "GET /users/delta",
	// "PATCH /users/{id}", "POST /$batch".
	Routes map[string]int64 `json:"routes"`
}

// Tenant returns the counters of one tenant (zero when it saw nothing).
func (s Stats) Tenant(name string) TenantStats {
	ts := s.Tenants[name]
	if ts.Routes == nil {
		ts.Routes = map[string]int64{}
	}
	return ts
}

// Total sums the counters of every tenant.
func (s Stats) Total() TenantStats {
	tot := TenantStats{Routes: map[string]int64{}}
	for _, ts := range s.Tenants {
		tot.Requests += ts.Requests
		tot.Reads += ts.Reads
		tot.Writes += ts.Writes
		tot.Invitations += ts.Invitations
		tot.Throttled += ts.Throttled
		tot.Faults += ts.Faults
		tot.Tokens += ts.Tokens
		tot.TokenFaults += ts.TokenFaults
		tot.ReplicaMisses += ts.ReplicaMisses
		for k, v := range ts.Routes {
			tot.Routes[k] += v
		}
	}
	return tot
}

type statsRec struct {
	mu    sync.Mutex
	t     map[string]*TenantStats
	unath int64
}

func (r *statsRec) init() { r.t = map[string]*TenantStats{} }

func (r *statsRec) get(name string) *TenantStats {
	ts := r.t[name]
	if ts == nil {
		ts = &TenantStats{Routes: map[string]int64{}}
		r.t[name] = ts
	}
	return ts
}

func (r *statsRec) count(tenant, route string, write, invitation bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.get(tenant)
	ts.Requests++
	if write {
		ts.Writes++
	} else {
		ts.Reads++
	}
	if invitation {
		ts.Invitations++
	}
	ts.Routes[route]++
}

func (r *statsRec) route(tenant, route string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(tenant).Routes[route]++
}

func (r *statsRec) throttled(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(tenant).Throttled++
}

func (r *statsRec) fault(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(tenant).Faults++
}

func (r *statsRec) token(tenant string) {
	if tenant == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(tenant).Tokens++
}

func (r *statsRec) tokenFault(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(tenant).TokenFaults++
}

func (r *statsRec) replicaMiss(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(tenant).ReplicaMisses++
}

func (r *statsRec) unauthorized() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unath++
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	out := Stats{Tenants: map[string]TenantStats{}, Unauthorized: s.stats.unath}
	for name, ts := range s.stats.t {
		c := *ts
		c.Routes = make(map[string]int64, len(ts.Routes))
		for k, v := range ts.Routes {
			c.Routes[k] = v
		}
		out.Tenants[name] = c
	}
	return out
}

// ResetStats zeroes every counter.
func (s *Server) ResetStats() {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	s.stats.t = map[string]*TenantStats{}
	s.stats.unath = 0
}

// serveStats answers StatsPath.
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := json.Marshal(s.Stats())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}
