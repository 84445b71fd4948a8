package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/pflag"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

func init() {
	register(&command{
		name:    "sim",
		summary: "run the Entra + Microsoft Graph simulator until interrupted",
		usage: "[--listen ADDR] [--tenants N] [--users N] [--seed N] [--profile exact|realistic|hostile] " +
			"[--index-lag D] [--replica-window D] [--replica-miss-rate P] [--replication-lag D] [--throttle-factor F] " +
			"[--token-fault-rate P] [--fault-rate P] [--shared-app] [--state-dir DIR] [--write-config PATH] [--write-info PATH]",
		example: `  # A simulator with a ready configuration for ctsync and its endpoints and credentials as JSON
  ctsync sim --state-dir /tmp/sim --write-config /tmp/sim/ctsync.toml --write-info /tmp/sim/info.json

  # Graph's limits and latency, plus a lagging index, replica misses and token failures
  ctsync sim --profile hostile --listen 127.0.0.1:8443 --write-config /tmp/sim/ctsync.toml

  # Five tenants of 1,000 users, throttled at half Graph's documented limits
  ctsync sim --tenants 5 --users 1000 --throttle-factor 0.5 --write-config /tmp/sim/ctsync.toml`,
		flags: runSim,
	})
}

func runSim(fs *pflag.FlagSet) runFunc {
	listen := fs.String("listen", "127.0.0.1:0", "`address` to listen on (port 0 picks a free one)")
	tenants := fs.Int("tenants", 3, "number of simulated tenants")
	users := fs.Int("users", 200, "seeded users per tenant")
	seed := fs.Int64("seed", 1, "seed of the deterministic directory generator")
	knobs := addSimKnobs(fs)
	stateDir := fs.String("state-dir", "", "`directory` for the CA, secrets and certificates (a temporary one when empty)")
	writeConfig := fs.String("write-config", "", "write a ready ctsync config for a full mesh of the simulated tenants to `path`")
	writeInfo := fs.String("write-info", "", "write the simulator's endpoints, CA and credentials as JSON to `path`")
	return func(ctx context.Context, e *env, args []string) int {
		realism, err := knobs.realism(fs)
		if err != nil {
			e.errorf("sim: %v", err)
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
		simGC(*tenants * *users)
		srv, err := graphsim.Start(graphsim.Options{
			Addr:      *listen,
			Tenants:   simTenantNames[:*tenants],
			Users:     *users,
			Seed:      *seed,
			Profile:   graphsim.Profile(*knobs.profile),
			Realism:   &realism,
			SharedApp: *knobs.sharedApp,
			StateDir:  *stateDir,
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
			info.Authority, info.Graph, info.CAFile, len(info.Tenants), *users, *knobs.profile)
		<-ctx.Done()
		fmt.Fprintln(e.stdout, "graphsim stopping")
		return exitOK
	}
}

// simTenantNames are the simulator's tenants, in order.
var simTenantNames = []string{"contoso", "fabrikam", "northwind", "tailspin", "woodgrove", "adatum"}

// writeSimConfig writes a ctsync configuration for a full mesh of the
// simulated tenants, with the embedded store in stateDir.
func writeSimConfig(path string, srv *graphsim.Server, stateDir string) error {
	toml := app.SimConfig(srv, config.Store{Path: filepath.Join(stateDir, "ctsync.db")}, "")
	return os.WriteFile(path, []byte(toml), 0o600)
}

// simKnobs are the realism flags of `ctsync sim`: a profile, and one flag
// per knob that, when given, overrides the profile's value.
type simKnobs struct {
	profile                                            *string
	indexLag, replicaWindow, replicationLag            *time.Duration
	replicaMissRate, throttleFactor, tokenFault, fault *float64
	sharedApp                                          *bool
}

func addSimKnobs(fs *pflag.FlagSet) *simKnobs {
	return &simKnobs{
		profile: fs.String("profile", "exact", "exact (no faults, latency or throttling), realistic (Graph's limits and latency) "+
			"or hostile (realistic plus a lagging index, replica misses, limits below the documented ones and token failures)"),
		indexLag:       fs.Duration("index-lag", 0, "how far $filter lists and advanced queries trail writes (overrides the profile)"),
		replicaWindow:  fs.Duration("replica-window", 0, "how long after creation a user can still be missing from a replica (overrides the profile)"),
		replicationLag: fs.Duration("replication-lag", 0, "how long a new user answers 404 to every request naming it (overrides the profile)"),
		replicaMissRate: fs.Float64("replica-miss-rate", 0,
			"chance, 0 to 1, that a request naming a user within its replica window answers 404 (overrides the profile)"),
		throttleFactor: fs.Float64("throttle-factor", 0,
			"scale of Graph's documented throttling limits, above 0; also turns throttling on (overrides the profile)"),
		tokenFault: fs.Float64("token-fault-rate", 0, "share, 0 to 1, of token requests answered 503 or 500 (overrides the profile)"),
		fault:      fs.Float64("fault-rate", 0, "share, 0 to 1, of Graph requests answered with an injected fault (overrides the profile)"),
		sharedApp:  fs.Bool("shared-app", false, "one multi-tenant app (one client ID and secret) consented in every tenant"),
	}
}

// realism is the profile's preset with every given flag applied.
func (k *simKnobs) realism(fs *pflag.FlagSet) (graphsim.Realism, error) {
	r, ok := graphsim.ProfileRealism(graphsim.Profile(*k.profile))
	if !ok {
		return r, fmt.Errorf("--profile %q: want exact, realistic or hostile", *k.profile)
	}
	var errs []error
	rate := func(name string, v float64, dst *float64) {
		if v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("--%s %g: want 0 to 1", name, v))
		}
		*dst = v
	}
	dur := func(name string, v time.Duration, dst *time.Duration) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("--%s %v: want 0 or more", name, v))
		}
		*dst = v
	}
	fs.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "index-lag":
			dur(f.Name, *k.indexLag, &r.IndexLag)
		case "replica-window":
			dur(f.Name, *k.replicaWindow, &r.ReplicaWindow)
		case "replication-lag":
			dur(f.Name, *k.replicationLag, &r.ReplicationLag)
		case "replica-miss-rate":
			rate(f.Name, *k.replicaMissRate, &r.ReplicaMissRate)
		case "token-fault-rate":
			rate(f.Name, *k.tokenFault, &r.TokenFaultRate)
		case "fault-rate":
			rate(f.Name, *k.fault, &r.FaultRate)
		case "throttle-factor":
			if *k.throttleFactor <= 0 {
				errs = append(errs, fmt.Errorf("--throttle-factor %g: want more than 0", *k.throttleFactor))
			}
			// Scaling limits means nothing without them: the flag turns
			// throttling on, also under the exact profile.
			r.ThrottleFactor, r.Throttling = *k.throttleFactor, true
		}
	})
	return r, errors.Join(errs...)
}

// largeDirectory is the seeded directory size (users, all tenants) from
// which `ctsync sim` gives its garbage collector more room (simGC).
const largeDirectory = 50_000

// simGC lets a large simulated directory's heap grow to four times what it
// holds (GOGC=300) instead of twice, unless GOGC is set. The directory is a
// long-lived, pointer-dense heap far larger than the CPU's caches: every
// collection walks it with cache misses, so at 100,000 users a tenant the
// collector was a third of the simulator's CPU, and its CPU per request
// 30–60 % above a 2,000-user run's (BenchmarkScaleFirstSync,
// sim-cpu-µs/request). Fewer collections bring it back to the small
// directory's, for memory the simulator's machine has: about 3.3 GB
// instead of 2 GB after a 100,000-user first sync (ready in about 3 s at
// some 700 MB: generating the directory leaves its garbage behind, freed
// at start).
func simGC(users int) {
	if users >= largeDirectory && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
}
