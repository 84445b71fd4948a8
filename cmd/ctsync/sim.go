package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

func init() {
	register(&command{
		name:    "sim",
		summary: "run the Entra + Microsoft Graph simulator until interrupted",
		usage:   "[--listen ADDR] [--tenants N] [--users N] [--seed N] [--profile exact|realistic] [--state-dir DIR] [--write-config PATH] [--write-info PATH]",
		run:     runSim,
	})
}

func runSim(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
	listen := fs.String("listen", "127.0.0.1:0", "`address` to listen on (port 0 picks a free one)")
	tenants := fs.Int("tenants", 3, "number of simulated tenants")
	users := fs.Int("users", 200, "seeded users per tenant")
	seed := fs.Int64("seed", 1, "seed of the deterministic directory generator")
	profile := fs.String("profile", "exact", "exact (no faults, latency or throttling) or realistic (Graph's limits and latency)")
	stateDir := fs.String("state-dir", "", "`directory` for the CA, secrets and certificates (a temporary one when empty)")
	writeConfig := fs.String("write-config", "", "write a ready ctsync config for a full mesh of the simulated tenants to `path`")
	writeInfo := fs.String("write-info", "", "write the simulator's endpoints, CA and credentials as JSON to `path`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *profile != string(graphsim.ProfileExact) && *profile != string(graphsim.ProfileRealistic) {
		e.errorf("sim: --profile %q: want exact or realistic", *profile)
		return exitUsage
	}
	if *tenants < 1 || *tenants > len(simTenantNames) {
		e.errorf("sim: --tenants %d: want 1 to %d", *tenants, len(simTenantNames))
		return exitUsage
	}
	if *users < 0 {
		e.errorf("sim: --users %d: want 0 or more", *users)
		return exitUsage
	}
	if *stateDir == "" {
		dir, err := os.MkdirTemp("", "ctsync-sim-")
		if err != nil {
			e.errorf("sim: %v", err)
			return exitFailures
		}
		defer os.RemoveAll(dir)
		*stateDir = dir
	}
	srv, err := graphsim.Start(graphsim.Options{
		Addr:     *listen,
		Tenants:  simTenantNames[:*tenants],
		Users:    *users,
		Seed:     *seed,
		Profile:  graphsim.Profile(*profile),
		StateDir: *stateDir,
	})
	if err != nil {
		e.errorf("sim: %v", err)
		return exitFailures
	}
	defer srv.Close()
	info := srv.Info()
	if *writeInfo != "" {
		data, _ := json.MarshalIndent(info, "", "  ")
		if err := os.WriteFile(*writeInfo, append(data, '\n'), 0o600); err != nil {
			e.errorf("sim: --write-info: %v", err)
			return exitFailures
		}
	}
	if *writeConfig != "" {
		if err := writeSimConfig(*writeConfig, srv, *stateDir); err != nil {
			e.errorf("sim: --write-config: %v", err)
			return exitFailures
		}
	}
	fmt.Fprintf(e.stdout, "graphsim ready: authority %s, graph %s, CA %s (%d tenants, %d users each, profile %s)\n",
		info.Authority, info.Graph, info.CAFile, len(info.Tenants), *users, *profile)
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "graphsim stopping")
	return exitOK
}

// simTenantNames are the simulator's tenants, in order.
var simTenantNames = []string{"contoso", "fabrikam", "northwind", "tailspin", "woodgrove", "adatum"}

// writeSimConfig writes a ctsync configuration for a full mesh of the
// simulated tenants, with the embedded store in stateDir.
func writeSimConfig(path string, srv *graphsim.Server, stateDir string) error {
	toml := app.SimConfig(srv, config.Store{Path: filepath.Join(stateDir, "ctsync.db")}, "")
	return os.WriteFile(path, []byte(toml), 0o600)
}
