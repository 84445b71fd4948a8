package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzLoad feeds the loader arbitrary documents up to a little over
// MaxFileSize: it must never panic, must answer any refusal as Errors
// (file:line: key: message), and must never print back a value from a
// *_env key that is not a variable name (the fuzzer's "s3cr3t" marker).
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../../config.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(base))
	f.Add([]byte("a = " + strings.Repeat("[", 100)))
	f.Add([]byte("a = [{b = [{c = 1}]}]\n[x.y.z]\n'q.r' = \"\"\"\n]]\n\"\"\"\n"))
	f.Add([]byte(strings.Replace(base, `client_secret_file = "/run/secrets/contoso"`, `client_secret_env = "s3cr3t value"`, 1)))
	f.Add([]byte(strings.Replace(base, `redis://127.0.0.1`, `redis://u:s3cr3t/x@127.0.0.1`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxFileSize+64 {
			t.Skip("beyond the size bound, which TestHardenedInputs covers")
		}
		cfg, err := Parse("fuzz.toml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("refusal is not config.Errors: %T %v", err, err)
			}
			return
		}
		cfg.SetDefaults()
		err = cfg.Validate()
		if err == nil {
			return
		}
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("validation error is not config.Errors: %T %v", err, err)
		}
		for _, e := range es {
			if strings.Contains(e.Msg, "s3cr3t") && strings.Contains(e.Key, "_env") {
				t.Fatalf("a *_env value is echoed: %v", e)
			}
		}
	})
}
