package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
	"github.com/ctsync/ctsync/sync/plan"
)

// Group sync. After a complete user phase, a pair with [pair.groups] runs
// its group step under the same lease:
//
//  1. read the source's groups delta from the pair's group link (a full
//     round the first time, after an expired token, or when the group
//     scope or mappings changed) and merge the round's objects by group ID
//     (Graph splits a large group's members over several objects);
//  2. fold the round into what the store knows of each tracked group (its
//     attributes and its direct members): the groups in scope, and with
//     transitive = true the groups they nest. A group that becomes tracked
//     outside a full round has its direct members read once;
//  3. work out, for the groups whose membership may have moved (changed in
//     the round, holding a user whose guest arrived or left this cycle,
//     failed last time, or everything after a full round or an interrupted
//     cycle), the desired members: the guests this pair synced for the
//     group's members (transitive ones with transitive = true);
//  4. plan (plan.PlanGroups, pure) and apply: create (crash-safe, see
//     createGroup), update, add and remove members, delete or release;
//  5. commit the entries and the group link in one fenced batch.
//
// No member list is read at the source in a cycle unless a group became
// tracked: the delta's members@delta carries the changes.
//
// A pair whose user scope is by groups shares this state: its scope's
// groups (and with the scope's transitive, those they nest) are tracked
// too, with no group action unless group sync has them in scope. Steps 1
// and 2 then run before the users are read (readGroups): the scope's
// members come from the folded entries, and the users who joined or left
// are read by ID. Steps 3 to 5 run on the same state after the user
// phase; a pair without [pair.groups] only commits it.
//
// `ctsync provision --group` (ProvisionGroup, groups_provision.go) runs
// steps 3 to 5 for one group, with its members read afresh, through the
// same pieces: readMembers, closureOf, syncedGuests, state, the planner,
// apply (createGroup) and write, without the group link.

// GroupSource reads a source tenant's groups. Package tenants implements it.
type GroupSource interface {
	// GroupDelta runs one groups delta round from link ("" = a full
	// round) with members@delta, and returns the new link. An expired link
	// is an error matching directory.ErrSyncStateExpired.
	GroupDelta(ctx context.Context, link string, page func([]directory.Group) error) (string, error)
	// DirectMembers reads a group's direct members with their kinds.
	DirectMembers(ctx context.Context, groupID string) ([]directory.Member, error)
	// FindGroups finds groups by object ID or exact displayName (several
	// may share a name), with their attributes but not their members
	// (`ctsync provision --group`).
	FindGroups(ctx context.Context, displayNameOrID string) ([]directory.Group, error)
}

// GroupTarget writes security groups into a target tenant. Package tenants
// implements it.
type GroupTarget interface {
	FindGroupByStamp(ctx context.Context, nick string) ([]directory.Group, error)
	CreateGroup(ctx context.Context, g directory.NewGroup) (string, error)
	UpdateGroup(ctx context.Context, id string, props map[string]any) error
	// DeleteGroup deletes a group; one already gone is no error.
	DeleteGroup(ctx context.Context, id string) error
	// AddMembers adds members; one already a member is no error.
	AddMembers(ctx context.Context, groupID string, memberIDs []string) error
	// RemoveMember removes a member; one not a member is no error.
	RemoveMember(ctx context.Context, groupID, memberID string) error
	// Members lists a group's direct members' IDs.
	Members(ctx context.Context, groupID string) ([]string, error)
}

// GroupRules is what the group step needs of the pair's compiled group
// policy (policy.GroupRules).
type GroupRules interface {
	InScope(g directory.Group) (bool, string)
	// Target maps a source group to its target displayName and description.
	Target(g directory.Group) (displayName, description string, err error)
	Transitive() bool
	Exact() bool
	DeleteOnLeave() bool
	Fingerprint() uint64
}

// GroupSync is a pair's group sync; Pair.Groups is nil when the pair syncs
// no groups.
type GroupSync struct {
	Source GroupSource
	Target GroupTarget
	Rules  GroupRules
	// CreateGrace is how long after an interrupted create an empty stamp
	// search is not trusted (plan.DecideCreate); default DefaultCreateGrace.
	CreateGrace time.Duration
}

// DefaultCreateGrace covers Graph's index lag for a group created by an
// interrupted cycle: seconds typically, minutes at worst.
const DefaultCreateGrace = 10 * time.Minute

// groupStep is one cycle's group step.
type groupStep struct {
	c  *cycle
	gs *GroupSync // nil: the pair syncs no groups (tracked for its user scope only)
	// src reads the source's groups (nil: gs.Source).
	src GroupSource
	// roots are the user scope's groups (Rules.Groups), tracked with the
	// groups they nest when rootsTransitive; keep is what they reach.
	roots           []string
	rootsTransitive bool
	keep            map[string]bool
	// entries are the tracked groups by source ID; put and drop are the
	// entries to write and delete at the end.
	entries map[string]*guestmap.GroupEntry
	put     map[string]bool
	drop    []string
	// stored are the source IDs the store held at the start.
	stored map[string]bool
	// gone: deleted at the source this round. dirty: membership to reconcile.
	gone, dirty map[string]bool
	full        bool
	log         []guestmap.Record
	failed      int
}

// newGroupStep returns a cycle's group step reading src: the pair's group
// sync's (if any), tracking the user scope's groups too.
func (c *cycle) newGroupStep(src GroupSource) *groupStep {
	return &groupStep{c: c, gs: c.p.Groups, src: src, roots: c.p.Rules.Groups(), rootsTransitive: c.p.Rules.Transitive(),
		put: map[string]bool{}, gone: map[string]bool{}, dirty: map[string]bool{}}
}

// groupSource is the source's groups reader for the groups state: the
// group sync's, else the user source if it reads groups (nil: none).
func (c *cycle) groupSource() GroupSource {
	if c.p.Groups != nil {
		return c.p.Groups.Source
	}
	if src, ok := c.p.Source.(GroupSource); ok {
		return src
	}
	return nil
}

// readGroups reads and folds the groups delta before the users are read,
// for a pair whose user scope is by groups: the scope's members come from
// the folded state, and the users whose membership changed (moved) are
// the ones to revisit. The state is committed after a complete user phase
// (syncGroups).
func (c *cycle) readGroups(ctx context.Context, src GroupSource) error {
	s := c.newGroupStep(src)
	var before map[string]bool
	var known bool
	link, newLink, err := s.fold(ctx, func() { before, known = s.scopeMembers() })
	if err != nil {
		return err
	}
	after, _ := s.scopeMembers()
	c.groups, c.groupLink, c.members = s, newLink, after
	if !known || link == "" || s.full {
		// No stored state to compare with, or a full round: scan the
		// map for the users who left the groups.
		c.scanMembers = true
		return nil
	}
	for id := range after {
		if !before[id] {
			c.moved = append(c.moved, id)
		}
	}
	for id := range before {
		if !after[id] {
			c.moved = append(c.moved, id)
		}
	}
	slices.Sort(c.moved)
	return nil
}

// scopeMembers returns the users of the user scope's groups as the entries
// hold them (transitive as the scope says); complete is false when a group
// it reaches has no entry or unknown members.
func (s *groupStep) scopeMembers() (members map[string]bool, complete bool) {
	members, complete = map[string]bool{}, true
	seen := map[string]bool{}
	queue := slices.Clone(s.roots)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		e := s.entries[id]
		if e == nil || !e.MembersKnown {
			complete = false
			continue
		}
		for _, u := range e.Users {
			members[u] = true
		}
		if s.rootsTransitive {
			queue = append(queue, e.Groups...)
		}
	}
	return members, complete
}

// syncGroups runs the group step on the cycle's groups state (read now if
// readGroups did not); its errors do not undo the user phase. A pair that
// syncs no groups only commits the state its user scope read.
func (c *cycle) syncGroups(ctx context.Context) ([]plan.GroupAction, error) {
	gs := c.p.Groups
	s, newLink := c.groups, c.groupLink
	if s == nil {
		if gs == nil {
			return nil, nil
		}
		s = c.newGroupStep(gs.Source)
		var err error
		if _, newLink, err = s.fold(ctx, nil); err != nil {
			return nil, err
		}
	}
	if gs == nil {
		if c.dry {
			return nil, nil
		}
		return nil, s.write(ctx, newLink)
	}
	states, desired, err := s.states(ctx)
	if err != nil {
		return nil, err
	}
	actions := plan.PlanGroups(states, plan.GroupOptions{Exact: gs.Rules.Exact(), DeleteOnLeave: gs.Rules.DeleteOnLeave(), Threshold: c.p.Rules.DeletionThreshold()})
	if c.dry {
		return actions, nil
	}
	for _, a := range actions {
		if err := ctx.Err(); err != nil {
			return actions, err
		}
		_ = s.apply(ctx, a, desired[a.SourceID]) // recorded; the others go on
	}
	return actions, s.commit(ctx, newLink)
}

// fold loads the stored groups state, reads the groups delta from its link
// and folds the round in (track); stored, when set, runs on the stored
// state before the round is read. It returns the stored link and the new.
func (s *groupStep) fold(ctx context.Context, stored func()) (link, newLink string, err error) {
	if link, err = s.load(ctx); err != nil {
		return "", "", err
	}
	if stored != nil {
		stored()
	}
	if newLink, err = s.read(ctx, link); err != nil {
		return "", "", err
	}
	if err := s.track(ctx); err != nil {
		return "", "", err
	}
	return link, newLink, nil
}

// groupLink tags the stored group link with the group policy's
// fingerprint, so a changed scope or mapping starts a full round.
func groupLink(fp uint64, link string) string { return strconv.FormatUint(fp, 16) + " " + link }

func (s *groupStep) load(ctx context.Context) (string, error) {
	p := s.c.p
	list, err := p.Store.GroupEntries(ctx, p.PairName)
	if err != nil {
		return "", fmt.Errorf("read group entries: %w", err)
	}
	s.entries = make(map[string]*guestmap.GroupEntry, len(list))
	s.stored = make(map[string]bool, len(list))
	for i := range list {
		s.entries[list[i].SourceID] = &list[i]
		s.stored[list[i].SourceID] = true
	}
	stored, err := p.Store.GroupLink(ctx, p.PairName)
	if err != nil {
		return "", fmt.Errorf("read group link: %w", err)
	}
	fp, link, ok := strings.Cut(stored, " ")
	if !ok || fp != strconv.FormatUint(s.fingerprint(), 16) {
		if stored != "" {
			p.log().Info("the pair's group scope or mappings changed; reading the source's groups in full", "pair", p.PairName)
		}
		return "", nil
	}
	return link, nil
}

// roundGroup is one group as a delta round reported it, merged.
type roundGroup struct {
	removed     bool
	attrs       map[string]any
	added, left map[string]directory.MemberKind
}

// read runs the delta round and folds it into the entries.
func (s *groupStep) read(ctx context.Context, link string) (string, error) {
	round := map[string]*roundGroup{}
	page := func(groups []directory.Group) error {
		for _, g := range groups {
			r := round[g.ID]
			if r == nil {
				r = &roundGroup{attrs: map[string]any{}, added: map[string]directory.MemberKind{}, left: map[string]directory.MemberKind{}}
				round[g.ID] = r
			}
			if g.Removed != directory.NotRemoved {
				r.removed = true
			}
			for k, v := range g.Attrs {
				r.attrs[k] = v
			}
			for _, m := range g.Added {
				r.added[m.ID] = m.Kind
				delete(r.left, m.ID)
			}
			for _, m := range g.Left {
				r.left[m.ID] = m.Kind
				delete(r.added, m.ID)
			}
		}
		return nil
	}
	src := s.source()
	newLink, err := src.GroupDelta(ctx, link, page)
	if err != nil && link != "" && errors.Is(err, directory.ErrSyncStateExpired) {
		s.c.p.log().Warn("groups delta token expired; reading the source's groups in full", "pair", s.c.p.PairName)
		clear(round)
		link = ""
		newLink, err = src.GroupDelta(ctx, "", page)
	}
	if err != nil {
		return "", fmt.Errorf("read source groups: %w", err)
	}
	s.full = link == ""
	if s.full {
		s.foldFull(round)
	} else {
		s.foldChanges(round)
	}
	return newLink, nil
}

// foldFull replaces what is known with a full round: it lists every group
// of the tenant with every direct member.
func (s *groupStep) foldFull(round map[string]*roundGroup) {
	known := map[string]*guestmap.GroupEntry{}
	for id, r := range round {
		if r.removed {
			continue
		}
		e := s.entries[id]
		if e == nil {
			e = &guestmap.GroupEntry{SourceID: id}
		}
		e.Name, e.Description = attrStr(r.attrs, directory.PropDisplayName), attrStr(r.attrs, directory.PropDescription)
		e.MailNickname = attrStr(r.attrs, directory.PropMailNickname)
		e.Users, e.Groups = memberLists(r.added, nil)
		e.MembersKnown = true
		known[id] = e
	}
	for id, e := range s.entries {
		if known[id] == nil {
			s.gone[id] = true
			known[id] = e
		}
	}
	s.entries = known
	for id := range known {
		s.put[id] = true
	}
}

// foldChanges applies an incremental round to the tracked groups, and
// starts tracking a group whose new attributes put it in scope.
func (s *groupStep) foldChanges(round map[string]*roundGroup) {
	for id, r := range round {
		e := s.entries[id]
		if r.removed {
			if e != nil {
				s.gone[id] = true
			}
			continue
		}
		if e == nil {
			name, named := r.attrs[directory.PropDisplayName].(string)
			if !named {
				continue // a member change of a group ctsync does not track
			}
			g := directory.Group{ID: id, Attrs: r.attrs}
			if s.gs == nil {
				continue // tracked for the user scope only: track adds its groups
			}
			if in, _ := s.gs.Rules.InScope(g); !in {
				continue
			}
			e = &guestmap.GroupEntry{SourceID: id, Name: name, Description: attrStr(r.attrs, directory.PropDescription),
				MailNickname: attrStr(r.attrs, directory.PropMailNickname)}
			s.entries[id] = e
		} else {
			if v, ok := r.attrs[directory.PropDisplayName].(string); ok {
				e.Name = v
			}
			if _, ok := r.attrs[directory.PropDescription]; ok {
				e.Description = attrStr(r.attrs, directory.PropDescription)
			}
			if v, ok := r.attrs[directory.PropMailNickname].(string); ok {
				e.MailNickname = v
			}
			if e.MembersKnown {
				e.Users, e.Groups = memberLists(r.added, r.left, e.Users, e.Groups)
			}
		}
		s.put[id], s.dirty[id] = true, true
	}
}

// track decides scope, follows nesting (transitive), reads the members of
// groups that became tracked, and drops groups no longer tracked. The user
// scope's groups (and with its transitive the groups they nest) stay
// tracked, with no group-sync action unless group sync has them in scope.
func (s *groupStep) track(ctx context.Context) error {
	reach := map[string]bool{}
	var queue []string
	for id, e := range s.entries {
		if s.gone[id] {
			e.InScope = false
			continue
		}
		in := false
		if s.gs != nil {
			in, _ = s.gs.Rules.InScope(s.group(e))
		}
		if in != e.InScope {
			e.InScope = in
			s.put[id], s.dirty[id] = true, true
		}
		if in {
			queue = append(queue, id)
		}
	}
	if err := s.follow(ctx, queue, s.gs != nil && s.gs.Rules.Transitive(), reach); err != nil {
		return err
	}
	s.keep = map[string]bool{}
	queue = nil
	for _, id := range s.roots {
		e := s.entries[id]
		switch {
		case e == nil:
			s.entries[id] = &guestmap.GroupEntry{SourceID: id}
			s.put[id] = true
		case s.gone[id]:
			// Deleted at the source: it has no members any more.
			if len(e.Users) > 0 || len(e.Groups) > 0 || !e.MembersKnown {
				e.Users, e.Groups, e.MembersKnown = nil, nil, true
				s.put[id] = true
			}
		}
		queue = append(queue, id)
	}
	if err := s.follow(ctx, queue, s.rootsTransitive, s.keep); err != nil {
		return err
	}
	for id := range s.keep {
		reach[id] = true
	}
	// A group neither in scope nor nested in one, with no target group,
	// is no longer tracked. One with a target group is planned (delete or
	// release) and dropped once that is done.
	for id, e := range s.entries {
		if !reach[id] && e.TargetID == "" && e.Creating.IsZero() {
			s.forget(id)
		}
	}
	return nil
}

// follow marks the groups of queue reached, reads the members of those
// never read, and with transitive follows the groups they nest.
func (s *groupStep) follow(ctx context.Context, queue []string, transitive bool, reach map[string]bool) error {
	for _, id := range queue {
		reach[id] = true
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		e := s.entries[id]
		if !e.MembersKnown {
			if _, err := readMembers(ctx, s.source(), e); err != nil {
				return err
			}
			s.put[id], s.dirty[id] = true, true
		}
		if !transitive {
			continue
		}
		for _, g := range e.Groups {
			if reach[g] {
				continue
			}
			reach[g] = true
			if s.entries[g] == nil {
				s.entries[g] = &guestmap.GroupEntry{SourceID: g}
				s.put[g] = true
			}
			queue = append(queue, g)
		}
	}
	return nil
}

// source is the reader of the source's groups.
func (s *groupStep) source() GroupSource {
	if s.src != nil {
		return s.src
	}
	return s.gs.Source
}

// fingerprint tags the group link: the group policy's (0 without group
// sync).
func (s *groupStep) fingerprint() uint64 {
	if s.gs == nil {
		return 0
	}
	return s.gs.Rules.Fingerprint()
}

// readMembers reads a source group's direct members into its entry (users
// and groups; other objects are never synced and only counted).
func readMembers(ctx context.Context, src GroupSource, e *guestmap.GroupEntry) (others int, err error) {
	members, err := src.DirectMembers(ctx, e.SourceID)
	if err != nil {
		return 0, fmt.Errorf("read the members of source group %s: %w", e.SourceID, err)
	}
	added := make(map[string]directory.MemberKind, len(members))
	for _, m := range members {
		added[m.ID] = m.Kind
		if m.Kind != directory.MemberUser && m.Kind != directory.MemberGroup {
			others++
		}
	}
	e.Users, e.Groups = memberLists(added, nil)
	e.MembersKnown = true
	return others, nil
}

func (s *groupStep) group(e *guestmap.GroupEntry) directory.Group {
	return directory.Group{ID: e.SourceID, Attrs: map[string]any{directory.PropDisplayName: e.Name, directory.PropDescription: e.Description,
		directory.PropMailNickname: e.MailNickname}}
}

// closure returns the users of a group: direct, or through nesting.
func (s *groupStep) closure(id string) []string {
	return closureOf(s.entries, id, s.gs.Rules.Transitive())
}

// closureOf returns the users of group id (sorted, no duplicates): its
// direct ones, and with transitive those of the groups it nests, at any
// depth, each group once (nesting may loop). A group without an entry
// counts for none.
func closureOf(entries map[string]*guestmap.GroupEntry, id string, transitive bool) []string {
	e := entries[id]
	if e == nil {
		return nil
	}
	if !transitive {
		return e.Users
	}
	seen := map[string]bool{id: true}
	users := map[string]bool{}
	queue := []string{id}
	for len(queue) > 0 {
		g := entries[queue[0]]
		queue = queue[1:]
		if g == nil {
			continue
		}
		for _, u := range g.Users {
			users[u] = true
		}
		for _, n := range g.Groups {
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	out := make([]string, 0, len(users))
	for u := range users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// states builds the planner's input and each group's desired members.
func (s *groupStep) states(ctx context.Context) ([]plan.GroupState, map[string][]string, error) {
	c := s.c
	everything := s.full || c.interrupted
	moved := map[string]bool{}
	for _, id := range c.arrived {
		moved[id] = true
	}
	for _, id := range c.left {
		moved[id] = true
	}
	closures := map[string][]string{}
	var want []string
	for id, e := range s.entries {
		if !e.InScope || s.gone[id] {
			continue
		}
		cl := s.closure(id)
		closures[id] = cl
		reconcile := everything || e.TargetID == "" || e.LastError != "" || s.dirty[id] || s.nestsDirty(id)
		if !reconcile && len(moved) > 0 {
			for _, u := range cl {
				if moved[u] {
					reconcile = true
					break
				}
			}
		}
		if reconcile {
			s.dirty[id] = true
			want = append(want, cl...)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	guests, err := syncedGuests(ctx, c.p, want)
	if err != nil {
		return nil, nil, err
	}
	desired := map[string][]string{}
	var states []plan.GroupState
	for id, e := range s.entries {
		st, ok, err := s.state(ctx, e, closures[id], guests, desired)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			states = append(states, st)
		}
	}
	return states, desired, nil
}

// syncedGuests returns the guests this pair synced for users (source IDs,
// no duplicates) as source ID -> guest ID: those of map entries active or
// disabled. Users without one are absent.
func syncedGuests(ctx context.Context, p *Pair, users []string) (map[string]string, error) {
	guests, err := guestIDs(ctx, p, users, func(e guestmap.Entry) bool {
		return e.State == guestmap.StateActive || e.State == guestmap.StateDisabled
	})
	if err != nil {
		return nil, fmt.Errorf("read the guests of group members: %w", err)
	}
	return guests, nil
}

// state is the planner's input for one tracked group. closure is the
// group's users (closureOf) and guests the synced guests of every user
// (syncedGuests); a group to reconcile (dirty) gets its desired members,
// recorded in desired, and in exact mode its target group's actual ones.
// ok is false when the group has nothing to plan: tracked only as nested
// in an in-scope group, or its attributes do not map (recorded on its
// entry, counted as failed).
func (s *groupStep) state(ctx context.Context, e *guestmap.GroupEntry, closure []string, guests map[string]string, desired map[string][]string) (st plan.GroupState, ok bool, err error) {
	id, rules := e.SourceID, s.gs.Rules
	st = plan.GroupState{SourceID: id, Gone: s.gone[id], InScope: e.InScope && !s.gone[id], TargetID: e.TargetID,
		StoredHash: e.AttrHash, Managed: e.Managed, Reconcile: s.dirty[id]}
	_, st.Reason = rules.InScope(s.group(e))
	if !st.InScope {
		if e.TargetID == "" && e.Creating.IsZero() {
			return st, false, nil // nested only: nothing of it in the target
		}
		return st, true, nil
	}
	name, desc, err := rules.Target(s.group(e))
	if err != nil {
		e.LastError = fmt.Sprintf("map the group's attributes: %v", err)
		s.put[id] = true
		s.failed++
		return st, false, nil
	}
	st.DisplayName, st.Description = name, desc
	st.AttrHash = policy.GroupHash(name, desc)
	if !s.dirty[id] {
		st.Desired = e.Managed
		return st, true, nil
	}
	for _, u := range closure {
		if g := guests[u]; g != "" {
			st.Desired = append(st.Desired, g)
		}
	}
	slices.Sort(st.Desired)
	st.Desired = slices.Compact(st.Desired)
	desired[id] = st.Desired
	if rules.Exact() && e.TargetID != "" {
		actual, err := s.gs.Target.Members(ctx, e.TargetID)
		if err != nil {
			return st, false, fmt.Errorf("read the members of target group %s: %w", e.TargetID, err)
		}
		slices.Sort(actual)
		st.Actual = actual
	}
	return st, true, nil
}

// nestsDirty reports whether a group nests (transitively) a group whose
// members changed this round.
func (s *groupStep) nestsDirty(id string) bool {
	if !s.gs.Rules.Transitive() {
		return false
	}
	seen := map[string]bool{id: true}
	queue := slices.Clone(s.entries[id].Groups)
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		if seen[g] {
			continue
		}
		seen[g] = true
		if s.dirty[g] {
			return true
		}
		if e := s.entries[g]; e != nil {
			queue = append(queue, e.Groups...)
		}
	}
	return false
}

// errCreateWaits: an interrupted earlier create of the group may have
// made it, and Graph's index does not show it yet (plan.CreateWait).
var errCreateWaits = errors.New("an earlier create of this group was interrupted; waiting for Graph's index before creating it again")

// apply carries out one group's action; a failure is recorded on the
// group's entry and retried next cycle, the other groups go on. It returns
// the failure (the cycle has it on the entry and in the log already).
func (s *groupStep) apply(ctx context.Context, a plan.GroupAction, desired []string) error {
	c, e := s.c, s.entries[a.SourceID]
	start := time.Now()
	rec := guestmap.Record{Pair: c.p.PairName, Cycle: c.id(), SourceID: a.SourceID, Action: string(a.Kind), Result: "ok"}
	err := s.do(ctx, a, e, desired)
	rec.GuestID, rec.Duration = e.TargetID, time.Since(start)
	if a.DisplayName != "" {
		rec.Changes = append(rec.Changes, guestmap.Change{Prop: directory.PropDisplayName, New: a.DisplayName})
	}
	if len(a.Add) > 0 || len(a.Remove) > 0 {
		rec.Changes = append(rec.Changes, guestmap.Change{Prop: "members", New: fmt.Sprintf("+%d -%d", len(a.Add), len(a.Remove))})
	}
	kind := string(a.Kind)
	switch {
	case errors.Is(err, errCreateWaits):
		// Not a failure, not done: the next cycle looks again.
		rec.Result, kind, err = "skipped", "group-pending", nil
		rec.Error = errCreateWaits.Error()
		if len(a.Add) > 0 || len(a.Remove) > 0 {
			a.Add, a.Remove = nil, nil // none were written
		}
	case err != nil:
		e.LastError = err.Error()
		rec.Result, rec.Error, kind = "error", err.Error(), "group-failed"
		s.failed++
		c.p.log().Warn("group action failed", "pair", c.p.PairName, "group", a.SourceID, "action", a.Kind, "err", err)
	case a.Kind == plan.GroupHeld:
		rec.Result = "staged"
	default:
		e.LastError = ""
	}
	if a.Kind != plan.GroupForget {
		s.log = append(s.log, rec)
	}
	c.mu.Lock()
	c.rep.count(kind, 1)
	if err == nil && len(a.Add) > 0 {
		c.rep.count("group-member-add", len(a.Add))
	}
	if err == nil && len(a.Remove) > 0 {
		c.rep.count("group-member-remove", len(a.Remove))
	}
	c.mu.Unlock()
	return err
}

func (s *groupStep) do(ctx context.Context, a plan.GroupAction, e *guestmap.GroupEntry, desired []string) error {
	gs, exact := s.gs, s.gs.Rules.Exact()
	id := a.SourceID
	switch a.Kind {
	case plan.GroupHeld:
		s.c.p.log().Warn("group delete held by the deletion threshold", "pair", s.c.p.PairName, "group", id, "reason", a.Reason)
		return nil
	case plan.GroupForget:
		s.forget(id)
		return nil
	case plan.GroupDelete:
		if err := gs.Target.DeleteGroup(ctx, a.TargetID); err != nil {
			return fmt.Errorf("delete target group %s: %w", a.TargetID, err)
		}
		s.forget(id)
		return nil
	case plan.GroupRelease:
		if err := s.removeMembers(ctx, e, a.Remove); err != nil {
			return err
		}
		s.forget(id)
		return nil
	case plan.GroupCreate:
		created, err := s.createGroup(ctx, a, e)
		if err != nil {
			return err
		}
		if !created {
			return errCreateWaits
		}
	case plan.GroupUpdate:
		if err := gs.Target.UpdateGroup(ctx, a.TargetID, map[string]any{directory.PropDisplayName: a.DisplayName, directory.PropDescription: a.Description}); err != nil {
			return fmt.Errorf("update target group %s: %w", a.TargetID, err)
		}
		e.AttrHash = policy.GroupHash(a.DisplayName, a.Description)
		s.put[id] = true
	}
	if len(a.Add) > 0 {
		if err := gs.Target.AddMembers(ctx, e.TargetID, a.Add); err != nil {
			return fmt.Errorf("add %d members to target group %s: %w", len(a.Add), e.TargetID, err)
		}
		e.Managed = plan.GroupAction{Kind: plan.GroupMembers, Add: a.Add}.Managed(e.Managed, false, nil)
		s.put[id] = true
	}
	if err := s.removeMembers(ctx, e, a.Remove); err != nil {
		return err
	}
	// Exact mode manages the desired members, but only a reconciled group
	// has them (a rename alone does not compare the members).
	e.Managed = a.Managed(e.Managed, exact && s.dirty[id], desired)
	s.put[id] = true
	return nil
}

func (s *groupStep) removeMembers(ctx context.Context, e *guestmap.GroupEntry, ids []string) error {
	for _, m := range ids {
		if err := s.gs.Target.RemoveMember(ctx, e.TargetID, m); err != nil {
			return fmt.Errorf("remove member %s from target group %s: %w", m, e.TargetID, err)
		}
		e.Managed = plan.GroupAction{Kind: plan.GroupMembers, Remove: []string{m}}.Managed(e.Managed, false, nil)
		s.put[e.SourceID] = true
	}
	return nil
}

// forget drops a group's entry at the commit; one the user scope tracks
// stays, without its target group.
func (s *groupStep) forget(id string) {
	if e := s.entries[id]; e != nil && s.keep[id] {
		e.TargetID, e.Creating, e.AttrHash, e.Managed, e.LastError, e.InScope = "", time.Time{}, 0, nil, "", false
		s.put[id] = true
		return
	}
	delete(s.entries, id)
	delete(s.put, id)
	if s.stored[id] {
		s.drop = append(s.drop, id)
	}
}

// createGroup finds or creates the target group of a source group. The
// stamp (mailNickname) is sent in the create itself, so a created group is
// always findable; the mark written just before the POST tells a later
// cycle, after a crash, that a group may exist that the lagging index does
// not show yet (plan.DecideCreate). created is false when the cycle must
// wait for the index.
func (s *groupStep) createGroup(ctx context.Context, a plan.GroupAction, e *guestmap.GroupEntry) (created bool, err error) {
	c, gs := s.c, s.gs
	nick, err := directory.GroupStamp(c.p.SourceTenantID, a.SourceID)
	if err != nil {
		return false, err
	}
	found, err := gs.Target.FindGroupByStamp(ctx, nick)
	if err != nil {
		return false, fmt.Errorf("find the target group by its stamp %s: %w", nick, err)
	}
	var ago time.Duration
	if !e.Creating.IsZero() {
		ago = max(c.p.now().Sub(e.Creating), time.Nanosecond)
	}
	grace := gs.CreateGrace
	if grace <= 0 {
		grace = DefaultCreateGrace
	}
	switch plan.DecideCreate(len(found), ago, grace) {
	case plan.CreateConflict:
		ids := make([]string, len(found))
		for i, g := range found {
			ids[i] = g.ID
		}
		return false, fmt.Errorf("%d target groups carry the stamp %s (%s): remove all but one", len(found), nick, strings.Join(ids, ", "))
	case plan.CreateWait:
		c.p.log().Info("an earlier create of this group was interrupted; waiting for Graph's index before creating it again",
			"pair", c.p.PairName, "group", a.SourceID, "marked", e.Creating)
		return false, nil
	case plan.CreateAdopt:
		e.TargetID = found[0].ID
		if err := gs.Target.UpdateGroup(ctx, e.TargetID, map[string]any{directory.PropDisplayName: a.DisplayName, directory.PropDescription: a.Description}); err != nil {
			return false, fmt.Errorf("update target group %s: %w", e.TargetID, err)
		}
	default:
		e.Creating = c.p.now()
		if err := c.p.Store.Apply(ctx, c.lease, guestmap.Batch{PutGroups: []guestmap.GroupEntry{*e}}); err != nil {
			return false, fmt.Errorf("mark the group's create: %w", err)
		}
		if e.TargetID, err = gs.Target.CreateGroup(ctx, directory.NewGroup{DisplayName: a.DisplayName, Description: a.Description, MailNickname: nick}); err != nil {
			return false, fmt.Errorf("create target group: %w", err)
		}
	}
	e.Creating = time.Time{}
	e.AttrHash = policy.GroupHash(a.DisplayName, a.Description)
	s.put[a.SourceID] = true
	return true, nil
}

// commit writes the entries and the group link in one fenced batch.
func (s *groupStep) commit(ctx context.Context, link string) error {
	if err := s.write(ctx, link); err != nil {
		return err
	}
	if s.failed > 0 {
		return fmt.Errorf("%d group actions failed (see the log; retried next cycle)", s.failed)
	}
	return nil
}

// write writes the entries to put and drop and the log in one fenced
// batch, with the group link unless link is "" (provisioning one group
// never moves it).
func (s *groupStep) write(ctx context.Context, link string) error {
	c := s.c
	b := guestmap.Batch{DeleteGroups: s.drop, Log: s.log}
	for id := range s.put {
		if e := s.entries[id]; e != nil {
			b.PutGroups = append(b.PutGroups, *e)
		}
	}
	slices.SortFunc(b.PutGroups, func(x, y guestmap.GroupEntry) int { return strings.Compare(x.SourceID, y.SourceID) })
	if link != "" {
		l := groupLink(s.fingerprint(), link)
		b.GroupLink = &l
	}
	if err := c.p.Store.Apply(ctx, c.lease, b); err != nil {
		return fmt.Errorf("commit group entries: %w", err)
	}
	return nil
}

func attrStr(attrs map[string]any, name string) string {
	v, _ := attrs[name].(string)
	return v
}

// memberLists applies added and left to the sorted users and groups lists
// (none: start empty) and returns them sorted.
func memberLists(added, left map[string]directory.MemberKind, lists ...[]string) (users, groups []string) {
	set := map[string]directory.MemberKind{}
	if len(lists) == 2 {
		for _, u := range lists[0] {
			set[u] = directory.MemberUser
		}
		for _, g := range lists[1] {
			set[g] = directory.MemberGroup
		}
	}
	for id, k := range added {
		set[id] = k
	}
	for id := range left {
		delete(set, id)
	}
	for id, k := range set {
		switch k {
		case directory.MemberUser:
			users = append(users, id)
		case directory.MemberGroup:
			groups = append(groups, id)
		}
	}
	slices.Sort(users)
	slices.Sort(groups)
	return users, groups
}
