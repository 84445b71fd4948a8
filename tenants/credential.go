package tenants

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialError is a credential that could not be built or could not get
// a token. It names the tenant and the credential kind and carries the
// cause; it never contains the secret.
type CredentialError struct {
	Tenant string
	Kind   string
	Err    error
}

// Error says which tenant's which credential failed, and why.
func (e *CredentialError) Error() string {
	return fmt.Sprintf("tenant %q: %s credential: %v", e.Tenant, e.Kind, e.Err)
}

// Unwrap returns the cause.
func (e *CredentialError) Unwrap() error { return e.Err }

func isCredentialError(err error) bool {
	var ce *CredentialError
	return errors.As(err, &ce)
}

// IsCredential reports whether err is a credential failure (stop the pair:
// retrying will not help until the configuration or the secret changes).
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
}

func (n *namedCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := n.inner.GetToken(ctx, o)
	if err != nil {
		return tok, &CredentialError{Tenant: n.tenant, Kind: n.kind, Err: err}
	}
	return tok, nil
}
