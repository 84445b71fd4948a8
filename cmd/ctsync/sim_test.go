package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestSimWithCurlAndCommands is issue 3's "done when": `ctsync sim` runs as
// a real process, plain curl gets a token and calls the simulated Graph
// with nothing but info.json, and `ctsync validate` and `ctsync once`, as
// real processes too, work against it with the config it wrote. SIGINT
// then stops the simulator cleanly.
func TestSimWithCurlAndCommands(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skipf("curl not found on PATH (%v): this test drives the simulator with plain curl", err)
	}
	bin := buildCtsync(t)
	dir := t.TempDir()
	sim := startSim(t, bin, "--listen", "127.0.0.1:0", "--tenants", "2", "--users", "30", "--state-dir", dir,
		"--write-info", filepath.Join(dir, "info.json"), "--write-config", filepath.Join(dir, "ctsync.toml"))

	var info graphsim.Info
	raw, err := os.ReadFile(filepath.Join(dir, "info.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatalf("info.json: %v", err)
	}
	if len(info.Tenants) != 2 || info.CAFile == "" || info.Authority == "" || info.Graph == "" {
		t.Fatalf("info.json lacks endpoints, CA or tenants: %+v", info)
	}

	c := &curlClient{t: t, bin: curl, ca: info.CAFile, dir: t.TempDir()}
	tn := info.Tenants[0]
	c.token(info.Authority+"/"+tn.TenantID+"/oauth2/v2.0/token", tn.ClientID, tn.ClientSecret)

	// Users: a collection with a value array of users of this tenant.
	var users struct {
		Value []struct {
			ID  string `json:"id"`
			UPN string `json:"userPrincipalName"`
		} `json:"value"`
	}
	c.getJSON(info.Graph+"/users", nil, &users)
	if len(users.Value) == 0 || users.Value[0].ID == "" {
		t.Fatalf("GET /users: no users in value: %+v", users)
	}
	if !strings.HasSuffix(users.Value[0].UPN, "@"+tn.Domain) {
		t.Errorf("GET /users: UPN %q is not in %s", users.Value[0].UPN, tn.Domain)
	}

	// Delta: small pages force nextLinks; the last page has the deltaLink.
	next, pages, seen := info.Graph+"/users/delta", 0, 0
	var deltaLink string
	for next != "" {
		var page struct {
			Value     []json.RawMessage `json:"value"`
			NextLink  string            `json:"@odata.nextLink"`
			DeltaLink string            `json:"@odata.deltaLink"`
		}
		c.getJSON(next, []string{"Prefer: odata.maxpagesize=10"}, &page)
		if page.Value == nil {
			t.Fatalf("delta page %d has no value array", pages)
		}
		if page.NextLink != "" && page.DeltaLink != "" {
			t.Fatalf("delta page %d has both a nextLink and a deltaLink", pages)
		}
		pages++
		seen += len(page.Value)
		next, deltaLink = page.NextLink, page.DeltaLink
		if pages > 100 {
			t.Fatal("delta: more than 100 pages; nextLink loops")
		}
	}
	if pages < 2 || seen < len(users.Value) {
		t.Errorf("delta: %d pages, %d users; want several pages and at least the %d users of GET /users", pages, seen, len(users.Value))
	}
	if u, err := url.Parse(deltaLink); err != nil || u.Query().Get("$deltatoken") == "" {
		t.Errorf("delta: last page's @odata.deltaLink %q has no $deltatoken", deltaLink)
	}

	// Invitation: 201 with the new guest's id, which Graph then serves.
	var inv struct {
		InvitedUser struct {
			ID string `json:"id"`
		} `json:"invitedUser"`
		Status string `json:"status"`
	}
	code := c.do("POST", info.Graph+"/invitations", []string{"Content-Type: application/json"},
		`{"invitedUserEmailAddress":"curl.test@example.com","inviteRedirectUrl":"https://myapplications.microsoft.com"}`, &inv)
	if code != 201 || inv.InvitedUser.ID == "" {
		t.Fatalf("POST /invitations: HTTP %d, invitedUser.id %q; want 201 and an id", code, inv.InvitedUser.ID)
	}
	var guest struct {
		ID       string `json:"id"`
		UserType string `json:"userType"`
	}
	c.getJSON(info.Graph+"/users/"+inv.InvitedUser.ID+"?$select=id,userType", nil, &guest)
	if guest.ID != inv.InvitedUser.ID || guest.UserType != "Guest" {
		t.Errorf("GET the invited user: %+v; want id %s, userType Guest", guest, inv.InvitedUser.ID)
	}

	// The config the simulator wrote: validate, then one cycle of every pair.
	cfgPath := filepath.Join(dir, "ctsync.toml")
	if out, errs, code := runBin(t, bin, "validate", "-c", cfgPath); code != exitOK {
		t.Fatalf("ctsync validate: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Pairs) != 2 {
		t.Errorf("sim config for 2 tenants has %d pairs, want the full mesh of 2", len(cfg.Pairs))
	}
	out, errs, code := runBin(t, bin, "once", "-c", cfgPath)
	if code != exitOK {
		t.Fatalf("ctsync once: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	for _, p := range cfg.Pairs {
		if !strings.Contains(out, p.Name) {
			t.Errorf("ctsync once: output does not name pair %s:\n%s", p.Name, out)
		}
	}
	if strings.Contains(out, "FAILED") {
		t.Errorf("ctsync once: a pair failed:\n%s", out)
	}
	// once released its leases: status shows every pair free.
	out, errs, code = runBin(t, bin, "status", "-c", cfgPath)
	if code != exitOK {
		t.Fatalf("ctsync status: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	for _, p := range cfg.Pairs {
		if !strings.Contains(out, p.Name) {
			t.Errorf("ctsync status: pair %s not listed:\n%s", p.Name, out)
		}
	}
	if n := strings.Count(out, " free "); n != len(cfg.Pairs) {
		t.Errorf("ctsync status: %d free leases, want %d:\n%s", n, len(cfg.Pairs), out)
	}

	sim.interrupt()
}

// buildCtsync builds this command into a temporary directory, so the test
// runs the binary users run, as separate processes.
func buildCtsync(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts GOROOT/bin first on PATH
	if err != nil {
		t.Skipf("go not found on PATH (%v): cannot build the ctsync binary", err)
	}
	bin := filepath.Join(t.TempDir(), "ctsync")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBin runs the binary to completion and returns its output and exit code.
func runBin(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run ctsync %s: %v", args[0], err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// simProcess is a running `ctsync sim`.
type simProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr bytes.Buffer
	// rest receives stdout after the ready line, once stdout closes.
	rest chan string
}

// startSim starts `ctsync sim` and returns once it printed its ready line;
// it is killed at cleanup unless interrupt already stopped it.
func startSim(t *testing.T, bin string, args ...string) *simProcess {
	t.Helper()
	p := &simProcess{t: t, cmd: exec.Command(bin, append([]string{"sim"}, args...)...), rest: make(chan string, 1)}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start ctsync sim: %v", err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	// Wait for the ready line or for stdout to close (the process died):
	// no clock involved.
	r := bufio.NewReader(stdout)
	var seen strings.Builder
	for {
		line, err := r.ReadString('\n')
		seen.WriteString(line)
		if strings.HasPrefix(line, "graphsim ready") {
			break
		}
		if err != nil {
			_ = p.cmd.Wait()
			t.Fatalf("ctsync sim ended before its ready line (%v)\nstdout: %s\nstderr: %s", err, seen.String(), p.stderr.String())
		}
	}
	go func() {
		b, _ := io.ReadAll(r)
		p.rest <- string(b)
	}()
	return p
}

// interrupt sends SIGINT and checks that the simulator says so and exits 0.
func (p *simProcess) interrupt() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		p.t.Fatalf("SIGINT ctsync sim: %v", err)
	}
	rest := <-p.rest // stdout closes when the process exits
	err := p.cmd.Wait()
	if err != nil || p.cmd.ProcessState.ExitCode() != exitOK {
		p.t.Errorf("ctsync sim after SIGINT: %v (exit %d)\nstderr: %s", err, p.cmd.ProcessState.ExitCode(), p.stderr.String())
	}
	if !strings.Contains(rest, "graphsim stopping") {
		p.t.Errorf("ctsync sim did not say it was stopping; stdout after ready: %q", rest)
	}
}

// curlClient calls the simulator with the real curl binary. The client
// secret and the bearer token travel in files, never on the command line
// or in a failure message.
type curlClient struct {
	t       *testing.T
	bin, ca string
	dir     string
	auth    string // path of the header file holding the bearer token
}

// token gets an app-only token by client credentials, as any Graph client
// would.
func (c *curlClient) token(endpoint, clientID, secret string) {
	c.t.Helper()
	var tok struct {
		TokenType   string `json:"token_type"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	// curl reads the secret from a file (name@file), keeping it off the
	// command line.
	secretFile := filepath.Join(c.dir, "client.secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		c.t.Fatal(err)
	}
	code, body := c.run("POST", endpoint, nil, "--data-urlencode", "grant_type=client_credentials",
		"--data-urlencode", "client_id="+clientID, "--data-urlencode", "client_secret@"+secretFile,
		"--data-urlencode", "scope=https://graph.microsoft.com/.default")
	if err := json.Unmarshal(body, &tok); err != nil {
		c.t.Fatalf("token endpoint: HTTP %d, body is not JSON: %v", code, err)
	}
	if code != 200 || tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "Bearer") || tok.ExpiresIn <= 0 {
		c.t.Fatalf("token endpoint: HTTP %d, token_type %q, expires_in %d, error %q: %s; want 200 and a bearer token",
			code, tok.TokenType, tok.ExpiresIn, tok.Error, tok.Description)
	}
	c.auth = filepath.Join(c.dir, "auth.header")
	if err := os.WriteFile(c.auth, []byte("Authorization: Bearer "+tok.AccessToken+"\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// getJSON GETs a Graph URL, wants 200, and decodes the body into v.
func (c *curlClient) getJSON(u string, headers []string, v any) {
	c.t.Helper()
	if code := c.do("GET", u, headers, "", v); code != 200 {
		c.t.Fatalf("GET %s: HTTP %d, want 200", u, code)
	}
}

// do sends an authorised Graph request and decodes the body into v; it
// returns the HTTP status.
func (c *curlClient) do(method, u string, headers []string, body string, v any) int {
	c.t.Helper()
	var extra []string
	if body != "" {
		extra = append(extra, "--data-binary", body)
	}
	code, out := c.run(method, u, append([]string{"@" + c.auth}, headers...), extra...)
	if err := json.Unmarshal(out, v); err != nil {
		c.t.Fatalf("%s %s: HTTP %d, body is not JSON (%v): %s", method, u, code, err, out)
	}
	return code
}

// run runs curl and returns the status and the body.
func (c *curlClient) run(method, u string, headers []string, extra ...string) (int, []byte) {
	c.t.Helper()
	args := []string{"--silent", "--show-error", "--cacert", c.ca, "--max-time", "60", "-X", method,
		"--write-out", "\n%{http_code}"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(append(args, extra...), u)
	var out, errb bytes.Buffer
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("curl %s %s: %v: %s", method, u, err, errb.String())
	}
	b := out.Bytes()
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		c.t.Fatalf("curl %s %s: no status in output %q", method, u, b)
	}
	code, err := strconv.Atoi(string(b[i+1:]))
	if err != nil {
		c.t.Fatalf("curl %s %s: no status in output %q", method, u, b)
	}
	return code, b[:i]
}

func TestSimRejectsBadCounts(t *testing.T) {
	for _, args := range [][]string{{"--users", "-1"}, {"--tenants", "0"}, {"--tenants", "7"}, {"--profile", "slow"},
		{"--replica-miss-rate", "1.5"}, {"--token-fault-rate", "-0.1"}, {"--fault-rate", "2"}, {"--throttle-factor", "0"},
		{"--index-lag", "-1s"}, {"--replica-window", "soon"}, {"--replication-lag", "-2s"}} {
		if code, _, errs := run(t, append([]string{"sim"}, args...)...); code != exitUsage {
			t.Errorf("sim %v: exit %d, want 2 (stderr %q)", args, code, errs)
		}
	}
}

// TestSimKnobs: each realism flag overrides the chosen profile's value and
// leaves the others as the profile has them.
func TestSimKnobs(t *testing.T) {
	hostile := graphsim.HostileRealism()
	realistic := graphsim.RealisticRealism()
	for _, tc := range []struct {
		args   []string
		want   func() graphsim.Realism
		shared bool
	}{
		{nil, func() graphsim.Realism { return graphsim.Realism{} }, false},
		{[]string{"--profile", "realistic"}, func() graphsim.Realism { return realistic }, false},
		{[]string{"--profile", "hostile"}, func() graphsim.Realism { return hostile }, false},
		{[]string{"--profile", "hostile", "--index-lag", "2s", "--replica-miss-rate", "0.1", "--shared-app"}, func() graphsim.Realism {
			r := hostile
			r.IndexLag, r.ReplicaMissRate = 2*time.Second, 0.1
			return r
		}, true},
		{[]string{"--profile", "hostile", "--index-lag", "0", "--replica-window", "0s", "--token-fault-rate", "0", "--fault-rate", "0"}, func() graphsim.Realism {
			r := hostile
			r.IndexLag, r.ReplicaWindow, r.TokenFaultRate, r.FaultRate = 0, 0, 0, 0
			return r
		}, false},
		{[]string{"--profile", "realistic", "--replication-lag", "3s", "--replica-window", "20s", "--throttle-factor", "0.5"}, func() graphsim.Realism {
			r := realistic
			r.ReplicationLag, r.ReplicaWindow, r.ThrottleFactor = 3*time.Second, 20*time.Second, 0.5
			return r
		}, false},
		{[]string{"--throttle-factor", "0.8", "--token-fault-rate", "0.25", "--fault-rate", "0.01"}, func() graphsim.Realism {
			return graphsim.Realism{Throttling: true, ThrottleFactor: 0.8, TokenFaultRate: 0.25, FaultRate: 0.01}
		}, false},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
			k := addSimKnobs(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := k.realism(fs)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(); got != want {
				t.Errorf("realism\n got %+v\nwant %+v", got, want)
			}
			if *k.sharedApp != tc.shared {
				t.Errorf("shared app %v, want %v", *k.sharedApp, tc.shared)
			}
		})
	}
}
