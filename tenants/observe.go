package tenants

import (
	"net/url"
	"strings"
	"time"
)

// Observer hears what a Client does on the wire, for metrics: package
// tenants is the only one that sees Graph's requests, so it reports them
// rather than every caller guessing. Methods are called from the requests'
// own goroutines: an Observer must be safe for concurrent use and quick
// (it runs between the pacer and the network). tenant is Config.Name.
type Observer interface {
	// Request is one HTTP request to Graph that was sent: method, route
	// (the path under the Graph base URL with every object ID, UPN or
	// other value templated as {id}, so the set of routes stays small),
	// status (0 when no response came: a network failure or a cancelled
	// context) and d, the time from sending to the response's headers,
	// without the pacer's wait.
	Request(tenant, method, route string, status int, d time.Duration)
	// Retry is a failed call (op, e.g. "GET /users/{id}") being tried
	// again after its backoff or Retry-After.
	Retry(tenant, op string)
	// Throttled is a 429 response.
	Throttled(tenant string)
	// PacerWait is the time one request waited for the tenant's (and the
	// app's) pacer before it was sent; 0 when it left at once.
	PacerWait(tenant string, d time.Duration)
}

// nopObserver is the Observer of a Client given none.
type nopObserver struct{}

func (nopObserver) Request(string, string, string, int, time.Duration) {}
func (nopObserver) Retry(string, string)                               {}
func (nopObserver) Throttled(string)                                   {}
func (nopObserver) PacerWait(string, time.Duration)                    {}

// maxRouteSegments bounds a route's length: a path deeper than any ctsync
// calls is cut, so that no path can mint new label values without end.
const maxRouteSegments = 6

// graphRoute templates path (a request's URL path) for a metric label:
// the Graph base URL's path (basePath, e.g. "/v1.0") is cut off, and every
// segment that is not a plain Graph name (letters, '.', '$' and '()', as in
// "users", "delta()", "$ref", "microsoft.graph.user") becomes {id}. Object
// IDs (GUIDs), UPNs and alternate keys all hold a digit, '@', '-' or a
// quote, so none ever reaches a label.
func graphRoute(basePath, path string) string {
	p := strings.Trim(strings.TrimPrefix(path, strings.TrimRight(basePath, "/")), "/")
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	if len(segs) > maxRouteSegments {
		segs = append(segs[:maxRouteSegments], "...")
	}
	for i, s := range segs {
		if s != "..." && !graphName(s) {
			segs[i] = "{id}"
		}
	}
	return "/" + strings.Join(segs, "/")
}

// graphName reports whether s is a plain Graph path name rather than a
// value: a letter or '$' first, then letters, '.', '$' and parentheses.
func graphName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '$':
		case i > 0 && (r == '.' || r == '(' || r == ')'):
		default:
			return false
		}
	}
	return true
}

// basePathOf returns the path of a Graph base URL ("/v1.0"), "" when it
// has none or does not parse.
func basePathOf(graphBaseURL string) string {
	u, err := url.Parse(graphBaseURL)
	if err != nil {
		return ""
	}
	return u.Path
}
