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
)

// progress shows, on a terminal, one line with how far each pair's apply
// step is, redrawn at most a few times a second. Off a terminal (CI, cron,
// pipes) it stays silent: the reports say it all at the end.
type progress struct {
	w     io.Writer
	mu    sync.Mutex
	pairs map[string][2]int
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
	p := &progress{w: w, pairs: map[string][2]int{}}
	for _, pr := range a.Pairs {
		pr.Progress = p.update
	}
	return p.clear
}

func (p *progress) update(pair string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pairs[pair] = [2]int{done, total}
	if time.Since(p.last) < 200*time.Millisecond && done != total {
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
		parts = append(parts, fmt.Sprintf("%s %d/%d", n, c[0], c[1]))
	}
	fmt.Fprintf(p.w, "\r\033[Kapplying: %s", strings.Join(parts, "  "))
	p.shown = true
}

func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
