package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/pflag"
)

func init() {
	register(&command{name: "version", summary: "print ctsync's version, VCS revision and commit time, and the Go version it was built with",
		usage: "[--json]", flags: runVersion,
		example: `  # Version, revision (-dirty when built from a modified tree), commit time and Go
  ctsync version

  # The same as one JSON object
  ctsync version --json`})
}

// versionInfo is what `ctsync version` prints: the build info Go stamps
// into the binary (see buildInfo; the Makefile's release target keeps the
// VCS stamp with -buildvcs).
type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	// Time is the revision's commit time (vcs.time), when stamped.
	Time string `json:"time,omitempty"`
	Go   string `json:"go"`
}

func readVersion() versionInfo {
	var v versionInfo
	v.Version, v.Revision, v.Go = buildInfo()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				v.Time = s.Value
			}
		}
	}
	return v
}

// String is the text of `ctsync version` and `ctsync --version`.
func (v versionInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ctsync %s\nrevision: %s\n", v.Version, v.Revision)
	if v.Time != "" {
		fmt.Fprintf(&b, "commit time: %s\n", v.Time)
	}
	fmt.Fprintf(&b, "go: %s", v.Go)
	return b.String()
}

func runVersion(fs *pflag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print one JSON object: version, revision, time (when stamped) and go")
	return func(_ context.Context, e *env, _ []string) int {
		v := readVersion()
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				e.errorf("%v", err)
				return exitFailures
			}
			return exitOK
		}
		fmt.Fprintln(e.stdout, v)
		return exitOK
	}
}
