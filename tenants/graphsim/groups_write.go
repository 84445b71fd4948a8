package graphsim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Group writes: create, update (with members@odata.bind), delete, and
// members/$ref. Sources: "Create group", "Update group", "Delete group",
// "Add members", "Remove member" (learn.microsoft.com/graph/api/group-*).
// ctsync creates security groups only, so the simulator refuses any other
// kind; a security group is deleted for good (only Microsoft 365 groups go
// to deleted items).

// memberMark is a member's last membership change in a group after the
// group's creation, for members@delta.
type memberMark struct {
	seq     uint64
	removed bool
	group   bool // the member is a group (else a user)
}

// maxBind is how many members one members@odata.bind may add.
const maxBind = 20

const errAlreadyMember = "One or more added object references already exist for the following modified properties: 'members'."

func (t *Tenant) gbump() uint64 {
	t.gseq++
	return t.gseq
}

// joinGroup adds id to g's direct members at sequence seq; false when it
// was one already.
func (t *Tenant) joinGroup(g *group, id string, seq uint64) bool {
	if slices.Contains(g.members, id) {
		return false
	}
	g.members = append(g.members, id)
	t.markMember(g, id, seq, false)
	return true
}

// leaveGroup removes id from g's direct members; false when it was none.
func (t *Tenant) leaveGroup(g *group, id string, seq uint64) bool {
	i := slices.Index(g.members, id)
	if i < 0 {
		return false
	}
	g.members = slices.Delete(g.members, i, i+1)
	t.markMember(g, id, seq, true)
	return true
}

func (t *Tenant) markMember(g *group, id string, seq uint64, removed bool) {
	if g.marks == nil {
		g.marks = map[string]memberMark{}
	}
	_, isGroup := t.groups[id]
	g.marks[id] = memberMark{seq: seq, removed: removed, group: isGroup}
}

// setGroupProps applies validated property changes at one new sequence;
// values that do not change record nothing.
func (t *Tenant) setGroupProps(g *group, props map[string]string) {
	var seq uint64
	for _, k := range []string{"displayName", "description", "mailNickname"} {
		v, ok := props[k]
		if !ok {
			continue
		}
		cur := &g.displayName
		switch k {
		case "description":
			cur = &g.description
		case "mailNickname":
			cur = &g.mailNick
		}
		if *cur == v {
			continue
		}
		if seq == 0 {
			seq = t.gbump()
			t.groupIndexBefore(g, false)
		}
		*cur = v
		if g.seqs == nil {
			g.seqs = map[string]uint64{}
		}
		g.seqs[k] = seq
	}
}

// removeGroup deletes g for good: it leaves the groups it was a member of,
// and groups delta reports it removed.
func (t *Tenant) removeGroup(g *group) {
	t.groupIndexBefore(g, false)
	t.dropMemberships(g.id) // while it is still known as a group
	delete(t.groups, g.id)
	if i, found := slices.BinarySearch(t.gids, g.id); found {
		t.gids = slices.Delete(t.gids, i, i+1)
	}
	if t.gtombs == nil {
		t.gtombs = map[string]uint64{}
	}
	t.gtombs[g.id] = t.gbump()
}

// validNickname applies Graph's mailNickname rules: 1 to 64 ASCII
// characters, none of @ ( ) \ [ ] " ; : < > , or space (nor a control
// character).
func validNickname(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`@()\[]";:<>,`, c) >= 0 {
			return false
		}
	}
	return true
}

func invalidGroupValue(name string) *apiError {
	return badRequest(fmt.Sprintf("Invalid value specified for property '%s' of resource 'Group'.", name))
}

// groupBody is a validated POST or PATCH body.
type groupBody struct {
	props map[string]string // displayName, description ("" clears), mailNickname
	binds []string          // members@odata.bind references (PATCH)
}

// validateGroup checks a group body: create for POST /groups (which must
// make a security group), else PATCH.
func validateGroup(body map[string]any, create bool) (*groupBody, *apiError) {
	out := &groupBody{props: map[string]string{}}
	for k, v := range body {
		switch k {
		case "@odata.type":
			if s, _ := v.(string); !strings.EqualFold(strings.TrimPrefix(s, "#"), "microsoft.graph.group") {
				return nil, badRequest(fmt.Sprintf("Invalid @odata.type '%v' for a group.", v))
			}
		case "displayName":
			s, ok := v.(string)
			if !ok || strings.TrimSpace(s) == "" || len([]rune(s)) > 256 {
				return nil, invalidGroupValue(k)
			}
			out.props[k] = s
		case "description":
			switch s := v.(type) {
			case nil:
				out.props[k] = ""
			case string:
				if len([]rune(s)) > 1024 {
					return nil, invalidGroupValue(k)
				}
				out.props[k] = s
			default:
				return nil, invalidGroupValue(k)
			}
		case "mailNickname":
			s, ok := v.(string)
			if !ok || !validNickname(s) {
				return nil, invalidGroupValue(k)
			}
			out.props[k] = s
		case "mailEnabled", "securityEnabled", "groupTypes":
			if !create {
				return nil, badRequest(fmt.Sprintf("Property '%s' cannot be changed on a security group (simulator).", k))
			}
			if e := checkSecurityKind(k, v); e != nil {
				return nil, e
			}
		case "members@odata.bind":
			if create {
				return nil, badRequest("Property 'members@odata.bind' is not supported on POST /groups by the simulator: add members after the create.")
			}
			list, ok := v.([]any)
			if !ok {
				return nil, badRequest("The value of 'members@odata.bind' must be an array of object references.")
			}
			if len(list) > maxBind {
				return nil, badRequest(fmt.Sprintf("At most %d members can be added in one request; %d were given.", maxBind, len(list)))
			}
			for _, x := range list {
				s, ok := x.(string)
				if !ok {
					return nil, badRequest("The value of 'members@odata.bind' must be an array of object references.")
				}
				out.binds = append(out.binds, s)
			}
		case "id", "createdDateTime", "deletedDateTime", "mail", "proxyAddresses", "renewedDateTime", "securityIdentifier",
			"onPremisesSyncEnabled", "visibility", "isAssignableToRole", "membershipRule", "membershipRuleProcessingState":
			return nil, badRequest(fmt.Sprintf("Property '%s' is read-only or not supported on security groups by the simulator.", k))
		default:
			if strings.Contains(k, "@") {
				return nil, badRequest(fmt.Sprintf("Property annotation '%s' is not supported on this request.", k))
			}
			return nil, badRequest(fmt.Sprintf("Property '%s' does not exist as a declared property or extension property.", k))
		}
	}
	if create {
		for _, req := range []string{"displayName", "mailNickname", "mailEnabled", "securityEnabled"} {
			if _, ok := body[req]; !ok {
				return nil, badRequest(fmt.Sprintf("Property '%s' is required when creating the object.", req))
			}
		}
	}
	return out, nil
}

// checkSecurityKind accepts only the values of a security group:
// mailEnabled false, securityEnabled true, groupTypes empty.
func checkSecurityKind(k string, v any) *apiError {
	switch k {
	case "mailEnabled":
		if b, ok := v.(bool); !ok || b {
			return badRequest("The simulator creates security groups only: mailEnabled must be false (mail-enabled groups are Microsoft 365 or distribution groups).")
		}
	case "securityEnabled":
		if b, ok := v.(bool); !ok || !b {
			return badRequest("The simulator creates security groups only: securityEnabled must be true.")
		}
	case "groupTypes":
		if l, ok := v.([]any); !ok || len(l) != 0 {
			return badRequest("The simulator creates security groups only: groupTypes must be empty (\"Unified\" makes a Microsoft 365 group, \"DynamicMembership\" a dynamic one).")
		}
	}
	return nil
}

// parseRef reads an object reference: .../directoryObjects/{id},
// .../users/{id} or .../groups/{id}, an absolute https URL.
func parseRef(ref string) (kind, id string, ok bool) {
	if !strings.HasPrefix(strings.ToLower(ref), "https://") {
		return "", "", false
	}
	parts := strings.Split(strings.TrimRight(ref, "/"), "/")
	if len(parts) < 5 {
		return "", "", false
	}
	kind, id = strings.ToLower(parts[len(parts)-2]), strings.ToLower(parts[len(parts)-1])
	switch kind {
	case "directoryobjects", "users", "groups":
	default:
		return "", "", false
	}
	return kind, id, id != ""
}

// refMember resolves a reference to a member-to-be: 404 when it does not
// exist, or not on the replica that answered (a young user or group).
func (c *call) refMember(ref string) (string, *apiError) {
	kind, id, ok := parseRef(ref)
	if !ok {
		return "", badRequest("Invalid object identifier '" + ref + "'.")
	}
	t := c.t
	if kind != "groups" {
		if u := t.users[id]; u != nil {
			if c.unreplicated(u) {
				return "", notFound(id)
			}
			return u.id, nil
		}
	}
	if kind != "users" {
		if g := t.groups[id]; g != nil {
			if c.groupUnreplicated(g) {
				return "", notFound(id)
			}
			return g.id, nil
		}
	}
	return "", notFound(id)
}

func createGroup(c *call) response {
	gb, e := c.groupBody(true)
	if e != nil {
		return c.fail(e)
	}
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	g := &group{id: t.newID(), displayName: gb.props["displayName"], mailNick: gb.props["mailNickname"],
		description: gb.props["description"], createdAt: c.now.UTC().Format(time.RFC3339),
		visibleAt: c.now.Add(c.s.currentRealism().ReplicationLag), bornAt: c.now}
	t.addGroup(g)
	return c.createdResponse("groups", g.id, renderGroupSel(g, nil, false))
}

func patchGroup(c *call) response {
	gb, e := c.groupBody(false)
	if e != nil {
		return c.fail(e)
	}
	return c.writeGroup(func(t *Tenant, g *group) response {
		// Every reference is checked before anything is written: one bad
		// or existing member fails the whole request.
		var add []string
		for _, ref := range gb.binds {
			id, e := c.newMember(g, ref, add)
			if e != nil {
				return c.fail(e)
			}
			add = append(add, id)
		}
		t.setGroupProps(g, gb.props)
		if len(add) > 0 {
			seq := t.gbump()
			for _, id := range add {
				t.joinGroup(g, id, seq)
			}
		}
		return noContent()
	})
}

func deleteGroup(c *call) response {
	return c.writeGroup(func(t *Tenant, g *group) response {
		t.removeGroup(g)
		return noContent()
	})
}

func addMemberRef(c *call) response {
	body, e := decodeObject(c.body)
	if e != nil {
		return c.fail(e)
	}
	ref, _ := body["@odata.id"].(string)
	if ref == "" {
		return c.fail(badRequest("The request body must contain '@odata.id'."))
	}
	for k := range body {
		if k != "@odata.id" {
			return c.fail(badRequest(fmt.Sprintf("Property '%s' is not allowed in a $ref body.", k)))
		}
	}
	return c.writeGroup(func(t *Tenant, g *group) response {
		id, e := c.newMember(g, ref, nil)
		if e != nil {
			return c.fail(e)
		}
		t.joinGroup(g, id, t.gbump())
		return noContent()
	})
}

func removeMemberRef(c *call) response {
	return c.writeGroup(func(t *Tenant, g *group) response {
		id := strings.ToLower(c.params[1])
		if !slices.Contains(g.members, id) {
			return c.fail(notFound(c.params[1]))
		}
		t.leaveGroup(g, id, t.gbump())
		return noContent()
	})
}

// groupBody decodes and validates the request's group body: create for
// POST /groups, else PATCH.
func (c *call) groupBody(create bool) (*groupBody, *apiError) {
	body, e := decodeObject(c.body)
	if e != nil {
		return nil, e
	}
	return validateGroup(body, create)
}

// writeGroup runs fn on the group the path names (groupTarget), under
// t.mu for writing.
func (c *call) writeGroup(fn func(t *Tenant, g *group) response) response {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	g, e := c.groupTarget()
	if e != nil {
		return c.fail(e)
	}
	return fn(t, g)
}

// newMember resolves ref to a new member of g (refMember), which is
// neither g itself nor one of its members or of adding. The caller holds
// t.mu.
func (c *call) newMember(g *group, ref string, adding []string) (string, *apiError) {
	id, e := c.refMember(ref)
	if e != nil {
		return "", e
	}
	if id == g.id {
		return "", badRequest("A group cannot be a member of itself.")
	}
	if slices.Contains(g.members, id) || slices.Contains(adding, id) {
		return "", badRequest(errAlreadyMember)
	}
	return id, nil
}
