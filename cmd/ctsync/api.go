package main

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/sync/worker"
)

// apiRoutes adds the daemon's read-only API, through which `ctsync status`
// and `ctsync logs` work while the daemon holds the embedded store's file
// (one process only). They answer JSON and change nothing, so they stay
// open like the rest of the read-only endpoints; the listener keeps them
// on loopback unless told otherwise.
//
//	GET /api/v1/status[?pair=P&users=1&lookup=0]  the statusDoc of `ctsync status --json`
//	GET /api/v1/logs[?pair=P&user=ID&action=A&since=RFC3339&limit=N]  provisioning records, oldest first
func apiRoutes(mux *http.ServeMux, a *app.App, hub *progressHub) {
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		pair := q.Get("pair")
		if pair != "" && a.Pair(pair) == nil {
			http.Error(w, "no such pair", http.StatusNotFound)
			return
		}
		o := statusOptions{Users: q.Get("users") == "1", Lookup: q.Get("lookup") != "0"}
		if hub != nil {
			o.Running = hub.Running()
		}
		view := a
		if pair != "" {
			one := *a
			one.Pairs = []*worker.Pair{a.Pair(pair)}
			view = &one
		}
		doc, err := buildStatus(r.Context(), view, o)
		if err != nil {
			http.Error(w, termLine(err.Error()), http.StatusServiceUnavailable)
			return
		}
		doc.From = "daemon"
		writeAPIJSON(w, doc)
	})
	mux.HandleFunc("GET /api/v1/logs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		lq := guestmap.LogQuery{Pair: q.Get("pair"), SourceID: q.Get("user")}
		if s := q.Get("since"); s != "" {
			t, err := parseSince(s)
			if err != nil {
				http.Error(w, "since: "+err.Error(), http.StatusBadRequest)
				return
			}
			lq.Since = t
		}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				http.Error(w, "limit: want a positive number", http.StatusBadRequest)
				return
			}
			lq.Limit = n
		}
		recs, err := queryLogs(r.Context(), a.Store, lq, q.Get("action"))
		if err != nil {
			http.Error(w, termLine(err.Error()), http.StatusServiceUnavailable)
			return
		}
		writeAPIJSON(w, recs)
	})
}

func writeAPIJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
