package graphsim

import (
	"math"
	"net/http"
	"time"
)

// Realism holds the switches that make the simulator behave like a busy,
// imperfect Graph. The zero value is the exact profile: everything off.
type Realism struct {
	// Throttling enforces Graph's documented identity limits (see Limits)
	// and answers 429 with Retry-After and the x-ms-throttle-* headers.
	Throttling bool
	// Limits overrides Graph's documented limits; zero fields keep them.
	Limits Limits
	// Latency delays every Graph request by a lognormal draw; zero: none.
	Latency Latency
	// FaultRate is the share of Graph operations answered with a fault
	// (500, 502, 503 sometimes with an empty body, 504, connection reset).
	FaultRate float64
	// LostResponseRate is the share of writes that are applied but whose
	// response is lost (a 504 or a reset connection).
	LostResponseRate float64
	// ReplicationLag is how long a newly created user answers 404 to
	// requests addressing it by ID or UPN.
	ReplicationLag time.Duration

	// IndexLag is how far the search index behind $filter lists and every
	// advanced query (ConsistencyLevel: eventual) trails the directory: a
	// user created, changed or deleted less than IndexLag ago is listed in
	// its previous state (absent when just created, still present when just
	// deleted). GET by ID and delta are not lagged by it. Source: "Advanced
	// query capabilities on Microsoft Entra ID objects" (learn.microsoft.com/
	// graph/aad-advanced-queries): advanced queries read an eventually
	// consistent index.
	IndexLag time.Duration
	// ReplicaWindow is how long after its creation (over Graph) a user can
	// still be missing from the replica a request lands on.
	ReplicaWindow time.Duration
	// ReplicaMissRate is the chance that one request naming a user younger
	// than ReplicaWindow (by ID or UPN, in the path, in a $ref body or in a
	// $batch item) answers 404 Request_ResourceNotFound, drawn anew for each
	// request, so a 404 can follow an earlier success. Sources:
	// msgraph-sdk-go#221 and microsoft-graph-docs#15839.
	ReplicaMissRate float64
	// ThrottleFactor scales every throttling limit, the documented ones and
	// those set in Limits, when Throttling is on (0 means 1): below 1, a
	// client pacing exactly at the documented quota still sees 429s, as
	// "Microsoft Graph service-specific throttling limits" warns it can
	// ("429 ... even when the following limits are not reached").
	ThrottleFactor float64
	// TokenFaultRate is the share of token requests answered 503 (sometimes
	// 500) with an AADSTS temporarily_unavailable body and Retry-After.
	TokenFaultRate float64
}

// Latency is a lognormal distribution given by its median and 99th
// percentile.
type Latency struct {
	Median time.Duration
	P99    time.Duration
}

// RealisticRealism is the preset of ProfileRealistic: Graph's limits, small
// latency, rare faults (deterministic from Seed) and a short replication lag.
func RealisticRealism() Realism {
	return Realism{
		Throttling:       true,
		Latency:          Latency{Median: 15 * time.Millisecond, P99: 120 * time.Millisecond},
		FaultRate:        0.002,
		LostResponseRate: 0.001,
		ReplicationLag:   time.Second,
	}
}

// HostileRealism is the preset of ProfileHostile: everything of the
// realistic profile, turned up to what Graph does on a bad day, yet mild
// enough that a correct client (retrying 404s after its own writes, never
// trusting a list right after a write, honouring Retry-After) converges
// within a few sync cycles.
func HostileRealism() Realism {
	r := RealisticRealism()
	// Faults: 2.5x the realistic rate; still rare enough that the SDK's
	// retry handler (3 retries) nearly never gives up.
	r.FaultRate = 0.005
	r.LostResponseRate = 0.002
	// Replication: a new user 404s for 2 s to everyone, then for 10 s to
	// 30 % of requests; five retries fail together with p = 0.3^5 < 0.3 %.
	r.ReplicationLag = 2 * time.Second
	r.ReplicaWindow = 10 * time.Second
	r.ReplicaMissRate = 0.3
	// Index: "typically seconds"; 5 s is longer than a create-then-look-up
	// round trip, so a client that trusts a filter right after its own
	// write is caught every time, and shorter than a sync cycle.
	r.IndexLag = 5 * time.Second
	// Throttling: 80 % of the documented quotas, the level at which Graph
	// starts sending x-ms-throttle-limit-percentage.
	r.ThrottleFactor = 0.8
	// Tokens: one request in 20 fails; azidentity retries it.
	r.TokenFaultRate = 0.05
	return r
}

// ProfileRealism is the realism preset of a profile; false for an unknown
// profile name.
func ProfileRealism(p Profile) (Realism, bool) {
	switch p {
	case ProfileExact, "":
		return Realism{}, true
	case ProfileRealistic:
		return RealisticRealism(), true
	case ProfileHostile:
		return HostileRealism(), true
	}
	return Realism{}, false
}

// SetRealism replaces the realism switches at run time.
func (s *Server) SetRealism(r Realism) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.realism = r
}

// Realism returns the current realism switches.
func (s *Server) Realism() Realism { return s.currentRealism() }

func (s *Server) currentRealism() Realism {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.realism
}

// sleepLatency waits for one latency draw.
func (s *Server) sleepLatency() {
	s.rmu.Lock()
	l := s.realism.Latency
	if l.Median <= 0 {
		s.rmu.Unlock()
		return
	}
	z := s.rng.NormFloat64()
	s.rmu.Unlock()
	sigma := 0.0
	if l.P99 > l.Median {
		sigma = math.Log(float64(l.P99)/float64(l.Median)) / 2.3263478740408408
	}
	d := time.Duration(float64(l.Median) * math.Exp(sigma*z))
	if d > 20*l.P99 && l.P99 > 0 {
		d = 20 * l.P99
	}
	time.Sleep(d)
}

// faultKind is an injected failure.
type faultKind int

const (
	faultNone faultKind = iota
	fault500
	fault502
	fault503
	fault503Empty
	fault504
	faultReset
	// lost responses: the handler runs, then the answer is replaced.
	faultLost504
	faultLostReset
)

func (f faultKind) before() bool { return f >= fault500 && f <= faultReset }

// drawFault decides, deterministically from the seed sequence, whether an
// operation fails and how.
func (s *Server) drawFault(rz Realism, write, inBatch bool) faultKind {
	if rz.FaultRate <= 0 && (rz.LostResponseRate <= 0 || !write) {
		return faultNone
	}
	s.rmu.Lock()
	p := s.rng.Float64()
	k := s.rng.IntN(6)
	s.rmu.Unlock()
	if p < rz.FaultRate {
		f := []faultKind{fault500, fault502, fault503, fault503Empty, fault504, faultReset}[k]
		if f == faultReset && inBatch {
			f = fault503Empty
		}
		return f
	}
	if write && p < rz.FaultRate+rz.LostResponseRate {
		if k%2 == 0 && !inBatch {
			return faultLostReset
		}
		return faultLost504
	}
	return faultNone
}

func faultResponse(f faultKind, c *call) response {
	switch f {
	case fault500:
		return c.fail(errf(http.StatusInternalServerError, codeInternal, "An internal server error occurred."))
	case fault502:
		return c.fail(errf(http.StatusBadGateway, codeBadGateway, "Bad gateway."))
	case fault503:
		r := c.fail(errf(http.StatusServiceUnavailable, codeServiceUnavail, "Service is temporarily unavailable. Please try again later."))
		r.header.Set("Retry-After", "1")
		return r
	case fault503Empty:
		return response{status: http.StatusServiceUnavailable, header: http.Header{}}
	case fault504, faultLost504:
		return c.fail(errf(http.StatusGatewayTimeout, codeTimeout, "The request timed out."))
	}
	return response{status: http.StatusServiceUnavailable, header: http.Header{}}
}
