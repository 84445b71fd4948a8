package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/ctsync/ctsync/internal/directory"
)

// CredentialError is a credential that could not be built or could not get
// a token. It names the tenant and the credential kind and carries the
// cause; it never contains the secret.
type CredentialError struct {
	Tenant string
	Kind   string
	Err    error

	// transient: the token endpoint failed in a way that passes (5xx,
	// 429, temporarily_unavailable, no response); decided once, when the
	// error is made, because it reads the response body.
	transient bool
	// retryAfter is the authority's Retry-After on a transient failure.
	retryAfter time.Duration
}

// Transient reports whether the token endpoint failed transiently (5xx,
// 429, temporarily_unavailable, or no response at all): the call is
// retried like any transient failure instead of stopping the pair. A
// refused credential (wrong secret, unknown tenant or app) is not.
func (e *CredentialError) Transient() bool { return e.transient }

// Is makes errors.Is(err, directory.ErrFatal) hold for a credential
// failure that is not transient, as IsFatal does.
func (e *CredentialError) Is(target error) bool {
	return target == directory.ErrFatal && !e.transient
}

// Error says which tenant's which credential failed, and why.
func (e *CredentialError) Error() string {
	return fmt.Sprintf("tenant %q: %s credential: %v", e.Tenant, e.Kind, e.Err)
}

// Summary is the error in one short line for logs at info. azidentity's
// errors are multi-line dumps of the authority's response; Summary keeps
// its status, OAuth error and the first line of the description (the
// AADSTS code and text), or else the cause's first line.
func (e *CredentialError) Summary() string {
	return fmt.Sprintf("tenant %q: %s credential: %s", e.Tenant, e.Kind, credentialCause(e.Err))
}

// credentialCause condenses a credential's failure to one line.
func credentialCause(err error) string {
	if err == nil {
		return "failed"
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if body, rerr := runtime.Payload(afe.RawResponse); rerr == nil && json.Unmarshal(body, &oe) == nil && oe.Error != "" {
			s := fmt.Sprintf("%d %s", afe.RawResponse.StatusCode, oe.Error)
			// The description ends with trace and correlation IDs that
			// only support needs: they stay in the full error (debug).
			d, _, _ := strings.Cut(oe.Description, " Trace ID:")
			if d = firstLine(strings.ReplaceAll(d, "\r", "\n")); d != "" {
				s += ": " + d
			}
			return s
		}
	}
	return firstLine(err.Error())
}

// Unwrap returns the cause.
func (e *CredentialError) Unwrap() error { return e.Err }

func isCredentialError(err error) bool {
	var ce *CredentialError
	return errors.As(err, &ce)
}

// fatalCredential reports whether err holds a credential failure that
// retrying cannot cure.
func fatalCredential(err error) bool {
	var ce *CredentialError
	return errors.As(err, &ce) && !ce.transient
}

// oauthTransientCodes are AADSTS codes that mean "the service failed, try
// again": 50000 (error issuing a token) and 90033 (transient error). Every
// other code that comes with a 4xx (7000215 invalid secret, 90002 unknown
// tenant, 700016 unknown app, 7000222 expired secret, ...) is a refusal.
var oauthTransientCodes = map[int]bool{50000: true, 90033: true}

// tokenFailureTransient decides whether a token failure passes by itself.
// azidentity reports a refusal by the authority as an
// AuthenticationFailedError carrying the response; a transport failure
// (after azcore's own retries) as one without a response. Other credential
// errors (unavailable managed identity, CLI not signed in, unreadable
// token file) need someone to act: not transient.
func tokenFailureTransient(err error) bool {
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		var ne net.Error
		return errors.As(err, &ne) // a custom credential's network failure
	}
	resp := afe.RawResponse
	if resp == nil {
		return true // no answer from the authority
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusRequestTimeout {
		return true
	}
	// Payload reads the body once and leaves it readable again for
	// AuthenticationFailedError.Error.
	body, rerr := runtime.Payload(resp)
	if rerr != nil {
		return false
	}
	var oe struct {
		Error      string `json:"error"`
		ErrorCodes []int  `json:"error_codes"`
	}
	if json.Unmarshal(body, &oe) != nil {
		return false
	}
	if strings.EqualFold(oe.Error, "temporarily_unavailable") {
		return true
	}
	for _, c := range oe.ErrorCodes {
		if oauthTransientCodes[c] {
			return true
		}
	}
	return false
}

// IsCredential reports whether err is a credential failure, transient or
// not (see CredentialError.Transient and IsFatal).
func IsCredential(err error) bool { return isCredentialError(err) }

// newCredential builds the azidentity credential cfg asks for. tokenClient
// carries the extra CA, for the authority.
func newCredential(cfg *Config, tokenClient *http.Client) (azcore.TokenCredential, error) {
	fail := func(err error) error {
		return &CredentialError{Tenant: cfg.Name, Kind: cfg.Credential, Err: err}
	}
	opts := azcore.ClientOptions{Transport: tokenClient}
	if cfg.AuthorityHost != "" {
		host := cfg.AuthorityHost
		if !strings.HasSuffix(host, "/") {
			host += "/"
		}
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: host}
	}
	// Instance discovery asks login.microsoft.com about the authority; a
	// sovereign or simulated authority is configured explicitly instead.
	noDiscovery := cfg.AuthorityHost != ""

	var cred azcore.TokenCredential
	var err error
	switch cfg.Credential {
	case CredClientSecret:
		var secret string
		secret, err = readSecret(cfg)
		if err != nil {
			return nil, fail(err)
		}
		cred, err = azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
	case CredClientCertificate:
		data, rerr := os.ReadFile(cfg.CertificateFile)
		if rerr != nil {
			return nil, fail(fmt.Errorf("read certificate file: %w", rerr))
		}
		var password []byte
		if cfg.CertificatePasswordEnv != "" {
			password = []byte(os.Getenv(cfg.CertificatePasswordEnv))
		}
		certs, key, perr := azidentity.ParseCertificates(data, password)
		if perr != nil {
			return nil, fail(fmt.Errorf("parse certificate file %s: %w", cfg.CertificateFile, perr))
		}
		cred, err = azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
	case CredManagedIdentity:
		mi := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if cfg.ClientID != "" { // user-assigned identity
			mi.ID = azidentity.ClientID(cfg.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(mi)
	case CredWorkloadIdentity:
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: cfg.ClientID, TenantID: cfg.TenantID,
			DisableInstanceDiscovery: noDiscovery,
		})
	case CredAzureCLI:
		cred, err = azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: cfg.TenantID})
	default:
		return nil, fail(errors.New("unknown credential kind"))
	}
	if err != nil {
		return nil, fail(err)
	}
	return &namedCredential{inner: cred, tenant: cfg.Name, kind: cfg.Credential}, nil
}

// readSecret reads the client secret from its file or variable.
func readSecret(cfg *Config) (string, error) {
	var s string
	switch {
	case cfg.SecretFile != "":
		b, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		s = strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("secret file %s is empty", cfg.SecretFile)
		}
	case cfg.SecretEnv != "":
		s = strings.TrimSpace(os.Getenv(cfg.SecretEnv))
		if s == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset", cfg.SecretEnv)
		}
	default:
		return "", errors.New("no secret file or secret variable configured")
	}
	return s, nil
}

// namedCredential wraps token failures in a CredentialError, so that the
// failure of a Graph call for want of a token names tenant and kind.
type namedCredential struct {
	inner        azcore.TokenCredential
	tenant, kind string
	// signedIn, when set, is raised at the first token obtained (see
	// Client.SignedIn).
	signedIn *atomic.Bool
}

func (n *namedCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := n.inner.GetToken(ctx, o)
	if err != nil {
		ce := &CredentialError{Tenant: n.tenant, Kind: n.kind, Err: err, transient: tokenFailureTransient(err)}
		var afe *azidentity.AuthenticationFailedError
		if ce.transient && errors.As(err, &afe) && afe.RawResponse != nil {
			ce.retryAfter = parseRetryAfter(afe.RawResponse.Header.Get("Retry-After"), time.Now())
		}
		return tok, ce
	}
	if n.signedIn != nil {
		n.signedIn.Store(true)
	}
	return tok, nil
}
