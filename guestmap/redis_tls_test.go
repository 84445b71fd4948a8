package guestmap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTLSFiles makes a throw-away CA and a server certificate for
// 127.0.0.1 and localhost in dir: ca.pem, cert.pem, key.pem.
func writeTLSFiles(t testing.TB, dir string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "guestmap test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for name, block := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// tlsArgs returns redis-server options for TLS with files in dir.
func tlsArgs(dir string) []string {
	return []string{"--tls-cert-file", filepath.Join(dir, "cert.pem"), "--tls-key-file", filepath.Join(dir, "key.pem"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"), "--tls-auth-clients", "no"}
}

// tlsDir returns the certificate directory when extra asks for TLS.
func tlsDir(extra []string) string {
	for i := 0; i+1 < len(extra); i++ {
		if extra[i] == "--tls-cert-file" {
			return filepath.Dir(extra[i+1])
		}
	}
	return ""
}

// clientTLS trusts the test CA in dir.
func clientTLS(t testing.TB, dir string) *tls.Config {
	pemCA, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// TestRedisTLS opens rediss:// against a TLS-only redis-server, and sees
// an untrusted server refused.
func TestRedisTLS(t *testing.T) {
	dir := t.TempDir()
	writeTLSFiles(t, dir)
	srv := startRedis(t, tlsArgs(dir)...)
	dsn := "rediss://" + srv.Addr()
	s, err := Open(ctx, dsn, Options{TLSConfig: clientTLS(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := mustAcquire(t, s, pairAB, time.Minute)
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}})
	if _, ok, err := s.Get(ctx, pairAB, sampleEntry(1).SourceID); !ok || err != nil {
		t.Fatalf("get over TLS: %v %v", ok, err)
	}
	// System roots do not know the test CA.
	_, err = Open(ctx, dsn, Options{Redis: quickFail})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted server: %v", err)
	}
}
