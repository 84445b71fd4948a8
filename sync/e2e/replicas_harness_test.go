package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/testredis"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// The replica harness is issue 11's test bed: the three-tenant mesh of the
// hostile harness, with a profile of the test's choosing (the behaviour
// under test here is ctsync's sharing and recovery, not Graph's
// consistency), a short worker interval and lease, a Redis the test can
// flush or restart, and `ctsync run` replicas as real processes that the
// test kills with SIGKILL. What the tenants hold is read through the
// simulator, what ctsync says of itself through `ctsync status --json`.

// procMeshSetup configures newProcMesh.
type procMeshSetup struct {
	users   int              // seeded users per tenant
	profile graphsim.Profile // default exact
	policy  string           // each pair's TOML (app.DefaultSimPair when empty)
	// interval and leaseTTL are worker.interval and worker.lease_ttl
	// (defaults 3s and 6s).
	interval, leaseTTL time.Duration
	// latency delays every Graph request, so that a sync lasts long
	// enough for a kill or a flush to land in the middle of it.
	latency graphsim.Latency
}

// procMesh is a mesh whose pairs `ctsync run` replicas share.
type procMesh struct {
	*mesh
	redis              *testredis.Server
	interval, leaseTTL time.Duration

	mu       sync.Mutex
	replicas []*replicaProc // every replica started, dead ones too
}

func newProcMesh(t *testing.T, s procMeshSetup) *procMesh {
	t.Helper()
	if s.interval == 0 {
		s.interval = 3 * time.Second
	}
	if s.leaseTTL == 0 {
		s.leaseTTL = 6 * time.Second
	}
	if s.profile == "" {
		s.profile = graphsim.ProfileExact
	}
	skew := new(atomic.Int64)
	sim, err := graphsim.Start(graphsim.Options{Tenants: meshTenants, Users: s.users, Seed: 11,
		Profile: s.profile, StateDir: t.TempDir(),
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	if s.latency != (graphsim.Latency{}) {
		rz := sim.Realism()
		rz.Latency = s.latency
		sim.SetRealism(rz)
	}
	redis := testredis.Start(t, testredis.Options{})
	toml := app.SimConfig(sim, config.Store{URL: redis.URL()}, s.policy)
	const worker = "[worker]\ninterval = \"1m\"\n"
	if !strings.Contains(toml, worker) {
		t.Fatalf("SimConfig's [worker] section changed; the harness cannot set the interval:\n%s", toml)
	}
	toml = strings.Replace(toml, worker, fmt.Sprintf("[worker]\ninterval = %q\nlease_ttl = %q\n", s.interval, s.leaseTTL), 1)
	m := meshOn(t, sim, redis.URL(), skew, toml)
	pm := &procMesh{mesh: m, redis: redis, interval: s.interval, leaseTTL: s.leaseTTL}
	// Cleanups run last-registered first: the replicas die, then their
	// output is shown (on failure), then the provisioning log, then Redis
	// and the simulator stop.
	t.Cleanup(m.logFailures)
	t.Cleanup(pm.logReplicas)
	t.Cleanup(pm.killAll)
	return pm
}

// sixPairs are the six pairs of the mesh, sorted.
func sixPairs() []string {
	var out []string
	for _, s := range meshTenants {
		for _, d := range meshTenants {
			if s != d {
				out = append(out, s+"-to-"+d)
			}
		}
	}
	sort.Strings(out)
	return out
}

// targetOf is the target tenant of a mesh pair.
func targetOf(pair string) string { _, t, _ := strings.Cut(pair, "-to-"); return t }

// replicaProc is one `ctsync run` process.
type replicaProc struct {
	name string // the test's name for it: r1, r2...
	id   string // its replica ID, "HOSTNAME:PID"
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{} // closed when the process has exited

	mu  sync.Mutex
	how string // how it ended: "killed", "stopped", or its exit
}

func (r *replicaProc) setHow(how string, onlyFirst bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !onlyFirst || r.how == "" {
		r.how = how
	}
}

func (r *replicaProc) ended() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.how == "" {
		return "running"
	}
	return r.how
}

// startReplica starts `ctsync run` on the mesh's configuration.
func (pm *procMesh) startReplica(name string) *replicaProc {
	pm.tb.Helper()
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	r := &replicaProc{name: name, out: &lockedBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(ctsyncBinary(pm.tb), "run", "-c", pm.cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	// CTSYNC_E2E_REPLICA_DIR keeps every replica's whole output in a file
	// there, for a post-mortem.
	if dir := os.Getenv("CTSYNC_E2E_REPLICA_DIR"); dir != "" {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(pm.tb.Name()) + "-" + name + ".log"
		if f, err := os.Create(filepath.Join(dir, name)); err == nil {
			pm.tb.Cleanup(func() { f.Close() })
			w := io.MultiWriter(r.out, f)
			r.cmd.Stdout, r.cmd.Stderr = w, w
		}
	}
	if err := r.cmd.Start(); err != nil {
		pm.tb.Fatalf("start replica %s: %v", name, err)
	}
	r.id = host + ":" + strconv.Itoa(r.cmd.Process.Pid)
	go func() {
		err := r.cmd.Wait()
		r.setHow(fmt.Sprintf("exited: %v", err), true)
		close(r.done)
	}()
	pm.mu.Lock()
	pm.replicas = append(pm.replicas, r)
	pm.mu.Unlock()
	pm.tb.Logf("%s started: replica %s", name, r.id)
	return r
}

// alive reports whether the process is still running.
func (r *replicaProc) alive() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// kill ends the replica with SIGKILL (a crash: no Leave, no lease
// released) and waits for it to be gone.
func (r *replicaProc) kill() {
	if !r.alive() {
		return
	}
	r.setHow("killed", false)
	_ = r.cmd.Process.Kill()
	<-r.done
}

// stop ends the replica with SIGTERM, as an admin would, and SIGKILL if it
// is still there after a while.
func (r *replicaProc) stop() {
	if !r.alive() {
		return
	}
	r.setHow("stopped", false)
	terminate(r.cmd, r.done)
}

// terminate ends a daemon process with SIGTERM, and SIGKILL if it has not
// exited 20 s later; done is closed when it has exited.
func terminate(cmd *exec.Cmd, done <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (pm *procMesh) killAll() {
	pm.mu.Lock()
	rs := slices.Clone(pm.replicas)
	pm.mu.Unlock()
	for _, r := range rs {
		r.kill()
	}
}

// logReplicas shows the last lines of every replica's output when the
// test failed (or runs -v and asked for them with CTSYNC_E2E_REPLICA_LOGS).
func (pm *procMesh) logReplicas() {
	if !pm.tb.Failed() && os.Getenv("CTSYNC_E2E_REPLICA_LOGS") == "" {
		return
	}
	pm.mu.Lock()
	rs := slices.Clone(pm.replicas)
	pm.mu.Unlock()
	for _, r := range rs {
		lines := strings.Split(strings.TrimRight(r.out.String(), "\n"), "\n")
		const keep = 80
		if len(lines) > keep {
			lines = append([]string{fmt.Sprintf("... %d lines before", len(lines)-keep)}, lines[len(lines)-keep:]...)
		}
		pm.tb.Logf("replica %s (%s, %s), last lines:\n%s", r.name, r.id, r.ended(), strings.Join(lines, "\n"))
	}
}

// replicaStatus is one entry of status --json's "replicas" (issue 11).
type replicaStatus struct {
	ID         string    `json:"id"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	Version    string    `json:"version"`
	Started    time.Time `json:"started"`
	Configured []string  `json:"configured"`
	Pairs      []string  `json:"pairs"`
	Seen       time.Time `json:"seen"`
	Until      time.Time `json:"until"`
}

// fullPairStatus is one entry of status --json's "pairs", with issue 11's
// "owner".
type fullPairStatus struct {
	Name        string     `json:"name"`
	Owner       string     `json:"owner"`
	Mapped      int        `json:"mapped"`
	Parked      int        `json:"parked"`
	Staged      int        `json:"staged"`
	LastSuccess *time.Time `json:"lastSuccess"`
	LastError   string     `json:"lastError"`
	Lease       struct {
		Held   bool       `json:"held"`
		Holder string     `json:"holder"`
		Until  *time.Time `json:"until"`
	} `json:"lease"`
	Users []statusUser `json:"users"`
}

// statusUser is one of the users `ctsync status --pair` lists (parked,
// staged).
type statusUser struct {
	SourceID string `json:"sourceId"`
	GuestID  string `json:"guestId"`
	Mail     string `json:"mail"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
	Action   string `json:"action"`
	Decision string `json:"decision"`
}

// statusDoc is `ctsync status --json`, version 1.
type statusDoc struct {
	Version  int              `json:"version"`
	Replicas []replicaStatus  `json:"replicas"`
	Pairs    []fullPairStatus `json:"pairs"`
	raw      string
}

func (d statusDoc) pair(name string) (fullPairStatus, bool) {
	for _, p := range d.Pairs {
		if p.Name == name {
			return p, true
		}
	}
	return fullPairStatus{}, false
}

func (d statusDoc) replica(id string) (replicaStatus, bool) {
	for _, r := range d.Replicas {
		if r.ID == id {
			return r, true
		}
	}
	return replicaStatus{}, false
}

// summary is a one-line view of who runs what, for logs.
func (d statusDoc) summary() string {
	var b strings.Builder
	for _, r := range d.Replicas {
		fmt.Fprintf(&b, "[%s runs %v] ", r.ID, r.Pairs)
	}
	for _, p := range d.Pairs {
		last := "-"
		if p.LastSuccess != nil {
			last = p.LastSuccess.Format("15:04:05.000")
		}
		fmt.Fprintf(&b, "%s owner=%q lease=%v/%q last=%s; ", p.Name, p.Owner, p.Lease.Held, p.Lease.Holder, last)
	}
	return b.String()
}

// statusDoc reads `ctsync status --json` (with the pair's users when pair
// is set). A failed command is returned as an error, for pollers.
func (pm *procMesh) statusDoc(pair string) (statusDoc, error) {
	pm.tb.Helper()
	args := []string{"status", "--json"}
	if pair != "" {
		args = append(args, "--pair", pair, "--lookup=false")
	}
	code, out := runCtsync(pm.tb, pm.cfgPath, 2*time.Minute, args...)
	if code != 0 {
		return statusDoc{}, fmt.Errorf("ctsync %v: exit %d\n%s", args, code, out)
	}
	var d statusDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Version != 1 {
		return statusDoc{}, fmt.Errorf("ctsync %v: want a version 1 document (%v)\n%s", args, err, out)
	}
	d.raw = out
	return d, nil
}

// eventually polls cond every `every` until it returns "" (done) or
// within passes; then it reports the last answer as an error and returns
// false. It never asserts speed: within is a generous bound.
func eventually(t testing.TB, what string, within, every time.Duration, cond func() string) (time.Duration, bool) {
	t.Helper()
	took, why := pollUntil(within, every, cond)
	if why != "" {
		t.Errorf("%s: not so after %v: %s", what, within, why)
	}
	return took, why == ""
}

// pollUntil is eventually without the error: it returns how long it
// polled and cond's last answer ("" when it held).
func pollUntil(within, every time.Duration, cond func() string) (time.Duration, string) {
	start := time.Now()
	deadline := start.Add(within)
	for {
		why := cond()
		if why == "" || time.Now().After(deadline) {
			return time.Since(start), why
		}
		time.Sleep(every)
	}
}

// duplicates lists what would be a duplicate guest: a source user stamped
// on more than one target user (live or deleted), or a mail held by more
// than one B2B user in a target beside the seed's guests.
func (m *mesh) duplicates() []string {
	var out []string
	for _, d := range meshTenants {
		tn := m.ten[d]
		byStamp := map[string][]string{}
		for _, u := range append(tn.Users(), tn.DeletedUsers()...) {
			if st := str(u, stampAttr); st != "" {
				byStamp[st] = append(byStamp[st], u.ID)
			}
		}
		for st, ids := range byStamp {
			if len(ids) > 1 {
				out = append(out, fmt.Sprintf("%s: %d users carry stamp %s: %v", d, len(ids), st, ids))
			}
		}
		byMail := map[string][]string{}
		for _, u := range tn.Users() {
			if isB2B(u) && !m.seedGuests[d][u.ID] {
				if mail := strings.ToLower(str(u, "mail")); mail != "" {
					byMail[mail] = append(byMail[mail], u.ID)
				}
			}
		}
		for mail, ids := range byMail {
			if len(ids) > 1 {
				out = append(out, fmt.Sprintf("%s: %d B2B users have mail %s: %v", d, len(ids), mail, ids))
			}
		}
	}
	sort.Strings(out)
	return out
}

// stampedGuests counts the live stamped guests in the whole mesh.
func (m *mesh) stampedGuests() int {
	n := 0
	for _, d := range meshTenants {
		for _, u := range m.ten[d].Users() {
			if str(u, stampAttr) != "" && isB2B(u) {
				n++
			}
		}
	}
	return n
}

// createdGuests counts the B2B users in the mesh that the seed did not
// make: the guests ctsync invited, stamped or not yet.
func (m *mesh) createdGuests() int {
	n := 0
	for _, d := range meshTenants {
		for _, u := range m.ten[d].Users() {
			if isB2B(u) && !m.seedGuests[d][u.ID] {
				n++
			}
		}
	}
	return n
}

// first returns at most n lines, with a count of the rest.
func first(lines []string, n int) string {
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n... and %d more", len(lines)-n)
}
