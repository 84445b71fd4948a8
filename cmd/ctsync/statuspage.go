package main

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/textsafe"
	"github.com/ctsync/ctsync/sync/worker"
)

// Status page limits: the page is read by a person, and built from a
// scan of the store, so it shows the first rows and says how many more.
const (
	recentShown     = 20 // cycles on the page, newest first over all pairs
	parkedShown     = 100
	stagedShown     = 100
	pageRefresh     = 5 // seconds, the page's meta refresh
	pageCacheTTL    = 2 * time.Second
	pageTextMax     = 300 // characters of one error or reason shown
	pageBuildBudget = 10 * time.Second
)

//go:embed statuspage.html
var statusPageHTML string

// statusPageTmpl is the status page: plain HTML and inline CSS, no script,
// nothing fetched from elsewhere (servers that run ctsync often have no
// internet access). html/template escapes every value for its context.
var statusPageTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return roundAgo(time.Since(t)) + " ago"
	},
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
}).Parse(statusPageHTML))

// pageData is what the status page shows.
type pageData struct {
	Generated     time.Time
	Refresh       int
	Pairs         []pagePair
	Recent        []pageCycle
	Parked        []pageParked
	ParkedTotal   int
	Staged        []pageStaged
	StagedTotal   int
	Problems      []string // what could not be read
	RunningCount  int
	QuarantinedNo int
}

// pagePair is one pair's row.
type pagePair struct {
	Name, Source, Target string
	LastStart, LastEnd   time.Time
	LastSuccess          time.Time
	Duration             string
	Result               string // ok, partial, failed, never
	Counts               string
	LastError            string
	Quarantined          bool
	QuarantineReason     string
	QuarantineSince      time.Time
	Lease                string
	Mapped, Parked       int
	Staged               int
	Running              *pageProgress
}

// pageProgress is a running cycle's bar.
type pageProgress struct {
	Phase                  string
	Read, Planned, Applied int
	// Max and Value drive the <progress> bar; Max 0 means indeterminate
	// (still reading: the total is unknown until the plan).
	Max, Value int
	Percent    int
	Elapsed    string
}

// pageCycle is one recent cycle (from the pair's history in the store,
// so every replica shows the same).
type pageCycle struct {
	Pair     string
	Start    time.Time
	Duration string
	Result   string
	Summary  string
}

// pageParked is a user not in its desired state.
type pageParked struct {
	Pair, SourceID, GuestUPN, GuestID string
	Attempts                          int
	NextRetry                         time.Time
	Reason                            string
}

// pageStaged is a delete or disable waiting for an admin.
type pageStaged struct {
	Pair, SourceID, GuestID, Action, Reason, Decision string
	Since                                             time.Time
}

// statusPage serves the page at /.
func (s *server) statusPage(w http.ResponseWriter, r *http.Request) {
	data := s.page.get(func() pageData { return s.buildPage(r.Context()) })
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Nothing but this page's own inline style may load or run: a value
	// that slipped through escaping still could not fetch or execute.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if err := statusPageTmpl.Execute(w, data); err != nil {
		s.log.Debug("status page not fully written", "error", err)
	}
}

// pageCache keeps the last page's data briefly, so many open browsers
// (each refreshing every few seconds) cost one store scan per interval.
type pageCache struct {
	mu   sync.Mutex
	at   time.Time
	data pageData
}

func (c *pageCache) get(build func() pageData) pageData {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < pageCacheTTL {
		return c.data
	}
	c.data, c.at = build(), time.Now()
	return c.data
}

// buildPage reads the pairs' state from the store, the running cycles
// from the hub and the recent cycles from memory. A read that fails is
// listed on the page rather than failing it.
func (s *server) buildPage(ctx context.Context) pageData {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pageBuildBudget)
	defer cancel()
	d := pageData{Generated: time.Now(), Refresh: pageRefresh}
	problem := func(what string, err error) {
		d.Problems = append(d.Problems, clean(what+": "+err.Error()))
	}
	running := s.hub.Running()
	st := s.app.Store
	for _, p := range s.app.Pairs {
		row := pagePair{Name: p.PairName, Result: "never"}
		if pc := s.app.Config.Pair(p.PairName); pc != nil {
			row.Source, row.Target = pc.Source, pc.Target
		}
		if status, err := st.Status(ctx, p.PairName); err != nil {
			problem("status of "+p.PairName, err)
		} else {
			row.LastStart, row.LastEnd, row.LastSuccess = status.CycleStart, status.CycleEnd, status.LastSuccess
			if !status.CycleEnd.IsZero() {
				row.Duration = roundDuration(status.CycleEnd.Sub(status.CycleStart))
			}
			if !status.CycleEnd.IsZero() {
				row.Counts = countsText(status.Counts)
			}
			if len(status.History) > 0 {
				last := cycleOf(p.PairName, status.History[0])
				row.Result = last.Result
				row.LastStart, row.LastEnd = status.History[0].Start, status.History[0].End
				row.Duration = last.Duration
				if last.Result == "failed" {
					row.LastError = last.Summary
				}
			} else if !status.CycleEnd.IsZero() {
				row.Result = "ok"
			}
			for _, c := range status.History {
				d.Recent = append(d.Recent, cycleOf(p.PairName, c))
			}
			row.Parked = status.Counts["parked"]
			row.Staged = status.StagedCount
			if q := status.Quarantine; q.On {
				row.Quarantined, row.QuarantineReason, row.QuarantineSince = true, clean(q.Reason), q.Since
				d.QuarantinedNo++
			}
		}
		if n, err := st.Count(ctx, p.PairName); err != nil {
			problem("map of "+p.PairName, err)
		} else {
			row.Mapped = n
		}
		row.Lease = "free"
		if holder, until, held, err := st.LeaseHolder(ctx, p.PairName); err != nil {
			problem("lease of "+p.PairName, err)
		} else if held {
			if holder == "" {
				holder = "unknown holder"
			}
			row.Lease = clean(holder)
			if !until.IsZero() {
				row.Lease += " until " + until.UTC().Format("15:04:05Z")
			}
		}
		if pr, ok := running[p.PairName]; ok {
			row.Running = progressOf(pr)
			d.RunningCount++
		}
		d.Pairs = append(d.Pairs, row)

		_, isRunning := running[p.PairName]
		s.addParked(ctx, &d, p.PairName, isRunning, problem)
		if staged, err := st.Staged(ctx, p.PairName); err != nil {
			problem("staged actions of "+p.PairName, err)
		} else {
			d.StagedTotal += len(staged)
			for _, x := range staged {
				if len(d.Staged) >= stagedShown {
					break
				}
				dec := string(x.Decision)
				if dec == "" {
					dec = "pending"
				}
				d.Staged = append(d.Staged, pageStaged{Pair: p.PairName, SourceID: clean(x.SourceID), GuestID: clean(x.GuestID),
					Action: clean(x.Action), Reason: clean(x.Reason), Decision: dec, Since: x.Since})
			}
		}
	}
	sort.Slice(d.Parked, func(i, j int) bool {
		if d.Parked[i].Pair != d.Parked[j].Pair {
			return d.Parked[i].Pair < d.Parked[j].Pair
		}
		return d.Parked[i].NextRetry.Before(d.Parked[j].NextRetry)
	})
	sort.SliceStable(d.Recent, func(i, j int) bool { return d.Recent[i].Start.After(d.Recent[j].Start) })
	if len(d.Recent) > recentShown {
		d.Recent = d.Recent[:recentShown]
	}
	return d
}

// addParked scans pair's map for parked users (a full scan: the store
// keeps no index of them), keeping the first parkedShown over all pairs
// and counting the rest. While the pair's cycle runs, its pre-invitation
// marks are invitations in flight, not parked users.
func (s *server) addParked(ctx context.Context, d *pageData, pair string, running bool, problem func(string, error)) {
	err := s.app.Store.Scan(ctx, pair, func(page []guestmap.Entry) error {
		for _, e := range page {
			if e.State != guestmap.StateParked || (running && e.LastError == worker.MarkReason) {
				continue
			}
			d.ParkedTotal++
			if len(d.Parked) < parkedShown {
				d.Parked = append(d.Parked, pageParked{Pair: pair, SourceID: clean(e.SourceID), GuestID: clean(e.GuestID),
					GuestUPN: clean(e.GuestUPN), Attempts: e.Attempts, NextRetry: e.NextRetry, Reason: clean(e.LastError)})
			}
		}
		return ctx.Err()
	})
	if err != nil {
		problem("parked users of "+pair, err)
	}
}

// progressOf turns a running cycle's progress into its bar.
func progressOf(pr worker.Progress) *pageProgress {
	p := &pageProgress{Phase: string(pr.Phase), Read: pr.Read, Planned: pr.Planned, Applied: pr.Applied,
		Elapsed: roundDuration(time.Since(pr.Start))}
	switch pr.Phase {
	case worker.PhaseRead:
		// The total is unknown while reading: an indeterminate bar.
	case worker.PhaseManagers:
		p.Max, p.Value, p.Percent = 1, 1, 100
	default:
		if pr.Planned > 0 {
			p.Max, p.Value = pr.Planned, min(pr.Applied, pr.Planned)
			p.Percent = 100 * p.Value / p.Max
		} else {
			p.Max, p.Value, p.Percent = 1, 0, 0
		}
	}
	return p
}

// cycleOf summarises a cycle of the pair's history for the page.
func cycleOf(pair string, c guestmap.CycleSummary) pageCycle {
	pc := pageCycle{Pair: pair, Start: c.Start, Duration: roundDuration(c.End.Sub(c.Start)), Result: "ok", Summary: countsText(c.Counts)}
	switch {
	case c.Error != "":
		pc.Result, pc.Summary = "failed", clean(c.Error)
	case c.Parked > 0:
		pc.Result = "partial"
		pc.Summary += fmt.Sprintf("; %d parked", c.Parked)
	}
	if c.Full {
		pc.Summary += " (full read)"
	}
	return pc
}

// countsText writes action counts as "3 create, 1 update".
func countsText(counts map[string]int) string {
	var parts []string
	for k, v := range counts {
		if k != "parked" && k != "unchanged" && v > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", v, k))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

// clean makes directory text fit for the page: control characters,
// ANSI escapes and bidi overrides written as visible escapes (html/template
// escapes HTML itself), and overlong text cut.
func clean(s string) string {
	s = textsafe.Escape(s)
	if r := []rune(s); len(r) > pageTextMax {
		s = string(r[:pageTextMax]) + "…"
	}
	return s
}

func roundDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func roundAgo(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
