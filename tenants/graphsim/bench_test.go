package graphsim

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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

// Scale benchmarks (issue 14): start-up and the queries ctsync makes, on
// tenants of 2,000 and 10,000 users, and 100,000 with
// GRAPHSIM_BENCH_LARGE=1. Each reports wall time and process CPU per
// request (client included: it is the same for every size, so growth with
// the tenant is the simulator's).
//
//	go test ./tenants/graphsim -run '^$' -bench Scale -benchtime 200x
func benchSizes() []int {
	sizes := []int{2000, 10000}
	if os.Getenv("GRAPHSIM_BENCH_LARGE") == "1" {
		sizes = append(sizes, 100000)
	}
	return sizes
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func BenchmarkScaleStart(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				h0 := heapInUse()
				t0, c0 := time.Now(), cpuTime()
				s, err := Start(Options{Users: n, Tenants: []string{"contoso"}})
				if err != nil {
					b.Fatal(err)
				}
				wall, cpu := time.Since(t0), cpuTime()-c0
				h1 := heapInUse()
				b.ReportMetric(wall.Seconds(), "start-s")
				b.ReportMetric(cpu.Seconds(), "start-cpu-s")
				b.ReportMetric(float64(h1-h0)/(1<<20), "heap-MB")
				_ = s.Close()
			}
		})
	}
}

// scaleSim starts a tenant of n users with stamps on every 50th user and
// returns it with a token and the user the queries look for.
func scaleSim(b *testing.B, n int, lag time.Duration) (*Server, string, User) {
	b.Helper()
	opts := Options{Users: n, Tenants: []string{"contoso"}}
	if lag > 0 {
		opts.Realism = &Realism{IndexLag: lag}
	}
	s := startSim(b, opts)
	tn := s.Tenant("contoso")
	us := tn.Users()
	for i := 0; i < len(us); i += 50 {
		if err := tn.UpdateUser(us[i].ID, map[string]any{"extensionAttribute15": fmt.Sprintf("ctsync:v1:%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	s.SettleIndexes()
	if lag > 0 {
		// Keep a lag window's worth of pending writes in the index.
		for i := 1; i < len(us) && i < 500; i += 3 {
			if err := tn.UpdateUser(us[i].ID, map[string]any{"jobTitle": fmt.Sprintf("T%d", i)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	mid, _ := tn.User(us[len(us)/2-len(us)/2%50].ID)
	return s, accessToken(b, s, "contoso"), mid
}

func BenchmarkScaleQueries(b *testing.B) {
	for _, n := range benchSizes() {
		for _, lag := range []time.Duration{0, time.Hour} {
			name := fmt.Sprintf("users=%d", n)
			if lag > 0 {
				name += "/lagged"
			}
			b.Run(name, func(b *testing.B) {
				s, tok, u := scaleSim(b, n, lag)
				sel := "$select=id,displayName,mail,otherMails,userPrincipalName,userType,accountEnabled,creationType,externalUserState,onPremisesExtensionAttributes"
				mail := u.Attrs["mail"].(string)
				upn := u.Attrs["userPrincipalName"].(string)
				stamp := u.Attrs["extensionAttribute15"].(string)
				q := func(f string) string { return "/users?$top=100&" + sel + "&$filter=" + escape(f) }
				queries := []struct {
					name, path string
					advanced   bool
				}{
					{"mail", q("mail eq '" + mail + "'"), false},
					{"findByMail", q("mail eq '" + mail + "' or otherMails/any(x:x eq '" + mail + "')"), false},
					{"upn", q("userPrincipalName eq '" + upn + "'"), false},
					{"stamp", q("onPremisesExtensionAttributes/extensionAttribute15 eq '"+stamp+"'") + "&$count=true", true},
					{"getByID", "/users/" + u.ID + "?" + sel, false},
					{"deltaPage", "/users/delta?$select=displayName,mail,userPrincipalName", false},
				}
				for _, qu := range queries {
					b.Run(qu.name, func(b *testing.B) {
						var hdr []string
						if qu.advanced {
							hdr = []string{"ConsistencyLevel", "eventual"}
						}
						client := s.HTTPClient()
						get := func() []byte {
							req, _ := http.NewRequest("GET", s.GraphURL()+qu.path, nil)
							req.Header.Set("Authorization", "Bearer "+tok)
							if qu.advanced {
								req.Header.Set("ConsistencyLevel", "eventual")
							}
							resp, err := client.Do(req)
							if err != nil {
								b.Fatal(err)
							}
							body, _ := io.ReadAll(resp.Body)
							resp.Body.Close()
							return body
						}
						get()
						if st, _, body := raw(b, s, tok, "GET", qu.path, "", hdr...); st != 200 {
							b.Fatalf("%s: %d %v", qu.path, st, body)
						} else if vs, ok := body["value"].([]any); ok && qu.name != "deltaPage" && len(vs) != 1 {
							b.Fatalf("%s: %d results", qu.path, len(vs))
						}
						c0 := cpuTime()
						b.ResetTimer()
						for i := 0; i < b.N; i++ {
							get()
						}
						b.StopTimer()
						b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(b.N), "cpu-us/req")
					})
				}
			})
		}
	}
}
