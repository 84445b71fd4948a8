package main

import (
	"context"
	"fmt"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
)

// openApp loads the configuration and wires it. onlyPair, when set, keeps
// that pair alone (and fails when it does not exist). It returns nil and
// the exit code on failure, having said why on stderr.
func openApp(ctx context.Context, e *env, path, onlyPair string) (*app.App, int) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, exitUsage
	}
	if onlyPair != "" && cfg.Pair(onlyPair) == nil {
		e.errorf("no pair %q in %s", onlyPair, path)
		return nil, exitUsage
	}
	a, err := app.Wire(ctx, cfg, app.Options{OnlyPair: onlyPair, Log: e.logger()})
	if err != nil {
		e.errorf("%v", err)
		return nil, exitFailures
	}
	return a, exitOK
}
