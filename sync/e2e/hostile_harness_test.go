package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/testredis"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// The hostile harness is issue 10's test bed: three tenants on one
// simulator with graphsim's hostile profile (a search index that lags
// writes, replicas that answer 404 for young objects, 429s below the
// documented limits, token endpoint faults), a real Redis, and ctsync as
// real processes (`ctsync once -c cfg`), configured by app.SimConfig as an
// admin would be. What the target holds is read through the simulator's
// in-process view, which is the truth, never through what ctsync reports
// about itself; what ctsync reports (status, logs, map export) is checked
// apart, through its own commands.

// meshTenants are the mesh's tenants: every one syncs into the other two.
var meshTenants = []string{"contoso", "fabrikam", "northwind"}

// pairCF is the pair the single-pair scenarios drive.
const pairCF = "contoso-to-fabrikam"

// mesh is a three-tenant hostile simulator with a private Redis and a
// ctsync configuration of its six pairs.
type mesh struct {
	tb       testing.TB
	sim      *graphsim.Server
	cfgPath  string
	redisURL string
	ten      map[string]*graphsim.Tenant
	// seedGuests holds, per tenant, the B2B users the seed made: guests
	// ctsync did not create, which count when looking for duplicates.
	seedGuests map[string]map[string]bool
	// outOfScope are source users the pairs' policy leaves out (by
	// exclude_upn, say), whom inScope must leave out too.
	outOfScope map[string]bool
	// skew is how far the simulator's clock runs ahead of the real one
	// (see intervalPasses).
	skew *atomic.Int64
}

type meshSetup struct {
	users  int    // seeded users per tenant
	policy string // each pair's TOML (app.DefaultSimPair when empty)
	// leaseTTL is worker.lease_ttl; "5s" lets a killed process's lease
	// (and its user locks) expire soon.
	leaseTTL string
}

func newMesh(tb testing.TB, s meshSetup) *mesh {
	tb.Helper()
	skew := new(atomic.Int64)
	sim, err := graphsim.Start(graphsim.Options{Tenants: meshTenants, Users: s.users, Seed: 10,
		Profile: graphsim.ProfileHostile, StateDir: tb.TempDir(),
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sim.Close() })
	redis := testredis.Start(tb, testredis.Options{})
	toml := app.SimConfig(sim, config.Store{URL: redis.URL()}, s.policy)
	if s.leaseTTL != "" {
		toml = strings.Replace(toml, "[worker]\n", "[worker]\nlease_ttl = \""+s.leaseTTL+"\"\n", 1)
	}
	m := meshOn(tb, sim, redis.URL(), skew, toml)
	// Runs before Redis stops (cleanups run last-registered first).
	tb.Cleanup(m.logFailures)
	return m
}

// meshOn is the mesh of a started simulator and Redis: it writes the
// configuration toml and notes the guests the tenants were seeded with.
func meshOn(tb testing.TB, sim *graphsim.Server, redisURL string, skew *atomic.Int64, toml string) *mesh {
	tb.Helper()
	m := &mesh{tb: tb, sim: sim, cfgPath: filepath.Join(tb.TempDir(), "ctsync.toml"), redisURL: redisURL, skew: skew,
		ten: map[string]*graphsim.Tenant{}, seedGuests: map[string]map[string]bool{}, outOfScope: map[string]bool{}}
	if err := os.WriteFile(m.cfgPath, []byte(toml), 0o600); err != nil {
		tb.Fatal(err)
	}
	for _, n := range meshTenants {
		tn := sim.Tenant(n)
		m.ten[n] = tn
		m.seedGuests[n] = map[string]bool{}
		for _, u := range tn.Users() {
			if isB2B(u) {
				m.seedGuests[n][u.ID] = true
			}
		}
	}
	return m
}

// setIndexLag makes the search index trail writes by lag, so a scenario
// that must happen "within the index lag" does, however slow the machine.
func (m *mesh) setIndexLag(lag time.Duration) {
	rz := m.sim.Realism()
	rz.IndexLag = lag
	m.sim.SetRealism(rz)
}

// simInterval is worker.interval in SimConfig: the daemon's time between
// two cycles of a pair.
const simInterval = time.Minute

// intervalPasses stands for the worker interval between two cycles of the
// daemon, which back-to-back `ctsync once` runs leave out. For ctsync:
// parked users whose retry falls due within one interval are made due
// now, as they would be at the daemon's next cycle; users backing off for
// longer (a second failure waits two minutes) stay parked, so "converges
// within 3 cycles" keeps its meaning and its strictness. For Graph: the
// simulator's clock moves on by the interval, so what a minute does there
// happens too (young objects' replica windows close, the search index
// catches up, throttling windows roll), and the next run does not meet a
// Graph frozen a second after the last one.
func (m *mesh) intervalPasses() {
	m.tb.Helper()
	m.skew.Add(int64(simInterval))
	ctx := context.Background()
	st, err := app.OpenStore(ctx, config.Store{URL: m.redisURL})
	if err != nil {
		m.tb.Fatal(err)
	}
	defer st.Close()
	due := time.Now().Add(simInterval)
	for _, s := range meshTenants {
		for _, d := range meshTenants {
			if s == d {
				continue
			}
			pair := s + "-to-" + d
			lease, err := st.Acquire(ctx, pair, time.Minute)
			if err != nil {
				m.tb.Fatalf("lease of %s between runs: %v", pair, err)
			}
			var put []guestmap.Entry
			err = st.Scan(ctx, pair, func(es []guestmap.Entry) error {
				for _, e := range es {
					if e.State == guestmap.StateParked && !e.NextRetry.After(due) {
						e.NextRetry = time.Time{}
						put = append(put, e)
					}
				}
				return nil
			})
			if err == nil && len(put) > 0 {
				err = st.Apply(ctx, lease, guestmap.Batch{Put: put})
			}
			lease.Release(ctx)
			if err != nil {
				m.tb.Fatal(err)
			}
		}
	}
}

// ctsync runs one ctsync command as a real process on the mesh's
// configuration.
func (m *mesh) ctsync(args ...string) (int, string) {
	m.tb.Helper()
	return runCtsync(m.tb, m.cfgPath, 4*time.Minute, args...)
}

// once runs `ctsync once` for every pair (pair "") or one. Exit 1 (a run
// that completed with failures) is an outcome the caller judges; a usage
// error or a crash stops the test.
func (m *mesh) once(pair string) (int, string) {
	m.tb.Helper()
	args := []string{"once"}
	if pair != "" {
		args = append(args, "--pair", pair)
	}
	code, out := m.ctsync(args...)
	// Shown when a test fails (or with -v): what ctsync said of the run. A
	// benchmark prints its log always, which would bury its figures.
	if _, bench := m.tb.(*testing.B); !bench {
		m.tb.Logf("ctsync %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	if code != 0 && code != 1 {
		m.tb.Fatalf("ctsync %v: exit %d\n%s", args, code, out)
	}
	return code, out
}

// onceProcess starts `ctsync once --pair` without waiting for it.
func (m *mesh) onceProcess(ctx context.Context, pair string) (*exec.Cmd, *bytes.Buffer) {
	m.tb.Helper()
	cmd := exec.CommandContext(ctx, ctsyncBinary(m.tb), "once", "--pair", pair, "-c", m.cfgPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		m.tb.Fatal(err)
	}
	return cmd, &out
}

// addUser creates an internal member of a tenant (no HTTP, no lag), with
// mail and UPN derived from the display name unless given.
func (m *mesh) addUser(tn *graphsim.Tenant, attrs map[string]any) string {
	m.tb.Helper()
	nick := strings.ToLower(strings.ReplaceAll(attrs["displayName"].(string), " ", "."))
	if _, ok := attrs["userPrincipalName"]; !ok {
		attrs["userPrincipalName"] = nick + "@" + tn.Domain()
	}
	if _, ok := attrs["mail"]; !ok {
		attrs["mail"] = attrs["userPrincipalName"]
	}
	id, err := tn.AddUser(attrs)
	if err != nil {
		m.tb.Fatal(err)
	}
	return id
}

// stampOf is the stamp issue 10 and the README promise on a guest:
// ctsync:<source tenant ID>:<source object ID>. Spelled out here rather
// than taken from ctsync's code, so a change of format fails the tests.
func stampOf(sourceTenantID, sourceID string) string {
	return "ctsync:" + sourceTenantID + ":" + sourceID
}

func str(u graphsim.User, prop string) string { s, _ := u.Attrs[prop].(string); return s }

// stampAttr is the slot SimConfig leaves at its default.
const stampAttr = "extensionAttribute15"

// isB2B reports whether a user is a B2B user (invited, or an external
// identity): the only kind of target user ctsync may ever own.
func isB2B(u graphsim.User) bool {
	return u.Attrs["creationType"] == "Invitation" || strings.Contains(str(u, "userPrincipalName"), "#EXT#") ||
		u.Attrs["externalUserState"] != nil
}

// inScope returns the source users the default pair policy syncs: enabled
// internal members with a mail, by ID (less outOfScope).
func (m *mesh) inScope(src string) map[string]graphsim.User {
	out := map[string]graphsim.User{}
	for _, u := range m.ten[src].Users() {
		if u.Attrs["userType"] == "Member" && !isB2B(u) && u.Attrs["accountEnabled"] == true && str(u, "mail") != "" && !m.outOfScope[u.ID] {
			out[u.ID] = u
		}
	}
	return out
}

// stamped returns the target's users, live and soft-deleted, carrying a
// stamp.
func stamped(target *graphsim.Tenant, stamp string) []graphsim.User {
	var out []graphsim.User
	for _, u := range append(target.Users(), target.DeletedUsers()...) {
		if str(u, stampAttr) == stamp {
			out = append(out, u)
		}
	}
	return out
}

// guestOf returns the one live guest in target stamped for a source user.
func guestOf(target, source *graphsim.Tenant, sourceID string) (graphsim.User, bool) {
	gs := stamped(target, stampOf(source.ID(), sourceID))
	if len(gs) != 1 || gs[0].Deleted {
		return graphsim.User{}, false
	}
	return gs[0], true
}

// withMail returns the live users of a tenant whose mail is mail.
func withMail(tn *graphsim.Tenant, mail string) []graphsim.User {
	var out []graphsim.User
	for _, u := range tn.Users() {
		if strings.EqualFold(str(u, "mail"), mail) {
			out = append(out, u)
		}
	}
	return out
}

// expectedGuests is the number of guests the mesh must hold: every
// in-scope member of each tenant in each of the other two.
func (m *mesh) expectedGuests() int {
	n := 0
	for _, s := range meshTenants {
		n += len(m.inScope(s)) * (len(meshTenants) - 1)
	}
	return n
}

// missingGuests lists the in-scope source users without their one live
// stamped guest in some other tenant (managers aside): a precondition
// check for scenarios that start from a synced mesh.
func (m *mesh) missingGuests() []string {
	var out []string
	for _, s := range meshTenants {
		for id := range m.inScope(s) {
			for _, d := range meshTenants {
				if d == s {
					continue
				}
				if _, ok := guestOf(m.ten[d], m.ten[s], id); !ok {
					out = append(out, fmt.Sprintf("%s user %s has no guest in %s", s, id, d))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// meshProblems compares every target with what the sources say it must
// hold and returns one line per difference (none: converged):
//   - every in-scope member has exactly one guest in each other tenant,
//     live, B2B, stamped for it, with its mail;
//   - no two users of a tenant share a mail, no two carry one stamp, no
//     stamp names anyone but an in-scope member of another tenant, and the
//     tenant holds no B2B user beyond the seed's guests and the expected ones;
//   - a guest's manager is the guest of its source user's manager when that
//     manager is in scope, and nobody otherwise.
func (m *mesh) meshProblems() []string {
	var out []string
	scope := map[string]map[string]graphsim.User{}
	for _, s := range meshTenants {
		scope[s] = m.inScope(s)
	}
	for _, d := range meshTenants {
		target := m.ten[d]
		live, gone := target.Users(), target.DeletedUsers()
		byMail := map[string][]string{}
		byStamp := map[string][]string{}
		b2b := 0
		for _, u := range live {
			if mail := strings.ToLower(str(u, "mail")); mail != "" {
				byMail[mail] = append(byMail[mail], u.ID)
			}
			if isB2B(u) {
				b2b++
			}
		}
		for _, u := range append(live, gone...) {
			if st := str(u, stampAttr); st != "" {
				byStamp[st] = append(byStamp[st], u.ID)
			}
		}
		for mail, ids := range byMail {
			if len(ids) > 1 {
				out = append(out, fmt.Sprintf("%s: %d users share mail %s: %v", d, len(ids), mail, ids))
			}
		}
		wanted := map[string]bool{}
		expected := 0
		for _, s := range meshTenants {
			if s == d {
				continue
			}
			src := m.ten[s]
			for id, u := range scope[s] {
				expected++
				st := stampOf(src.ID(), id)
				wanted[st] = true
				ids := byStamp[st]
				if len(ids) != 1 {
					out = append(out, fmt.Sprintf("%s: %s user %s (%s) has %d guests stamped for it: %v", d, s, id, str(u, "mail"), len(ids), ids))
					continue
				}
				g, _ := target.User(ids[0])
				switch {
				case g.Deleted:
					out = append(out, fmt.Sprintf("%s: guest %s of %s user %s is deleted", d, g.ID, s, id))
					continue
				case !isB2B(g):
					out = append(out, fmt.Sprintf("%s: %s user %s is stamped on %s, which is not a B2B user", d, s, id, g.ID))
				case !strings.EqualFold(str(g, "mail"), str(u, "mail")):
					out = append(out, fmt.Sprintf("%s: guest %s of %s user %s has mail %q, want %q", d, g.ID, s, id, str(g, "mail"), str(u, "mail")))
				}
				want := ""
				if mgr, _ := u.Attrs["manager"].(string); mgr != "" {
					if _, in := scope[s][mgr]; in {
						mg := byStamp[stampOf(src.ID(), mgr)]
						if len(mg) != 1 {
							continue // reported with the manager's own line
						}
						want = mg[0]
					}
				}
				got, _ := g.Attrs["manager"].(string)
				if got != want {
					out = append(out, fmt.Sprintf("%s: guest %s of %s user %s has manager %q, want %q (the guest of source manager %v)", d, g.ID, s, id, got, want, u.Attrs["manager"]))
				}
			}
		}
		for st, ids := range byStamp {
			switch {
			case len(ids) > 1 && !wanted[st]:
				out = append(out, fmt.Sprintf("%s: %d users carry stamp %s: %v", d, len(ids), st, ids))
			case !wanted[st]:
				out = append(out, fmt.Sprintf("%s: user %s carries stamp %s, which names no in-scope source user", d, ids[0], st))
			}
		}
		if want := len(m.seedGuests[d]) + expected; b2b != want {
			out = append(out, fmt.Sprintf("%s: %d B2B users, want %d (%d seeded guests + %d synced)", d, b2b, want, len(m.seedGuests[d]), expected))
		}
	}
	sort.Strings(out)
	return out
}

// assertUntouched checks that a target user is still there, not deleted,
// with every attribute (stamp slot and manager included) as before.
func (m *mesh) assertUntouched(tn *graphsim.Tenant, before graphsim.User, what string) {
	m.tb.Helper()
	after, ok := tn.User(before.ID)
	if !ok {
		m.tb.Errorf("%s %s is gone from %s", what, before.ID, tn.Name())
		return
	}
	if after.Deleted {
		m.tb.Errorf("%s %s was deleted", what, before.ID)
	}
	keys := map[string]bool{}
	for k := range before.Attrs {
		keys[k] = true
	}
	for k := range after.Attrs {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if !reflect.DeepEqual(before.Attrs[k], after.Attrs[k]) {
			m.tb.Errorf("%s %s: %s changed from %v to %v", what, before.ID, k, before.Attrs[k], after.Attrs[k])
		}
	}
}

// pairStatus is what the tests read of one pair in `ctsync status --json`
// (version 1, docs/operating.md).
type pairStatus struct {
	Name   string `json:"name"`
	Parked int    `json:"parked"`
	Users  []struct {
		SourceID string `json:"sourceId"`
		GuestID  string `json:"guestId"`
		State    string `json:"state"`
		Reason   string `json:"reason"`
	} `json:"users"`
}

// status reads `ctsync status --json` (with the pair's parked and staged
// users when pair is set), by pair name.
func (m *mesh) status(pair string) map[string]pairStatus {
	m.tb.Helper()
	args := []string{"status", "--json"}
	if pair != "" {
		args = append(args, "--pair", pair, "--lookup=false")
	}
	code, out := m.ctsync(args...)
	if code != 0 {
		m.tb.Fatalf("ctsync %v: exit %d\n%s", args, code, out)
	}
	var doc struct {
		Version int          `json:"version"`
		Pairs   []pairStatus `json:"pairs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Version != 1 || len(doc.Pairs) == 0 {
		m.tb.Fatalf("ctsync %v: want a version 1 document with pairs (%v)\n%s", args, err, out)
	}
	res := map[string]pairStatus{}
	for _, p := range doc.Pairs {
		res[p.Name] = p
	}
	return res
}

// parked reads the parked users per pair from `ctsync status --json`.
func (m *mesh) parked() map[string]int {
	m.tb.Helper()
	res := map[string]int{}
	for name, p := range m.status("") {
		res[name] = p.Parked
	}
	return res
}

// parkedTotal sums parked.
func (m *mesh) parkedTotal() int {
	n := 0
	for _, v := range m.parked() {
		n += v
	}
	return n
}

// logs reads the provisioning log through `ctsync logs --json`.
func (m *mesh) logs(args ...string) []guestmap.Record {
	m.tb.Helper()
	code, out := m.ctsync(append([]string{"logs", "--json", "--limit", "1000000"}, args...)...)
	if code != 0 {
		m.tb.Fatalf("ctsync logs: exit %d\n%s", code, out)
	}
	var recs []guestmap.Record
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		// The fields the checks read, by their `logs --json` names.
		var l struct {
			Time                    time.Time
			Pair, SourceID, GuestID string
			Action, Result, Error   string
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			m.tb.Fatalf("ctsync logs --json: line %q: %v", sc.Text(), err)
		}
		recs = append(recs, guestmap.Record{Time: l.Time, Pair: l.Pair, SourceID: l.SourceID, GuestID: l.GuestID, Action: l.Action, Result: l.Result, Error: l.Error})
	}
	return recs
}

// mapExport reads a pair's map through `ctsync map export`.
func (m *mesh) mapExport(pair string) []guestmap.Entry {
	m.tb.Helper()
	code, out := m.ctsync("map", "export", "--pair", pair)
	if code != 0 {
		m.tb.Fatalf("ctsync map export: exit %d\n%s", code, out)
	}
	var es []guestmap.Entry
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var e guestmap.Entry
		if err := dec.Decode(&e); err != nil {
			m.tb.Fatalf("ctsync map export: %v\n%s", err, out)
		}
		es = append(es, e)
	}
	return es
}

// sharedGuests lists the guests a map gives to more than one source user.
func sharedGuests(es []guestmap.Entry) []string {
	by := map[string][]string{}
	for _, e := range es {
		if e.GuestID != "" {
			by[e.GuestID] = append(by[e.GuestID], e.SourceID)
		}
	}
	var out []string
	for g, srcs := range by {
		if len(srcs) > 1 {
			out = append(out, fmt.Sprintf("guest %s is mapped to source users %v", g, srcs))
		}
	}
	sort.Strings(out)
	return out
}

// conflictish reports whether a log record says ctsync refused to touch a
// target object or found two source users colliding: in a mesh of
// distinct, well-formed users every such record is a false conflict.
func conflictish(r guestmap.Record) bool {
	s := strings.ToLower(r.Action + " " + r.Result + " " + r.Error)
	for _, w := range []string{"conflict", "refus", "share this mail", "share mail", "already belongs", "stamped for another"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// reported says whether ctsync reports source user src of a pair as not
// done because of the other object: a log record that is not a success,
// or a parked user in `ctsync status --pair`, naming other (by ID in its
// guest field or its message). The user's records are logged if not.
func (m *mesh) reported(pair, src, other string) bool {
	m.tb.Helper()
	recs := m.logs("--pair", pair, "--user", src)
	for _, r := range recs {
		if r.SourceID == src && r.Result != "ok" && (r.GuestID == other || strings.Contains(r.Error, other)) {
			return true
		}
	}
	for _, u := range m.status(pair)[pair].Users {
		if u.SourceID == src && (u.GuestID == other || strings.Contains(u.Reason, other)) {
			return true
		}
	}
	for _, r := range recs {
		m.tb.Logf("ctsync logs --user %s: %s", src, fmtRecord(r))
	}
	return false
}

// logFailures logs every record of the provisioning log that is not a
// success, when the test has failed: what ctsync said went wrong.
func (m *mesh) logFailures() {
	m.tb.Helper()
	if !m.tb.Failed() {
		return
	}
	for _, r := range m.logs() {
		if r.Result != "ok" {
			m.tb.Logf("ctsync logs: %s", fmtRecord(r))
		}
	}
}

func fmtRecord(r guestmap.Record) string {
	return fmt.Sprintf("%s %s %s/%s src %s guest %s: %s", r.Time.Format(time.TimeOnly), r.Pair, r.Action, r.Result, r.SourceID, r.GuestID, r.Error)
}

// errorLines reports at most max problems as test errors (a broken mesh
// has hundreds; the first ones say enough) and how many there were.
func errorLines(tb testing.TB, what string, lines []string, max int) {
	tb.Helper()
	for i, l := range lines {
		if i == max {
			tb.Errorf("%s: ... and %d more", what, len(lines)-max)
			return
		}
		tb.Errorf("%s: %s", what, l)
	}
}
