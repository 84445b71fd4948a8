package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ctsync/ctsync/internal/textsafe"
)

// WriteText prints the plan for people: one line per change with its
// reason, the properties it sets, then the counts. Directory text (names,
// reasons quoting them, values) is escaped: a control character or a
// newline in a displayName cannot forge a line or drive the terminal.
func (p *Plan) WriteText(w io.Writer, pair string) error {
	fmt.Fprintf(w, "pair %s: %s\n", pair, p.summary())
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

// WriteJSON prints the plan as one JSON document.
func (p *Plan) WriteJSON(w io.Writer, pair string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Pair   string         `json:"pair"`
		Counts map[string]int `json:"counts"`
		*Plan
	}{pair, p.Counts(), p})
}
