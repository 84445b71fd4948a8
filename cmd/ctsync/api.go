package main

import (
	"encoding/json"
	"mime"
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

// decideRequest is the body of POST /api/v1/decide.
type decideRequest struct {
	Pair string `json:"pair"`
	// Decision is "approved" or "rejected".
	Decision guestmap.Decision `json:"decision"`
	// Users are staged source user IDs; every staged action when empty.
	Users []string `json:"users,omitempty"`
	// By names the admin, for the record.
	By string `json:"by"`
}

// decideResponse answers POST /api/v1/decide.
type decideResponse struct {
	Decided int `json:"decided"`
	// Staged lists the actions decided when the request named no user.
	Staged []guestmap.Staged `json:"staged,omitempty"`
}

// apiDecideRoutes adds POST /api/v1/decide, through which `ctsync approve`
// and `ctsync reject` record an admin's decision while the daemon holds
// the embedded store. It changes state, so, like POST /sync, it needs the
// listener's bearer token (authorized) and a JSON body (a browser's
// cross-site form cannot send one).
func apiDecideRoutes(mux *http.ServeMux, a *app.App, authorized func(*http.Request) bool) {
	mux.HandleFunc("POST /api/v1/decide", func(w http.ResponseWriter, r *http.Request) {
		if authorized == nil || !authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ctsync"`)
			http.Error(w, "a valid bearer token is required (worker.listen_token_file or listen_token_env)", http.StatusUnauthorized)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
			return
		}
		var req decideRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "body: "+termLine(err.Error()), http.StatusBadRequest)
			return
		}
		if req.Decision != guestmap.Approved && req.Decision != guestmap.Rejected {
			http.Error(w, "decision: want approved or rejected", http.StatusBadRequest)
			return
		}
		if a.Pair(req.Pair) == nil {
			http.Error(w, "no such pair", http.StatusNotFound)
			return
		}
		if req.By == "" {
			req.By = "admin"
		}
		var resp decideResponse
		ids := req.Users
		if len(ids) == 0 {
			staged, err := a.Store.Staged(r.Context(), req.Pair)
			if err != nil {
				http.Error(w, termLine(err.Error()), http.StatusServiceUnavailable)
				return
			}
			resp.Staged = staged
			for _, s := range staged {
				ids = append(ids, s.SourceID)
			}
		}
		n, err := a.Store.Decide(r.Context(), req.Pair, req.Decision, req.By, ids...)
		if err != nil {
			http.Error(w, termLine(err.Error()), http.StatusServiceUnavailable)
			return
		}
		resp.Decided = n
		writeAPIJSON(w, resp)
	})
}
