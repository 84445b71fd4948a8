package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/policy"
)

func init() {
	register(&command{
		name:    "validate",
		summary: "check a configuration file and report every problem with file:line and key",
		usage:   "[-c config.toml]",
		run:     runValidate,
	})
}

func runValidate(_ context.Context, e *env, fs *flag.FlagSet, args []string) int {
	path := configFlag(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg, err := config.LoadAndCheckEnvironment(*path)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	enabled := 0
	for _, p := range cfg.Pairs {
		if !p.Disabled {
			enabled++
		}
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d tenants, %d pairs, %d enabled)\n", *path, len(cfg.Tenants), len(cfg.Pairs), enabled)
	if err := printPermissions(e.stdout, cfg); err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	return exitOK
}

// printPermissions lists the Graph application permissions each tenant's
// app needs for the enabled pairs, and why: an app missing one fails at
// the first call that needs it (a 403 that names the permission).
func printPermissions(w io.Writer, cfg *config.Config) error {
	type need struct {
		why   string
		pairs []string
	}
	needs := map[string]map[string]*need{} // tenant -> permission -> need
	add := func(tenant, pair string, ps []policy.Permission) {
		if needs[tenant] == nil {
			needs[tenant] = map[string]*need{}
		}
		for _, p := range ps {
			n := needs[tenant][p.Name]
			if n == nil {
				n = &need{why: p.Why}
				needs[tenant][p.Name] = n
			}
			n.pairs = append(n.pairs, pair)
		}
	}
	for _, pc := range cfg.Pairs {
		if pc.Disabled {
			continue
		}
		compiled, err := policy.Compile(pc.Name, pc.PairSpec)
		if err != nil {
			return err
		}
		src, dst := compiled.Permissions()
		add(pc.Source, pc.Name+" (source)", src)
		add(pc.Target, pc.Name+" (target)", dst)
	}
	for _, ps := range needs {
		// User.ReadWrite.All includes reading: list one permission.
		if rw, r := ps[policy.PermUserReadWrite], ps[policy.PermUserRead]; rw != nil && r != nil {
			rw.why += "; " + r.why
			rw.pairs = append(rw.pairs, r.pairs...)
			delete(ps, policy.PermUserRead)
		}
	}
	fmt.Fprintln(w, "Graph application permissions to grant (with admin consent) to each tenant's app:")
	for _, t := range cfg.Tenants {
		perms := slices.Sorted(maps.Keys(needs[t.Name]))
		fmt.Fprintf(w, "  %s: %s\n", t.Name, strings.Join(perms, ", "))
		for _, p := range perms {
			n := needs[t.Name][p]
			fmt.Fprintf(w, "    %s: %s (%s)\n", p, n.why, strings.Join(n.pairs, ", "))
		}
	}
	return nil
}
