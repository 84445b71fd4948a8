package graphsim

import (
	"fmt"
	"slices"
	"strings"
)

// Group is an in-process view of a simulated security group.
type Group struct {
	ID           string
	DisplayName  string
	Description  string
	MailNickname string
	// Members are the direct members' object IDs (users and groups), in
	// the order they joined.
	Members []string
}

// AddGroupWith creates a security group without HTTP (uncounted, no
// replication lag) and returns its ID: DisplayName is required,
// MailNickname defaults to one derived from it, Members are user IDs or
// UPNs, group IDs or display names of existing groups. Like AddGroup, its
// groups reach $filter lists after Realism.IndexLag.
func (t *Tenant) AddGroupWith(g Group) (string, error) {
	if g.DisplayName == "" {
		return "", fmt.Errorf("graphsim: AddGroupWith needs a DisplayName")
	}
	nick := g.MailNickname
	if nick == "" {
		nick = aliasOf(g.DisplayName)
	}
	if !validNickname(nick) {
		return "", fmt.Errorf("graphsim: AddGroupWith: invalid mailNickname %q", nick)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ng := &group{id: t.newID(), displayName: g.DisplayName, mailNick: nick, description: g.Description}
	for _, m := range g.Members {
		id, err := t.memberRef(m)
		if err != nil {
			return "", err
		}
		if !slices.Contains(ng.members, id) {
			ng.members = append(ng.members, id)
		}
	}
	t.addGroup(ng)
	return ng.id, nil
}

// Group reads a group with its direct members.
func (t *Tenant) Group(id string) (Group, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	g := t.groups[id]
	if g == nil {
		return Group{}, false
	}
	return Group{ID: g.id, DisplayName: g.displayName, Description: g.description, MailNickname: g.mailNick,
		Members: slices.Clone(g.members)}, true
}

// GroupsByNickname lists the groups whose mailNickname is nick
// (case-insensitive), ordered by ID.
func (t *Tenant) GroupsByNickname(nick string) []Group {
	t.mu.RLock()
	var ids []string
	for _, id := range t.gids {
		if strings.EqualFold(t.groups[id].mailNick, nick) {
			ids = append(ids, id)
		}
	}
	t.mu.RUnlock()
	out := make([]Group, 0, len(ids))
	for _, id := range ids {
		if g, ok := t.Group(id); ok {
			out = append(out, g)
		}
	}
	return out
}

// UpdateGroup changes a group's displayName, description or mailNickname
// without HTTP (values are strings; "" or nil clears the description).
func (t *Tenant) UpdateGroup(id string, attrs map[string]any) error {
	gb, e := validateGroup(attrs, false)
	if e != nil {
		return fmt.Errorf("graphsim: UpdateGroup: %s", e.message)
	}
	if len(gb.binds) > 0 {
		return fmt.Errorf("graphsim: UpdateGroup: use AddMember for members")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.groups[id]
	if g == nil {
		return fmt.Errorf("graphsim: UpdateGroup %s: %w", id, ErrNotFound)
	}
	t.setGroupProps(g, gb.props)
	return nil
}

// DeleteGroup deletes a group for good, as Graph deletes a security
// group: it leaves the groups it was a member of, and groups delta reports
// it removed.
func (t *Tenant) DeleteGroup(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.groups[id]
	if g == nil {
		return fmt.Errorf("graphsim: DeleteGroup %s: %w", id, ErrNotFound)
	}
	t.removeGroup(g)
	return nil
}
