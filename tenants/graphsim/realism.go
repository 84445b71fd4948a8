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
