package graphsim

import (
	"encoding/json"
	"net/http"
	"testing"
)

// GET /_sim/stats answers, without a token, the counters Server.Stats
// returns, and is not itself counted; it takes no writes.
func TestStatsEndpoint(t *testing.T) {
	s := startSim(t, Options{Tenants: []string{"contoso"}, Users: 3})
	tok := accessToken(t, s, "contoso")
	if st, _, _ := raw(t, s, tok, "GET", "/users", ""); st != http.StatusOK {
		t.Fatalf("GET /users: %d", st)
	}
	get := func(method string) (*http.Response, Stats) {
		req, err := http.NewRequest(method, s.URL()+StatsPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got Stats
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
		}
		return resp, got
	}
	resp, got := get("GET")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %q", StatsPath, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := s.Stats().Tenant("contoso")
	c := got.Tenant("contoso")
	if c.Reads != 1 || c.Reads != want.Reads || c.Tokens != want.Tokens || c.Routes["GET /users"] != 1 {
		t.Errorf("served %+v, want %+v", c, want)
	}
	if _, again := get("GET"); again.Tenant("contoso").Requests != c.Requests {
		t.Errorf("reading the stats counted a request: %d then %d", c.Requests, again.Tenant("contoso").Requests)
	}
	if resp, _ := get("POST"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d, want 405", StatsPath, resp.StatusCode)
	}
}
