package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sourcegraph/conc"
	"github.com/spf13/pflag"

	"github.com/ctsync/ctsync/internal/textsafe"
	"github.com/ctsync/ctsync/sync/plan"
	"github.com/ctsync/ctsync/sync/worker"
)

func init() {
	register(&command{name: "once", summary: "run one cycle of every pair (or one) and exit; 1 if anything failed, 3 if a pair's lease is held elsewhere",
		usage: "[-c config.toml] [--pair P]", flags: runOnce,
		example: `  # One cycle of every enabled pair
  ctsync once -c config.toml

  # One cycle of one pair, from a cron job that alerts on failures
  ctsync once -c /etc/ctsync/config.toml --pair contoso-to-fabrikam || echo "exit $?"`})
	register(&command{name: "run", summary: "run the sync daemon: every pair on its schedule",
		usage: "[-c config.toml]", flags: runDaemon,
		example: `  # The daemon, as the systemd unit and the container start it
  ctsync run -c /etc/ctsync/config.toml

  # Its log as JSON lines, errors in full
  ctsync run -c config.toml --log-format json --log-level debug`})
	register(&command{name: "plan", summary: "show what a cycle would change and why, without writing anything",
		usage: "[-c config.toml] [--pair P] [--json] [--detailed-exitcode]", flags: runPlan,
		example: `  # What the next cycle of every pair would do
  ctsync plan -c config.toml

  # One pair as one JSON document (schema in docs/operating.md, "Plan")
  ctsync plan -c config.toml --pair contoso-to-fabrikam --json

  # In a script: 0 nothing to do, 2 changes pending, 1 an error
  ctsync plan -c config.toml --detailed-exitcode`,
		usageExit: func(args []string) int { return planExit(exitUsage, detailedAsked(args)) }})
	register(&command{name: "provision", summary: "sync one user or one group of one pair now, showing each step",
		usage: "--pair P (--user ID|UPN | --group NAME|ID) [-c config.toml]", flags: runProvision,
		long: "Exactly one of --user and --group. A group needs the pair's [pair.groups]; its steps are import, scope, members (read afresh, nested ones too with transitive = true, and which have a synced guest), match (the target group by its stamp) and action. Exit 0 done or nothing to do, 1 a step failed, 2 usage or configuration.",
		example: `  # One user now, by UPN, showing import, scope, match and action
  ctsync provision -c config.toml --pair contoso-to-fabrikam --user adele@contoso.onmicrosoft.com

  # One security group now, by display name (or object ID), with its members
  ctsync provision -c config.toml --pair contoso-to-fabrikam --group Engineering`})
}

func runOnce(fs *pflag.FlagSet) runFunc {
	path := configFlag(fs)
	pair := fs.String("pair", "", "run only this `pair`")
	reviewed := fs.String("plan", "", "apply exactly the plan `FILE` that `ctsync plan --out` wrote: each pair in it runs only if it would still do exactly what was reviewed, else it is refused before any write")
	return func(ctx context.Context, e *env, args []string) int {
		a, code := checkAndOpen(ctx, e, path, pair, nil)
		if a == nil {
			return code
		}
		defer a.Close()
		r := a.Runner()
		if *reviewed != "" {
			cyclers, err := reviewedPairs(*reviewed, a.Pairs, *pair)
			if err != nil {
				e.errorf("%v", err)
				return exitUsage
			}
			r.Pairs = cyclers
		}
		clear := showProgress(a, e.stderr)
		reports := r.Once(ctx)
		clear()
		printReports(e.stdout, reports)
		return onceExit(reports)
	}
}

// exitHeld is `once`'s "a pair did not run: another process holds its
// lease" (a replica mid-cycle, or a crashed one whose lease has not yet
// lapsed): the work was not done, but nothing failed.
const exitHeld = 3

// onceExit is `once`'s exit code: 1 when a pair failed (that wins: it needs
// a look), else 3 when a pair was skipped for a lease held elsewhere, else 0.
// A cycle that stopped at its cycle_timeout with users pending (a long
// first sync) is not a failure: 0, and the next `once` goes on from there.
func onceExit(reports []worker.Report) int {
	code := exitOK
	for _, r := range reports {
		switch {
		case r.Failed():
			return exitFailures
		case r.Skipped != "":
			code = exitHeld
		}
	}
	return code
}

// printReports writes one line per pair: what its cycle did.
func printReports(w io.Writer, reports []worker.Report) {
	for _, r := range reports {
		fmt.Fprintf(w, "%-28s ", r.Pair)
		switch {
		case r.Err != nil:
			// One line, Graph's code and message: the log at debug has
			// the full error.
			fmt.Fprintf(w, "FAILED: %s\n", textsafe.Escape(condenseError(r.Err)))
			continue
		case r.Skipped != "":
			fmt.Fprintf(w, "skipped: %s\n", textsafe.Escape(r.Skipped))
			continue
		}
		if len(r.Counts) == 0 {
			fmt.Fprint(w, "nothing to do")
		}
		for i, k := range r.Kinds() {
			if i > 0 {
				fmt.Fprint(w, ", ")
			}
			fmt.Fprintf(w, "%d %s", r.Counts[k], k)
		}
		if r.Full {
			fmt.Fprint(w, " (full read)")
		}
		if r.Failures > 0 {
			fmt.Fprintf(w, "; %d parked for retry", r.Failures)
		}
		if r.Quarantined {
			fmt.Fprint(w, "; QUARANTINED")
		}
		fmt.Fprintf(w, " in %s", r.End.Sub(r.Start).Round(time.Millisecond))
		switch r.Stopped {
		case worker.StopTimeout:
			fmt.Fprintf(w, "; stopped at cycle_timeout: %d users pending, resumes next cycle", r.Pending)
		case worker.StopShutdown:
			fmt.Fprintf(w, "; stopped by shutdown: %d users pending, resumes next cycle", r.Pending)
		}
		fmt.Fprintln(w)
	}
}

func runDaemon(fs *pflag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, e *env, args []string) int {
		m := newMetrics(ctx)
		a, code := checkAndOpen(ctx, e, path, nil, nil, m.wire)
		if a == nil {
			return code
		}
		defer a.Close()
		version, _, _ := buildInfo()
		share := a.Share(version)
		r := a.Runner()
		m.attach(a)
		share.OnShare = m.share
		r.OnReport = m.observe
		r.OnFast = m.fastLane()
		hub := newProgressHub(a)
		hub.Subscribe(m.progress)
		_ = hub // watched by the metrics, the log and the status page
		hub.Subscribe(newProgressLog(a.Log).observe)

		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					a.Log.Info("SIGHUP: syncing every pair now")
					r.SyncNow()
				}
			}
		}()
		if listen := a.Config.Worker.Listen; listen != "" {
			srv, err := newServer(a, r, hub, m.handler())
			if err != nil {
				e.errorf("%v", err) // the listener's token could not be read
				return exitUsage
			}
			if err := srv.start(ctx, listen); err != nil {
				e.errorf("listen on %s: %v", listen, err)
				return exitUsage
			}
			defer srv.shutdown()
		}
		a.Log.Info("ctsync running", "pairs", len(a.Pairs), "interval", a.Config.Worker.Interval.Duration)
		var wg conc.WaitGroup
		wg.Go(func() { share.Run(ctx) })
		r.Run(ctx)
		wg.Wait()
		a.Log.Info("ctsync stopped: cycles in flight were abandoned at a safe point and leases released")
		return exitOK
	}
}

// exitPending is `plan --detailed-exitcode`'s "changes pending", as
// terraform's. It reuses exitUsage's number, so with the flag every error,
// usage and configuration ones included, exits 1 (planExit).
const exitPending = 2

func runPlan(fs *pflag.FlagSet) runFunc {
	path := configFlag(fs)
	pair := fs.String("pair", "", "plan only this `pair`")
	asJSON := fs.Bool("json", false, "print one JSON document (schema in docs/operating.md, \"Plan\")")
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when there is nothing to do, 2 when changes are pending, 1 on any error")
	out := fs.String("out", "", "also write the plan to `FILE` (the --json document, mode 0600: it holds users' attributes), for `ctsync once --plan FILE` to apply exactly")
	return func(ctx context.Context, e *env, args []string) int {
		a, code := checkAndOpen(ctx, e, path, pair, nil)
		if a == nil {
			return planExit(code, *detailed)
		}
		defer a.Close()
		doc := plan.Document{Version: plan.DocumentVersion, Generated: time.Now().UTC(), Pairs: []plan.PairPlan{}}
		failed, pending := false, false
		for _, p := range a.Pairs {
			pl, err := p.Plan(ctx)
			if err != nil {
				// On stderr in both formats, so a person running --json
				// sees it too; the document carries it on one line.
				e.errorf("%v", err)
				failed = true
				doc.Pairs = append(doc.Pairs, plan.FailedPairPlan(p.PairName, condenseError(err)))
				continue
			}
			pending = pending || pl.Pending() > 0
			if *asJSON || *out != "" {
				doc.Pairs = append(doc.Pairs, plan.NewPairPlan(p.PairName, pl))
			}
			if !*asJSON {
				// Pair by pair, as each is planned: a slow tenant does not
				// hold back what is known.
				_ = pl.WriteText(e.stdout, p.PairName)
			}
		}
		if *asJSON {
			_ = doc.Write(e.stdout)
		}
		if *out != "" {
			if err := writePlanFile(*out, &doc); err != nil {
				e.errorf("%v", err)
				return exitFailures
			}
			fmt.Fprintf(e.stderr, "plan written to %s; apply exactly it with: ctsync once -c %s --plan %s\n", *out, *path, *out)
		}
		switch {
		case failed:
			return exitFailures
		case pending && *detailed:
			return exitPending
		}
		return exitOK
	}
}

// planExit is plan's exit code for a stop before planning (help, usage,
// configuration). With --detailed-exitcode, 2 means "changes pending", so
// a usage or configuration error exits 1 instead: a script must never
// take a typo for pending changes.
func planExit(code int, detailed bool) int {
	if detailed && code == exitUsage {
		return exitFailures
	}
	return code
}

// detailedAsked reports whether the command line (args) asks for
// --detailed-exitcode, for a usage error: flag parsing may have stopped
// at a bad flag before reaching it (pflag parses left to right). A value that does not parse as a
// boolean is a usage error either way, and so counts as asked.
func detailedAsked(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "detailed-exitcode" {
			continue
		}
		if b, err := strconv.ParseBool(val); !hasVal || err != nil || b {
			return true
		}
	}
	return false
}

func runProvision(fs *pflag.FlagSet) runFunc {
	path := configFlag(fs)
	pair := fs.String("pair", "", "the `pair` to provision through (required)")
	user := fs.String("user", "", "the source user's object ID or UPN")
	group := fs.String("group", "", "the source security group's display `name` or object ID (the pair needs [pair.groups])")
	return func(ctx context.Context, e *env, args []string) int {
		a, code := checkAndOpen(ctx, e, path, pair, func() string {
			if *pair == "" || (*user == "") == (*group == "") {
				return "provision needs --pair and exactly one of --user and --group"
			}
			return ""
		})
		if a == nil {
			return code
		}
		defer a.Close()
		p := a.Pair(*pair)
		switch {
		case p == nil:
			e.errorf("pair %s is disabled (disabled = true): enable it to provision through it", *pair)
			return exitUsage
		case *group != "" && p.Groups == nil:
			e.errorf("pair %s syncs no groups: its policy has no [pair.groups] section", *pair)
			return exitUsage
		}
		// Steps quote names and Graph's messages: escaped.
		show := func(s worker.Step) { writeStep(e.stdout, s) }
		var err error
		if *group != "" {
			_, err = p.ProvisionGroup(ctx, *group, show)
		} else {
			_, err = p.Provision(ctx, *user, show)
		}
		if err != nil {
			return exitFailures
		}
		return exitOK
	}
}

// writeStep prints one step of `ctsync provision`: its name, then what it
// found or FAILED and why, escaped (names and Graph's messages come from
// the directories).
func writeStep(w io.Writer, s worker.Step) {
	if s.Err != nil {
		fmt.Fprintf(w, "%-8s FAILED: %s\n", s.Name, textsafe.Escape(s.Err.Error()))
		return
	}
	fmt.Fprintf(w, "%-8s %s\n", s.Name, textsafe.Escape(s.Detail))
}
