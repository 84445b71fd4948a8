package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/sync/plan"
)

// ErrNoGroupSync: the pair has no [pair.groups], so it syncs no groups.
var ErrNoGroupSync = errors.New("the pair syncs no groups")

// ProvisionGroup syncs one source group now, outside the schedule,
// reporting each step as Entra's provision on demand does: import (find
// the group by object ID or displayName), scope, members (read afresh, with
// transitive = true the nested groups' too, and which have a synced
// guest), match (the target group by its stamp) and action.
//
// It goes through the cycle's group step code (groupStep.state, the
// planner, groupStep.apply and createGroup) under the pair's lease, and
// writes the group's entry (its direct members as read, MembersKnown) and
// its provisioning record in one fenced batch. It never moves the pair's
// groups delta link: the next cycle reads the source's changes from where
// the last one stopped, and finds the group tracked. The nested groups are
// not written: the next cycle tracks them (reading their members once).
//
// A group out of scope that ctsync never synced writes nothing.
func (p *Pair) ProvisionGroup(ctx context.Context, nameOrID string, step func(Step)) (Report, error) {
	rep := Report{Pair: p.PairName, Start: p.now()}
	gs := p.Groups
	if gs == nil {
		err := fmt.Errorf("pair %s: %w: its policy has no [pair.groups] section", p.PairName, ErrNoGroupSync)
		rep.Err, rep.End = err, p.now()
		return rep, err
	}
	ctx, c, fail, release, err := p.startProvision(ctx, &rep, step)
	if err != nil {
		return rep, err
	}
	defer release()

	// import
	found, err := gs.Source.FindGroups(ctx, nameOrID)
	if err != nil {
		return fail("import", fmt.Errorf("find %s at the source: %w", nameOrID, err))
	}
	g, err := pickGroup(nameOrID, found)
	if err != nil {
		return fail("import", err)
	}
	id := g.ID
	step(Step{Name: "import", Detail: describeGroup(g)})

	s := &groupStep{c: c, gs: gs, entries: map[string]*guestmap.GroupEntry{}, put: map[string]bool{},
		stored: map[string]bool{}, gone: map[string]bool{}, dirty: map[string]bool{}}
	list, err := p.Store.GroupEntries(ctx, p.PairName)
	if err != nil {
		return fail("import", fmt.Errorf("read group entries: %w", err))
	}
	e := &guestmap.GroupEntry{SourceID: id}
	for i := range list {
		if strings.EqualFold(list[i].SourceID, id) {
			e = &list[i]
			s.stored[e.SourceID] = true
		}
	}
	id = e.SourceID
	s.entries[id] = e
	nestedOnly := s.stored[id] && !e.InScope && e.TargetID == "" && e.Creating.IsZero()
	e.Name, e.Description, e.MailNickname = g.Str(directory.PropDisplayName), g.Str(directory.PropDescription), g.Str(directory.PropMailNickname)

	// scope: on the group as read (its mailNickname too: a group ctsync
	// created is never synced on).
	in, why := gs.Rules.InScope(g)
	e.InScope = in
	if in {
		step(Step{Name: "scope", Detail: "in scope: " + why})
	} else {
		step(Step{Name: "scope", Detail: "out of scope: " + why})
	}

	// members
	var closure []string
	var guests map[string]string
	if in {
		n, err := s.readTree(ctx, e)
		if err != nil {
			return fail("members", err)
		}
		closure = s.closure(id)
		if guests, err = syncedGuests(ctx, p, closure); err != nil {
			return fail("members", err)
		}
		n.AllUsers, n.Synced = len(closure), len(guests)
		step(Step{Name: "members", Detail: n.String()})
	} else {
		step(Step{Name: "members", Detail: "not read: the group is out of scope"})
	}

	// match
	nick, err := directory.GroupStamp(p.SourceTenantID, id)
	if err != nil {
		return fail("match", err)
	}
	stamped, err := gs.Target.FindGroupByStamp(ctx, nick)
	if err != nil {
		return fail("match", fmt.Errorf("find the target group by its stamp %s: %w", nick, err))
	}
	step(Step{Name: "match", Detail: matchDetail(e, nick, stamped)})

	// action: the cycle's state, plan and apply, for this group alone.
	s.dirty[id] = in
	desired := map[string][]string{}
	st, ok, err := s.state(ctx, e, closure, guests, desired)
	if err != nil {
		return fail("action", err)
	}
	if !ok && in {
		// The attributes do not map: recorded on the entry, as a cycle does.
		if err := s.write(ctx, ""); err != nil {
			return fail("action", err)
		}
		return fail("action", errors.New(e.LastError))
	}
	if !ok {
		detail := "nothing to do: out of scope, and no target group to act on"
		if nestedOnly {
			detail = "nothing to do: out of scope; tracked as a group nested in an in-scope one, whose target group has its members"
		}
		step(Step{Name: "action", Detail: detail})
		rep.End = p.now()
		return rep, nil
	}
	actions := plan.PlanGroups([]plan.GroupState{st}, plan.GroupOptions{Exact: gs.Rules.Exact(), DeleteOnLeave: gs.Rules.DeleteOnLeave(), Threshold: p.Rules.DeletionThreshold()})
	if len(actions) == 0 {
		// In scope and in sync: the entry takes the members as read.
		s.put[id] = true
		if err := s.write(ctx, ""); err != nil {
			return fail("action", err)
		}
		step(Step{Name: "action", Detail: fmt.Sprintf("nothing to do: target group %s already matches (%d members ctsync manages)", e.TargetID, len(e.Managed))})
		rep.End = p.now()
		return rep, nil
	}
	a := actions[0]
	step(Step{Name: "action", Detail: actionDetail(a)})
	applyErr := s.apply(ctx, a, desired[id])
	if s.entries[id] != nil {
		s.put[id] = true // its members as read, its scope, its error
	}
	if err := s.write(ctx, ""); err != nil {
		return fail("result", err)
	}
	rep.End = p.now()
	switch {
	case applyErr != nil:
		return fail("result", fmt.Errorf("failed; the next cycle retries it: %w", applyErr))
	case a.Kind == plan.GroupCreate && e.TargetID == "":
		return fail("result", fmt.Errorf("not created: an earlier create of this group was interrupted at %s and Graph's index may not show the group it made yet; a later cycle creates or adopts it",
			e.Creating.UTC().Format("2006-01-02T15:04:05Z")))
	}
	var done []string
	for _, k := range rep.Kinds() {
		done = append(done, fmt.Sprintf("%s %d", k, rep.Counts[k]))
	}
	res := strings.Join(done, ", ")
	if s.entries[id] != nil && e.TargetID != "" {
		res = fmt.Sprintf("target group %s, %d members ctsync manages: %s", e.TargetID, len(e.Managed), res)
	}
	step(Step{Name: "result", Detail: res})
	return rep, nil
}

// readTree reads the direct members of group e afresh and, with
// transitive = true, those of every group it nests, at any depth, each
// group once (nesting may loop). The nested groups' entries go into
// s.entries, for the closure, but not into s.put.
func (s *groupStep) readTree(ctx context.Context, e *guestmap.GroupEntry) (memberCount, error) {
	others, err := readMembers(ctx, s.gs.Source, e)
	if err != nil {
		return memberCount{}, err
	}
	n := memberCount{Users: len(e.Users), Groups: len(e.Groups), Others: others, Transitive: s.gs.Rules.Transitive()}
	if !n.Transitive {
		return n, nil
	}
	seen := map[string]bool{e.SourceID: true}
	var queue []string
	follow := func(groups []string) {
		for _, g := range groups {
			if !seen[g] {
				seen[g] = true
				queue = append(queue, g)
			}
		}
	}
	follow(e.Groups)
	for len(queue) > 0 {
		nested := &guestmap.GroupEntry{SourceID: queue[0]}
		queue = queue[1:]
		if _, err := readMembers(ctx, s.gs.Source, nested); err != nil {
			return n, err
		}
		s.entries[nested.SourceID] = nested
		n.Nested++
		follow(nested.Groups)
	}
	return n, nil
}

// memberCount is what the members step found.
type memberCount struct {
	// Users, Groups and Others are the group's direct members by kind.
	Users, Groups, Others int
	// Transitive: nested groups were followed; Nested counts those read.
	Transitive bool
	Nested     int
	// AllUsers are the users the group's target members come from (direct,
	// or through nesting); Synced those with a synced guest.
	AllUsers, Synced int
}

func (n memberCount) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "direct: %s, %s", plural(n.Users, "user"), plural(n.Groups, "group"))
	if n.Others > 0 {
		fmt.Fprintf(&b, ", %s (devices, service principals, contacts: never synced)", plural(n.Others, "other object"))
	}
	switch {
	case n.Transitive && n.Nested > 0:
		fmt.Fprintf(&b, "; with %s read (transitive): %s in all", plural(n.Nested, "nested group"), plural(n.AllUsers, "user"))
	case !n.Transitive && n.Groups > 0:
		b.WriteString("; nested groups not followed (transitive = false)")
	}
	fmt.Fprintf(&b, "; %d with a synced guest, %d not yet", n.Synced, n.AllUsers-n.Synced)
	return b.String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// pickGroup is the one group FindGroups found for what the admin named.
func pickGroup(nameOrID string, found []directory.Group) (directory.Group, error) {
	switch len(found) {
	case 0:
		return directory.Group{}, fmt.Errorf("no source group has the object ID or displayName %q", nameOrID)
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, g := range found {
		ids[i] = g.ID
	}
	slices.Sort(ids)
	return directory.Group{}, fmt.Errorf("%d source groups are named %q (%s): name one by its object ID", len(found), nameOrID, strings.Join(ids, ", "))
}

// describeGroup is the import step's line: the group as read.
func describeGroup(g directory.Group) string {
	var parts []string
	if d := g.Str(directory.PropDescription); d != "" {
		parts = append(parts, fmt.Sprintf("description %q", d))
	} else {
		parts = append(parts, "no description")
	}
	if m := g.Str(directory.PropMailNickname); m != "" {
		parts = append(parts, "mailNickname "+m)
	}
	return fmt.Sprintf("%q (%s): %s", g.Str(directory.PropDisplayName), g.ID, strings.Join(parts, ", "))
}

// matchDetail is the match step's line: the target group recorded for the
// group (e) and the target groups carrying its stamp (nick).
func matchDetail(e *guestmap.GroupEntry, nick string, stamped []directory.Group) string {
	ids := make([]string, len(stamped))
	for i, g := range stamped {
		ids[i] = g.ID
	}
	if e.TargetID != "" {
		switch {
		case slices.Contains(ids, e.TargetID):
			return fmt.Sprintf("target group %s, recorded, carries the stamp %s", e.TargetID, nick)
		case len(ids) == 0:
			return fmt.Sprintf("target group %s, recorded (Graph's index does not show its stamp %s yet)", e.TargetID, nick)
		}
		return fmt.Sprintf("target group %s, recorded; the stamp %s is on %s", e.TargetID, nick, strings.Join(ids, ", "))
	}
	switch len(stamped) {
	case 0:
		if !e.Creating.IsZero() {
			return fmt.Sprintf("none carries the stamp %s yet; an earlier create was interrupted at %s", nick, e.Creating.UTC().Format("2006-01-02T15:04:05Z"))
		}
		return fmt.Sprintf("none: no target group carries the stamp %s", nick)
	case 1:
		return fmt.Sprintf("target group %s (%q) carries the stamp %s, not recorded: a create adopts it", ids[0], stamped[0].Str(directory.PropDisplayName), nick)
	}
	return fmt.Sprintf("%d target groups carry the stamp %s (%s): remove all but one", len(ids), nick, strings.Join(ids, ", "))
}

// actionDetail is the action step's line: what the planner decided.
func actionDetail(a plan.GroupAction) string {
	s := string(a.Kind)
	if len(a.Add)+len(a.Remove) > 0 {
		s += fmt.Sprintf(" (+%d -%d members)", len(a.Add), len(a.Remove))
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}
