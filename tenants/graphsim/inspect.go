package graphsim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// User is an in-process view of a simulated user. Attrs uses Graph
// property names; onPremisesExtensionAttributes are flattened as
// "extensionAttribute1".."extensionAttribute15" (only the set ones), and
// "manager" holds the manager's object ID, or nil.
type User struct {
	ID      string
	Attrs   map[string]any
	Deleted bool
}

// ErrNotFound is returned by the in-process API for unknown objects.
var ErrNotFound = errors.New("graphsim: object not found")

func (u *user) view() User {
	a := make(map[string]any, len(u.props)+4)
	for k, v := range u.props {
		switch x := v.(type) {
		case []string:
			a[k] = append([]string{}, x...)
		case map[string]any:
			for n, e := range x {
				if e != nil {
					a[n] = e
				}
			}
		case []map[string]any:
			cp := make([]map[string]any, len(x))
			for i, m := range x {
				cp[i] = map[string]any{}
				for mk, mv := range m {
					cp[i][mk] = mv
				}
			}
			a[k] = cp
		default:
			a[k] = v
		}
	}
	if u.manager != "" {
		a["manager"] = u.manager
	} else {
		a["manager"] = nil
	}
	return User{ID: u.id, Attrs: a, Deleted: !u.deletedAt.IsZero()}
}

// Users returns the live users, ordered by ID.
func (t *Tenant) Users() []User {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ids := t.liveIDs()
	out := make([]User, 0, len(ids))
	for _, id := range ids {
		out = append(out, t.users[id].view())
	}
	return out
}

// DeletedUsers returns the soft-deleted users, ordered by ID.
func (t *Tenant) DeletedUsers() []User {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []User
	for _, u := range t.sortedDeleted() {
		out = append(out, u.view())
	}
	return out
}

// User finds a live or soft-deleted user by object ID or UPN.
func (t *Tenant) User(idOrUPN string) (User, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if u := t.lookup(idOrUPN); u != nil {
		return u.view(), true
	}
	for _, u := range t.deleted {
		upn, _ := u.props["userPrincipalName"].(string)
		if u.id == idOrUPN || strings.EqualFold(upn, idOrUPN) {
			return u.view(), true
		}
	}
	return User{}, false
}

// UserCount is the number of live users.
func (t *Tenant) UserCount() int { return int(t.members.Load()) }

// splitAttrs turns flattened in-process attributes into a Graph body and
// the manager reference (hasMgr false when "manager" is absent).
func splitAttrs(attrs map[string]any) (body map[string]any, mgr string, hasMgr bool, err error) {
	body = make(map[string]any, len(attrs)+4)
	var ext map[string]any
	for k, v := range attrs {
		if n, ok := isExtAttrName(k); ok {
			if ext == nil {
				ext = map[string]any{}
			}
			ext[n] = v
			continue
		}
		if k == "manager" {
			hasMgr = true
			if v != nil {
				s, ok := v.(string)
				if !ok {
					return nil, "", false, fmt.Errorf("graphsim: manager must be an ID or UPN string")
				}
				mgr = s
			}
			continue
		}
		body[k] = v
	}
	if ext != nil {
		body["onPremisesExtensionAttributes"] = ext
	}
	return body, mgr, hasMgr, nil
}

// AddUser creates a user without HTTP (uncounted, no replication lag).
// Defaults: accountEnabled true, userType Member, mailNickname and
// userPrincipalName derived from displayName. Read-only properties such as
// creationType and externalUserState may be set, to craft guests.
func (t *Tenant) AddUser(attrs map[string]any) (string, error) {
	body, mgr, _, err := splitAttrs(attrs)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	dn, _ := body["displayName"].(string)
	if dn == "" {
		return "", fmt.Errorf("graphsim: AddUser needs a displayName")
	}
	if _, ok := body["mailNickname"]; !ok {
		if upn, ok := body["userPrincipalName"].(string); ok && strings.Contains(upn, "@") {
			body["mailNickname"] = strings.ReplaceAll(upn[:strings.LastIndex(upn, "@")], "#", "")
		} else {
			body["mailNickname"] = aliasOf(dn)
		}
	}
	if _, ok := body["userPrincipalName"]; !ok {
		body["userPrincipalName"] = body["mailNickname"].(string) + "@" + t.domain
	}
	if _, ok := body["accountEnabled"]; !ok {
		body["accountEnabled"] = true
	}
	if _, ok := body["userType"]; !ok {
		body["userType"] = "Member"
	}
	props, apiErr := t.validateUser(body, true, true, nil)
	if apiErr != nil {
		return "", fmt.Errorf("graphsim: AddUser: %s", apiErr.message)
	}
	var m *user
	if mgr != "" {
		if m = t.lookup(mgr); m == nil {
			return "", fmt.Errorf("graphsim: AddUser: manager %q: %w", mgr, ErrNotFound)
		}
	}
	u := t.newUser(props, t.s.now(), 0)
	if m != nil {
		t.setManager(u, m.id)
	}
	return u.id, nil
}

// UpdateUser changes properties without HTTP ("manager": ID, UPN or nil).
func (t *Tenant) UpdateUser(id string, attrs map[string]any) error {
	body, mgr, hasMgr, err := splitAttrs(attrs)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.lookup(id)
	if u == nil {
		return fmt.Errorf("graphsim: UpdateUser %s: %w", id, ErrNotFound)
	}
	props, apiErr := t.validateUser(body, false, true, u)
	if apiErr != nil {
		return fmt.Errorf("graphsim: UpdateUser: %s", apiErr.message)
	}
	if hasMgr {
		if mgr == "" {
			t.setManager(u, "")
		} else {
			m := t.lookup(mgr)
			if m == nil {
				return fmt.Errorf("graphsim: UpdateUser: manager %q: %w", mgr, ErrNotFound)
			}
			t.setManager(u, m.id)
		}
	}
	t.setProps(u, props)
	return nil
}

// SoftDelete moves a user to deleted items.
func (t *Tenant) SoftDelete(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.lookup(id)
	if u == nil {
		return fmt.Errorf("graphsim: SoftDelete %s: %w", id, ErrNotFound)
	}
	t.softDelete(u, t.s.now())
	return nil
}

// HardDelete removes a live or soft-deleted user for good.
func (t *Tenant) HardDelete(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.lookup(id)
	if u == nil {
		u = t.deleted[id]
	}
	if u == nil {
		return fmt.Errorf("graphsim: HardDelete %s: %w", id, ErrNotFound)
	}
	t.hardDelete(u)
	return nil
}

// Restore brings a soft-deleted user back.
func (t *Tenant) Restore(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.deleted[id]
	if u == nil {
		return fmt.Errorf("graphsim: Restore %s: %w", id, ErrNotFound)
	}
	if upn, _ := u.props["userPrincipalName"].(string); t.upns[strings.ToLower(upn)] != "" {
		return fmt.Errorf("graphsim: Restore %s: userPrincipalName %s is taken", id, upn)
	}
	t.restore(u)
	return nil
}

// Redeem marks a guest's invitation as accepted, as when the guest signs
// in for the first time.
func (t *Tenant) Redeem(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.lookup(id)
	if u == nil {
		return fmt.Errorf("graphsim: Redeem %s: %w", id, ErrNotFound)
	}
	mail, _ := u.props["mail"].(string)
	t.setProps(u, map[string]any{
		"externalUserState":               "Accepted",
		"externalUserStateChangeDateTime": t.s.now().UTC().Format("2006-01-02T15:04:05Z"),
		"identities":                      []map[string]any{{"signInType": "federated", "issuer": "ExternalAzureAD", "issuerAssignedId": mail}},
	})
	return nil
}

// AddGroup creates a security group with the given members (user IDs or
// UPNs, or group IDs) and returns its ID.
func (t *Tenant) AddGroup(displayName string, members ...string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := &group{id: t.newID(), displayName: displayName, mailNick: aliasOf(displayName)}
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		id, err := t.memberRef(m)
		if err != nil {
			return "", err
		}
		if !seen[id] {
			seen[id] = true
			g.members = append(g.members, id)
		}
	}
	t.addGroup(g)
	return g.id, nil
}

func (t *Tenant) memberRef(m string) (string, error) {
	if u := t.lookup(m); u != nil {
		return u.id, nil
	}
	if t.groups[m] != nil {
		return m, nil
	}
	for _, g := range t.groups {
		if strings.EqualFold(g.displayName, m) {
			return g.id, nil
		}
	}
	return "", fmt.Errorf("graphsim: member %q: %w", m, ErrNotFound)
}

// AddMember adds a user or group to a group.
func (t *Tenant) AddMember(groupID, member string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.groups[groupID]
	if g == nil {
		return fmt.Errorf("graphsim: group %s: %w", groupID, ErrNotFound)
	}
	id, err := t.memberRef(member)
	if err != nil {
		return err
	}
	if !slices.Contains(g.members, id) {
		t.joinGroup(g, id, t.gbump())
	}
	return nil
}

// RemoveMember removes a direct member from a group.
func (t *Tenant) RemoveMember(groupID, member string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.groups[groupID]
	if g == nil {
		return fmt.Errorf("graphsim: group %s: %w", groupID, ErrNotFound)
	}
	if !t.leaveGroup(g, member, t.gbump()) {
		return fmt.Errorf("graphsim: member %s: %w", member, ErrNotFound)
	}
	return nil
}

// GroupID finds a group by display name.
func (t *Tenant) GroupID(displayName string) (string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, id := range t.gids {
		if strings.EqualFold(t.groups[id].displayName, displayName) {
			return id, true
		}
	}
	return "", false
}

// Groups maps every group's ID to its display name.
func (t *Tenant) Groups() map[string]string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string]string{}
	for id, g := range t.groups {
		out[id] = g.displayName
	}
	return out
}

// Members lists a group's direct members, or all users and groups reachable
// through nesting (transitive), as object IDs.
func (t *Tenant) Members(groupID string, transitive bool) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	g := t.groups[groupID]
	if g == nil {
		return nil
	}
	return t.memberIDs(g, transitive)
}

// ExpireDeltaTokens invalidates every delta and skip token issued so far:
// their next use answers syncStateNotFound (400) or 410, per Options.
func (t *Tenant) ExpireDeltaTokens() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch++
}

// AddApp registers another app in the tenant with the given application
// permissions (none is allowed: every Graph call then answers 403).
func (t *Tenant) AddApp(perms ...string) (clientID, secret string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.registerApp(perms)
	return a.clientID, a.secret
}

// RemoveApp deletes an app registration; its tokens stop working (401).
func (t *Tenant) RemoveApp(clientID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mainApp.clientID != clientID {
		delete(t.apps, clientID)
	}
}
