package main

import (
	"context"
	"fmt"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
)

// openApp loads the configuration and wires it. onlyPair, when set, keeps
// that pair alone (and fails when it does not exist); each of adjust
// amends the wiring options (the daemon hooks its metrics in). It returns
// nil and the exit code on failure, having said why on stderr.
func openApp(ctx context.Context, e *env, path, onlyPair string, adjust ...func(*app.Options)) (*app.App, int) {
	cfg, err := config.LoadAndCheckEnvironment(path)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, exitUsage
	}
	if onlyPair != "" && cfg.Pair(onlyPair) == nil {
		e.errorf("no pair %q in %s", onlyPair, path)
		return nil, exitUsage
	}
	opts := app.Options{OnlyPair: onlyPair, Log: e.logger()}
	for _, f := range adjust {
		f(&opts)
	}
	a, err := app.Wire(ctx, cfg, opts)
	if err != nil {
		e.errorf("%v", err)
		return nil, exitFailures
	}
	return a, exitOK
}

// checkAndOpen checks a command's parsed flags with check (which returns
// a usage error message, or ""), and opens the app for *path, keeping only
// *pair when pair is set. It returns nil and the exit code when the
// command should stop: bad usage (2), or a configuration that does not
// load or wire. adjust is passed to openApp.
func checkAndOpen(ctx context.Context, e *env, path, pair *string, check func() string, adjust ...func(*app.Options)) (*app.App, int) {
	if check != nil {
		if msg := check(); msg != "" {
			e.errorf("%s", msg)
			return nil, exitUsage
		}
	}
	only := ""
	if pair != nil {
		only = *pair
	}
	return openApp(ctx, e, *path, only, adjust...)
}

// pairRequired is a checkAndOpen check for commands that act on one pair.
func pairRequired(pair *string) func() string {
	return func() string {
		if *pair == "" {
			return "--pair is required"
		}
		return ""
	}
}
