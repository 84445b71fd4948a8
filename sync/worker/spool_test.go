package worker

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
)

// TestSpool: the spool replays the last record of each user, at the place
// of that record in the read, chunk by chunk, with attribute types intact;
// duplicates count only current, in-scope records; the file leaves no
// trace on disk.
func TestSpool(t *testing.T) {
	dir := t.TempDir()
	sp := newSpool(dir)
	inScope := func(u directory.User) bool { return u.Str("department") != "Sales" }
	add := func(id, mail, dept string, extra map[string]any) {
		t.Helper()
		u := directory.User{ID: id, Attrs: map[string]any{directory.PropMail: mail, "department": dept}}
		for k, v := range extra {
			u.Attrs[k] = v
		}
		if err := sp.add(u, mailKey(u, inScope)); err != nil {
			t.Fatal(err)
		}
	}
	typed := map[string]any{"otherMails": []string{"a@x.example"}, directory.PropAccountEnabled: false,
		directory.PropManager: nil, "employeeNumber": int64(7), "ext": []any{"s", int64(1)}}
	add("a", "A@x.example", "Eng", typed)
	add("b", "a@x.example", "Eng", nil)   // shares a's mail, then changes it (below)
	add("c", "c@x.example", "Sales", nil) // out of scope: no duplicate of d
	add("d", "C@x.example", "Eng", nil)
	add("e", "e@x.example", "Eng", nil)
	add("b", "b@x.example", "Eng", nil) // replayed: the last record wins
	sp.add(directory.User{ID: "f", Removed: directory.HardDeleted}, "")
	add("g", " E@X.example", "Eng", nil) // shares e's mail

	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("spool file visible on disk: %v (it must be unlinked while open)", entries)
	}
	if sp.len() != 7 || !sp.seen("b") || sp.seen("z") {
		t.Errorf("len %d, seen b %v, seen z %v", sp.len(), sp.seen("b"), sp.seen("z"))
	}
	dups := sp.duplicates()
	if len(dups) != 2 || dups["e"] == "" || dups["g"] == "" || !strings.Contains(dups["e"], "share mail") {
		t.Errorf("duplicates: %v, want e and g only", dups)
	}
	var order []string
	var sizes []int
	err := sp.chunks(3, func(users []directory.User) error {
		sizes = append(sizes, len(users))
		for _, u := range users {
			order = append(order, u.ID)
			if u.ID == "a" && !reflect.DeepEqual(u.Attrs, map[string]any{directory.PropMail: "A@x.example", "department": "Eng",
				"otherMails": []string{"a@x.example"}, directory.PropAccountEnabled: false, directory.PropManager: nil,
				"employeeNumber": int64(7), "ext": []any{"s", int64(1)}}) {
				t.Errorf("a's attributes changed on the way: %#v", u.Attrs)
			}
			if u.ID == "b" && u.Str(directory.PropMail) != "b@x.example" {
				t.Errorf("b: %v, want its last record", u.Attrs)
			}
			if u.ID == "f" && u.Removed != directory.HardDeleted {
				t.Errorf("f lost its removal: %+v", u)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ""); got != "acdebfg" || !reflect.DeepEqual(sizes, []int{3, 3, 1}) {
		t.Errorf("replayed %q in chunks %v, want acdebfg in 3,3,1", got, sizes)
	}
	if err := sp.close(); err != nil {
		t.Fatal(err)
	}
	// An empty read creates no file at all.
	empty := newSpool(dir)
	if err := empty.chunks(3, func([]directory.User) error { t.Error("chunk of an empty spool"); return nil }); err != nil || empty.close() != nil {
		t.Error(err)
	}
}
