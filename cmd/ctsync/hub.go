package main

import (
	"sync"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/sync/worker"
)

// progressHub fans one pair's progress out to everyone who watches the
// daemon (metrics, log lines, the status page) and keeps the latest
// progress of each running cycle for those who ask rather than listen.
type progressHub struct {
	mu      sync.Mutex
	running map[string]worker.Progress
	subs    []func(worker.Progress)
}

// newProgressHub hooks a hub onto every pair of a.
func newProgressHub(a *app.App) *progressHub {
	h := &progressHub{running: map[string]worker.Progress{}}
	for _, p := range a.Pairs {
		p.Progress = h.publish
	}
	return h
}

// Subscribe adds f to the listeners; f is called from the cycles' own
// goroutines, so it must be quick and safe for concurrent use.
func (h *progressHub) Subscribe(f func(worker.Progress)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs = append(h.subs, f)
}

// Running returns the latest progress of each running cycle, by pair.
func (h *progressHub) Running() map[string]worker.Progress {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]worker.Progress, len(h.running))
	for k, v := range h.running {
		out[k] = v
	}
	return out
}

func (h *progressHub) publish(pr worker.Progress) {
	h.mu.Lock()
	if pr.Phase == worker.PhaseDone {
		delete(h.running, pr.Pair)
	} else {
		h.running[pr.Pair] = pr
	}
	subs := h.subs
	h.mu.Unlock()
	for _, f := range subs {
		f(pr)
	}
}
