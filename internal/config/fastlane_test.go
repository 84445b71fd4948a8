package config

import (
	"strings"
	"testing"
	"time"
)

// TestFastLaneSettings: fast_interval defaults to 10s when left out, "0s"
// written turns the fast lane off, bad values stop with key and line;
// revoke_sessions defaults to true.
func TestFastLaneSettings(t *testing.T) {
	worker := func(extra string) string {
		return strings.Replace(base, `interval = "2m"`, "interval = \"2m\"\n"+extra, 1)
	}
	tests := []struct {
		name, src string
		want      time.Duration
		err       string // "" valid
	}{
		{"default", base, 10 * time.Second, ""},
		{"off", worker(`fast_interval = "0s"`), 0, ""},
		{"set", worker(`fast_interval = "3s"`), 3 * time.Second, ""},
		{"negative", worker(`fast_interval = "-1s"`), 0, `:7: worker.fast_interval: must be "0s"`},
		{"too fast", worker(`fast_interval = "200ms"`), 0, `:7: worker.fast_interval: must be "0s"`},
		{"over a day", worker(`fast_interval = "25h"`), 0, ":7: worker.fast_interval: at most 24h0m0s"},
		{"default never slower than the cycles", strings.Replace(base, `interval = "2m"`, `interval = "3s"`, 1), 3 * time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(t, tt.src)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Worker.FastInterval.Duration; got != tt.want {
				t.Errorf("fast_interval = %s, want %s", got, tt.want)
			}
		})
	}
	cfg, err := load(t, base)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Pairs[0].Revokes() {
		t.Error("revoke_sessions left out: want true")
	}
	cfg, err = load(t, strings.Replace(base, `target = "fabrikam"`, "target = \"fabrikam\"\nrevoke_sessions = false", 1))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Pairs[0].Revokes() {
		t.Error("revoke_sessions = false: want false")
	}
}
