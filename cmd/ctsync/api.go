package main

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

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
//	GET /api/v1/logs[?pair=P&user=ID&action=A&since=RFC3339&limit=N]  logRecords, oldest first
//	GET /api/v1/map?pair=P  the pair's map as JSON lines, as `ctsync map export` prints it
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
		// The shape of `ctsync logs --json`'s lines, not the store's.
		writeAPIJSON(w, logRecords(recs))
	})
	mux.HandleFunc("GET /api/v1/map", func(w http.ResponseWriter, r *http.Request) {
		pair := r.URL.Query().Get("pair")
		if pair == "" {
			http.Error(w, "pair is required", http.StatusBadRequest)
			return
		}
		// The map lives in the store whether or not the pair is enabled:
		// any configured pair, as `ctsync map export` allows.
		if a.Config.Pair(pair) == nil {
			http.Error(w, "no such pair", http.StatusNotFound)
			return
		}
		// A large map outlasts the listener's 30 s write timeout; it is
		// written as fast as the store reads it.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(apiExportDeadline))
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		cw := &countingWriter{w: w}
		if err := exportMap(r.Context(), a.Store, pair, cw); err != nil {
			if cw.n == 0 {
				http.Error(w, termLine(err.Error()), http.StatusServiceUnavailable)
				return
			}
			// Lines are out with a 200: abort the response, so the
			// client sees a cut stream rather than a short map.
			a.Log.Warn("GET /api/v1/map: export failed half-way", "pair", pair, "error", err)
			panic(http.ErrAbortHandler)
		}
	})
}

// Deadlines of the API's long requests, beyond the listener's timeouts
// (which suit probes and small answers).
const (
	// apiExportDeadline bounds streaming a map: a 100,000-user map is some
	// 30 MB, seconds on loopback.
	apiExportDeadline = 10 * time.Minute
	// apiRebuildDeadline bounds a rebuild, which reads the target tenant's
	// stamped guests from Graph, paced (minutes for a large tenant).
	apiRebuildDeadline = time.Hour
)

// countingWriter counts the bytes written through it: whether a response
// has started.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
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

// apiStateRoutes adds POST /api/v1/decide, through which `ctsync approve`
// and `ctsync reject` record an admin's decision while the daemon holds
// the embedded store, and POST /api/v1/reset and POST /api/v1/map/rebuild,
// through which `ctsync reset` and `ctsync map rebuild` change a pair's
// state then. The daemon carries them out with its own App and the CLI's
// code (resetPair, rebuildMap). They change state, so, like POST /sync,
// they need the listener's bearer token (authorized) and a JSON body (a
// browser's cross-site form cannot send one).
//
//	POST /api/v1/decide       decideRequest -> decideResponse
//	POST /api/v1/reset        resetRequest -> {}; 409 while a cycle of the pair holds its lease
//	POST /api/v1/map/rebuild  rebuildRequest -> rebuildResponse; 409 likewise
func apiStateRoutes(mux *http.ServeMux, a *app.App, authorized func(*http.Request) bool) {
	mux.HandleFunc("POST /api/v1/decide", func(w http.ResponseWriter, r *http.Request) {
		var req decideRequest
		if !decodeMutation(w, r, authorized, &req) {
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
	mux.HandleFunc("POST /api/v1/reset", func(w http.ResponseWriter, r *http.Request) {
		var req resetRequest
		if !decodeMutation(w, r, authorized, &req) {
			return
		}
		if !(req.Watermark || req.Map || req.Quarantine) {
			http.Error(w, "want one of watermark, map, quarantine", http.StatusBadRequest)
			return
		}
		// Like `ctsync reset`: any configured pair, its state is in the
		// store whether or not it is enabled.
		if a.Config.Pair(req.Pair) == nil {
			http.Error(w, "no such pair", http.StatusNotFound)
			return
		}
		req.Watermark = req.Watermark || req.Map // forgetting the map forgets the delta link
		if err := resetPair(r.Context(), a, req); err != nil {
			apiStateError(w, err)
			return
		}
		a.Log.Info("POST /api/v1/reset: pair reset", "pair", req.Pair, "watermark", req.Watermark, "map", req.Map, "quarantine", req.Quarantine)
		writeAPIJSON(w, struct{}{})
	})
	mux.HandleFunc("POST /api/v1/map/rebuild", func(w http.ResponseWriter, r *http.Request) {
		var req rebuildRequest
		if !decodeMutation(w, r, authorized, &req) {
			return
		}
		if a.Config.Pair(req.Pair) == nil {
			http.Error(w, "no such pair", http.StatusNotFound)
			return
		}
		// The rebuild reads the target tenant: past the listener's read
		// and write timeouts (an expired read deadline would also cancel
		// the request's context, and so the rebuild).
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(apiRebuildDeadline))
		_ = rc.SetWriteDeadline(time.Now().Add(apiRebuildDeadline))
		res, err := rebuildMap(r.Context(), a, req)
		if err != nil {
			apiStateError(w, err)
			return
		}
		a.Log.Info("POST /api/v1/map/rebuild: map rebuilt", "pair", req.Pair, "mapped", res.Mapped, "removed", res.Removed, "duplicates", len(res.Duplicates))
		writeAPIJSON(w, res)
	})
}

// decodeMutation admits a state-changing request: the bearer token
// (authorized; nil when none is configured, so every request is refused),
// then a JSON body, decoded into v with unknown fields refused (a
// misspelt option must not pass for its absence). Otherwise it answers
// 401, 415 or 400 and returns false.
func decodeMutation(w http.ResponseWriter, r *http.Request, authorized func(*http.Request) bool, v any) bool {
	if authorized == nil || !authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ctsync"`)
		http.Error(w, "a valid bearer token is required (worker.listen_token_file or listen_token_env)", http.StatusUnauthorized)
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		http.Error(w, "body: "+termLine(err.Error()), http.StatusBadRequest)
		return false
	}
	return true
}

// apiStateError answers a failed reset or rebuild: 409 when the pair's
// lease is held (a cycle is running; the message says to try again) or
// the pair is disabled, 503 otherwise. The CLI prints the message.
func apiStateError(w http.ResponseWriter, err error) {
	code := http.StatusServiceUnavailable
	if errors.Is(err, guestmap.ErrHeld) || errors.Is(err, errPairDisabled) {
		code = http.StatusConflict
	}
	http.Error(w, termLine(err.Error()), code)
}
