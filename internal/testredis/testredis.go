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
	// TLSPort makes the server speak TLS only (Args must carry the
	// --tls-cert-file, --tls-key-file and --tls-ca-cert-file settings);
	// ClientTLS is then how this package pings it.
	TLSPort   bool
	ClientTLS *tls.Config
	// Password is the server's requirepass, for the readiness ping.
	Password string
}

// Server is a redis-server owned by one test.
type Server struct {
	t    testing.TB
	port int
	args []string
	opts Options
	cmd  *exec.Cmd
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
	if opts.TLSPort {
		portFlag = "--tls-port"
	}
	s.args = append([]string{bin, portFlag, strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--loglevel", "warning"}, opts.Args...)
	if opts.TLSPort {
		s.args = append(s.args, "--port", "0")
	}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// URL is a redis:// DSN for the server (rediss:// when TLS only).
func (s *Server) URL() string {
	if s.opts.TLSPort {
		return "rediss://" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// Restart (re)starts the server on its port and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, Password: s.opts.Password, TLSConfig: s.opts.ClientTLS})
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
