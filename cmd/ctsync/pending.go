package main

import (
	"context"
	"flag"
)

// Commands whose issues have not landed yet. Each says so and exits 2, so a
// script that calls one fails loudly instead of silently doing nothing.
func init() {
	for _, c := range []struct{ name, summary string }{
		{"run", "run the sync daemon: every pair on its schedule"},
		{"once", "run one cycle of every pair (or one) and exit; 1 if anything failed"},
		{"plan", "show what a cycle would change and why, without writing anything"},
		{"provision", "sync one user of one pair now, showing each step"},
		{"status", "show each pair's last cycle, counts, parked users, quarantine and lease"},
		{"map", "export the source -> guest map, or rebuild it from the stamps in the target"},
		{"logs", "query the provisioning log"},
	} {
		register(&command{name: c.name, summary: c.summary, run: notYet})
	}
}

func notYet(_ context.Context, e *env, fs *flag.FlagSet, args []string) int {
	if code, ok := parse(fs, args); !ok {
		return code
	}
	e.errorf("%s: not implemented yet", fs.Name()[len("ctsync "):])
	return exitUsage
}
