package graphsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// seal makes an opaque, tamper-proof token (skip and delta tokens) from v.
func (s *Server) seal(v any) string {
	p, _ := json.Marshal(v)
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte("graphsim-state:"))
	m.Write(p)
	return base64url(p) + "." + base64url(m.Sum(nil)[:12])
}

// unseal opens a token made by seal; false when malformed or forged.
func (s *Server) unseal(tok string, v any) bool {
	p64, sig64, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	p, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(sig64)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte("graphsim-state:"))
	m.Write(p)
	if !hmac.Equal(sig, m.Sum(nil)[:12]) {
		return false
	}
	return json.Unmarshal(p, v) == nil
}

// link builds an absolute Graph URL: path plus the query options (minus
// those in drop) plus extra, keeping '$' readable as Graph does.
func (c *call) link(path string, drop []string, extra ...string) string {
	keys := make([]string, 0, len(c.query))
	for k := range c.query {
		skip := false
		for _, d := range drop {
			if k == d {
				skip = true
			}
		}
		if !skip {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range c.query[k] {
			parts = append(parts, k+"="+url.QueryEscape(v))
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		parts = append(parts, extra[i]+"="+url.QueryEscape(extra[i+1]))
	}
	u := c.s.GraphURL() + path
	if len(parts) > 0 {
		u += "?" + strings.Join(parts, "&")
	}
	return u
}
