package e2e

import (
	"context"
	"github.com/ctsync/ctsync/internal/directory"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/testredis"
	"github.com/ctsync/ctsync/sync/worker"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

const pairName = "contoso-to-fabrikam"

// harness is one simulated pair contoso -> fabrikam with a private Redis.
type harness struct {
	t       *testing.T
	ctx     context.Context
	sim     *graphsim.Server
	redis   *testredis.Server
	cfgPath string
	app     *app.App
	src     *graphsim.Tenant
	dst     *graphsim.Tenant
	policy  string // the pairs' policy TOML
}

type setup struct {
	profile graphsim.Profile
	users   int    // seeded users per tenant
	policy  string // each pair's policy TOML (app.DefaultSimPair when empty)
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	if s.profile == "" {
		s.profile = graphsim.ProfileExact
	}
	sim, err := graphsim.Start(graphsim.Options{Tenants: []string{"contoso", "fabrikam"}, Users: s.users, Seed: 7, Profile: s.profile, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	h := &harness{t: t, ctx: context.Background(), sim: sim, redis: testredis.Start(t, testredis.Options{}),
		src: sim.Tenant("contoso"), dst: sim.Tenant("fabrikam")}
	h.cfgPath = filepath.Join(t.TempDir(), "ctsync.toml")
	h.policy = s.policy
	toml := app.SimConfig(sim, config.Store{URL: h.redis.URL()}, s.policy)
	if err := os.WriteFile(h.cfgPath, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	h.app = h.wire()
	t.Cleanup(func() { h.app.Close() })
	return h
}

// setPolicy rewrites the configuration with another pair policy and
// rewires (the store keeps its state, as a restarted ctsync would).
func (h *harness) setPolicy(policy string) {
	h.t.Helper()
	h.policy = policy
	toml := app.SimConfig(h.sim, config.Store{URL: h.redis.URL()}, policy)
	if err := os.WriteFile(h.cfgPath, []byte(toml), 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.app.Close()
	h.app = h.wire()
}

// wire builds a fresh App on the harness's configuration.
func (h *harness) wire() *app.App {
	h.t.Helper()
	cfg, err := config.Load(h.cfgPath)
	if err != nil {
		h.t.Fatal(err)
	}
	a, err := app.Wire(h.ctx, cfg, app.Options{OnlyPair: pairName, Log: quietLog()})
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// once runs one cycle of the pair and fails the test on a cycle error.
func (h *harness) once() worker.Report {
	h.t.Helper()
	r := h.app.Runner().Once(h.ctx)[0]
	if r.Err != nil {
		h.t.Fatalf("cycle: %v", r.Err)
	}
	return r
}

// converge runs cycles until one changes nothing and parks nobody (faults
// and throttling may need a few), and returns the reports.
func (h *harness) converge() []worker.Report {
	h.t.Helper()
	var reps []worker.Report
	for i := 0; i < 8; i++ {
		r := h.once()
		reps = append(reps, r)
		if changes(r) == 0 && r.Failures == 0 {
			return reps
		}
		if r.Failures > 0 {
			h.retryParkedNow()
		}
	}
	h.t.Fatalf("no convergence after 8 cycles: %+v", reps)
	return nil
}

// retryParkedNow makes parked users due at once (the backoff is minutes).
func (h *harness) retryParkedNow() {
	h.t.Helper()
	lease, err := h.app.Store.Acquire(h.ctx, pairName, time.Minute)
	if err != nil {
		h.t.Fatal(err)
	}
	defer lease.Release(h.ctx)
	var due []guestmap.Entry
	err = h.app.Store.Scan(h.ctx, pairName, func(es []guestmap.Entry) error {
		for _, e := range es {
			if e.State == guestmap.StateParked {
				e.NextRetry = time.Time{}
				due = append(due, e)
			}
		}
		return nil
	})
	if err == nil && len(due) > 0 {
		err = h.app.Store.Apply(h.ctx, lease, guestmap.Batch{Put: due})
	}
	if err != nil {
		h.t.Fatal(err)
	}
}

// changes counts the writes a report says it made.
func changes(r worker.Report) int {
	n := 0
	for k, v := range r.Counts {
		if k != "unchanged" && k != "skip" {
			n += v
		}
	}
	return n
}

// addMember creates an internal member of the source tenant.
func (h *harness) addMember(t *graphsim.Tenant, attrs map[string]any) string {
	h.t.Helper()
	name := attrs["displayName"].(string)
	nick := strings.ToLower(strings.NewReplacer(" ", ".", "'", "").Replace(name))
	if _, ok := attrs["mail"]; !ok {
		attrs["mail"] = nick + "@" + t.Domain()
	}
	if _, ok := attrs["userPrincipalName"]; !ok {
		attrs["userPrincipalName"] = nick + "@" + t.Domain()
	}
	id, err := t.AddUser(attrs)
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// guest returns the target user stamped for a source user.
func (h *harness) guest(sourceID string) (graphsim.User, bool) {
	stamp := directory.Stamp(h.src.ID(), sourceID)
	for _, u := range h.dst.Users() {
		if u.Attrs["extensionAttribute15"] == stamp {
			return u, true
		}
	}
	for _, u := range h.dst.DeletedUsers() {
		if u.Attrs["extensionAttribute15"] == stamp {
			return u, true
		}
	}
	return graphsim.User{}, false
}

// stamped counts the target users carrying a source user's stamp.
func (h *harness) stamped(sourceID string) int {
	stamp := directory.Stamp(h.src.ID(), sourceID)
	n := 0
	for _, u := range append(h.dst.Users(), h.dst.DeletedUsers()...) {
		if u.Attrs["extensionAttribute15"] == stamp {
			n++
		}
	}
	return n
}

// mustGuest is guest or fail.
func (h *harness) mustGuest(sourceID string) graphsim.User {
	h.t.Helper()
	g, ok := h.guest(sourceID)
	if !ok {
		h.t.Fatalf("no guest stamped for source user %s", sourceID)
	}
	return g
}

// writes counts Graph writes into the target tenant so far.
func (h *harness) writes() int64 { return h.sim.Stats().Tenants["fabrikam"].Writes }
