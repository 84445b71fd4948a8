package tenants

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Clock is the time source of retries and pacing; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx ends.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exchange is what the transport saw of one HTTP exchange of one SDK call:
// the response status and headers, which the SDK loses for some errors.
type exchange struct {
	mu     sync.Mutex
	status int
	header http.Header
	// requestID is sent as client-request-id on every try of one call, so
	// that retries of one logical request can be correlated in logs.
	requestID string
}

func (e *exchange) record(resp *http.Response) {
	e.mu.Lock()
	e.status, e.header = resp.StatusCode, resp.Header.Clone()
	e.mu.Unlock()
}

type exchangeKey struct{}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

// callOpts tunes the retries of one call.
type callOpts struct {
	// notFoundUntil: a 404 before this time is retried (the object was
	// created a moment ago and may not have replicated yet).
	notFoundUntil time.Time
	// goneIsDone: a 404 after a try that may have been applied (no
	// response, 5xx) means the earlier try did it (deletes).
	goneIsDone bool
	// noReplay: a try that may have been applied (no response, 5xx) is
	// not sent again: a create that is not idempotent (POST /groups) would
	// make a second object. 429s, which were not applied, are retried.
	noReplay bool
}

// call runs fn, one Graph request through the SDK, until it succeeds, fails
// for good, runs out of attempts, or the next wait would pass the context's
// deadline. It returns nil or a *GraphError.
//
// Retry policy: 429 and 5xx and network failures are retried; the wait is
// the server's Retry-After when given (the pacer also holds back every
// other request to the tenant until then), otherwise a capped exponential
// backoff with full jitter. The SDK's own retry handler is not in the
// middleware chain (see client.go), so this is the only retry loop.
func (c *Client) call(ctx context.Context, op string, o callOpts, fn func(ctx context.Context) error) error {
	reqID := newUUID()
	var lastErr *GraphError
	maybeApplied := false
	for attempt := 1; ; attempt++ {
		ex := &exchange{requestID: reqID}
		err := fn(withExchange(ctx, ex))
		if err == nil {
			return nil
		}
		ge := asGraphError(err, ex, c.cfg.Name, op)
		if ge.NotFound() && o.goneIsDone && maybeApplied {
			return nil
		}
		// A request refused for want of a token never left: only other
		// transient failures may have been applied.
		maybeApplied = maybeApplied || (ge.Transient() && !ge.Throttled() && !isCredentialError(ge.Err))
		lastErr = ge
		if o.noReplay && maybeApplied {
			return ge
		}
		if ctx.Err() != nil {
			if ge.Err == nil {
				ge.Err = ctx.Err()
			}
			return ge
		}
		delay, ok := c.retryDelay(ge, attempt, o)
		if !ok {
			return lastErr
		}
		if dl, has := ctx.Deadline(); has && c.clock.Now().Add(delay).After(dl) {
			lastErr.OutOfTime = true
			return lastErr
		}
		if err := c.clock.Sleep(ctx, delay); err != nil {
			return lastErr
		}
		// Counted once the wait is over: a retry cut short by the
		// context never went out.
		c.obs.Retry(c.cfg.Name, op)
	}
}

// retryDelay says whether and after how long a failed try is retried.
func (c *Client) retryDelay(ge *GraphError, attempt int, o callOpts) (time.Duration, bool) {
	p := c.cfg.Retry
	switch {
	case ge.NotFound() && c.clock.Now().Before(o.notFoundUntil):
		// replication after a create: retried until the window closes,
		// not bounded by MaxAttempts
		return c.backoff(attempt), true
	case !ge.Transient():
		return 0, false
	case attempt >= p.MaxAttempts:
		return 0, false
	case ge.RetryAfter > 0:
		return min(ge.RetryAfter, p.MaxRetryAfter), true
	default:
		return c.backoff(attempt), true
	}
}

// backoff is BaseDelay*2^(attempt-1), capped at MaxDelay, with jitter
// drawn from [d/2, d) so that concurrent workers spread out.
func (c *Client) backoff(attempt int) time.Duration {
	p := c.cfg.Retry
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	return d/2 + time.Duration(c.jitter()*float64(d/2))
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[x>>4], hexd[x&15])
	}
	return string(out)
}
