package graphsim

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// benchRequests runs requests in parallel over HTTPS and reports the
// simulator's throughput in requests per second.
func benchRequests(b *testing.B, s *Server, mk func(i int64) *http.Request) {
	client := s.HTTPClient()
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(mk(n.Add(1)))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkListUsersTop100(b *testing.B) {
	s := startSim(b, Options{Users: 2000, Tenants: []string{"contoso"}})
	tok := accessToken(b, s, "contoso")
	benchRequests(b, s, func(int64) *http.Request {
		req, _ := http.NewRequest("GET", s.GraphURL()+"/users?$top=100&$select=id,displayName,mail,userType,accountEnabled", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	})
}

func BenchmarkPatchUser(b *testing.B) {
	s := startSim(b, Options{Users: 2000, Tenants: []string{"contoso"}})
	tok := accessToken(b, s, "contoso")
	us := s.Tenant("contoso").Users()
	benchRequests(b, s, func(i int64) *http.Request {
		body := fmt.Sprintf(`{"jobTitle":"Title %d"}`, i)
		req, _ := http.NewRequest("PATCH", s.GraphURL()+"/users/"+us[int(i)%len(us)].ID, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		return req
	})
}

func BenchmarkDeltaNoChange(b *testing.B) {
	s := startSim(b, Options{Users: 2000, Tenants: []string{"contoso"}})
	tok := accessToken(b, s, "contoso")
	link := ""
	next := s.GraphURL() + "/users/delta?$select=displayName,mail"
	for link == "" {
		_, _, body := raw(b, s, tok, "GET", next, "")
		if l, ok := body["@odata.deltaLink"].(string); ok {
			link = l
		} else {
			next = body["@odata.nextLink"].(string)
		}
	}
	benchRequests(b, s, func(int64) *http.Request {
		req, _ := http.NewRequest("GET", link, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	})
}
