package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

func init() {
	register(&command{name: "demo", summary: "sync a simulated three-tenant mesh end to end: no Azure, no Redis, no config",
		usage: "[--users N] [--seed N] [--keep DIR] [--realistic] [-v]", flags: runDemo,
		example: `  # The demo make demo runs: three tenants of 200 users, the full mesh
  ctsync demo

  # Graph's throttling and latency simulated, ctsync paced to its limits (slower)
  ctsync demo --realistic --users 50

  # Keep the simulator's files, the configuration and the store; show ctsync's log
  ctsync demo --keep /tmp/ctsync-demo -v`})
}

func runDemo(fs *pflag.FlagSet) runFunc {
	users := fs.Int("users", 200, "seeded users per tenant")
	seed := fs.Int64("seed", 1, "seed of the simulated directories")
	keep := fs.String("keep", "", "keep the simulator's files, the config and the store in `dir` (default: a temporary directory, removed)")
	verbose := fs.BoolP("verbose", "v", false, "show ctsync's log")
	fs.SetNormalizeFunc(aliases(map[string]string{"v": "verbose"})) // its name before pflag
	realistic := fs.Bool("realistic", false, "simulate Graph's throttling and latency, and pace ctsync to Graph's documented limits (slower)")
	return func(ctx context.Context, e *env, args []string) int {
		d := &demo{e: e, out: e.stdout}
		if err := d.run(ctx, *users, *seed, *keep, *verbose, *realistic); err != nil {
			e.errorf("demo: %v", err)
			return exitFailures
		}
		return exitOK
	}
}

type demo struct {
	e   *env
	out io.Writer
	srv *graphsim.Server
	app *app.App
}

func (d *demo) run(ctx context.Context, users int, seed int64, keep string, verbose, realistic bool) error {
	started := time.Now()
	dir := keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ctsync-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	simDir := filepath.Join(dir, "graphsim")
	if err := os.MkdirAll(simDir, 0o700); err != nil {
		return err
	}
	profile := graphsim.ProfileExact
	if realistic {
		profile = graphsim.ProfileRealistic
	}
	srv, err := graphsim.Start(graphsim.Options{Tenants: simTenantNames[:3], Users: users, Seed: seed, Profile: profile, StateDir: simDir})
	if err != nil {
		return fmt.Errorf("start the simulator: %w", err)
	}
	defer srv.Close()
	d.srv = srv
	fmt.Fprintf(d.out, "Simulated Entra tenants at %s: contoso, fabrikam, northwind, %d users each (profile %s).\n", srv.URL(), users, profile)
	// The exact simulator never throttles, so pacing ctsync to Graph's
	// write quota (about 20 writes per second per tenant) would only make
	// the demo wait; --realistic shows the paced behaviour.
	var adjust func(*tenants.Config)
	if !realistic {
		adjust = func(c *tenants.Config) { c.Limits.Unpaced = true }
		fmt.Fprintln(d.out, "The exact simulator does not throttle, so ctsync's pacer is lifted; --realistic paces to Graph's limits.")
	}

	cfgPath := filepath.Join(dir, "ctsync.toml")
	if err := writeSimConfig(cfgPath, srv, dir); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "Configuration: %s (a full mesh: %d pairs), embedded store %s.\n\n", cfgPath, len(cfg.Pairs), cfg.Store.Path)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if verbose {
		log = d.e.logger()
	}
	store, err := guestmap.Open(ctx, cfg.Store.Path, guestmap.Options{NoSync: true})
	if err != nil {
		return err
	}
	a, err := app.Wire(ctx, cfg, app.Options{Log: log, Store: store, AdjustTenant: adjust})
	if err != nil {
		store.Close()
		return err
	}
	defer a.Close()
	d.app = a

	if err := d.cycle(ctx, "1. Initial sync: every member of each tenant becomes a B2B user in the other two"); err != nil {
		return err
	}
	changes, err := d.churn(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\n2. Changes in the source tenants, made through Graph:\n")
	for _, c := range changes {
		fmt.Fprintf(d.out, "   %s\n", c)
	}
	fmt.Fprintln(d.out)
	if err := d.cycle(ctx, "3. Incremental sync: one delta round per pair picks the changes up"); err != nil {
		return err
	}
	if err := d.cycle(ctx, "4. Converged: another cycle has nothing to do"); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\nDone in %s.\n", time.Since(started).Round(time.Millisecond))
	if keep != "" {
		fmt.Fprintf(d.out, "The store and the config are kept in %s: ctsync status -c %s and ctsync logs -c %s show what was done.\n", keep, cfgPath, cfgPath)
	} else {
		fmt.Fprintln(d.out, "Add --keep DIR to keep the store and config for ctsync status and logs; ctsync sim --write-config runs a simulator to try every command on.")
	}
	return nil
}

// cycle runs one cycle of every pair and prints a table of what happened.
func (d *demo) cycle(ctx context.Context, title string) error {
	fmt.Fprintln(d.out, title)
	start := time.Now()
	clear := showProgress(d.app, d.e.stderr)
	reports := d.app.Runner().Once(ctx)
	clear()
	tw := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "   pair\tcreated\tadopted\tupdated\tmanagers\tdisabled\tdeleted\trestored\tskipped\tunchanged\tfailed\t")
	failed := 0
	for _, r := range reports {
		if r.Err != nil {
			return fmt.Errorf("pair %s: %w", r.Pair, r.Err)
		}
		c := r.Counts
		fmt.Fprintf(tw, "   %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.Pair, c["create"], c["adopt"], c["update"], c["manager"], c["disable"],
			c["soft-delete"]+c["hard-delete"], c["restore"], c["skip"], c["unchanged"], r.Failures)
		failed += r.Failures
	}
	_ = tw.Flush()
	fmt.Fprintf(d.out, "   (%s)\n", time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		return fmt.Errorf("%d users failed", failed)
	}
	return nil
}

// churn makes joiners, movers and leavers in each source tenant through
// Graph, as its HR system would.
func (d *demo) churn(ctx context.Context) ([]string, error) {
	var done []string
	for _, t := range d.srv.Info().Tenants {
		g := &graphAdmin{http: d.srv.HTTPClient(), authority: d.srv.AuthorityURL(), graph: d.srv.GraphURL(),
			tenantID: t.TenantID, clientID: t.ClientID, secret: t.ClientSecret}
		if err := g.signIn(ctx); err != nil {
			return nil, err
		}
		members, err := g.members(ctx, 200, "id,userPrincipalName,displayName,department,accountEnabled")
		if err != nil {
			return nil, err
		}
		var enabled []map[string]any
		for _, m := range members {
			// B2B members made by other pairs are userType Member too;
			// only internal members are the source's own people.
			upn, _ := m["userPrincipalName"].(string)
			if m["accountEnabled"] == true && !strings.Contains(upn, "#EXT#") {
				enabled = append(enabled, m)
			}
		}
		if len(enabled) < 4 {
			return nil, fmt.Errorf("tenant %s has too few enabled members for the demo", t.Name)
		}
		// A joiner.
		nick := fmt.Sprintf("demo.joiner.%d", time.Now().UnixNano()%100000)
		joiner := map[string]any{
			"accountEnabled": true, "displayName": "Dana Joiner (" + t.Name + ")", "mailNickname": nick,
			"userPrincipalName": nick + "@" + t.Domain, "mail": nick + "@" + t.Domain,
			"givenName": "Dana", "surname": "Joiner", "department": "Engineering", "jobTitle": "Engineer",
			"passwordProfile": map[string]any{"forceChangePasswordNextSignIn": true, "password": "Demo-" + nick + "-Pw1!"},
		}
		if err := g.call(ctx, http.MethodPost, "/users", joiner, nil); err != nil {
			return nil, err
		}
		done = append(done, fmt.Sprintf("%s: joiner %s", t.Name, joiner["userPrincipalName"]))
		// Two movers.
		for i, m := range enabled[1:3] {
			dept := []string{"Research", "Finance"}[i]
			if err := g.call(ctx, http.MethodPatch, "/users/"+m["id"].(string), map[string]any{"department": dept, "jobTitle": "Lead"}, nil); err != nil {
				return nil, err
			}
			done = append(done, fmt.Sprintf("%s: mover %s -> %s", t.Name, m["userPrincipalName"], dept))
		}
		// A leaver: disabled.
		leaver := enabled[3]
		if err := g.call(ctx, http.MethodPatch, "/users/"+leaver["id"].(string), map[string]any{"accountEnabled": false}, nil); err != nil {
			return nil, err
		}
		done = append(done, fmt.Sprintf("%s: leaver %s (disabled)", t.Name, leaver["userPrincipalName"]))
	}
	return done, nil
}
