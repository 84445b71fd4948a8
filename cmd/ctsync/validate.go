package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/ctsync/ctsync/internal/config"
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
	cfg, err := config.Load(*path)
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
	return exitOK
}
