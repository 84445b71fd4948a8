package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/policy"
)

func init() {
	register(&command{
		name:    "validate",
		summary: "check a configuration file (every problem with file:line and key); --online also checks each tenant over Graph",
		usage:   "[FILE | -c FILE] [--online [--json] [--timeout 2m]]",
		long: "FILE (or --config, config.toml by default) is the configuration to check; giving both is a usage error. " +
			"Exit 0 valid (with --online: and no check failed), 1 an online check failed, 2 a problem in the file or usage.",
		example: `  # Check the file; list the Graph permissions each tenant's app needs
  ctsync validate config.toml

  # Also sign in to every tenant and check its permissions, invitation settings and stamp slot
  ctsync validate -c /etc/ctsync/config.toml --online

  # The online findings as one JSON document
  ctsync validate config.toml --online --json --timeout 5m`,
		args:  maxOneArg,
		flags: runValidate,
	})
}

func runValidate(fs *pflag.FlagSet) runFunc {
	path := configFlag(fs)
	online := fs.Bool("online", false, "also sign in to every tenant and check its permissions, invitation settings and stamp slot (exit 1 when a check fails)")
	asJSON := fs.Bool("json", false, "with --online: print the findings as one JSON document")
	timeout := fs.Duration("timeout", 2*time.Minute, "with --online: give up the checks after this long")
	return func(ctx context.Context, e *env, args []string) int {
		if len(args) == 1 {
			if fs.Changed("config") {
				e.errorf("validate: give the file either as an argument or with --config, not both")
				return exitUsage
			}
			*path = args[0]
		}
		if *asJSON && !*online {
			fmt.Fprintln(e.stderr, "ctsync validate: --json needs --online")
			return exitUsage
		}
		cfg, err := config.LoadAndCheckEnvironment(*path)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitUsage
		}
		if *online {
			return runOnlineChecks(ctx, e, cfg, *timeout, *asJSON)
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
}

// permNeed is one permission a tenant's app needs: why, and for which
// pairs.
type permNeed struct {
	why   string
	pairs []string
}

// permissionNeeds returns the Graph application permissions each tenant's
// app needs for the enabled pairs (tenant -> permission -> need), with
// User.Read.All folded into User.ReadWrite.All where a tenant needs both.
func permissionNeeds(cfg *config.Config) (map[string]map[string]*permNeed, error) {
	needs := map[string]map[string]*permNeed{}
	add := func(tenant, pair string, ps []policy.Permission) {
		if needs[tenant] == nil {
			needs[tenant] = map[string]*permNeed{}
		}
		for _, p := range ps {
			n := needs[tenant][p.Name]
			if n == nil {
				n = &permNeed{why: p.Why}
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
			return nil, err
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
	return needs, nil
}

// printPermissions lists the Graph application permissions each tenant's
// app needs for the enabled pairs, and why: an app missing one fails at
// the first call that needs it (a 403 that names the permission).
func printPermissions(w io.Writer, cfg *config.Config) error {
	needs, err := permissionNeeds(cfg)
	if err != nil {
		return err
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
