package tenants

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// roundGroup is every object of one group in a groups delta round, merged
// as a consumer must.
type roundGroup struct {
	objects int
	removed directory.Removal
	attrs   map[string]any
	added   map[string]directory.MemberKind
	left    map[string]directory.MemberKind
}

// groupRound runs one groups delta round and merges its objects by ID.
func groupRound(t *testing.T, src *Source, link string) (map[string]*roundGroup, string, int) {
	t.Helper()
	out := map[string]*roundGroup{}
	pages := 0
	next, err := src.GroupDelta(context.Background(), link, func(gs []directory.Group) error {
		pages++
		for _, g := range gs {
			r := out[g.ID]
			if r == nil {
				r = &roundGroup{attrs: map[string]any{}, added: map[string]directory.MemberKind{}, left: map[string]directory.MemberKind{}}
				out[g.ID] = r
			}
			r.objects++
			if g.Removed != directory.NotRemoved {
				r.removed = g.Removed
			}
			for k, v := range g.Attrs {
				r.attrs[k] = v
			}
			for _, m := range g.Added {
				r.added[m.ID] = m.Kind
			}
			for _, m := range g.Left {
				r.left[m.ID] = m.Kind
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next == "" {
		t.Fatal("no delta link")
	}
	return out, next, pages
}

// TestSimGroupDelta: a full round merges a large group split over several
// objects; a quiet round is empty; a later round carries member
// additions and removals (a deleted user's too), a rename, a deleted
// group and a new one, and nothing else; an expired link is
// ErrSyncStateExpired; LatestGroupDelta starts from now.
func TestSimGroupDelta(t *testing.T) {
	ctx := context.Background()
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}, Users: 300, Seed: 4})
	ten := s.Tenant("contoso")
	us := ten.Users()
	var ids []string
	for _, u := range us[:230] {
		ids = append(ids, u.ID)
	}
	big, err := ten.AddGroupWith(graphsim.Group{DisplayName: "Big", Description: "many", MailNickname: "big", Members: ids})
	must(t, err)
	nested, err := ten.AddGroupWith(graphsim.Group{DisplayName: "Nested O'Brien", Members: []string{big, us[240].ID}})
	must(t, err)
	src := simClient(t, s, "contoso", nil).Source()

	s.ResetStats()
	all, link, _ := groupRound(t, src, "")
	if len(all) != len(ten.Groups()) {
		t.Fatalf("full round: %d groups, tenant has %d", len(all), len(ten.Groups()))
	}
	b := all[big]
	if b.objects < 5 || len(b.added) != 230 || b.attrs[directory.PropDisplayName] != "Big" ||
		b.attrs[directory.PropDescription] != "many" || b.attrs[directory.PropMailNickname] != "big" {
		t.Fatalf("big: %d objects, %d members, %v", b.objects, len(b.added), b.attrs)
	}
	for _, id := range ids {
		if b.added[id] != directory.MemberUser {
			t.Fatalf("member %s: %q", id, b.added[id])
		}
	}
	if n := all[nested]; len(n.added) != 2 || n.added[big] != directory.MemberGroup || n.added[us[240].ID] != directory.MemberUser {
		t.Fatalf("nested: %+v", n)
	}
	if st := s.Stats().Tenant("contoso"); st.Routes["GET /groups/{id}/members"] != 0 || st.Routes["GET /groups/delta"] == 0 {
		t.Fatalf("a delta round read member lists: %v", st.Routes)
	}

	quiet, link, _ := groupRound(t, src, link)
	if len(quiet) != 0 {
		t.Fatalf("quiet round: %d groups", len(quiet))
	}

	must(t, ten.AddMember(big, us[250].ID))
	must(t, ten.RemoveMember(big, us[0].ID))
	must(t, ten.AddMember(nested, us[251].ID))
	must(t, ten.UpdateGroup(nested, map[string]any{"displayName": "Renamed", "description": "now described"}))
	gone, _ := ten.GroupID("Dept Finance")
	must(t, ten.DeleteGroup(gone))
	fresh, err := ten.AddGroupWith(graphsim.Group{DisplayName: "Fresh", Members: []string{us[1].ID}})
	must(t, err)
	// us[2] leaves Big, and every other group of it, by being deleted.
	var hadUser []string
	for id := range ten.Groups() {
		if g, _ := ten.Group(id); slices.Contains(g.Members, us[2].ID) {
			hadUser = append(hadUser, id)
		}
	}
	must(t, ten.HardDelete(us[2].ID))

	ch, link, _ := groupRound(t, src, link)
	b = ch[big]
	if b == nil || len(b.attrs) != 0 || len(b.added) != 1 || b.added[us[250].ID] != directory.MemberUser ||
		len(b.left) != 2 || b.left[us[0].ID] != directory.MemberUser || b.left[us[2].ID] != directory.MemberUser {
		t.Fatalf("big after member changes: %+v", b)
	}
	if n := ch[nested]; n == nil || n.attrs[directory.PropDisplayName] != "Renamed" || n.attrs[directory.PropDescription] != "now described" ||
		len(n.added) != 1 || n.added[us[251].ID] == "" {
		t.Fatalf("nested after changes: %+v", n)
	}
	if g := ch[gone]; g == nil || g.removed != directory.HardDeleted {
		t.Fatalf("deleted group: %+v", g)
	}
	if f := ch[fresh]; f == nil || f.attrs[directory.PropDisplayName] != "Fresh" || len(f.added) != 1 {
		t.Fatalf("new group: %+v", f)
	}
	for _, id := range hadUser {
		if ch[id] == nil || ch[id].left[us[2].ID] == "" {
			t.Fatalf("group %s: the deleted user did not leave: %+v", id, ch[id])
		}
	}
	// The groups All Staff nested the deleted group in report it leaving.
	staff, _ := ten.GroupID("All Staff")
	if ch[staff] == nil || ch[staff].left[gone] != directory.MemberGroup {
		t.Fatalf("All Staff: %+v", ch[staff])
	}
	for id, g := range ch {
		if id != big && id != nested && id != gone && id != fresh && id != staff && !slices.Contains(hadUser, id) {
			t.Errorf("unchanged group %s reported: %+v", id, g)
		}
	}

	// LatestGroupDelta: nothing before it, the changes after it.
	latest, err := src.LatestGroupDelta(ctx)
	must(t, err)
	must(t, ten.RemoveMember(fresh, us[1].ID))
	after, _, _ := groupRound(t, src, latest)
	if len(after) != 1 || after[fresh] == nil || after[fresh].left[us[1].ID] == "" {
		t.Fatalf("after latest: %+v", after)
	}

	ten.ExpireDeltaTokens()
	_, err = src.GroupDelta(ctx, link, func([]directory.Group) error { return nil })
	if !errors.Is(err, directory.ErrSyncStateExpired) || !IsSyncStateExpired(err) {
		t.Fatalf("expired link: %v", err)
	}
}

// TestSimGroupDelta410: a deployment answering 410 Gone for expired tokens
// is ErrSyncStateExpired too.
func TestSimGroupDelta410(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}, Users: 5, DeltaExpiredStatus: http.StatusGone})
	src := simClient(t, s, "contoso", nil).Source()
	_, link, _ := groupRound(t, src, "")
	s.Tenant("contoso").ExpireDeltaTokens()
	_, err := src.GroupDelta(context.Background(), link, func([]directory.Group) error { return nil })
	if !errors.Is(err, directory.ErrSyncStateExpired) {
		t.Fatalf("410: %v", err)
	}
}

func TestSimFindGroupsAndMembers(t *testing.T) {
	ctx := context.Background()
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}, Users: 10, Seed: 2})
	ten := s.Tenant("contoso")
	us := ten.Users()
	quoted, err := ten.AddGroupWith(graphsim.Group{DisplayName: "O'Brien's team", Members: []string{us[0].ID}})
	must(t, err)
	twin, err := ten.AddGroupWith(graphsim.Group{DisplayName: "o'brien's TEAM", Members: []string{quoted, us[1].ID}})
	must(t, err)
	_, err = ten.AddGroupWith(graphsim.Group{DisplayName: "x' or displayName eq 'All Staff"})
	must(t, err)
	src := simClient(t, s, "contoso", nil).Source()

	found, err := src.FindGroups(ctx, "O'Brien's team")
	must(t, err)
	if len(found) != 2 || (found[0].ID != quoted && found[1].ID != quoted) {
		t.Fatalf("by name: %+v", found)
	}
	found, err = src.FindGroups(ctx, "x' or displayName eq 'All Staff")
	must(t, err)
	if len(found) != 1 || found[0].Str(directory.PropDisplayName) != "x' or displayName eq 'All Staff" {
		t.Fatalf("injection-shaped name: %+v", found)
	}
	found, err = src.FindGroups(ctx, twin)
	must(t, err)
	if len(found) != 1 || found[0].ID != twin || found[0].Str(directory.PropMailNickname) == "" {
		t.Fatalf("by ID: %+v", found)
	}
	if v, ok := found[0].Attrs[directory.PropDescription]; !ok || v != nil {
		t.Fatalf("description not read as null: %+v", found[0].Attrs)
	}
	if found, err := src.FindGroups(ctx, "00000000-0000-4000-8000-000000000000"); err != nil || len(found) != 0 {
		t.Fatalf("unknown ID: %v %v", found, err)
	}
	if found, err := src.FindGroups(ctx, "No such group"); err != nil || len(found) != 0 {
		t.Fatalf("unknown name: %v %v", found, err)
	}

	ms, err := src.DirectMembers(ctx, twin)
	must(t, err)
	want := map[string]directory.MemberKind{quoted: directory.MemberGroup, us[1].ID: directory.MemberUser}
	if len(ms) != 2 || want[ms[0].ID] != ms[0].Kind || want[ms[1].ID] != ms[1].Kind {
		t.Fatalf("direct members: %+v", ms)
	}
	if _, err := src.DirectMembers(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown group's members: %v", err)
	}
}

// The group sync's ports (sync/worker) as this package implements them.
var (
	_ interface {
		GroupDelta(ctx context.Context, link string, page func([]directory.Group) error) (string, error)
		LatestGroupDelta(ctx context.Context) (string, error)
		FindGroups(ctx context.Context, displayNameOrID string) ([]directory.Group, error)
		DirectMembers(ctx context.Context, groupID string) ([]directory.Member, error)
	} = (*Source)(nil)
	_ interface {
		FindGroupByStamp(ctx context.Context, nick string) ([]directory.Group, error)
		CreateGroup(ctx context.Context, g directory.NewGroup) (string, error)
		UpdateGroup(ctx context.Context, id string, props map[string]any) error
		DeleteGroup(ctx context.Context, id string) error
		AddMembers(ctx context.Context, groupID string, memberIDs []string) error
		RemoveMember(ctx context.Context, groupID, memberID string) error
		Members(ctx context.Context, groupID string) ([]string, error)
		StampedGroups(ctx context.Context, page func([]directory.Group) error) error
	} = (*Target)(nil)
)
