package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/sync/worker"
)

// progress shows, on a terminal, one line with how far each pair's cycle
// is (users read, changes applied of planned, with the apply rate and an
// ETA once there is a rate), redrawn at most a few times
// a second. Off a terminal (CI, cron,
// pipes) it stays silent: the reports say it all at the end.
type progress struct {
	w     io.Writer
	mu    sync.Mutex
	pairs map[string]worker.Progress
	last  time.Time
	shown bool
}

// showProgress hooks a progress line onto the app's pairs when w is a
// terminal, and returns a func that clears the line.
func showProgress(a *app.App, w io.Writer) func() {
	f, ok := w.(*os.File)
	if !ok {
		return func() {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	p := &progress{w: w, pairs: map[string]worker.Progress{}}
	for _, pr := range a.Pairs {
		pr.Progress = p.update
	}
	return p.clear
}

func (p *progress) update(pr worker.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr.Phase == worker.PhaseDone {
		delete(p.pairs, pr.Pair)
	} else {
		p.pairs[pr.Pair] = pr
	}
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	names := make([]string, 0, len(p.pairs))
	for n := range p.pairs {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		c := p.pairs[n]
		switch c.Phase {
		case worker.PhaseRead:
			parts = append(parts, fmt.Sprintf("%s reading %d", n, c.Read))
		case worker.PhasePlan, worker.PhaseApply:
			part := fmt.Sprintf("%s %d/%d", n, c.Applied, c.Planned)
			if c.Considered > 0 && c.Considered < c.Read {
				part += fmt.Sprintf(" [%d/%d users]", c.Considered, c.Read)
			}
			if rate, eta, ok := c.ApplyRate(time.Now()); ok {
				part += fmt.Sprintf(" (%.0f/min", rate)
				if eta > 0 {
					part += ", ETA " + eta.Round(time.Second).String()
				}
				part += ")"
			}
			parts = append(parts, part)
		default:
			parts = append(parts, fmt.Sprintf("%s %s", n, c.Phase))
		}
	}
	fmt.Fprintf(p.w, "\r\033[K%s", strings.Join(parts, "  "))
	p.shown = true
}

func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
