package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/textsafe"
)

// WriteText prints the plan for people: one line per change with its
// reason, the properties it sets, then the counts. Directory text (names,
// reasons quoting them, values) is escaped: a control character or a
// newline in a displayName cannot forge a line or drive the terminal.
func (p *Plan) WriteText(w io.Writer, pair string) error {
	fmt.Fprintf(w, "pair %s: %s\n", pair, p.summary())
	for _, n := range p.Notes {
		fmt.Fprintf(w, "  note: %s\n", textsafe.Escape(n))
	}
	for _, c := range p.Changes {
		action := string(c.Action)
		if c.Action == Stage {
			action = "stage " + string(c.Staged)
		}
		fmt.Fprintf(w, "  %-12s %s", action, textsafe.Escape(c.Who))
		if c.GuestID != "" {
			fmt.Fprintf(w, " -> guest %s", c.GuestID)
		}
		fmt.Fprintf(w, "\n      why: %s\n", textsafe.Escape(c.Reason))
		if len(c.Set) > 0 {
			keys := make([]string, 0, len(c.Set))
			for k := range c.Set {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if old, ok := c.Old[k]; ok {
					fmt.Fprintf(w, "      %s: %s -> %s\n", k, show(old), show(c.Set[k]))
				} else {
					fmt.Fprintf(w, "      %s: %s\n", k, show(c.Set[k]))
				}
			}
		}
	}
	for _, g := range p.Groups {
		fmt.Fprintf(w, "  %-12s group %s", g.Kind, g.SourceID)
		if g.TargetID != "" {
			fmt.Fprintf(w, " -> group %s", g.TargetID)
		}
		if g.DisplayName != "" {
			fmt.Fprintf(w, " %s", show(g.DisplayName))
		}
		fmt.Fprintf(w, "\n      why: %s\n", textsafe.Escape(g.Reason))
		if len(g.Add)+len(g.Remove) > 0 {
			fmt.Fprintf(w, "      members: +%d -%d\n", len(g.Add), len(g.Remove))
		}
	}
	return nil
}

func (p *Plan) summary() string {
	counts := p.Counts()
	if len(p.Changes) == 0 {
		return fmt.Sprintf("no changes (%d unchanged, %d out of scope)", p.Unchanged, p.OutOfScope)
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	parts = append(parts, fmt.Sprintf("%d out of scope", p.OutOfScope))
	return strings.Join(parts, ", ")
}

// show is v as JSON, escaped for a terminal (JSON leaves C1 controls and
// bidirectional overrides as they are).
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return textsafe.Escape(fmt.Sprint(v))
	}
	return textsafe.Escape(string(b))
}

// DocumentVersion is the version of Document, the JSON of `ctsync plan
// --json`. Like `ctsync status --json`'s, it changes only when a field
// changes meaning or goes away; new fields may appear within a version, so
// readers ignore the ones they do not know.
const DocumentVersion = 1

// Document is the whole output of `ctsync plan --json`: one JSON document
// for every pair planned, so a script reads it with a single decode
// (schema in docs/operating.md, "## Plan").
type Document struct {
	Version int `json:"version"`
	// Generated is when the plans were computed (RFC 3339, UTC).
	Generated time.Time `json:"generated"`
	// Pairs are in the configuration's order; empty, never null, when no
	// pair is enabled.
	Pairs []PairPlan `json:"pairs"`
}

// PairPlan is one pair in a Document: its plan, or the error that stopped
// planning it. It wraps Plan, whose JSON names (changes, unchanged,
// outOfScope) it keeps, and adds what a script would otherwise compute.
type PairPlan struct {
	Pair string `json:"pair"`
	// Plan is nil when Error is set: the changes are unknown then, which
	// an empty list would misstate as "nothing to do".
	*Plan
	*PlanSummary
	// Error is what stopped planning the pair, on one line.
	Error string `json:"error,omitempty"`
}

// PlanSummary is what a PairPlan derives from its plan.
type PlanSummary struct {
	// Counts is Plan.Counts: changes per action, plus "unchanged".
	Counts map[string]int `json:"counts"`
	// Pending counts the changes a cycle would carry out (Plan.Pending):
	// what `plan --detailed-exitcode` exits 2 on.
	Pending int `json:"pending"`
}

// NewPairPlan wraps a pair's plan for a Document. The plan is copied, with
// an empty change list rather than nil so that "changes" is [] and never
// null for a pair with nothing to do.
func NewPairPlan(pair string, p *Plan) PairPlan {
	cp := *p
	if cp.Changes == nil {
		cp.Changes = []Change{}
	}
	return PairPlan{Pair: pair, Plan: &cp, PlanSummary: &PlanSummary{Counts: p.Counts(), Pending: p.Pending()}}
}

// FailedPairPlan is a pair that could not be planned, for a Document.
func FailedPairPlan(pair, err string) PairPlan {
	return PairPlan{Pair: pair, Error: err}
}

// Write prints d as one indented JSON document. Values are written as
// they are, not escaped for a terminal: JSON's own escaping keeps a
// control character from breaking the document, and a script wants the
// names it will compare with.
func (d *Document) Write(w io.Writer) error {
	if d.Pairs == nil {
		d.Pairs = []PairPlan{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// Pending counts the changes a cycle would carry out: every change but
// Skip and Park. Those two are reported, but no cycle can settle them (a
// disabled source user never gets a guest, a user whose data cannot be
// mapped waits for the data to change), so they would otherwise keep a
// converged pair "pending" forever. Stage counts: staging a delete is
// work the cycle does, and an admin's turn after it.
func (p *Plan) Pending() int {
	n := 0
	for _, c := range p.Changes {
		if c.Action != Skip && c.Action != Park {
			n++
		}
	}
	return n
}
