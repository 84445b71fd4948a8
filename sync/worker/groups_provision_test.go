package worker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/sync/plan"
)

const (
	engGroup      = "e0000000-0000-4000-8000-000000000001"
	platformGroup = "e0000000-0000-4000-8000-000000000002"
	salesGroup    = "e0000000-0000-4000-8000-000000000003"
	twinA         = "e0000000-0000-4000-8000-000000000004"
	twinB         = "e0000000-0000-4000-8000-000000000005"
)

// provSource is a source tenant's groups.
type provSource struct {
	groups  []directory.Group
	members map[string][]directory.Member
	reads   map[string]int
}

func (s *provSource) GroupDelta(context.Context, string, func([]directory.Group) error) (string, error) {
	return "", errors.New("provisioning reads no groups delta")
}

func (s *provSource) DirectMembers(_ context.Context, id string) ([]directory.Member, error) {
	s.reads[id]++
	return s.members[id], nil
}

func (s *provSource) FindGroups(_ context.Context, q string) ([]directory.Group, error) {
	var out []directory.Group
	for _, g := range s.groups {
		if g.ID == q || strings.EqualFold(g.Str(directory.PropDisplayName), q) {
			out = append(out, g)
		}
	}
	return out, nil
}

// provTarget is a target tenant's groups.
type provTarget struct {
	groups map[string]*provGroup
	writes int
}

type provGroup struct {
	name, nick string
	members    []string
}

func (t *provTarget) FindGroupByStamp(_ context.Context, nick string) ([]directory.Group, error) {
	var out []directory.Group
	for id, g := range t.groups {
		if g.nick == nick {
			out = append(out, directory.Group{ID: id, Attrs: map[string]any{directory.PropDisplayName: g.name}})
		}
	}
	return out, nil
}

func (t *provTarget) CreateGroup(_ context.Context, g directory.NewGroup) (string, error) {
	t.writes++
	id := fmt.Sprintf("t0000000-0000-4000-8000-%012d", len(t.groups)+1)
	t.groups[id] = &provGroup{name: g.DisplayName, nick: g.MailNickname}
	return id, nil
}

func (t *provTarget) UpdateGroup(_ context.Context, id string, props map[string]any) error {
	t.writes++
	t.groups[id].name = props[directory.PropDisplayName].(string)
	return nil
}

func (t *provTarget) DeleteGroup(_ context.Context, id string) error {
	t.writes++
	delete(t.groups, id)
	return nil
}

func (t *provTarget) AddMembers(_ context.Context, id string, ms []string) error {
	t.writes++
	g := t.groups[id]
	g.members = append(g.members, ms...)
	slices.Sort(g.members)
	g.members = slices.Compact(g.members)
	return nil
}

func (t *provTarget) RemoveMember(_ context.Context, id, m string) error {
	t.writes++
	g := t.groups[id]
	g.members = slices.DeleteFunc(g.members, func(x string) bool { return x == m })
	return nil
}

func (t *provTarget) Members(_ context.Context, id string) ([]string, error) {
	return slices.Clone(t.groups[id].members), nil
}

// provRules: the groups named are in scope, nesting followed.
type provRules struct{ names []string }

func (r provRules) InScope(g directory.Group) (bool, string) {
	if slices.Contains(r.names, g.Str(directory.PropDisplayName)) {
		return true, "named in groups.names"
	}
	return false, "not named in groups.names"
}
func (r provRules) Target(g directory.Group) (string, string, error) {
	return g.Str(directory.PropDisplayName), g.Str(directory.PropDescription), nil
}
func (provRules) Transitive() bool    { return true }
func (provRules) Exact() bool         { return false }
func (provRules) DeleteOnLeave() bool { return true }
func (provRules) Fingerprint() uint64 { return 1 }

type provUserRules struct{ Rules }

func (provUserRules) DeletionThreshold() int { return 0 }

func group(id, name string) directory.Group {
	return directory.Group{ID: id, Attrs: map[string]any{directory.PropDisplayName: name, directory.PropDescription: name + " people"}}
}

// provPair: Engineering has users u1, u2 and a device, and nests Platform
// (u3, u4), which nests Engineering back; u1 and u3 have active guests,
// u4 a parked entry, u2 none. Sales is out of scope; two groups are
// named Twins.
func provPair(t *testing.T) (*Pair, *provSource, *provTarget) {
	t.Helper()
	ctx := context.Background()
	st, err := guestmap.Open(ctx, filepath.Join(t.TempDir(), "s.db"), guestmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	user := func(id string) directory.Member { return directory.Member{ID: id, Kind: directory.MemberUser} }
	src := &provSource{reads: map[string]int{},
		groups: []directory.Group{group(engGroup, "Engineering"), group(platformGroup, "Platform"), group(salesGroup, "Sales"), group(twinA, "Twins"), group(twinB, "Twins")},
		members: map[string][]directory.Member{
			engGroup:      {user("u1"), user("u2"), {ID: "d1", Kind: directory.MemberOther}, {ID: platformGroup, Kind: directory.MemberGroup}},
			platformGroup: {user("u3"), user("u4"), {ID: engGroup, Kind: directory.MemberGroup}},
			salesGroup:    {user("u1")},
		}}
	dst := &provTarget{groups: map[string]*provGroup{}}
	p := &Pair{PairName: "a2b", SourceTenantID: laneTenant, Store: st, Rules: provUserRules{}, LeaseTTL: 10 * time.Second, Log: quietLog(),
		Groups: &GroupSync{Source: src, Target: dst, Rules: provRules{names: []string{"Engineering", "Twins"}}}}
	l, err := st.Acquire(ctx, p.PairName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	err = st.Apply(ctx, l, guestmap.Batch{Put: []guestmap.Entry{
		{SourceID: "u1", GuestID: "g-u1", State: guestmap.StateActive},
		{SourceID: "u3", GuestID: "g-u3", State: guestmap.StateActive},
		{SourceID: "u4", State: guestmap.StateParked},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p, src, dst
}

func provision(t *testing.T, p *Pair, q string) (string, error) {
	t.Helper()
	var b strings.Builder
	_, err := p.ProvisionGroup(context.Background(), q, func(s Step) {
		if s.Err != nil {
			fmt.Fprintf(&b, "%s FAILED: %v\n", s.Name, s.Err)
			return
		}
		fmt.Fprintf(&b, "%s %s\n", s.Name, s.Detail)
	})
	return b.String(), err
}

// TestProvisionGroup: a group provisioned by name is created with the
// synced guests of its members, nested ones included (the nesting loops),
// its entry and record written, the group link untouched; again, nothing
// to do; out of scope, nothing written; an ambiguous name lists the IDs.
func TestProvisionGroup(t *testing.T) {
	ctx := context.Background()
	p, src, dst := provPair(t)
	out, err := provision(t, p, "engineering")
	if err != nil {
		t.Fatalf("provision: %v\n%s", err, out)
	}
	for _, want := range []string{
		`import "Engineering" (` + engGroup + `): description "Engineering people"`,
		"scope in scope: named in groups.names",
		"members direct: 2 users, 1 group, 1 other object (devices, service principals, contacts: never synced); with 1 nested group read (transitive): 4 users in all; 2 with a synced guest, 2 not yet",
		"match none: no target group carries the stamp ctsync-",
		"action group-create (+2 -0 members): named in groups.names",
		"result target group t0000000-0000-4000-8000-000000000001, 2 members ctsync manages: group-create 1, group-member-add 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if src.reads[engGroup] != 1 || src.reads[platformGroup] != 1 {
		t.Errorf("member reads %v, want each group once", src.reads)
	}
	if len(dst.groups) != 1 {
		t.Fatalf("%d target groups", len(dst.groups))
	}
	for id, g := range dst.groups {
		if nick, _ := directory.GroupStamp(laneTenant, engGroup); g.nick != nick || g.name != "Engineering" || !slices.Equal(g.members, []string{"g-u1", "g-u3"}) {
			t.Errorf("target group %s: %+v", id, g)
		}
	}
	es, err := p.Store.GroupEntries(ctx, p.PairName)
	if err != nil || len(es) != 1 {
		t.Fatalf("group entries %+v, %v: want Engineering's alone", es, err)
	}
	e := es[0]
	if e.SourceID != engGroup || !e.MembersKnown || !e.InScope || e.TargetID == "" || !slices.Equal(e.Users, []string{"u1", "u2"}) ||
		!slices.Equal(e.Groups, []string{platformGroup}) || !slices.Equal(e.Managed, []string{"g-u1", "g-u3"}) || !e.Creating.IsZero() {
		t.Errorf("entry %+v", e)
	}
	if link, _ := p.Store.GroupLink(ctx, p.PairName); link != "" {
		t.Errorf("group link %q: provisioning never moves it", link)
	}
	recs, _ := p.Store.Logs(ctx, guestmap.LogQuery{Pair: p.PairName})
	if len(recs) != 1 || recs[0].Action != string(plan.GroupCreate) || recs[0].SourceID != engGroup || recs[0].Result != "ok" {
		t.Errorf("log %+v", recs)
	}

	// Again: in sync.
	writes := dst.writes
	out, err = provision(t, p, engGroup)
	if err != nil || !strings.Contains(out, "action nothing to do: target group") || !strings.Contains(out, "match target group t0000000-0000-4000-8000-000000000001, recorded, carries the stamp") {
		t.Errorf("provision again: %v\n%s", err, out)
	}
	if dst.writes != writes {
		t.Errorf("provision of a group in sync wrote to the target")
	}

	// Out of scope: nothing written.
	out, err = provision(t, p, "Sales")
	if err != nil || !strings.Contains(out, "scope out of scope: not named in groups.names") || !strings.Contains(out, "members not read") ||
		!strings.Contains(out, "action nothing to do: out of scope, and no target group to act on") {
		t.Errorf("provision out of scope: %v\n%s", err, out)
	}
	if es, _ := p.Store.GroupEntries(ctx, p.PairName); len(es) != 1 || dst.writes != writes || src.reads[salesGroup] != 0 {
		t.Errorf("provision out of scope wrote: %d entries, %d target writes, %d member reads", len(es), dst.writes-writes, src.reads[salesGroup])
	}

	// Ambiguous, unknown.
	if out, err := provision(t, p, "Twins"); err == nil || !strings.Contains(out, "import FAILED: 2 source groups are named \"Twins\" ("+twinA+", "+twinB+")") {
		t.Errorf("ambiguous name: %v\n%s", err, out)
	}
	if out, err := provision(t, p, "Nobody"); err == nil || !strings.Contains(out, "import FAILED: no source group") {
		t.Errorf("unknown group: %v\n%s", err, out)
	}

	// A pair without group sync.
	p.Groups = nil
	if _, err := p.ProvisionGroup(ctx, "Engineering", func(Step) { t.Error("a step without group sync") }); !errors.Is(err, ErrNoGroupSync) {
		t.Errorf("without [pair.groups]: %v", err)
	}
}

// TestClosureOf: users through nesting at any depth, each once, loops
// included; direct ones only without transitive.
func TestClosureOf(t *testing.T) {
	entries := map[string]*guestmap.GroupEntry{
		"a": {SourceID: "a", Users: []string{"u1", "u2"}, Groups: []string{"b", "missing"}},
		"b": {SourceID: "b", Users: []string{"u2", "u3"}, Groups: []string{"c"}},
		"c": {SourceID: "c", Users: []string{"u4"}, Groups: []string{"a", "b"}},
	}
	if got := closureOf(entries, "a", true); !slices.Equal(got, []string{"u1", "u2", "u3", "u4"}) {
		t.Errorf("transitive: %v", got)
	}
	if got := closureOf(entries, "c", true); !slices.Equal(got, []string{"u1", "u2", "u3", "u4"}) {
		t.Errorf("transitive from c: %v", got)
	}
	if got := closureOf(entries, "a", false); !slices.Equal(got, []string{"u1", "u2"}) {
		t.Errorf("direct: %v", got)
	}
	if got := closureOf(entries, "missing", true); got != nil {
		t.Errorf("no entry: %v", got)
	}
}

func TestPickGroup(t *testing.T) {
	one := []directory.Group{group(engGroup, "Engineering")}
	if g, err := pickGroup("Engineering", one); err != nil || g.ID != engGroup {
		t.Errorf("one: %v %v", g, err)
	}
	if _, err := pickGroup("Nobody", nil); err == nil || err.Error() != `no source group has the object ID or displayName "Nobody"` {
		t.Errorf("none: %v", err)
	}
	two := []directory.Group{group(twinB, "Twins"), group(twinA, "Twins")}
	if _, err := pickGroup("twins", two); err == nil || err.Error() != `2 source groups are named "twins" (`+twinA+", "+twinB+`): name one by its object ID` {
		t.Errorf("two: %v", err)
	}
}

func TestMemberCountString(t *testing.T) {
	for _, c := range []struct {
		n    memberCount
		want string
	}{
		{memberCount{Users: 1, AllUsers: 1, Synced: 1, Transitive: true}, "direct: 1 user, 0 groups; 1 with a synced guest, 0 not yet"},
		{memberCount{Users: 2, Groups: 2, Nested: 3, AllUsers: 7, Synced: 5, Transitive: true}, "direct: 2 users, 2 groups; with 3 nested groups read (transitive): 7 users in all; 5 with a synced guest, 2 not yet"},
		{memberCount{Users: 2, Groups: 1, Others: 2, AllUsers: 2}, "direct: 2 users, 1 group, 2 other objects (devices, service principals, contacts: never synced); nested groups not followed (transitive = false); 0 with a synced guest, 2 not yet"},
	} {
		if got := c.n.String(); got != c.want {
			t.Errorf("%+v:\n got  %s\n want %s", c.n, got, c.want)
		}
	}
}

func TestMatchDetail(t *testing.T) {
	const nick = "ctsync-x"
	found := func(ids ...string) []directory.Group {
		var gs []directory.Group
		for _, id := range ids {
			gs = append(gs, directory.Group{ID: id, Attrs: map[string]any{directory.PropDisplayName: "Eng"}})
		}
		return gs
	}
	marked := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		e     guestmap.GroupEntry
		found []directory.Group
		want  string
	}{
		{guestmap.GroupEntry{TargetID: "t1"}, found("t1"), "target group t1, recorded, carries the stamp ctsync-x"},
		{guestmap.GroupEntry{TargetID: "t1"}, nil, "target group t1, recorded (Graph's index does not show its stamp ctsync-x yet)"},
		{guestmap.GroupEntry{TargetID: "t1"}, found("t2"), "target group t1, recorded; the stamp ctsync-x is on t2"},
		{guestmap.GroupEntry{}, nil, "none: no target group carries the stamp ctsync-x"},
		{guestmap.GroupEntry{Creating: marked}, nil, "none carries the stamp ctsync-x yet; an earlier create was interrupted at 2025-03-01T10:00:00Z"},
		{guestmap.GroupEntry{}, found("t2"), `target group t2 ("Eng") carries the stamp ctsync-x, not recorded: a create adopts it`},
		{guestmap.GroupEntry{}, found("t2", "t3"), "2 target groups carry the stamp ctsync-x (t2, t3): remove all but one"},
	} {
		if got := matchDetail(&c.e, nick, c.found); got != c.want {
			t.Errorf("%+v %v:\n got  %s\n want %s", c.e, c.found, got, c.want)
		}
	}
}

func TestDescribeGroupAndActionDetail(t *testing.T) {
	g := directory.Group{ID: engGroup, Attrs: map[string]any{directory.PropDisplayName: "Eng", directory.PropMailNickname: "eng"}}
	if got, want := describeGroup(g), `"Eng" (`+engGroup+`): no description, mailNickname eng`; got != want {
		t.Errorf("describeGroup: %s, want %s", got, want)
	}
	a := plan.GroupAction{Kind: plan.GroupMembers, Add: []string{"x"}, Remove: []string{"y", "z"}, Reason: "members changed"}
	if got, want := actionDetail(a), "group-members (+1 -2 members): members changed"; got != want {
		t.Errorf("actionDetail: %s, want %s", got, want)
	}
}
