package graphsim

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

func base64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func discardLogger() *log.Logger { return log.New(discard{}, "", 0) }

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// serveIdentity answers the Entra endpoints azidentity (MSAL) calls with
// instance discovery disabled: the tenant's OpenID configuration and the
// v2.0 token endpoint.
func (s *Server) serveIdentity(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 {
		http.NotFound(w, r)
		return
	}
	t := s.Tenant(parts[0])
	rest := strings.Join(parts[1:], "/")
	rid := s.newRequestID()
	w.Header().Set("x-ms-request-id", rid)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	switch {
	case rest == "v2.0/.well-known/openid-configuration" && r.Method == http.MethodGet:
		if t == nil {
			s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002,
				fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", parts[0]), rid)
			return
		}
		s.openIDConfig(w, t)
	case rest == "oauth2/v2.0/token" && r.Method == http.MethodPost:
		s.stats.token(tenantName(t))
		if t == nil {
			s.oauthError(w, http.StatusBadRequest, "invalid_request", 90002,
				fmt.Sprintf("Tenant '%s' not found.", parts[0]), rid)
			return
		}
		if st := s.drawTokenFault(); st != 0 {
			s.tokenFault(w, st, t, rid)
			return
		}
		s.issueToken(w, r, t, rid)
	default:
		http.NotFound(w, r)
	}
}

func tenantName(t *Tenant) string {
	if t == nil {
		return ""
	}
	return t.name
}

func (s *Server) tokenEndpoint(t *Tenant) string { return s.base + "/" + t.id + "/oauth2/v2.0/token" }

func (s *Server) openIDConfig(w http.ResponseWriter, t *Tenant) {
	b := s.base + "/" + t.id
	cfg := obj{
		{"token_endpoint", s.tokenEndpoint(t)},
		{"token_endpoint_auth_methods_supported", []string{"client_secret_post", "private_key_jwt", "client_secret_basic"}},
		{"jwks_uri", b + "/discovery/v2.0/keys"},
		{"response_modes_supported", []string{"query", "fragment", "form_post"}},
		{"subject_types_supported", []string{"pairwise"}},
		{"id_token_signing_alg_values_supported", []string{"RS256"}},
		{"response_types_supported", []string{"code", "id_token", "code id_token", "id_token token"}},
		{"scopes_supported", []string{"openid", "profile", "email", "offline_access"}},
		{"issuer", b + "/v2.0"},
		{"request_uri_parameter_supported", false},
		{"userinfo_endpoint", s.base + "/oidc/userinfo"},
		{"authorization_endpoint", b + "/oauth2/v2.0/authorize"},
		{"device_authorization_endpoint", b + "/oauth2/v2.0/devicecode"},
		{"http_logout_supported", true},
		{"frontchannel_logout_supported", true},
		{"end_session_endpoint", b + "/oauth2/v2.0/logout"},
		{"claims_supported", []string{"sub", "iss", "aud", "exp", "iat", "tid"}},
		{"tenant_region_scope", "EU"},
		{"cloud_instance_name", "microsoftonline.com"},
		{"cloud_graph_host_name", "graph.windows.net"},
		{"msgraph_host", strings.TrimPrefix(s.base, "https://")},
	}
	body, _ := json.Marshal(cfg)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

// oauthError writes an Entra (AADSTS) error response.
func (s *Server) oauthError(w http.ResponseWriter, status int, code string, aadsts int, desc, rid string) {
	now := s.now().UTC()
	body, _ := json.Marshal(obj{
		{"error", code},
		{"error_description", fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, rid, rid, now.Format("2006-01-02 15:04:05Z"))},
		{"error_codes", []int{aadsts}},
		{"timestamp", now.Format("2006-01-02 15:04:05Z")},
		{"trace_id", rid},
		{"correlation_id", rid},
		{"error_uri", fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts)},
	})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// issueToken is the client-credentials grant with a secret or a certificate
// assertion.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, t *Tenant, rid string) {
	if err := r.ParseForm(); err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.", rid)
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt), rid)
		return
	}
	clientID := f.Get("client_id")
	secret := f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	t.mu.RLock()
	a := t.apps[clientID]
	t.mu.RUnlock()
	if a == nil {
		s.oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, t.name), rid)
		return
	}
	if !s.validScope(f.Get("scope")) {
		s.oauthError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", f.Get("scope")), rid)
		return
	}
	switch {
	case f.Get("client_assertion") != "":
		if f.Get("client_assertion_type") != assertionType {
			s.oauthError(w, http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type.", rid)
			return
		}
		if err := s.verifyAssertion(f.Get("client_assertion"), a, t); err != nil {
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation or claims check: "+err.Error()+".", rid)
			return
		}
	case secret != "":
		if subtle.ConstantTimeCompare([]byte(secret), []byte(a.secret)) != 1 {
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID), rid)
			return
		}
		if a.secretExpired {
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000222, fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", clientID), rid)
			return
		}
	default:
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", rid)
		return
	}
	now := s.now()
	exp := now.Add(s.opts.TokenLifetime)
	roles := make([]string, 0, len(a.perms))
	for p := range a.perms {
		roles = append(roles, p)
	}
	slices.Sort(roles)
	tok := s.signToken(accessClaims{
		Aud: "https://graph.microsoft.com", Iss: s.base + "/" + t.id + "/v2.0", Tid: t.id,
		AppID: a.clientID, Roles: roles, Iat: now.Unix(), Nbf: now.Unix(), Exp: exp.Unix(), Jti: rid,
	})
	secs := int(s.opts.TokenLifetime / time.Second)
	body, _ := json.Marshal(obj{
		{"token_type", "Bearer"},
		{"expires_in", secs},
		{"ext_expires_in", secs},
		{"access_token", tok},
	})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

// validScope accepts Graph's .default scope, or the simulator host's own
// (kiota's default when no scopes are configured), plus OIDC extras.
func (s *Server) validScope(scope string) bool {
	ok := false
	for _, sc := range strings.Fields(scope) {
		switch {
		case sc == "openid" || sc == "profile" || sc == "offline_access" || sc == "email":
		case strings.EqualFold(sc, "https://graph.microsoft.com/.default"),
			strings.EqualFold(sc, "https://graph.microsoft.com//.default"),
			strings.EqualFold(sc, s.base+"/.default"),
			strings.EqualFold(sc, s.base+"/v1.0/.default"):
			ok = true
		default:
			return false
		}
	}
	return ok
}

// accessClaims are the claims of the simulator's access tokens. The token
// is HMAC-signed with a per-server key: opaque to clients, bound to tenant,
// app and expiry.
type accessClaims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	Tid   string   `json:"tid"`
	AppID string   `json:"appid"`
	Roles []string `json:"roles"`
	Iat   int64    `json:"iat"`
	Nbf   int64    `json:"nbf"`
	Exp   int64    `json:"exp"`
	Jti   string   `json:"uti"`
}

var tokenHeader = base64url([]byte(`{"typ":"JWT","alg":"HS256","kid":"graphsim"}`))

func (s *Server) signToken(c accessClaims) string {
	p, _ := json.Marshal(c)
	signing := tokenHeader + "." + base64url(p)
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(signing))
	return signing + "." + base64url(m.Sum(nil))
}

// errToken is a Graph 401.
type errToken struct{ msg string }

func (e errToken) Error() string { return e.msg }

// authenticate checks the bearer token and returns its tenant, app and roles.
func (s *Server) authenticate(r *http.Request) (*Tenant, *app, map[string]bool, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil, nil, errToken{"Access token is empty."}
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, nil, nil, errToken{"Access token is empty."}
	}
	tok = strings.TrimSpace(tok)
	c, err := s.verifiedClaims(tok)
	if err != nil {
		return nil, nil, nil, err
	}
	if s.now().Unix() >= c.exp {
		return nil, nil, nil, errToken{"Lifetime validation failed, the token is expired."}
	}
	t := s.byKey[c.tid]
	if t == nil {
		return nil, nil, nil, errToken{"Access token validation failure. Invalid tenant."}
	}
	t.mu.RLock()
	a := t.apps[c.appID]
	t.mu.RUnlock()
	if a == nil {
		return nil, nil, nil, errToken{"Access token validation failure. The application no longer exists."}
	}
	return t, a, c.roles, nil
}

// verified are a token's checked claims; roles is shared by every request
// carrying the token and never written.
type verified struct {
	tid, appID string
	exp        int64
	roles      map[string]bool
}

// verifiedClaims checks a token's signature and decodes its claims, once
// per token: a client sends the same token for an hour, and checking it
// on every request (an HMAC, two base64 decodes and a JSON decode) was a
// sixth of the simulator's allocations in a large sync. Lifetime, tenant
// and app are checked on every request by the caller.
func (s *Server) verifiedClaims(tok string) (verified, error) {
	s.tokMu.Lock()
	v, ok := s.tokCache[tok]
	s.tokMu.Unlock()
	if ok {
		return v, nil
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return verified{}, errToken{"IDX14100: JWT is not well formed, there are no dots (.). The token needs to be in JWS or JWE Compact Serialization Format."}
	}
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return verified{}, errToken{"Access token validation failure. Invalid audience."}
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return verified{}, errToken{"Access token validation failure."}
	}
	var c accessClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return verified{}, errToken{"Access token validation failure."}
	}
	v = verified{tid: c.Tid, appID: c.AppID, exp: c.Exp, roles: make(map[string]bool, len(c.Roles))}
	for _, r := range c.Roles {
		v.roles[r] = true
	}
	s.tokMu.Lock()
	if len(s.tokCache) >= maxCachedTokens {
		clear(s.tokCache) // tokens live an hour: a full cache is mostly expired ones
	}
	s.tokCache[tok] = v
	s.tokMu.Unlock()
	return v, nil
}

// maxCachedTokens bounds the verified-token cache.
const maxCachedTokens = 4096

func unauthorized(e errToken) *apiError {
	return errf(http.StatusUnauthorized, codeInvalidToken, e.msg)
}

// verifyAssertion checks a client assertion JWT: signature by the app's
// registered certificate (found by x5t#S256 or x5t), audience = the token
// endpoint, issuer and subject = the client ID, and its lifetime.
func (s *Server) verifyAssertion(assertion string, a *app, t *Tenant) error {
	if a.cert == nil {
		return errors.New("no certificate is registered for the application")
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return errors.New("assertion is not a JWS")
	}
	var hdr struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	switch {
	case hdr.X5tS256 != "":
		if !thumbMatch(hdr.X5tS256, a.cert.sha256Prnt) {
			return errors.New("unknown certificate thumbprint (x5t#S256)")
		}
	case hdr.X5t != "":
		if !thumbMatch(hdr.X5t, a.cert.sha1Print) {
			return errors.New("unknown certificate thumbprint (x5t)")
		}
	default:
		return errors.New("no certificate thumbprint in header")
	}
	pub, ok := a.cert.cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("certificate key is not RSA")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errors.New("bad signature encoding")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch hdr.Alg {
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	default:
		return fmt.Errorf("unsupported alg %q", hdr.Alg)
	}
	if err != nil {
		return errors.New("signature is invalid")
	}
	var c struct {
		Aud any         `json:"aud"`
		Iss string      `json:"iss"`
		Sub string      `json:"sub"`
		Exp json.Number `json:"exp"`
		Nbf json.Number `json:"nbf"`
	}
	if err := decodeSegment(parts[1], &c); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if c.Iss != a.clientID || c.Sub != a.clientID {
		return errors.New("iss and sub must be the client ID")
	}
	if !s.audienceOK(c.Aud, t) {
		return errors.New("aud is not this tenant's token endpoint")
	}
	// Assertions are minted by the client's real clock, so they are checked
	// against wall time even when the simulator runs on a fake clock.
	now := time.Now().Unix()
	exp, err := c.Exp.Int64()
	if err != nil || exp <= now-300 {
		return errors.New("assertion is expired")
	}
	if nbf, err := c.Nbf.Int64(); err == nil && nbf > now+300 {
		return errors.New("assertion is not yet valid")
	}
	return nil
}

func (s *Server) audienceOK(aud any, t *Tenant) bool {
	var list []string
	switch v := aud.(type) {
	case string:
		list = []string{v}
	case []any:
		for _, x := range v {
			if str, ok := x.(string); ok {
				list = append(list, str)
			}
		}
	}
	for _, a := range list {
		u, err := url.Parse(a)
		if err != nil || "https://"+u.Host != s.base {
			continue
		}
		p := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(p) == 3 && p[1] == "oauth2" && s.Tenant(p[0]) == t {
			return true
		}
		if len(p) == 4 && p[1] == "oauth2" && p[2] == "v2.0" && p[3] == "token" && s.Tenant(p[0]) == t {
			return true
		}
	}
	return false
}

func thumbMatch(got string, want []byte) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(got); err == nil && hmac.Equal(b, want) {
			return true
		}
	}
	return false
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}
