package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/testredis"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestStatusShowsLeaseHolder: with a replica (another store on the same
// Redis) holding one pair, `ctsync status` names it and its expiry on that
// pair's line and shows the other pair free.
func TestStatusShowsLeaseHolder(t *testing.T) {
	sim, err := graphsim.Start(graphsim.Options{Tenants: []string{"contoso", "fabrikam"}, Users: 5, Seed: 1, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	rds := testredis.Start(t, testredis.Options{})
	cfgPath := filepath.Join(t.TempDir(), "ctsync.toml")
	if err := os.WriteFile(cfgPath, []byte(app.SimConfig(sim, config.Store{URL: rds.URL()}, "")), 0o600); err != nil {
		t.Fatal(err)
	}

	replica, err := guestmap.Open(context.Background(), rds.URL(), guestmap.Options{Holder: "replica-7:4242"})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	lease, err := replica.Acquire(context.Background(), "contoso-to-fabrikam", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background())

	code, out, errs := run(t, "status", "-c", cfgPath)
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, errs)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = l
		}
	}
	if !strings.Contains(lines["PAIR"], "LEASE") {
		t.Errorf("no LEASE column in the header: %q", lines["PAIR"])
	}
	if l := lines["contoso-to-fabrikam"]; !strings.Contains(l, "replica-7:4242 until ") {
		t.Errorf("held pair's line does not name the holder and its expiry:\n%s", out)
	}
	if l := lines["fabrikam-to-contoso"]; !strings.Contains(l, "free") || strings.Contains(l, "replica-7") {
		t.Errorf("free pair's line does not say free:\n%s", out)
	}
}
