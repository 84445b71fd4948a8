package tenants

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestSimAppWidePacing: one app registration serving two tenants of the
// realistic simulator, whose app-wide write budget (lowered to 120 per
// 5 min, and the same told to ctsync) is far below the two tenants'
// budgets. Writers in both tenants sharing one Pacers registry stay under
// it: no 429, and the app's writes come close to its budget. Time is a
// scaled clock shared by the simulator and the clients.
func TestSimAppWidePacing(t *testing.T) {
	clock := newScaledClock(100) // 5 min pass in 3 s
	rz := graphsim.RealisticRealism()
	rz.FaultRate, rz.LostResponseRate = 0, 0
	rz.Limits.AppWrites = 120
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso", "fabrikam"}, Profile: graphsim.ProfileRealistic,
		Realism: &rz, Now: clock.Now, TokenLifetime: 24 * time.Hour, SharedApp: true})
	pacers := &Pacers{}
	var clients []*Client
	var ids [][]string
	for _, name := range []string{"contoso", "fabrikam"} {
		ids = append(ids, seedUsers(t, s.Tenant(name), 10))
		c := simClient(t, s, name, func(c *Config, o *Options) {
			c.Limits.AppWrites, c.Limits.AppWriteWindow = 120, 5*time.Minute
			o.Clock, o.Pacers = clock, pacers
		})
		if _, err := c.Target().Get(context.Background(), ids[len(ids)-1][0], nil); err != nil { // sign in
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if clients[0].Config().ClientID != clients[1].Config().ClientID {
		t.Fatalf("the simulator's tenants have different apps")
	}
	s.ResetStats()
	start := clock.Now()
	deadline := start.Add(2 * 5 * time.Minute)
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		c, us := clients[w%2], ids[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; clock.Now().Before(deadline); i++ {
				err := c.Target().Update(context.Background(), us[(w+i)%len(us)], map[string]any{"jobTitle": fmt.Sprint("v", i)})
				if err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	var throttled int64
	for _, name := range []string{"contoso", "fabrikam"} {
		throttled += s.Stats().Tenant(name).Throttled
	}
	elapsed := clock.Now().Sub(start)
	quota := 120 * elapsed.Seconds() / (5 * time.Minute).Seconds()
	t.Logf("%d writes in %v (app quota for that time %.0f), %d failed, %d answered 429", ok.Load(), elapsed, quota, failed.Load(), throttled)
	if throttled != 0 || failed.Load() != 0 {
		t.Fatalf("%d answered 429, %d writes failed", throttled, failed.Load())
	}
	if frac := float64(ok.Load()) / quota; frac < 0.8 || frac > 1.05 {
		t.Errorf("the app wrote %.2f of its budget", frac)
	}
}
