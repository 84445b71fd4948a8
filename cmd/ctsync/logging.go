package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/ctsync/ctsync/internal/textsafe"
	"github.com/ctsync/ctsync/sync/worker"
	"github.com/ctsync/ctsync/tenants"
)

// Log formats of --log-format.
const (
	logText = "text"
	logJSON = "json"
)

// logFormatFlag is --log-format's value: text or json.
type logFormatFlag struct{ p *string }

func (f logFormatFlag) String() string {
	if f.p == nil {
		return logText
	}
	return *f.p
}

// Type is the value's name in pflag's messages.
func (f logFormatFlag) Type() string { return "format" }

func (f logFormatFlag) Set(v string) error {
	switch v {
	case logText, logJSON:
		*f.p = v
		return nil
	}
	return fmt.Errorf("want %s or %s", logText, logJSON)
}

// logFlags adds the global --log-format and --log-level flags, which every
// command accepts (the root's persistent flags).
func logFlags(fs *pflag.FlagSet, e *env) {
	if e.logFormat == "" {
		e.logFormat = logText
	}
	fs.Var(logFormatFlag{&e.logFormat}, "log-format", "log `format` on stderr: text (logfmt) or json (one object a line)")
	fs.TextVar(&e.logLevel, "log-level", e.logLevel, "least `level` logged: debug, info, warn or error (debug logs errors in full)")
}

// newLogger builds the structured logger for format and level. Each event
// is one line: the text handler quotes any value with a newline or a
// control character, the JSON handler escapes them, and logValue condenses
// error values (see condenseError) unless level is debug. It also routes
// go-redis's own log through the logger.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr(level <= slog.LevelDebug, format == logJSON)}
	var h slog.Handler
	if format == logJSON {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	l := slog.New(h)
	redisLog.Store(l)
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{}) })
	return l
}

// replaceAttr turns error values into strings (in full when full, else
// condensed to one line), writes durations as Go durations ("1m30s")
// rather than JSON's nanoseconds, and, for JSON, escapes the non-printable
// runes JSON leaves as they are (C1 controls, bidirectional overrides,
// separators): encoding/json escapes only those below U+0020.
func replaceAttr(full, json bool) func([]string, slog.Attr) slog.Attr {
	return func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindAny:
			if err, ok := a.Value.Any().(error); ok && err != nil {
				s := err.Error()
				if !full {
					s = condenseError(err)
				}
				a.Value = slog.StringValue(s)
			}
		case slog.KindDuration:
			if json {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
		}
		if json && a.Value.Kind() == slog.KindString {
			if s := a.Value.String(); !jsonSafe(s) {
				a.Value = slog.StringValue(textsafe.Escape(s))
			}
		}
		return a
	}
}

// jsonSafe reports whether encoding/json's output of s is safe on a
// terminal: every rune at or above U+007F printable.
func jsonSafe(s string) bool {
	for _, r := range s {
		if r >= 0x7f && (r == utf8.RuneError || !unicode.IsPrint(r)) {
			return false
		}
	}
	return true
}

// condenseError is err on one short line: a Graph or credential error in
// it is replaced by its Summary (code and first line of the message, not
// Azure's multi-line dump of the token response), and what is left is cut
// at its first line break.
func condenseError(err error) string {
	s := err.Error()
	var ge *tenants.GraphError
	var ce *tenants.CredentialError
	switch {
	case errors.As(err, &ge):
		s = replaceOrPrefix(s, ge.Error(), ge.Summary())
	case errors.As(err, &ce):
		s = replaceOrPrefix(s, ce.Error(), ce.Summary())
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	// A refused sign-in says what it means, and where the fix is said.
	if f, ok := tenants.DescribeCredentialFailure(err); ok && f.Code != 0 {
		if h, known := aadstsHints[f.Code]; known {
			s += " [" + h.hint + "; `ctsync validate --online` names the fix]"
		}
	}
	return s
}

// replaceOrPrefix replaces long with short in s, keeping the context the
// wrapping errors added; short alone when s does not quote long.
func replaceOrPrefix(s, long, short string) string {
	if strings.Contains(s, long) {
		return strings.Replace(s, long, short, 1)
	}
	return short
}

// redisLog is the logger go-redis's messages go to: the latest built, as
// redis.SetLogger is process-wide and may be set once only safely.
var (
	redisLog     atomic.Pointer[slog.Logger]
	redisLogOnce sync.Once
)

// redisLogger adapts go-redis's Printf logger to slog, so its lines
// ("redis: 2026/01/02 pool.go:770: ...") come out as warnings in the
// configured format instead of raw text on stderr.
type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l := redisLog.Load()
	if l == nil {
		return
	}
	msg := strings.TrimSpace(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
	l.WarnContext(ctx, "redis client", "detail", msg)
}

// progressEvery is the cadence of a long cycle's progress lines.
const progressEvery = 30 * time.Second

// progressLog logs how far each long-running cycle has come: a line once
// a cycle has run progressEvery, then at each phase change and at most
// every progressEvery, with counts, rate and (while applying) an ETA.
// Cycles shorter than progressEvery log their phases at debug only: the
// "cycle done" line says it all.
type progressLog struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu     sync.Mutex
	cycles map[string]*cycleProgress // by pair
}

// cycleProgress is what progressLog remembers of one running cycle.
type cycleProgress struct {
	start      time.Time
	phase      worker.Phase
	phaseStart time.Time
	phaseBase  int // the phase's count when it began (rate is over the phase)
	lastLog    time.Time
}

func newProgressLog(l *slog.Logger) *progressLog {
	return &progressLog{log: l, every: progressEvery, now: time.Now, cycles: map[string]*cycleProgress{}}
}

// observe is a progress hub subscriber.
func (p *progressLog) observe(pr worker.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr.Phase == worker.PhaseDone {
		delete(p.cycles, pr.Pair)
		return
	}
	now := p.now()
	c := p.cycles[pr.Pair]
	if c == nil || !c.start.Equal(pr.Start) {
		c = &cycleProgress{start: pr.Start}
		p.cycles[pr.Pair] = c
	}
	changed := pr.Phase != c.phase
	if changed {
		c.phase, c.phaseStart, c.phaseBase = pr.Phase, now, phaseCount(pr)
	}
	long := now.Sub(c.start) >= p.every
	level := slog.LevelDebug
	switch {
	case long && (changed || now.Sub(c.lastLog) >= p.every):
		level = slog.LevelInfo
	case !changed:
		return
	}
	if level == slog.LevelInfo {
		c.lastLog = now
	}
	attrs := []slog.Attr{
		slog.String("pair", pr.Pair), slog.String("phase", string(pr.Phase)),
		slog.Int("read", pr.Read), slog.Int("considered", pr.Considered), slog.Int("planned", pr.Planned), slog.Int("applied", pr.Applied),
		slog.Duration("elapsed", now.Sub(c.start).Round(time.Second)),
	}
	if el := now.Sub(c.phaseStart).Seconds(); el >= 1 && (pr.Phase == worker.PhaseRead || pr.Phase == worker.PhaseApply) {
		rate := float64(phaseCount(pr)-c.phaseBase) / el
		attrs = append(attrs, slog.Float64("rate_per_s", float64(int(rate*10+0.5))/10))
		if perMin, _, ok := pr.ApplyRate(now); ok {
			attrs = append(attrs, slog.Float64("rate_per_min", math.Round(perMin)))
		}
		if left := pr.Left(); pr.Phase == worker.PhaseApply && rate > 0 && left > 0 {
			// Left counts the users not planned yet too (a cycle plans
			// chunk by chunk while it applies).
			eta := time.Duration(left / rate * float64(time.Second))
			attrs = append(attrs, slog.Duration("eta", eta.Round(time.Second)))
		}
	}
	p.log.LogAttrs(context.Background(), level, "cycle progress", attrs...)
}

// phaseCount is the count that grows during pr's phase: users read while
// reading, changes applied while applying.
func phaseCount(pr worker.Progress) int {
	if pr.Phase == worker.PhaseRead {
		return pr.Read
	}
	return pr.Applied
}
