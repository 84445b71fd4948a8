package config

import (
	"fmt"
	"os"
)

// lookupEnv is os.LookupEnv; tests replace it.
var lookupEnv = os.LookupEnv

// CheckEnvironment reports every environment variable the configuration
// names (store.password_env, worker.listen_token_env, a tenant's
// client_secret_env and certificate_password_env) that is unset or empty,
// as file:line: key: message naming the variable, never its value. It is
// apart from Validate because the file can be valid on a machine that
// does not run ctsync; `ctsync validate` and start-up call both, so a
// missing secret stops ctsync before a Redis "NOAUTH" or a sign-in error.
func (c *Config) CheckEnvironment() error {
	p := &problems{file: c.File, lines: c.lines}
	check := func(key, name string) {
		if name == "" || !envNameRE.MatchString(name) {
			return // unset in the file, or already refused by Validate
		}
		if v, ok := lookupEnv(name); !ok || v == "" {
			p.addf(key, "environment variable %s is unset or empty", name)
		}
	}
	check("store.password_env", c.Store.PasswordEnv)
	check("worker.listen_token_env", c.Worker.ListenTokenEnv)
	for i, t := range c.Tenants {
		check(tenantKey(i, "client_secret_env"), t.ClientSecretEnv)
		check(tenantKey(i, "certificate_password_env"), t.CertificatePasswordEnv)
	}
	return p.err()
}

func tenantKey(i int, k string) string { return fmt.Sprintf("tenant[%d].%s", i, k) }

// LoadAndCheckEnvironment is Load followed by CheckEnvironment, reporting
// the problems of both in one sorted list, so one run of `ctsync validate`
// shows every mistake a file and its environment hold.
func LoadAndCheckEnvironment(path string) (*Config, error) { return loadFile(path, true) }
