package storemetrics

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/ctsync/ctsync/guestmap"
)

type op struct {
	name, pair string
	err        error
}

type recorder struct {
	mu  sync.Mutex
	ops []op
}

func (r *recorder) Operation(name, pair string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d < 0 {
		panic("negative duration for " + name)
	}
	r.ops = append(r.ops, op{name, pair, err})
}

func (r *recorder) take() []op {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.ops
	r.ops = nil
	return out
}

// TestWrapReportsOperations runs calls through a wrapped embedded store:
// each is reported once with its name, its pair and the error it
// returned, and the results pass through unchanged.
func TestWrapReportsOperations(t *testing.T) {
	ctx := context.Background()
	inner, err := guestmap.Open(ctx, filepath.Join(t.TempDir(), "state.db"), guestmap.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := Wrap(inner, rec)
	defer s.Close()

	lease, err := s.Acquire(ctx, "a-to-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "a-to-b", time.Minute); !errors.Is(err, guestmap.ErrHeld) {
		t.Fatalf("second acquire: %v", err)
	}
	if err := s.Apply(ctx, lease, guestmap.Batch{Put: []guestmap.Entry{{SourceID: "u1", GuestID: "g1", State: guestmap.StateActive}}}); err != nil {
		t.Fatal(err)
	}
	pages := 0
	if err := s.Scan(ctx, "a-to-b", func([]guestmap.Entry) error { pages++; return nil }); err != nil || pages != 1 {
		t.Fatalf("scan: %v, %d pages", err, pages)
	}
	if n, err := s.Count(ctx, "a-to-b"); err != nil || n != 1 {
		t.Fatalf("count %d, %v", n, err)
	}
	if _, err := s.Pairs(ctx); err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	want := []op{
		{"acquire", "a-to-b", nil}, {"acquire", "a-to-b", guestmap.ErrHeld}, {"apply", "a-to-b", nil},
		{"scan", "a-to-b", nil}, {"count", "a-to-b", nil}, {"pairs", "", nil},
	}
	if len(got) != len(want) {
		t.Fatalf("ops %v, want %v", got, want)
	}
	for i := range want {
		if got[i].name != want[i].name || got[i].pair != want[i].pair || !errors.Is(got[i].err, want[i].err) || (want[i].err == nil) != (got[i].err == nil) {
			t.Errorf("op %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestOpsNameEveryMethod: Ops lists every method of guestmap.Store but
// Close, in snake case, so a method added to the contract is not left
// out of the wrapper's names (the wrapper itself would not compile).
func TestOpsNameEveryMethod(t *testing.T) {
	typ := reflect.TypeFor[guestmap.Store]()
	var names []string
	for i := range typ.NumMethod() {
		if m := typ.Method(i).Name; m != "Close" {
			names = append(names, snake(m))
		}
	}
	got := slices.Clone(Ops)
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("Ops %v, methods %v", got, names)
	}
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
