package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/internal/textsafe"
	"github.com/ctsync/ctsync/sync/worker"
)

// statusVersion is the version of `ctsync status --json`'s document. It
// changes only when a field changes meaning or goes away; new fields may
// appear within a version.
const statusVersion = 1

// lookupMax bounds the source users `status --pair` reads from Graph to
// show their UPN, mail and name: beyond it, users show by ID and the
// mail the map keeps.
const lookupMax = 200

// statusDoc is `ctsync status --json` (schema in docs/operating.md,
// "## Status"), and the daemon's GET /api/v1/status.
type statusDoc struct {
	Version   int       `json:"version"`
	Generated time.Time `json:"generated"`
	// From is where the state was read: "store", or "daemon" when the
	// daemon answered for an embedded store it holds.
	From  string       `json:"from"`
	Pairs []pairStatus `json:"pairs"`
	// Replicas are the live `ctsync run` processes sharing the store.
	Replicas []replicaJSON `json:"replicas"`
}

// replicaJSON is one live replica: what its last heartbeat said.
type replicaJSON struct {
	ID         string    `json:"id"`
	Host       string    `json:"host,omitempty"`
	PID        int       `json:"pid,omitempty"`
	Version    string    `json:"version,omitempty"`
	Started    time.Time `json:"started,omitzero"`
	Configured []string  `json:"configured"`
	// Pairs are the pairs the replica runs (its share).
	Pairs []string   `json:"pairs"`
	Seen  time.Time  `json:"seen,omitzero"`
	Until *time.Time `json:"until,omitempty"`
}

// pairStatus is one pair in statusDoc.
type pairStatus struct {
	Name string `json:"name"`
	// Owner is the live replica that runs the pair ("" when none).
	Owner       string     `json:"owner"`
	Mapped      int        `json:"mapped"`
	Parked      int        `json:"parked"`
	Staged      int        `json:"staged"`
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
	// ConsecutiveFailures counts cycles in a row that stopped on an error.
	ConsecutiveFailures int             `json:"consecutiveFailures"`
	Quarantine          *quarantineJSON `json:"quarantine,omitempty"`
	Lease               leaseJSON       `json:"lease"`
	// Cycles are the recent cycles, newest first (at most 10).
	Cycles []cycleJSON `json:"cycles"`
	// Running is the cycle in progress, when the daemon answered.
	Running *runningJSON `json:"running,omitempty"`
	// Users not in their desired state (parked, staged); only with --pair.
	Users []userStatus `json:"users,omitempty"`
	// Groups are the pair's synced groups ([pair.groups]); only with --pair.
	Groups []groupStatus `json:"groups,omitempty"`
}

// groupStatus is one source group a pair syncs (its guestmap.GroupEntry).
type groupStatus struct {
	SourceID string `json:"sourceId"`
	Name     string `json:"name"`
	// TargetID is the target group ("" not created yet).
	TargetID string `json:"targetId,omitempty"`
	// Members counts the target group's members ctsync manages.
	Members   int    `json:"members"`
	InScope   bool   `json:"inScope"`
	LastError string `json:"lastError,omitempty"`
}

// groupsOf lists the groups p syncs: the entries of groups in scope or
// still holding a target group (a nested group tracked for its members
// only is not one).
func groupsOf(ctx context.Context, s guestmap.Store, p *worker.Pair) ([]groupStatus, error) {
	if p.Groups == nil {
		return nil, nil
	}
	entries, err := s.GroupEntries(ctx, p.PairName)
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", p.PairName, err)
	}
	out := []groupStatus{}
	for _, e := range entries {
		if !e.InScope && e.TargetID == "" {
			continue
		}
		out = append(out, groupStatus{SourceID: e.SourceID, Name: e.Name, TargetID: e.TargetID, Members: len(e.Managed), InScope: e.InScope, LastError: e.LastError})
	}
	return out, nil
}

type quarantineJSON struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

type leaseJSON struct {
	Held   bool       `json:"held"`
	Holder string     `json:"holder,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
}

type cycleJSON struct {
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end"`
	Seconds  float64        `json:"seconds"`
	Full     bool           `json:"full,omitempty"`
	Counts   map[string]int `json:"counts,omitempty"`
	Parked   int            `json:"parked,omitempty"`
	Error    string         `json:"error,omitempty"`
	Complete bool           `json:"complete"`
	// Incomplete says why a cycle stopped with work left and no error
	// ("cycle_timeout", "shutdown"); Pending is the changes it left for
	// the next cycle.
	Incomplete string `json:"incomplete,omitempty"`
	Pending    int    `json:"pending,omitempty"`
}

type runningJSON struct {
	Phase string    `json:"phase"`
	Start time.Time `json:"start"`
	Read  int       `json:"read"`
	// Considered is the users planned so far: a cycle plans its read
	// chunk by chunk while it applies, so Planned grows with it.
	Considered int `json:"considered"`
	Planned    int `json:"planned"`
	Applied    int `json:"applied"`
	// RatePerMinute is the changes applied per minute since the apply
	// step began, and ETASeconds the time left at that rate, counting
	// the users not planned yet as needing as many changes as those
	// planned: both only while applying, once there is a rate.
	RatePerMinute float64 `json:"ratePerMinute,omitempty"`
	ETASeconds    float64 `json:"etaSeconds,omitempty"`
}

// userStatus is a user not in its desired state.
type userStatus struct {
	SourceID string `json:"sourceId"`
	// UPN, Mail and DisplayName are the source user's, read from Graph
	// (Mail falls back to what the map keeps when the read fails).
	UPN         string `json:"upn,omitempty"`
	Mail        string `json:"mail,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	GuestID     string `json:"guestId,omitempty"`
	// State is "parked" (the last action failed; retried at NextRetry) or
	// "staged" (a delete, disable or adoption waits for ctsync approve).
	State     string     `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	Attempts  int        `json:"attempts,omitempty"`
	NextRetry *time.Time `json:"nextRetry,omitempty"`
	// Action, Decision and Since describe a staged action.
	Action   string     `json:"action,omitempty"`
	Decision string     `json:"decision,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// statusOptions say what buildStatus reads beyond the status records.
type statusOptions struct {
	// Users lists the users not in their desired state.
	Users bool
	// Lookup reads those users' UPN, mail and name from the source.
	Lookup bool
	// Running is the daemon's progress of running cycles, by pair.
	Running map[string]worker.Progress
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// buildStatus reads every pair of a from its store.
func buildStatus(ctx context.Context, a *app.App, o statusOptions) (statusDoc, error) {
	doc := statusDoc{Version: statusVersion, Generated: time.Now().UTC(), From: "store", Pairs: []pairStatus{}, Replicas: []replicaJSON{}}
	replicas, err := a.Store.Replicas(ctx)
	if err != nil {
		return doc, fmt.Errorf("list replicas: %w", err)
	}
	owner := map[string]string{}
	for _, r := range replicas {
		doc.Replicas = append(doc.Replicas, replicaJSON{ID: r.ID, Host: r.Host, PID: r.PID, Version: r.Version, Started: r.Started,
			Configured: nonNil(r.Configured), Pairs: nonNil(r.Pairs), Seen: r.Seen, Until: timeOrNil(r.Until)})
		for _, p := range r.Pairs {
			owner[p] = r.ID
		}
	}
	for _, p := range a.Pairs {
		ps, err := pairStatusOf(ctx, a.Store, p.PairName)
		if err != nil {
			return doc, err
		}
		ps.Owner = owner[p.PairName]
		if pr, ok := o.Running[p.PairName]; ok {
			ps.Running = &runningJSON{Phase: string(pr.Phase), Start: pr.Start, Read: pr.Read, Considered: pr.Considered, Planned: pr.Planned, Applied: pr.Applied}
			if rate, eta, ok := pr.ApplyRate(time.Now()); ok {
				ps.Running.RatePerMinute = math.Round(rate*10) / 10
				ps.Running.ETASeconds = math.Round(eta.Seconds())
			}
		}
		if o.Users {
			if ps.Users, err = usersOf(ctx, a.Store, p, o.Lookup); err != nil {
				return doc, err
			}
			if ps.Groups, err = groupsOf(ctx, a.Store, p); err != nil {
				return doc, err
			}
		}
		doc.Pairs = append(doc.Pairs, ps)
	}
	return doc, nil
}

func pairStatusOf(ctx context.Context, s guestmap.Store, pair string) (pairStatus, error) {
	st, err := s.Status(ctx, pair)
	if err != nil {
		return pairStatus{}, fmt.Errorf("status of %s: %w", pair, err)
	}
	n, err := s.Count(ctx, pair)
	if err != nil {
		return pairStatus{}, fmt.Errorf("count of %s: %w", pair, err)
	}
	holder, until, held, err := s.LeaseHolder(ctx, pair)
	if err != nil {
		return pairStatus{}, fmt.Errorf("lease of %s: %w", pair, err)
	}
	ps := pairStatus{Name: pair, Mapped: n, Parked: st.Counts["parked"], Staged: st.StagedCount,
		LastSuccess: timeOrNil(st.LastSuccess), LastError: st.LastError, LastErrorAt: timeOrNil(st.LastErrorAt),
		ConsecutiveFailures: st.ConsecutiveFailures, Lease: leaseJSON{Held: held, Holder: holder, Until: timeOrNil(until)},
		Cycles: []cycleJSON{}}
	if st.Quarantine.On {
		ps.Quarantine = &quarantineJSON{Since: st.Quarantine.Since, Reason: st.Quarantine.Reason}
	}
	hist := st.History
	if len(hist) == 0 && !st.CycleEnd.IsZero() {
		// Written before the history was kept: the last cycle alone.
		c := guestmap.CycleSummary{Start: st.CycleStart, End: st.CycleEnd, Counts: st.Counts}
		if st.LastError != "" && !st.LastErrorAt.Before(st.CycleStart) {
			c.Error = st.LastError
		}
		hist = []guestmap.CycleSummary{c}
	}
	for _, c := range hist {
		counts := map[string]int{}
		for k, v := range c.Counts {
			if k != "parked" && v > 0 {
				counts[k] = v
			}
		}
		ps.Cycles = append(ps.Cycles, cycleJSON{Start: c.Start, End: c.End, Seconds: c.End.Sub(c.Start).Seconds(), Full: c.Full,
			Counts: counts, Parked: c.Parked, Error: c.Error, Complete: c.Error == "" && c.Incomplete == "",
			Incomplete: c.Incomplete, Pending: c.Pending})
	}
	if ps.LastSuccess == nil {
		// Older status records: the last success is the newest complete
		// cycle known.
		for _, c := range ps.Cycles {
			if c.Complete {
				ps.LastSuccess = timeOrNil(c.End)
				break
			}
		}
	}
	return ps, nil
}

// usersOf lists p's users that are not in their desired state: parked
// entries and staged actions, sorted by state then source ID.
func usersOf(ctx context.Context, s guestmap.Store, p *worker.Pair, lookup bool) ([]userStatus, error) {
	staged, err := s.Staged(ctx, p.PairName)
	if err != nil {
		return nil, fmt.Errorf("staged actions of %s: %w", p.PairName, err)
	}
	byID := map[string]*userStatus{}
	var users []*userStatus
	for _, st := range staged {
		u := &userStatus{SourceID: st.SourceID, GuestID: st.GuestID, State: guestmap.StateStaged.String(), Reason: st.Reason,
			Action: st.Action, Decision: string(st.Decision), Since: timeOrNil(st.Since)}
		if u.Decision == "" {
			u.Decision = "pending"
		}
		byID[st.SourceID] = u
		users = append(users, u)
	}
	err = s.Scan(ctx, p.PairName, func(page []guestmap.Entry) error {
		for _, e := range page {
			if e.State != guestmap.StateParked && e.State != guestmap.StateStaged {
				continue
			}
			u := byID[e.SourceID]
			if u == nil {
				u = &userStatus{SourceID: e.SourceID, State: e.State.String()}
				byID[e.SourceID] = u
				users = append(users, u)
			}
			u.GuestID = firstNonEmptyString(u.GuestID, e.GuestID)
			u.Mail = e.GuestUPN
			if e.State == guestmap.StateParked {
				u.Reason, u.Attempts, u.NextRetry = e.LastError, e.Attempts, timeOrNil(e.NextRetry)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan map of %s: %w", p.PairName, err)
	}
	sort.Slice(users, func(i, j int) bool {
		if users[i].State != users[j].State {
			return users[i].State < users[j].State
		}
		return users[i].SourceID < users[j].SourceID
	})
	out := make([]userStatus, len(users))
	for i, u := range users {
		if lookup && i < lookupMax && p.Source != nil {
			lookupUser(ctx, p.Source, u)
		}
		out[i] = *u
	}
	return out, nil
}

// lookupUser fills u's UPN, mail and name from the source, best effort: a
// user gone from the source, or Graph failing, leaves them as they are.
func lookupUser(ctx context.Context, src worker.Source, u *userStatus) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	su, err := src.User(ctx, u.SourceID, []string{directory.PropUPN, directory.PropMail, directory.PropDisplayName})
	if err != nil || su == nil {
		return
	}
	u.UPN = su.Str(directory.PropUPN)
	u.Mail = firstNonEmptyString(su.Str(directory.PropMail), u.Mail)
	u.DisplayName = su.Str(directory.PropDisplayName)
}

func firstNonEmptyString(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// termLine is s for a terminal: cut at its first line break and escaped
// (directory text in an error may hold control characters).
func termLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	return textsafe.Escape(s)
}

// writeStatusText prints doc for people: one line per pair, then, when
// detail is set (--pair), the recent cycles and the users not in their
// desired state. Directory text is escaped.
func writeStatusText(w io.Writer, doc statusDoc, now time.Time, detail bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIR\tLAST CYCLE\tLAST SUCCESS\tMAPPED\tPARKED\tSTAGED\tQUARANTINE\tOWNER\tLEASE\tCOUNTS\tLAST ERROR")
	for _, p := range doc.Pairs {
		last := "never"
		if len(p.Cycles) > 0 {
			c := p.Cycles[0]
			last = fmt.Sprintf("%s ago (%s)", now.Sub(c.End).Round(time.Second), c.End.Sub(c.Start).Round(time.Millisecond))
		}
		if r := p.Running; r != nil {
			last = "running: " + progressText(*r) + "; " + last
		}
		success := "never"
		if p.LastSuccess != nil {
			success = now.Sub(*p.LastSuccess).Round(time.Second).String() + " ago"
		}
		q := "no"
		if p.Quarantine != nil {
			q = fmt.Sprintf("since %s: %s", p.Quarantine.Since.Format(time.RFC3339), termLine(p.Quarantine.Reason))
		}
		lease := "free"
		if p.Lease.Held {
			lease = firstNonEmptyString(textsafe.Escape(p.Lease.Holder), "unknown holder")
			if p.Lease.Until != nil {
				lease += " until " + p.Lease.Until.Local().Format(time.TimeOnly)
			}
		}
		counts := "no changes"
		if len(p.Cycles) > 0 && len(p.Cycles[0].Counts) > 0 {
			counts = countsLine(p.Cycles[0].Counts)
		}
		owner := firstNonEmptyString(textsafe.Escape(p.Owner), "-")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Name, last, success, p.Mapped, p.Parked, p.Staged, q, owner, lease, counts, termLine(p.LastError))
	}
	_ = tw.Flush()
	writeReplicasText(w, doc, now, detail)
	for _, p := range doc.Pairs {
		if !detail {
			break
		}
		fmt.Fprintf(w, "\nrecent cycles of %s, newest first:\n", p.Name)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  START\tDURATION\tRESULT")
		for _, c := range p.Cycles {
			res := countsLine(c.Counts)
			if res == "" {
				res = "no changes"
			}
			if c.Full {
				res += " (full read)"
			}
			if c.Parked > 0 {
				res += fmt.Sprintf("; %d parked", c.Parked)
			}
			if c.Incomplete != "" {
				res += fmt.Sprintf("; stopped at %s: %d pending", c.Incomplete, c.Pending)
			}
			if c.Error != "" {
				res = "FAILED: " + termLine(c.Error)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Start.Local().Format(time.RFC3339), c.End.Sub(c.Start).Round(time.Millisecond), res)
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "\nusers of %s not in their desired state: %d\n", p.Name, len(p.Users))
		if len(p.Users) == 0 {
			continue
		}
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SOURCE ID\tUSER\tNAME\tGUEST\tSTATE\tNEXT\tREASON")
		for _, u := range p.Users {
			next := ""
			switch {
			case u.State == guestmap.StateStaged.String():
				next = u.Action + " " + u.Decision
			case u.NextRetry != nil:
				next = fmt.Sprintf("retry %d in %s", u.Attempts+1, u.NextRetry.Sub(now).Round(time.Second))
				if !u.NextRetry.After(now) {
					next = fmt.Sprintf("retry %d next cycle", u.Attempts+1)
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.SourceID, textsafe.Escape(firstNonEmptyString(u.UPN, u.Mail, "-")),
				textsafe.Escape(firstNonEmptyString(u.DisplayName, "-")), firstNonEmptyString(u.GuestID, "-"), u.State, next, termLine(u.Reason))
		}
		_ = tw.Flush()
	}
	for _, p := range doc.Pairs {
		if p.Groups == nil {
			continue
		}
		fmt.Fprintf(w, "\ngroups %s syncs: %d\n", p.Name, len(p.Groups))
		if len(p.Groups) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SOURCE ID\tNAME\tTARGET GROUP\tMEMBERS\tSTATE")
		for _, g := range p.Groups {
			state := "synced"
			switch {
			case g.LastError != "":
				state = "failed: " + termLine(g.LastError)
			case !g.InScope:
				state = "leaving scope"
			case g.TargetID == "":
				state = "not created yet"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", g.SourceID, textsafe.Escape(firstNonEmptyString(g.Name, "-")), firstNonEmptyString(g.TargetID, "-"), g.Members, state)
		}
		_ = tw.Flush()
	}
}

// writeReplicasText lists the live replicas, and without --pair, how to see
// the users behind the PARKED and STAGED counts.
func writeReplicasText(w io.Writer, doc statusDoc, now time.Time, detail bool) {
	if len(doc.Replicas) == 0 {
		fmt.Fprintln(w, "\nno `ctsync run` replica is running on this store")
	} else {
		fmt.Fprintf(w, "\nreplicas sharing this store: %d\n", len(doc.Replicas))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  REPLICA\tVERSION\tSTARTED\tLAST HEARTBEAT\tPAIRS")
		for _, r := range doc.Replicas {
			pairs := strings.Join(r.Pairs, ", ")
			if pairs == "" {
				pairs = "none (more replicas than target tenants, or settling)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s ago\t%s\n", textsafe.Escape(r.ID), firstNonEmptyString(textsafe.Escape(r.Version), "-"),
				r.Started.Local().Format(time.RFC3339), now.Sub(r.Seen).Round(time.Second), textsafe.Escape(pairs))
		}
		_ = tw.Flush()
	}
	if detail {
		return
	}
	for _, p := range doc.Pairs {
		if n := p.Parked + p.Staged; n > 0 {
			fmt.Fprintf(w, "%s: %d users not in their desired state; see them with: ctsync status --pair %s\n", p.Name, n, p.Name)
		}
	}
}

// countsLine is "create=3 update=1", sorted.
func countsLine(counts map[string]int) string {
	parts := make([]string, 0, len(counts))
	for k, v := range counts {
		if k != "parked" && v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// progressText is a running cycle's progress in a few words.
func progressText(r runningJSON) string {
	switch worker.Phase(r.Phase) {
	case worker.PhaseRead:
		return fmt.Sprintf("reading, %d read", r.Read)
	case worker.PhasePlan, worker.PhaseApply:
		s := fmt.Sprintf("%s, %d/%d applied", r.Phase, r.Applied, r.Planned)
		if r.Considered > 0 && r.Considered < r.Read {
			s += fmt.Sprintf(" (%d of %d users planned)", r.Considered, r.Read)
		}
		if r.RatePerMinute > 0 {
			s += fmt.Sprintf(", %s/min", strconv.FormatFloat(r.RatePerMinute, 'f', -1, 64))
			if r.ETASeconds > 0 {
				s += ", ETA " + (time.Duration(r.ETASeconds) * time.Second).String()
			}
		}
		return s
	}
	return r.Phase
}

func runStatus(fs *pflag.FlagSet) runFunc {
	path := configFlag(fs)
	pair := fs.String("pair", "", "show only this `pair`, with its recent cycles and every user not in its desired state")
	asJSON := fs.Bool("json", false, "print one JSON document (schema version 1, see docs/operating.md)")
	lookup := fs.Bool("lookup", true, "with --pair: read the listed users' UPN, mail and name from the source tenant")
	return func(ctx context.Context, e *env, args []string) int {
		o := statusOptions{Users: *pair != "", Lookup: *lookup}
		var doc statusDoc
		a, api, code := openOrAsk(ctx, e, *path, *pair)
		switch {
		case a != nil:
			defer a.Close()
			var err error
			if doc, err = buildStatus(ctx, a, o); err != nil {
				e.errorf("%v", err)
				return exitFailures
			}
		case api != "":
			q := url.Values{}
			if *pair != "" {
				q.Set("pair", *pair)
				q.Set("users", "1")
			}
			if !*lookup {
				q.Set("lookup", "0")
			}
			if err := apiGet(ctx, api+"/api/v1/status?"+q.Encode(), &doc); err != nil {
				e.errorf("ask the running daemon: %v", err)
				return exitFailures
			}
		default:
			return code
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(doc)
			return exitOK
		}
		writeStatusText(e.stdout, doc, time.Now(), *pair != "")
		return exitOK
	}
}

// openOrAsk opens the app like openApp, for a command the daemon's API
// can also carry out. When the embedded store's file is held by a running
// daemon (bbolt allows one process, and a read-only open waits on the
// writer's lock as well), it returns instead the base URL of that daemon's
// API, on loopback, from worker.listen. Otherwise nil, "" and the exit
// code, having said why.
func openOrAsk(ctx context.Context, e *env, path, onlyPair string) (*app.App, string, int) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, "", exitUsage
	}
	if onlyPair != "" && cfg.Pair(onlyPair) == nil {
		e.errorf("no pair %q in %s", onlyPair, path)
		return nil, "", exitUsage
	}
	a, err := app.Wire(ctx, cfg, app.Options{OnlyPair: onlyPair, Log: e.logger()})
	if err == nil {
		return a, "", exitOK
	}
	if errors.Is(err, guestmap.ErrStoreLocked) {
		if cfg.Worker.Listen == "" {
			e.errorf("%v; a running ctsync holds it: set [worker] listen so that this command can ask it", err)
			return nil, "", exitFailures
		}
		return nil, "http://" + loopbackAddr(cfg.Worker.Listen), exitOK
	}
	e.errorf("%v", err)
	return nil, "", exitFailures
}

// loopbackAddr is where to reach a daemon listening on listen from this
// machine: an unspecified or missing host means the loopback address.
func loopbackAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// apiGet reads a JSON document from the daemon's API.
func apiGet(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", req.URL.Path, resp.Status, termLine(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
