package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/textsafe"
)

func init() {
	register(&command{name: "status", summary: "show each pair's recent cycles, last success, counts, parked users, quarantine, staged deletes and lease holder",
		usage: "[-c config.toml] [--pair P] [--json]", flags: runStatus,
		example: `  # Every pair, the live replicas and their pairs
  ctsync status -c config.toml

  # One pair with every parked or staged user, its reason and next retry
  ctsync status -c config.toml --pair contoso-to-fabrikam

  # One JSON document (schema version 1, see docs/operating.md)
  ctsync status -c config.toml --json`})
	register(&command{name: "approve", summary: "allow a pair's staged deletes, disables and adoptions (all, or --user ones)",
		usage: "--pair P [--user ID]... [-c config.toml]", flags: runDecide(guestmap.Approved),
		example: `  # Allow everything the pair staged over its threshold
  ctsync approve -c config.toml --pair contoso-to-fabrikam

  # Allow two users' staged actions only (IDs as ctsync status --pair lists them)
  ctsync approve -c config.toml --pair contoso-to-fabrikam --user 5f1c0e2a-8d7b-4c39-9e61-2b7d3f0a4c18 --user 0b9e6c4d-31a2-47f5-8e0c-6d2a9b1f7e35`})
	register(&command{name: "reject", summary: "refuse a pair's staged deletes, disables and adoptions (all, or --user ones)",
		usage: "--pair P [--user ID]... [-c config.toml]", flags: runDecide(guestmap.Rejected),
		example: `  # Refuse everything the pair staged: the guests stay as they are
  ctsync reject -c config.toml --pair contoso-to-fabrikam

  # Refuse one user's staged action
  ctsync reject -c config.toml --pair contoso-to-fabrikam --user 5f1c0e2a-8d7b-4c39-9e61-2b7d3f0a4c18`})
	register(&command{name: "reset", summary: "reset a pair: forget its delta link, its map, or its quarantine",
		usage: "--pair P --watermark|--map|--quarantine [-c config.toml]", flags: runReset,
		example: `  # Read the source in full on the next cycle
  ctsync reset -c config.toml --pair contoso-to-fabrikam --watermark

  # Lift the pair's quarantine once the cause is fixed
  ctsync reset -c config.toml --pair contoso-to-fabrikam --quarantine

  # Forget the map, then rebuild it from the stamps in the target
  ctsync reset -c config.toml --pair contoso-to-fabrikam --map
  ctsync map rebuild -c config.toml --pair contoso-to-fabrikam`})
	register(&command{name: "map", summary: "export the source -> guest map, or rebuild it from the stamps in the target",
		usage: "export|rebuild",
		example: `  # The map as JSON lines
  ctsync map export -c config.toml --pair contoso-to-fabrikam > map.jsonl

  # Rebuild it from the stamps in the target tenant
  ctsync map rebuild -c config.toml --pair contoso-to-fabrikam`,
		subs: []*command{
			{name: "export", summary: "print the pair's source -> guest map as JSON lines, one entry a line, then its group entries (\"kind\":\"group\")",
				usage: "--pair P [-c config.toml]", flags: runMap("export"),
				example: `  # The map as JSON lines
  ctsync map export -c config.toml --pair contoso-to-fabrikam > map.jsonl

  # The guests of one source user
  ctsync map export -c config.toml --pair contoso-to-fabrikam | grep 5f1c0e2a-8d7b-4c39-9e61-2b7d3f0a4c18`},
			{name: "rebuild", summary: "rebuild the pair's map from the stamps in its target tenant, under the pair's lease",
				usage: "--pair P [--drop] [-c config.toml]", flags: runMap("rebuild"),
				long: "Exit 0 rebuilt, 1 not rebuilt or guests with duplicate stamps left unmapped, 2 usage or configuration.",
				example: `  # Rebuild the map from the stamps in the target
  ctsync map rebuild -c config.toml --pair contoso-to-fabrikam

  # Forget every entry first (attributes are rewritten on the next cycle)
  ctsync map rebuild -c config.toml --pair contoso-to-fabrikam --drop`},
		}})
	register(&command{name: "logs", summary: "query the provisioning log",
		usage: "[--pair P] [--user ID] [--action A] [--since 1h|RFC3339] [--limit N] [--json] [-c config.toml]", flags: runLogs,
		example: `  # The last 20 records of one pair
  ctsync logs -c config.toml --pair contoso-to-fabrikam --limit 20

  # The updates of the last hour
  ctsync logs -c config.toml --since 1h --action update

  # One user's history as JSON lines (schema in docs/operating.md, "Provisioning log")
  ctsync logs -c config.toml --user 5f1c0e2a-8d7b-4c39-9e61-2b7d3f0a4c18 --json`})
}

// runDecide is approve (d is guestmap.Approved) and reject.
func runDecide(d guestmap.Decision) func(fs *pflag.FlagSet) runFunc {
	return func(fs *pflag.FlagSet) runFunc {
		path := configFlag(fs)
		pair := fs.String("pair", "", "the `pair` (required)")
		users := fs.StringArray("user", nil, "a staged source user `ID` (repeatable); all staged users when absent")
		return func(ctx context.Context, e *env, args []string) int {
			return decide(ctx, e, d, *path, *pair, *users)
		}
	}
}

func decide(ctx context.Context, e *env, d guestmap.Decision, path, pair string, users []string) int {
	if pair == "" {
		e.errorf("--pair is required")
		return exitUsage
	}
	by := os.Getenv("USER")
	if by == "" {
		by = "admin"
	}
	ids := users
	var (
		n      int
		staged []guestmap.Staged
		err    error
	)
	a, api, code := openOrAsk(ctx, e, path, pair)
	switch {
	case a != nil:
		defer a.Close()
		if len(ids) == 0 {
			if staged, err = a.Store.Staged(ctx, pair); err != nil {
				e.errorf("%v", err)
				return exitFailures
			}
			for _, s := range staged {
				ids = append(ids, s.SourceID)
			}
		}
		n, err = a.Store.Decide(ctx, pair, d, by, ids...)
	case api != "":
		// The daemon holds the embedded store: it records the decision.
		var resp decideResponse
		err = apiPost(ctx, path, api, "/api/v1/decide", decideRequest{Pair: pair, Decision: d, Users: ids, By: by}, &resp, time.Minute)
		n, staged = resp.Decided, resp.Staged
	default:
		return code
	}
	if err != nil {
		e.errorf("%v", err)
		return exitFailures
	}
	for _, s := range staged {
		fmt.Fprintf(e.stdout, "  %s %s (guest %s): %s\n", s.Action, s.SourceID, s.GuestID, textsafe.Escape(s.Reason))
	}
	fmt.Fprintf(e.stdout, "%s: %d staged actions %s; the next cycle carries out the decision\n", pair, n, d)
	return exitOK
}

// apiPost posts req as JSON to the daemon's API at route with the
// listener's bearer token, read as the daemon reads it (the configuration
// at path), and decodes the answer into resp. timeout bounds the request
// when positive; the caller's ctx alone otherwise.
func apiPost(ctx context.Context, path, api, route string, req, resp any, timeout time.Duration) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	token, err := readListenToken(cfg.Worker)
	if err != nil {
		return err
	}
	if token == "" {
		return errors.New("the embedded store is held by the running daemon, and changing it through the daemon needs its bearer token: set worker.listen_token_file or worker.listen_token_env")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, api+route, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		return fmt.Errorf("ask the running daemon: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("ask the running daemon: POST %s: %s: %s", route, res.Status, termLine(string(b)))
	}
	return json.NewDecoder(res.Body).Decode(resp)
}

// apiStream copies the body the daemon's API answers at u to w as it
// comes. A daemon that fails half-way aborts the response, so a cut
// stream is an error here, never a short success.
func apiStream(ctx context.Context, u string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask the running daemon: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("ask the running daemon: GET %s: %s: %s", req.URL.Path, res.Status, termLine(string(b)))
	}
	if _, err := io.Copy(w, res.Body); err != nil {
		return fmt.Errorf("ask the running daemon: GET %s: %w", req.URL.Path, err)
	}
	return nil
}

func runReset(fs *pflag.FlagSet) runFunc {
	path := configFlag(fs)
	pair := fs.String("pair", "", "the `pair` (required)")
	watermark := fs.Bool("watermark", false, "forget the delta links (users and groups): the next cycle reads the source in full")
	dropMap := fs.Bool("map", false, "forget the map, users' and groups' (rebuild it with 'ctsync map rebuild'); implies --watermark")
	quarantine := fs.Bool("quarantine", false, "lift the pair's quarantine")
	return func(ctx context.Context, e *env, args []string) int {
		if *pair == "" || !(*watermark || *dropMap || *quarantine) {
			e.errorf("reset needs --pair and one of --watermark, --map, --quarantine")
			return exitUsage
		}
		req := resetRequest{Pair: *pair, Watermark: *watermark || *dropMap, Map: *dropMap, Quarantine: *quarantine}
		a, api, code := openOrAsk(ctx, e, *path, *pair)
		var err error
		switch {
		case a != nil:
			defer a.Close()
			err = resetPair(ctx, a, req)
		case api != "":
			// The daemon holds the embedded store: it resets the pair.
			err = apiPost(ctx, *path, api, "/api/v1/reset", req, &struct{}{}, time.Minute)
		default:
			return code
		}
		if err != nil {
			e.errorf("%v", err)
			return exitFailures
		}
		writeReset(e.stdout, req)
		return exitOK
	}
}

// resetRequest says what to forget of a pair: the arguments of `ctsync
// reset` and the body of POST /api/v1/reset.
type resetRequest struct {
	Pair string `json:"pair"`
	// Watermark forgets the delta link: the next cycle reads in full.
	Watermark bool `json:"watermark,omitempty"`
	// Map forgets the map too (and so the delta link).
	Map bool `json:"map,omitempty"`
	// Quarantine lifts the pair's quarantine.
	Quarantine bool `json:"quarantine,omitempty"`
}

// resetPair carries out req with a's store: `ctsync reset` runs it when
// it can open the store, the daemon (POST /api/v1/reset) when it holds it.
// Forgetting the delta link or the map rewrites the pair's state, fenced
// by the pair's lease; the lease is taken before anything changes, so a
// cycle holding it (an error matching guestmap.ErrHeld) leaves the pair
// untouched, its quarantine included, rather than half reset.
func resetPair(ctx context.Context, a *app.App, req resetRequest) error {
	var lease *guestmap.Lease
	if req.Watermark || req.Map {
		l, err := takeLease(ctx, a, req.Pair)
		if err != nil {
			return err
		}
		defer l.Release(context.WithoutCancel(ctx))
		lease = l
	}
	if req.Quarantine {
		if err := a.Store.ClearQuarantine(ctx, req.Pair); err != nil {
			return err
		}
	}
	if lease != nil {
		// The groups' state goes with the users': the watermark is both
		// delta links, the map both maps (map rebuild restores both).
		none := ""
		if err := a.Store.Apply(ctx, lease, guestmap.Batch{DropDeltaLink: true, GroupLink: &none, DropMap: req.Map, DropGroups: req.Map}); err != nil {
			return err
		}
	}
	return nil
}

// writeReset says what resetPair did, once it succeeded.
func writeReset(w io.Writer, req resetRequest) {
	if req.Quarantine {
		fmt.Fprintf(w, "%s: quarantine lifted\n", req.Pair)
	}
	if req.Watermark || req.Map {
		fmt.Fprintf(w, "%s: delta link forgotten; the next cycle reads the source in full\n", req.Pair)
	}
	if req.Map {
		fmt.Fprintf(w, "%s: map forgotten; run 'ctsync map rebuild --pair %s' before the next cycle\n", req.Pair, req.Pair)
	}
}

// takeLease takes the pair's lease for a command that rewrites its state.
// When a cycle (or another command) holds it, the error says so and
// matches guestmap.ErrHeld, which the daemon's API answers with 409.
func takeLease(ctx context.Context, a *app.App, pair string) (*guestmap.Lease, error) {
	lease, err := a.Store.Acquire(ctx, pair, a.Config.Worker.LeaseTTL.Duration)
	if errors.Is(err, guestmap.ErrHeld) {
		return nil, fmt.Errorf("the lease of %s is held: a cycle of the pair (or another command) is running; try again when it ends: %w", pair, err)
	}
	if err != nil {
		return nil, fmt.Errorf("take the lease of %s: %w", pair, err)
	}
	return lease, nil
}

// runMap is `map export` and `map rebuild` (sub).
func runMap(sub string) func(fs *pflag.FlagSet) runFunc {
	return func(fs *pflag.FlagSet) runFunc {
		path := configFlag(fs)
		pair := fs.String("pair", "", "the `pair` (required)")
		drop := new(bool)
		if sub == "rebuild" {
			drop = fs.Bool("drop", false, "forget every entry first (attributes are rewritten on the next cycle)")
		}
		return func(ctx context.Context, e *env, args []string) int {
			return mapPair(ctx, e, sub, *path, *pair, *drop)
		}
	}
}

func mapPair(ctx context.Context, e *env, sub, path, pair string, drop bool) int {
	if pair == "" {
		e.errorf("--pair is required")
		return exitUsage
	}
	a, api, code := openOrAsk(ctx, e, path, pair)
	if a == nil && api == "" {
		return code
	}
	if a != nil {
		defer a.Close()
	}
	if sub == "export" {
		var err error
		if a != nil {
			err = exportMap(ctx, a.Store, pair, e.stdout)
		} else {
			// The daemon holds the embedded store: it streams the same
			// lines, copied as they come.
			err = apiStream(ctx, api+"/api/v1/map?"+url.Values{"pair": {pair}}.Encode(), e.stdout)
		}
		if err != nil {
			e.errorf("export %s: %v", pair, err)
			return exitFailures
		}
		return exitOK
	}
	req := rebuildRequest{Pair: pair, Drop: drop}
	var (
		res rebuildResponse
		err error
	)
	if a != nil {
		res, err = rebuildMap(ctx, a, req)
	} else {
		// No timeout of our own: the rebuild reads the target tenant in
		// full, which takes as long as it takes; ^C stops the command,
		// and the daemon's rebuild with it (its request is cancelled).
		err = apiPost(ctx, path, api, "/api/v1/map/rebuild", req, &res, 0)
	}
	if err != nil {
		e.errorf("%v", err)
		return exitFailures
	}
	fmt.Fprintf(e.stdout, "%s: %d stamped guests read, %d mapped, %d entries removed, %d of other pairs\n", pair, res.Facts, res.Mapped, res.Removed, res.Foreign)
	for _, d := range res.Duplicates {
		// The stamp is read from the target's attribute: escaped.
		fmt.Fprintf(e.stdout, "  duplicate: guest %s also carries stamp %s; left unmapped\n", textsafe.Escape(d.GuestID), textsafe.Escape(d.Stamp))
	}
	if g := res.Groups; g != nil {
		fmt.Fprintf(e.stdout, "%s: %d stamped groups read, %d mapped, %d of other source tenants\n", pair, g.Stamped, g.Mapped, g.Foreign)
		for _, d := range g.Duplicates {
			fmt.Fprintf(e.stdout, "  duplicate: group %s carries the stamp of an already mapped group; left alone\n", textsafe.Escape(d))
		}
	}
	if len(res.Duplicates) > 0 || (res.Groups != nil && len(res.Groups.Duplicates) > 0) {
		return exitFailures
	}
	return exitOK
}

// exportMap writes the pair's map as JSON lines: what `ctsync map export`
// prints and GET /api/v1/map streams. First the users, one guestmap.Entry
// a line as ever, then the groups (group sync), one exportGroup a line,
// told apart by their "kind":"group" (user lines have no "kind"), in
// source ID order.
func exportMap(ctx context.Context, s guestmap.Store, pair string, w io.Writer) error {
	enc := json.NewEncoder(w)
	err := s.Scan(ctx, pair, func(page []guestmap.Entry) error {
		for _, en := range page {
			if err := enc.Encode(en); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	groups, err := s.GroupEntries(ctx, pair)
	if err != nil {
		return fmt.Errorf("read group entries: %w", err)
	}
	for _, g := range groups {
		if err := enc.Encode(exportGroup{Kind: exportKindGroup, GroupEntry: g}); err != nil {
			return err
		}
	}
	return nil
}

// exportKindGroup is the "kind" of a group's line in `ctsync map export`.
const exportKindGroup = "group"

// exportGroup is a group's line in `ctsync map export`: "kind":"group"
// and the fields of guestmap.GroupEntry (schema in docs/operating.md,
// "Map export").
type exportGroup struct {
	Kind string `json:"kind"`
	guestmap.GroupEntry
}

// rebuildRequest is the body of POST /api/v1/map/rebuild: the arguments
// of `ctsync map rebuild`.
type rebuildRequest struct {
	Pair string `json:"pair"`
	// Drop forgets every entry first.
	Drop bool `json:"drop,omitempty"`
}

// rebuildResponse is what a rebuild found (guestmap.RebuildResult, with
// JSON names of its own so the API does not follow the package's fields).
type rebuildResponse struct {
	Facts      int                `json:"facts"`
	Mapped     int                `json:"mapped"`
	Removed    int                `json:"removed"`
	Foreign    int                `json:"foreign"`
	Duplicates []rebuildDuplicate `json:"duplicates,omitempty"`
	// Groups is the rebuild of the group entries, for a pair with
	// [pair.groups].
	Groups *rebuildGroups `json:"groups,omitempty"`
}

// rebuildGroups is what the group rebuild found (worker.GroupRebuild).
type rebuildGroups struct {
	Stamped    int      `json:"stamped"`
	Mapped     int      `json:"mapped"`
	Foreign    int      `json:"foreign"`
	Duplicates []string `json:"duplicates,omitempty"`
}

// rebuildDuplicate is a further guest stamped for an already mapped
// source user, left unmapped.
type rebuildDuplicate struct {
	GuestID string `json:"guestId"`
	Stamp   string `json:"stamp"`
}

// errPairDisabled: a rebuild reads the pair's target tenant, which is
// wired for enabled pairs only.
var errPairDisabled = errors.New("the pair is disabled (disabled = true): enable it to rebuild its map")

// rebuildMap rebuilds the pair's map from the stamps in its target tenant,
// under the pair's lease (takeLease): `ctsync map rebuild` runs it when it
// can open the store, the daemon (POST /api/v1/map/rebuild) when it holds
// it.
func rebuildMap(ctx context.Context, a *app.App, req rebuildRequest) (rebuildResponse, error) {
	var out rebuildResponse
	p := a.Pair(req.Pair)
	if p == nil {
		return out, fmt.Errorf("rebuild %s: %w", req.Pair, errPairDisabled)
	}
	lease, err := takeLease(ctx, a, req.Pair)
	if err != nil {
		return out, err
	}
	defer lease.Release(context.WithoutCancel(ctx))
	res, err := guestmap.Rebuild(ctx, a.Store, lease, p.StampFacts(ctx), guestmap.RebuildOptions{SourceTenantID: p.SourceTenantID, Drop: req.Drop})
	if err != nil {
		return out, err
	}
	out = rebuildResponse{Facts: res.Facts, Mapped: res.Mapped, Removed: res.Removed, Foreign: res.Foreign}
	for _, d := range res.Duplicates {
		out.Duplicates = append(out.Duplicates, rebuildDuplicate{GuestID: d.GuestID, Stamp: d.Stamp})
	}
	if p.Groups != nil {
		gr, err := p.RebuildGroups(ctx, lease)
		if err != nil {
			return out, err
		}
		out.Groups = &rebuildGroups{Stamped: gr.Stamped, Mapped: gr.Mapped, Foreign: gr.Foreign, Duplicates: gr.Duplicates}
	}
	return out, nil
}

func runLogs(fs *pflag.FlagSet) runFunc {
	path := configFlag(fs)
	pair := fs.String("pair", "", "only this `pair`")
	user := fs.String("user", "", "only this source user `ID`")
	action := fs.String("action", "", "only this `action` (create, update, disable, ...)")
	since := fs.String("since", "", "only records newer than a `duration` (1h) or an RFC 3339 time")
	limit := fs.Int("limit", 100, "at most `N` records (the newest)")
	asJSON := fs.Bool("json", false, "print JSON lines, one record a line (schema in docs/operating.md, \"Provisioning log\")")
	return func(ctx context.Context, e *env, args []string) int {
		var sinceTime time.Time
		if *since != "" {
			t, err := parseSince(*since)
			if err != nil {
				e.errorf("--since: %v", err)
				return exitUsage
			}
			sinceTime = t
		}
		q := guestmap.LogQuery{Pair: *pair, SourceID: *user, Limit: *limit, Since: sinceTime}
		// Both ways end in the same logRecords, so the output is the same
		// whether the store or the daemon answered.
		var recs []logRecord
		a, api, code := openOrAsk(ctx, e, *path, "")
		switch {
		case a != nil:
			defer a.Close()
			stored, err := queryLogs(ctx, a.Store, q, *action)
			if err != nil {
				e.errorf("%v", err)
				return exitFailures
			}
			recs = logRecords(stored)
		case api != "":
			v := url.Values{"limit": {strconv.Itoa(*limit)}}
			for k, s := range map[string]string{"pair": *pair, "user": *user, "action": *action} {
				if s != "" {
					v.Set(k, s)
				}
			}
			if !sinceTime.IsZero() {
				v.Set("since", sinceTime.UTC().Format(time.RFC3339Nano))
			}
			var body json.RawMessage
			err := apiGet(ctx, api+"/api/v1/logs?"+v.Encode(), &body)
			if err == nil {
				recs, err = decodeAPILogs(body)
			}
			if err != nil {
				e.errorf("ask the running daemon: %v", err)
				return exitFailures
			}
		default:
			return code
		}
		writeLogs(e.stdout, recs, *asJSON)
		return exitOK
	}
}

// writeLogs prints records as `ctsync logs` does: a line of text each, or
// with asJSON a JSON object each (JSON lines). JSON values are as they are
// (JSON's escaping keeps them on their line); the text is escaped.
func writeLogs(w io.Writer, recs []logRecord, asJSON bool) {
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if asJSON {
			_ = enc.Encode(r)
			continue
		}
		writeRecord(w, r)
	}
}

// queryLogs reads the records q selects, keeping only action when set
// (the store filters by pair, user and time; action is filtered here).
func queryLogs(ctx context.Context, s guestmap.Store, q guestmap.LogQuery, action string) ([]guestmap.Record, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	if action != "" {
		q.Limit = 0 // filter below, then keep the newest
	}
	recs, err := s.Logs(ctx, q)
	if err != nil {
		return nil, err
	}
	if action != "" {
		kept := recs[:0]
		for _, r := range recs {
			if r.Action == action {
				kept = append(kept, r)
			}
		}
		if len(kept) > limit {
			kept = kept[len(kept)-limit:]
		}
		recs = kept
	}
	return recs, nil
}

// logVersion is the version of a `ctsync logs --json` line (logRecord).
// It changes only when a field changes meaning or goes away; new fields
// may appear within a version.
const logVersion = 1

// logRecord is one provisioning record as ctsync shows it to scripts: a
// line of `ctsync logs --json` and an element of GET /api/v1/logs
// (schema in docs/operating.md, "Provisioning log"). guestmap.Record's
// own JSON is the stores' storage format, whose short keys and
// nanoseconds stay for the records already written; this is its readable
// face, with full keys and seconds.
type logRecord struct {
	Version int `json:"version"`
	// Time is when the action was done, RFC 3339 in UTC.
	Time     time.Time `json:"time"`
	Pair     string    `json:"pair"`
	Cycle    string    `json:"cycle,omitempty"`
	SourceID string    `json:"sourceId,omitempty"`
	GuestID  string    `json:"guestId,omitempty"`
	// Action is "create", "update", "adopt", "disable", ...; Result is
	// "ok", "error", "parked", "staged", "skipped" or "fenced".
	Action string `json:"action"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	// DurationSeconds is how long the action's Graph calls took; absent
	// when the action was not timed.
	DurationSeconds float64     `json:"durationSeconds,omitempty"`
	Changes         []logChange `json:"changes,omitempty"`
}

// logChange is one property written. Old and New are always present:
// null is a value too (a manager cleared) or an old value not known.
type logChange struct {
	Property string `json:"property"`
	Old      any    `json:"old"`
	New      any    `json:"new"`
}

// newLogRecord is r's readable face.
func newLogRecord(r guestmap.Record) logRecord {
	out := logRecord{Version: logVersion, Time: r.Time.UTC(), Pair: r.Pair, Cycle: r.Cycle, SourceID: r.SourceID, GuestID: r.GuestID,
		Action: r.Action, Result: r.Result, Error: r.Error, DurationSeconds: r.Duration.Seconds()}
	for _, c := range r.Changes {
		out.Changes = append(out.Changes, logChange{Property: c.Prop, Old: c.Old, New: c.New})
	}
	return out
}

// logRecords converts the store's records; never nil, so the API answers
// [] rather than null when nothing matches.
func logRecords(recs []guestmap.Record) []logRecord {
	out := make([]logRecord, 0, len(recs))
	for _, r := range recs {
		out = append(out, newLogRecord(r))
	}
	return out
}

// decodeAPILogs reads GET /api/v1/logs's answer. A ctsync older than
// logRecord answers the store's records as they are (no version, short
// keys): read those too, so a newer CLI beside a daemon not yet restarted
// on the new binary prints the same.
func decodeAPILogs(body []byte) ([]logRecord, error) {
	var recs []logRecord
	if err := json.Unmarshal(body, &recs); err != nil {
		return nil, err
	}
	if len(recs) == 0 || recs[0].Version != 0 {
		return recs, nil
	}
	var old []guestmap.Record
	if err := json.Unmarshal(body, &old); err != nil {
		return nil, err
	}
	return logRecords(old), nil
}

// writeRecord prints one provisioning record on one line. Everything in
// it that came from a directory (IDs, the values changed, error messages
// quoting names) is escaped: a displayName with a newline or an ANSI
// escape can neither forge a line nor drive the terminal.
func writeRecord(w io.Writer, r logRecord) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-22s %-11s %-8s src %s guest %s", r.Time.Format(time.RFC3339), textsafe.Escape(r.Pair), textsafe.Escape(r.Action),
		textsafe.Escape(r.Result), textsafe.Escape(r.SourceID), textsafe.Escape(r.GuestID))
	for _, c := range r.Changes {
		fmt.Fprintf(&b, " %s:%s->%s", textsafe.Escape(c.Property), textsafe.Escape(fmt.Sprint(c.Old)), textsafe.Escape(fmt.Sprint(c.New)))
	}
	if r.Error != "" {
		fmt.Fprintf(&b, " (%s)", textsafe.Escape(r.Error))
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(w, b.String())
}

func parseSince(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("want a duration such as 2h or an RFC 3339 time")
	}
	return t, nil
}
