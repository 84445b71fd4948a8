package graphsim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	kauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
)

func init() {
	// What msgraph-sdk-go's root package registers; tests avoid importing it.
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
}

// startSim starts an exact simulator for a test.
func startSim(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// transport trusts the simulator's CA, loaded from its file like a client would.
func transport(t testing.TB, s *Server) *http.Transport {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := s.CAPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
}

func clientOptions(t testing.TB, s *Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityURL() + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: &http.Client{Transport: transport(t, s)},
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

func secretCredential(t testing.TB, s *Server, tenant, clientID, secret string) azcore.TokenCredential {
	t.Helper()
	tn := s.Tenant(tenant)
	cred, err := azidentity.NewClientSecretCredential(tn.ID(), clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: clientOptions(t, s), DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("NewClientSecretCredential: %v", err)
	}
	return cred
}

func certCredential(t testing.TB, s *Server, tenant string) azcore.TokenCredential {
	t.Helper()
	var ti TenantInfo
	for _, x := range s.Info().Tenants {
		if x.Name == tenant {
			ti = x
		}
	}
	certPEM, err := os.ReadFile(ti.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(ti.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	certs, key, err := azidentity.ParseCertificates(append(certPEM, keyPEM...), nil)
	if err != nil {
		t.Fatalf("ParseCertificates: %v", err)
	}
	cred, err := azidentity.NewClientCertificateCredential(ti.TenantID, ti.ClientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
		ClientOptions: clientOptions(t, s), DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("NewClientCertificateCredential: %v", err)
	}
	return cred
}

// adapter builds the SDK's request adapter against the simulator, the way
// package tenants does, without msgraph-sdk-go's root package.
func adapter(t testing.TB, s *Server, cred azcore.TokenCredential) *msgraphgocore.GraphRequestAdapterBase {
	t.Helper()
	host := strings.TrimPrefix(s.URL(), "https://")
	host = host[:strings.LastIndex(host, ":")]
	auth, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{"https://graph.microsoft.com/.default"}, []string{host})
	if err != nil {
		t.Fatalf("auth provider: %v", err)
	}
	opts := msgraphgocore.GraphClientOptions{GraphServiceLibraryVersion: "test"}
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(transport(t, s), msgraphgocore.GetDefaultMiddlewaresWithOptions(&opts)...), Timeout: 30 * time.Second}
	a, err := msgraphgocore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, opts, nil, nil, hc)
	if err != nil {
		t.Fatalf("adapter: %v", err)
	}
	a.SetBaseUrl(s.GraphURL())
	return a
}

// defaultAdapter is an adapter with the tenant's default app and its secret.
func defaultAdapter(t testing.TB, s *Server, tenant string) *msgraphgocore.GraphRequestAdapterBase {
	tn := s.Tenant(tenant)
	return adapter(t, s, secretCredential(t, s, tenant, tn.ClientID(), tn.ClientSecret()))
}

func baseParams(s *Server) map[string]string { return map[string]string{"baseurl": s.GraphURL()} }

// token gets an access token for raw HTTP tests.
func accessToken(t testing.TB, s *Server, tenant string) string {
	t.Helper()
	tn := s.Tenant(tenant)
	cred := secretCredential(t, s, tenant, tn.ClientID(), tn.ClientSecret())
	tk, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	return tk.Token
}

// raw is a plain HTTP call; it returns status, headers and the decoded body.
func raw(t testing.TB, s *Server, tok, method, path string, body string, hdr ...string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	url := path
	if !strings.HasPrefix(path, "https://") {
		url = s.GraphURL() + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		_ = json.Unmarshal(b, &m)
	}
	return resp.StatusCode, resp.Header, m
}

func escape(s string) string { return url.QueryEscape(s) }
