// Package testredis runs a real redis-server for one test: started on a
// free loopback port with no persistence, killed at cleanup. Tests that
// need Redis use it instead of a shared server, so they can kill and
// restart it (crash tests) without disturbing anyone.
package testredis

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options tune the server. The zero value is a plain server.
type Options struct {
	// Args are extra redis-server arguments.
	Args []string
	// Password, when set, is the server's requirepass.
	Password string
	// TLS makes the server speak TLS only, with a certificate for
	// 127.0.0.1 and localhost from a CA made for this test: connect with
	// Server.ClientTLS (or trust Server.CAFile).
	TLS bool
}

// Server is a redis-server owned by one test.
type Server struct {
	t    testing.TB
	port int
	args []string
	opts Options
	cmd  *exec.Cmd
	ca   *tlsFiles // nil unless Options.TLS
}

// Start starts a private redis-server, or skips the test when none is
// installed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skipf("redis-server not found on PATH (%v): this test needs a real Redis", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, port: port, opts: opts}
	portFlag := "--port"
	if opts.TLS {
		portFlag = "--tls-port"
	}
	s.args = []string{bin, portFlag, strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--loglevel", "warning"}
	if opts.TLS {
		s.ca = writeTLSFiles(t, t.TempDir())
		// The TLS port replaces the plain one.
		s.args = append(s.args, "--port", "0", "--tls-cert-file", s.ca.cert, "--tls-key-file", s.ca.key,
			"--tls-ca-cert-file", s.ca.ca, "--tls-auth-clients", "no")
	}
	if opts.Password != "" {
		s.args = append(s.args, "--requirepass", opts.Password)
	}
	s.args = append(s.args, opts.Args...)
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// URL is a redis:// DSN for the server (rediss:// when TLS only).
func (s *Server) URL() string {
	if s.opts.TLS {
		return "rediss://" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// ClientTLS is a client TLS configuration that trusts the server's test
// CA; nil unless Options.TLS.
func (s *Server) ClientTLS() *tls.Config {
	if s.ca == nil {
		return nil
	}
	return s.ca.client.Clone()
}

// CAFile is the path of the server's test CA certificate (PEM), as a
// configuration's ca_file would name it; "" unless Options.TLS.
func (s *Server) CAFile() string {
	if s.ca == nil {
		return ""
	}
	return s.ca.ca
}

// Restart (re)starts the server on its port and waits until it answers.
// After Kill it comes back empty: no persistence.
func (s *Server) Restart() {
	s.t.Helper()
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, Password: s.opts.Password, TLSConfig: s.ClientTLS()})
	defer c.Close()
	for i := 0; ; i++ {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		if i == 500 {
			s.t.Fatalf("redis-server on %s did not answer: %v", s.Addr(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL: a crash, not a shutdown).
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}
