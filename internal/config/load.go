package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes, defaults and validates the configuration at path.
// Every error names the file, the line and the key at fault.
func Load(path string) (*Config, error) { return loadFile(path, false) }

// loadFile is Load, and CheckEnvironment when env is set. Unknown keys,
// validation and environment problems are reported together, so one run
// shows every mistake past the first syntax error (which stops the TOML
// decoder).
func loadFile(path string, env bool) (*Config, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	cfg, all, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	cfg.SetDefaults()
	checks := []func() error{cfg.Validate}
	if env {
		checks = append(checks, cfg.CheckEnvironment)
	}
	for _, check := range checks {
		var es Errors
		if err := check(); errors.As(err, &es) {
			all = append(all, es...)
		} else if err != nil {
			return nil, err
		}
	}
	if len(all) > 0 {
		return nil, (&problems{file: path, errs: all}).err()
	}
	return cfg, nil
}

// Parse decodes a configuration strictly: syntax errors, wrong types, bad
// durations, unknown keys and secrets written inline are errors. It applies
// no defaults and checks no cross-references; see SetDefaults and Validate.
//
// The document's size and shape are checked first (see checkShape), so
// that the decoder and the key-line index only ever see bounded input.
func Parse(file string, data []byte) (*Config, error) {
	cfg, unknown, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		return nil, (&problems{file: file, errs: unknown}).err()
	}
	return cfg, nil
}

// parse is Parse returning the unknown keys and inline secrets apart from
// the decoded configuration, which is complete without them.
func parse(file string, data []byte) (*Config, Errors, error) {
	if len(data) > MaxFileSize {
		return nil, nil, Errors{{File: file, Msg: fmt.Sprintf("the file is larger than %d bytes (1 MiB): not a ctsync configuration", MaxFileSize)}}
	}
	if err := checkShape(file, data); err != nil {
		return nil, nil, err
	}
	cfg := &Config{File: file}
	md, err := toml.Decode(string(data), cfg)
	if err != nil {
		return nil, nil, decodeError(file, err)
	}
	// The forgiving key-line scan only ever sees a document the decoder
	// accepted.
	cfg.lines = scanKeyLines(string(data))
	p := &problems{file: file, lines: cfg.lines}
	byKey := cfg.lines.byStrippedKey()
	for _, k := range md.Undecoded() {
		key := k.String()
		paths := byKey[key]
		if len(paths) == 0 {
			paths = []string{key}
		}
		for _, path := range paths {
			if isInlineSecret(k[len(k)-1]) {
				p.addf(path, "secrets are never written in the config file: reference one with client_secret_file, client_secret_env, certificate_file, password_env or listen_token_file")
			} else {
				p.addf(path, "unknown key %q", k[len(k)-1])
			}
		}
	}
	return cfg, p.errs, nil
}

// byStrippedKey groups the indexed paths written in the file by the key
// path as the decoder reports it (without array indices). It is built
// once per file: looking each undecoded key up by a scan of every path
// made a file of many unknown keys quadratic.
func (k keyLines) byStrippedKey() map[string][]string {
	m := make(map[string][]string, len(k))
	for path := range k {
		s := stripIndices(path)
		m[s] = append(m[s], path)
	}
	for _, paths := range m {
		slices.Sort(paths) // map order is random; errors come out stable
	}
	return m
}

// isInlineSecret recognises keys that would hold a secret's value.
func isInlineSecret(name string) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, "_file") || strings.HasSuffix(n, "_env") {
		return false
	}
	for _, w := range []string{"secret", "password", "passwd", "token", "private_key", "api_key"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

var lastKeyRE = regexp.MustCompile(`line (\d+) \(last key "([^"]*)"\): (.*)`)

// decodeError reshapes the TOML library's errors into file:line: key: message.
func decodeError(file string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return Errors{{File: file, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}}
	}
	// Type mismatches come back as plain errors carrying the position in
	// their text; this is the library's only channel for them.
	if m := lastKeyRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Errors{{File: file, Line: line, Key: m[2], Msg: m[3]}}
	}
	return Errors{{File: file, Msg: err.Error()}}
}
