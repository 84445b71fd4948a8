package tenants

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// youngServer answers the invitation of g1, and 404 to the requests whose
// number is in miss (counted over GET, PATCH and PUT), success otherwise.
func youngServer(miss map[int32]bool, n *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/invitations") {
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"id":"inv","invitedUser":{"id":"g1"},"status":"PendingAcceptance"}`))
			return
		}
		if miss[n.Add(1)] {
			w.WriteHeader(404)
			_, _ = w.Write([]byte(odataBody("Request_ResourceNotFound")))
			return
		}
		if r.Method == "GET" {
			_, _ = w.Write([]byte(`{"id":"g1","mail":"x@y.z"}`))
			return
		}
		w.WriteHeader(204)
	}
}

// TestYoungAfterSuccess: a 404 on a young guest is retried even after an
// earlier request for it succeeded (another replica answered).
func TestYoungAfterSuccess(t *testing.T) {
	var n atomic.Int32
	c, _ := stubClient(t, youngServer(map[int32]bool{2: true, 3: true, 5: true}, &n), nil)
	ctx := context.Background()
	tg := c.Target()
	id, err := tg.Invite(ctx, directory.Invitation{Email: "x@y.z"})
	must(t, err)
	must(t, tg.Update(ctx, id, map[string]any{"jobTitle": "a"})) // 1: ok
	if _, err := tg.Get(ctx, id, nil); err != nil {              // 2, 3: 404; 4: ok
		t.Fatalf("get after an earlier success: %v", err)
	}
	must(t, tg.Update(ctx, id, map[string]any{"jobTitle": "b"})) // 5: 404; 6: ok
	if n.Load() != 6 {
		t.Fatalf("%d requests, want 6", n.Load())
	}
}

// TestYoungWindowCloses: once Retry.Replication has passed, a 404 is an
// answer; and a successful delete ends the young window at once.
func TestYoungWindowCloses(t *testing.T) {
	var n atomic.Int32
	c, clk := stubClient(t, youngServer(map[int32]bool{1: true, 2: true}, &n), nil)
	ctx := context.Background()
	id, err := c.Target().Invite(ctx, directory.Invitation{Email: "x@y.z"})
	must(t, err)
	_ = clk.Sleep(ctx, c.Config().Retry.Replication)
	if _, err := c.Target().Get(ctx, id, nil); !IsNotFound(err) || n.Load() != 1 {
		t.Fatalf("old object's 404: %v after %d requests", err, n.Load())
	}

	n.Store(0)
	c, _ = stubClient(t, youngServer(map[int32]bool{2: true}, &n), nil)
	id, err = c.Target().Invite(ctx, directory.Invitation{Email: "x@y.z"})
	must(t, err)
	must(t, c.Target().SoftDelete(ctx, id)) // 1: 204
	if _, err := c.Target().Get(ctx, id, nil); !IsNotFound(err) || n.Load() != 2 {
		t.Fatalf("404 after a delete: %v after %d requests", err, n.Load())
	}
}

// TestYoungManagerRef: PUT manager/$ref retries a 404 while the referenced
// manager is young, though the user is not; not when neither is.
func TestYoungManagerRef(t *testing.T) {
	ctx := context.Background()
	var n atomic.Int32
	c, _ := stubClient(t, youngServer(map[int32]bool{1: true, 2: true}, &n), nil)
	tg := c.Target()
	if err := tg.Update(ctx, "old-user", map[string]any{"manager": "old-boss"}); !IsNotFound(err) || n.Load() != 1 {
		t.Fatalf("neither young: %v after %d requests", err, n.Load())
	}

	n.Store(0)
	c, _ = stubClient(t, youngServer(map[int32]bool{1: true, 2: true}, &n), nil)
	tg = c.Target()
	boss, err := tg.Invite(ctx, directory.Invitation{Email: "boss@y.z"})
	must(t, err)
	if err := tg.Update(ctx, "old-user", map[string]any{"manager": boss}); err != nil || n.Load() != 3 {
		t.Fatalf("young manager: %v after %d requests", err, n.Load())
	}

	// Young: the caller knows from its own store that the object is new
	n.Store(0)
	c, clk := stubClient(t, youngServer(map[int32]bool{1: true, 2: true}, &n), nil)
	tg = c.Target()
	tg.Young("stale", clk.Now().Add(-time.Hour)) // too old: ignored
	tg.Young("fresh", clk.Now().Add(-time.Second))
	if err := tg.Update(ctx, "fresh", map[string]any{"manager": "stale"}); err != nil || n.Load() != 3 {
		t.Fatalf("caller-young user: %v after %d requests", err, n.Load())
	}
	n.Store(0)
	if err := tg.Update(ctx, "other", map[string]any{"manager": "stale"}); !IsNotFound(err) || n.Load() != 1 {
		t.Fatalf("stale Young retried: %v after %d requests", err, n.Load())
	}
}

// TestSimReplicaMisses: against replicas that miss a young guest half the
// time, whatever succeeded before, a sequence of reads and writes of new
// guests (and a new guest as manager) all succeed.
func TestSimReplicaMisses(t *testing.T) {
	ctx := context.Background()
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"}, Seed: 11,
		Realism: &graphsim.Realism{ReplicaWindow: 20 * time.Second, ReplicaMissRate: 0.5}})
	c := simClient(t, s, "fabrikam", func(c *Config, _ *Options) {
		c.Retry.BaseDelay, c.Retry.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	tg := c.Target()
	boss, err := tg.Invite(ctx, directory.Invitation{Email: "boss@contoso.com"})
	must(t, err)
	for i := range 3 {
		id, err := tg.Invite(ctx, directory.Invitation{Email: "g" + string(rune('a'+i)) + "@contoso.com"})
		must(t, err)
		for j := range 4 {
			must(t, tg.Update(ctx, id, map[string]any{"jobTitle": "t" + string(rune('0'+j))}))
			_, err := tg.Get(ctx, id, []string{"jobTitle"})
			must(t, err)
		}
		must(t, tg.Update(ctx, id, map[string]any{"manager": boss}))
	}
	st := s.Stats().Tenant("fabrikam")
	t.Logf("%d requests, routes %v", st.Requests, st.Routes)
}

// TestHardDeleteAfterSoftDelete: the purge right after this call's soft
// delete retries a 404 (deleted items not replicated yet); a user already
// gone from both answers 404 at once.
func TestHardDeleteAfterSoftDelete(t *testing.T) {
	var purges atomic.Int32
	c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/deletedItems/") {
			if purges.Add(1) <= 2 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(404)
				_, _ = w.Write([]byte(odataBody("Request_ResourceNotFound")))
				return
			}
		}
		w.WriteHeader(204)
	}, nil)
	must(t, c.Target().HardDelete(context.Background(), "u1"))
	if purges.Load() != 3 {
		t.Fatalf("%d purge requests, want 3", purges.Load())
	}

	var n atomic.Int32
	c, _ = stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(404)
		_, _ = w.Write([]byte(odataBody("Request_ResourceNotFound")))
	}, nil)
	if err := c.Target().HardDelete(context.Background(), "gone"); !IsNotFound(err) || n.Load() != 2 {
		t.Fatalf("purged user: %v after %d requests", err, n.Load())
	}
}
