package graphsim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t thumbprints are SHA-1 by definition (RFC 7515).
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// authority is the simulator's throw-away certificate authority and the TLS
// certificate it issued for the listener.
type authority struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	tlsCert tls.Certificate
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// newAuthority makes a CA and a server certificate for the given hosts
// (IP addresses or names); localhost and the loopback addresses are always
// included.
func newAuthority(hosts []string) (*authority, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("graphsim: CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ctsync graphsim throw-away CA", Organization: []string{"ctsync"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("graphsim: CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("graphsim: parse CA certificate: %w", err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("graphsim: server key: %w", err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "graphsim"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				srvTmpl.IPAddresses = append(srvTmpl.IPAddresses, ip)
			}
		} else if h != "localhost" {
			srvTmpl.DNSNames = append(srvTmpl.DNSNames, h)
		}
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("graphsim: server certificate: %w", err)
	}
	return &authority{
		cert:    caCert,
		key:     caKey,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tlsCert: tls.Certificate{Certificate: [][]byte{srvDER, caDER}, PrivateKey: srvKey},
	}, nil
}

// appKey is one RSA key shared by the certificate credentials of every app
// the simulator registers in this process: MSAL signs assertions with PS256,
// which needs RSA, and generating a 2048-bit key per tenant per server would
// dominate test start-up. Each app still gets its own certificate.
var appKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// appCert is a certificate credential registered on an app.
type appCert struct {
	cert       *x509.Certificate
	certPEM    []byte
	keyPEM     []byte
	sha1Print  []byte
	sha256Prnt []byte
}

func (a *authority) issueAppCert(cn string) (*appCert, error) {
	key, err := appKey()
	if err != nil {
		return nil, fmt.Errorf("graphsim: app key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("graphsim: app certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("graphsim: parse app certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("graphsim: marshal app key: %w", err)
	}
	s1 := sha1.Sum(der) //nolint:gosec // thumbprint, not a security boundary.
	s256 := sha256.Sum256(der)
	return &appCert{
		cert:       c,
		certPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		sha1Print:  s1[:],
		sha256Prnt: s256[:],
	}, nil
}

// writeFile writes data under dir with the given mode, replacing any file.
func writeFile(dir, name string, data []byte, mode os.FileMode) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		return "", fmt.Errorf("graphsim: write %s: %w", p, err)
	}
	if err := os.Chmod(p, mode); err != nil {
		return "", fmt.Errorf("graphsim: chmod %s: %w", p, err)
	}
	return p, nil
}
