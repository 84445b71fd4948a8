package guestmap

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

const redisServerBin = "/usr/bin/redis-server"

// redisServer is a real redis-server owned by one test: started on a free
// port with no persistence, killed at cleanup.
type redisServer struct {
	t    testing.TB
	port int
	args []string
	cmd  *exec.Cmd
	tls  *tls.Config // client config when the server speaks TLS only
}

// startRedis starts a private redis-server, or skips the test when the
// binary is absent.
func startRedis(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	if _, err := os.Stat(redisServerBin); err != nil {
		t.Skipf("redis-server not found at %s (%v): Redis store tests need it", redisServerBin, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &redisServer{t: t, port: port}
	r.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--loglevel", "warning"}, extra...)
	if tlsArgs := tlsDir(extra); tlsArgs != "" {
		// The TLS port replaces the plain one.
		r.args[0], r.args[1] = "--tls-port", strconv.Itoa(port)
		r.args = append(r.args, "--port", "0")
		r.tls = clientTLS(t, tlsArgs)
	}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// Addr is host:port of the server.
func (r *redisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// URL is a redis:// DSN for the server.
func (r *redisServer) URL() string { return "redis://" + r.Addr() }

// Start (re)starts the server on its port and waits until it answers.
func (r *redisServer) Start() {
	r.t.Helper()
	r.cmd = exec.Command(redisServerBin, r.args...)
	r.cmd.Stderr = os.Stderr
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, Password: passwordArg(r.args), TLSConfig: r.tls})
	defer c.Close()
	for i := 0; ; i++ {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		if i == 500 {
			r.t.Fatalf("redis-server on %s did not answer: %v", r.Addr(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL: a crash, not a shutdown).
func (r *redisServer) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func passwordArg(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--requirepass" {
			return args[i+1]
		}
	}
	return ""
}
