package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/internal/textsafe"
)

func init() {
	register(&command{name: "status", summary: "show each pair's recent cycles, last success, counts, parked users, quarantine, staged deletes and lease holder",
		usage: "[-c config.toml] [--pair P] [--json]", run: runStatus})
	register(&command{name: "approve", summary: "allow a pair's staged deletes and disables (all, or --user ones)",
		usage: "--pair P [--user ID]... [-c config.toml]", run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
			return runDecide(ctx, e, fs, args, guestmap.Approved)
		}})
	register(&command{name: "reject", summary: "refuse a pair's staged deletes and disables (all, or --user ones)",
		usage: "--pair P [--user ID]... [-c config.toml]", run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
			return runDecide(ctx, e, fs, args, guestmap.Rejected)
		}})
	register(&command{name: "reset", summary: "reset a pair: forget its delta link, its map, or its quarantine",
		usage: "--pair P --watermark|--map|--quarantine [-c config.toml]", run: runReset})
	register(&command{name: "map", summary: "export the source -> guest map, or rebuild it from the stamps in the target",
		usage: "export|rebuild --pair P [-c config.toml]", run: runMap})
	register(&command{name: "logs", summary: "query the provisioning log",
		usage: "[--pair P] [--user ID] [--action A] [--since 1h|RFC3339] [--limit N] [--json] [-c config.toml]", run: runLogs})
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runDecide(ctx context.Context, e *env, fs *flag.FlagSet, args []string, d guestmap.Decision) int {
	path := configFlag(fs)
	pair := fs.String("pair", "", "the `pair` (required)")
	var users multiFlag
	fs.Var(&users, "user", "a staged source user `ID` (repeatable); all staged users when absent")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *pair == "" {
		e.errorf("--pair is required")
		return exitUsage
	}
	by := os.Getenv("USER")
	if by == "" {
		by = "admin"
	}
	ids := []string(users)
	var (
		n      int
		staged []guestmap.Staged
		err    error
	)
	a, api, code := openOrAsk(ctx, e, *path, *pair)
	switch {
	case a != nil:
		defer a.Close()
		if len(ids) == 0 {
			if staged, err = a.Store.Staged(ctx, *pair); err != nil {
				e.errorf("%v", err)
				return exitFailures
			}
			for _, s := range staged {
				ids = append(ids, s.SourceID)
			}
		}
		n, err = a.Store.Decide(ctx, *pair, d, by, ids...)
	case api != "":
		// The daemon holds the embedded store: it records the decision.
		var resp decideResponse
		resp, err = apiDecide(ctx, *path, api, decideRequest{Pair: *pair, Decision: d, Users: ids, By: by})
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
	fmt.Fprintf(e.stdout, "%s: %d staged actions %s; the next cycle carries out the decision\n", *pair, n, d)
	return exitOK
}

// apiDecide posts a decision to the daemon's API with the listener's
// bearer token, read as the daemon reads it (the configuration at path).
func apiDecide(ctx context.Context, path, api string, req decideRequest) (decideResponse, error) {
	var resp decideResponse
	cfg, err := config.Load(path)
	if err != nil {
		return resp, err
	}
	token, err := readListenToken(cfg.Worker)
	if err != nil {
		return resp, err
	}
	if token == "" {
		return resp, errors.New("the embedded store is held by the running daemon, and deciding through it needs its bearer token: set worker.listen_token_file or worker.listen_token_env")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return resp, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/v1/decide", bytes.NewReader(body))
	if err != nil {
		return resp, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		return resp, fmt.Errorf("ask the running daemon: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return resp, fmt.Errorf("ask the running daemon: POST /api/v1/decide: %s: %s", res.Status, termLine(string(b)))
	}
	return resp, json.NewDecoder(res.Body).Decode(&resp)
}

func runReset(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
	path := configFlag(fs)
	pair := fs.String("pair", "", "the `pair` (required)")
	watermark := fs.Bool("watermark", false, "forget the delta link: the next cycle reads the source in full")
	dropMap := fs.Bool("map", false, "forget the map (rebuild it with 'ctsync map rebuild'); implies --watermark")
	quarantine := fs.Bool("quarantine", false, "lift the pair's quarantine")
	a, code := parseAndOpen(ctx, e, fs, args, path, pair, func() string {
		if *pair == "" || !(*watermark || *dropMap || *quarantine) {
			return "reset needs --pair and one of --watermark, --map, --quarantine"
		}
		return ""
	})
	if a == nil {
		return code
	}
	defer a.Close()
	if *quarantine {
		if err := a.Store.ClearQuarantine(ctx, *pair); err != nil {
			e.errorf("%v", err)
			return exitFailures
		}
		fmt.Fprintf(e.stdout, "%s: quarantine lifted\n", *pair)
	}
	if *watermark || *dropMap {
		lease, err := a.Store.Acquire(ctx, *pair, a.Config.Worker.LeaseTTL.Duration)
		if err != nil {
			e.errorf("take the lease of %s (is a cycle running?): %v", *pair, err)
			return exitFailures
		}
		defer lease.Release(context.WithoutCancel(ctx))
		if err := a.Store.Apply(ctx, lease, guestmap.Batch{DropDeltaLink: true, DropMap: *dropMap}); err != nil {
			e.errorf("%v", err)
			return exitFailures
		}
		fmt.Fprintf(e.stdout, "%s: delta link forgotten; the next cycle reads the source in full\n", *pair)
		if *dropMap {
			fmt.Fprintf(e.stdout, "%s: map forgotten; run 'ctsync map rebuild --pair %s' before the next cycle\n", *pair, *pair)
		}
	}
	return exitOK
}

func runMap(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
	if len(args) == 0 || (args[0] != "export" && args[0] != "rebuild") {
		e.errorf("map needs a subcommand: export or rebuild")
		return exitUsage
	}
	sub := args[0]
	path := configFlag(fs)
	pair := fs.String("pair", "", "the `pair` (required)")
	drop := fs.Bool("drop", false, "rebuild: forget every entry first (attributes are rewritten on the next cycle)")
	a, code := parseAndOpen(ctx, e, fs, args[1:], path, pair, pairRequired(pair))
	if a == nil {
		return code
	}
	defer a.Close()
	if sub == "export" {
		enc := json.NewEncoder(e.stdout)
		err := a.Store.Scan(ctx, *pair, func(page []guestmap.Entry) error {
			for _, en := range page {
				if err := enc.Encode(en); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			e.errorf("export %s: %v", *pair, err)
			return exitFailures
		}
		return exitOK
	}
	p := a.Pair(*pair)
	lease, err := a.Store.Acquire(ctx, *pair, a.Config.Worker.LeaseTTL.Duration)
	if err != nil {
		e.errorf("take the lease of %s (is a cycle running?): %v", *pair, err)
		return exitFailures
	}
	defer lease.Release(context.WithoutCancel(ctx))
	pages := func(yield func([]guestmap.Fact) error) error {
		return p.Target.Stamped(ctx, func(users []directory.User) error {
			facts := make([]guestmap.Fact, 0, len(users))
			for _, u := range users {
				facts = append(facts, guestmap.Fact{GuestID: u.ID, Stamp: u.Str(p.StampAttribute), GuestUPN: u.Str(directory.PropMail), Disabled: !u.Enabled()})
			}
			return yield(facts)
		})
	}
	res, err := guestmap.Rebuild(ctx, a.Store, lease, pages, guestmap.RebuildOptions{SourceTenantID: p.SourceTenantID, Drop: *drop})
	if err != nil {
		e.errorf("%v", err)
		return exitFailures
	}
	fmt.Fprintf(e.stdout, "%s: %d stamped guests read, %d mapped, %d entries removed, %d of other pairs\n", *pair, res.Facts, res.Mapped, res.Removed, res.Foreign)
	for _, d := range res.Duplicates {
		// The stamp is read from the target's attribute: escaped.
		fmt.Fprintf(e.stdout, "  duplicate: guest %s also carries stamp %s; left unmapped\n", textsafe.Escape(d.GuestID), textsafe.Escape(d.Stamp))
	}
	if len(res.Duplicates) > 0 {
		return exitFailures
	}
	return exitOK
}

func runLogs(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
	path := configFlag(fs)
	pair := fs.String("pair", "", "only this `pair`")
	user := fs.String("user", "", "only this source user `ID`")
	action := fs.String("action", "", "only this `action` (create, update, disable, ...)")
	since := fs.String("since", "", "only records newer than a `duration` (1h) or an RFC 3339 time")
	limit := fs.Int("limit", 100, "at most `N` records (the newest)")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if code, ok := parse(fs, args); !ok {
		return code
	}
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
	var recs []guestmap.Record
	a, api, code := openOrAsk(ctx, e, *path, "")
	switch {
	case a != nil:
		defer a.Close()
		var err error
		if recs, err = queryLogs(ctx, a.Store, q, *action); err != nil {
			e.errorf("%v", err)
			return exitFailures
		}
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
		if err := apiGet(ctx, api+"/api/v1/logs?"+v.Encode(), &recs); err != nil {
			e.errorf("ask the running daemon: %v", err)
			return exitFailures
		}
	default:
		return code
	}
	enc := json.NewEncoder(e.stdout)
	for _, r := range recs {
		if *asJSON {
			_ = enc.Encode(r)
			continue
		}
		writeRecord(e.stdout, r)
	}
	return exitOK
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

// writeRecord prints one provisioning record on one line. Everything in
// it that came from a directory (IDs, the values changed, error messages
// quoting names) is escaped: a displayName with a newline or an ANSI
// escape can neither forge a line nor drive the terminal.
func writeRecord(w io.Writer, r guestmap.Record) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-22s %-11s %-8s src %s guest %s", r.Time.Format(time.RFC3339), textsafe.Escape(r.Pair), textsafe.Escape(r.Action),
		textsafe.Escape(r.Result), textsafe.Escape(r.SourceID), textsafe.Escape(r.GuestID))
	for _, c := range r.Changes {
		fmt.Fprintf(&b, " %s:%s->%s", textsafe.Escape(c.Prop), textsafe.Escape(fmt.Sprint(c.Old)), textsafe.Escape(fmt.Sprint(c.New)))
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
