package graphsim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// groupProps are the group properties the simulator serves, in the order
// Graph renders them; every security group has mailEnabled false,
// securityEnabled true and no groupTypes.
var groupProps = []string{"id", "createdDateTime", "description", "displayName", "groupTypes", "mailEnabled", "mailNickname", "securityEnabled"}

// groupPropFold maps a lower-cased property name to its spelling.
var groupPropFold = func() map[string]string {
	m := map[string]string{}
	for _, p := range groupProps {
		m[strings.ToLower(p)] = p
	}
	return m
}()

// parseGroupSelect parses $select of a group request: nil for every
// property. delta allows "members" (members@delta), reported in members.
func parseGroupSelect(raw string, delta bool) (props []string, members bool, e *apiError) {
	if strings.TrimSpace(raw) == "" {
		return nil, false, nil
	}
	want := map[string]bool{"id": true}
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.EqualFold(f, "members") {
			if !delta {
				return nil, false, badRequest("Parsing OData Select and Expand failed: 'members' is a navigation property; read /groups/{id}/members.")
			}
			members = true
			continue
		}
		p, ok := groupPropFold[strings.ToLower(f)]
		if !ok {
			return nil, false, badRequest("Parsing OData Select and Expand failed: Could not find a property named '" + f + "' on type 'microsoft.graph.group'.")
		}
		want[p] = true
	}
	for _, p := range groupProps {
		if want[p] {
			props = append(props, p)
		}
	}
	return props, members, nil
}

// groupValue is the value of one group property.
func groupValue(g *group, p string) any {
	switch p {
	case "id":
		return g.id
	case "createdDateTime":
		return nilIfEmpty(g.createdAt)
	case "description":
		return nilIfEmpty(g.description)
	case "displayName":
		return g.displayName
	case "groupTypes":
		return []string{}
	case "mailEnabled":
		return false
	case "mailNickname":
		return g.mailNick
	case "securityEnabled":
		return true
	}
	return nil
}

// renderGroupSel renders the selected properties (nil: all) of a group.
func renderGroupSel(g *group, props []string, withType bool) obj {
	if props == nil {
		props = groupProps
	}
	o := make(obj, 0, len(props)+1)
	if withType {
		o = append(o, kv{"@odata.type", "#microsoft.graph.group"})
	}
	for _, p := range props {
		o = append(o, kv{p, groupValue(g, p)})
	}
	return o
}

func renderGroup(g *group) obj { return renderGroupSel(g, nil, true) }

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// asUser presents a group's indexed properties to the $filter evaluator
// of filter.go, which reads users.
func (g *group) asUser() *user {
	return &user{id: g.id, props: map[string]any{"id": g.id, "displayName": g.displayName, "mailNickname": g.mailNick}}
}

// groupFilterable are the group properties $filter accepts here: eq and
// in on all three, startsWith on the two names. Anything else is refused
// rather than guessed at.
var groupFilterable = map[string]bool{"id": true, "displayName": true, "mailNickname": true}

func unsupportedGroupFilter(name string) *apiError {
	return errf(http.StatusBadRequest, codeUnsupported,
		"Unsupported or invalid query filter clause specified for property '"+name+"' of resource 'Group'.")
}

// checkGroupFilter accepts eq, in and startsWith on groupFilterable
// properties, joined by and/or.
func checkGroupFilter(n fnode) *apiError {
	operandOK := func(o operand) *apiError {
		if o.rvar || o.count || o.ext != "" || o.prop == nil || !groupFilterable[o.prop.name] {
			name := "?"
			if o.prop != nil {
				name = o.prop.name
			}
			return unsupportedGroupFilter(name)
		}
		return nil
	}
	switch x := n.(type) {
	case andNode:
		if e := checkGroupFilter(x.l); e != nil {
			return e
		}
		return checkGroupFilter(x.r)
	case orNode:
		if e := checkGroupFilter(x.l); e != nil {
			return e
		}
		return checkGroupFilter(x.r)
	case cmpNode:
		if x.op != "eq" || !x.lit.isStr {
			return unsupportedGroupFilter(x.o.prop.name)
		}
		return operandOK(x.o)
	case inNode:
		for _, l := range x.lits {
			if !l.isStr {
				return unsupportedGroupFilter(x.o.prop.name)
			}
		}
		return operandOK(x.o)
	case fnNode:
		if x.name != "startswith" || x.o.prop == nil || x.o.prop.name == "id" {
			return errf(http.StatusBadRequest, codeUnsupported, "Unsupported query: the function '"+x.name+"' is not supported on groups.")
		}
		return operandOK(x.o)
	case notNode:
		return errf(http.StatusBadRequest, codeUnsupported, "Operator 'not'"+advancedHint)
	}
	return errf(http.StatusBadRequest, codeUnsupported, "Unsupported query filter on groups.")
}

// parseGroupFilter parses $filter of GET /groups.
func (c *call) parseGroupFilter() (*filterQuery, *apiError) {
	raw := c.query.Get("$filter")
	if raw == "" {
		return nil, nil
	}
	fq, err := parseFilter(raw)
	if err != nil {
		return nil, errf(http.StatusBadRequest, codeUnsupported, strings.ReplaceAll(err.Error(), "microsoft.graph.user", "microsoft.graph.group"))
	}
	if e := checkGroupFilter(fq.root); e != nil {
		return nil, e
	}
	return fq, nil
}

func listGroups(c *call) response {
	if e := c.queryOptions("$top", "$skiptoken", "$select", "$filter", "$count"); e != nil {
		return c.fail(e)
	}
	props, _, e := parseGroupSelect(c.query.Get("$select"), false)
	if e != nil {
		return c.fail(e)
	}
	top, e := parseTop(c, 100)
	if e != nil {
		return c.fail(e)
	}
	withCount, e := c.countOption()
	if e != nil {
		return c.fail(e)
	}
	fq, e := c.parseGroupFilter()
	if e != nil {
		return c.fail(e)
	}
	after, e := c.skipAfter("groups")
	if e != nil {
		return c.fail(e)
	}
	t := c.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	// $filter lists and advanced queries read the lagging index.
	lag := c.s.currentRealism().IndexLag
	if !c.eventual() {
		lag = 0
	}
	view := t.groupsView(c.now, lag)
	var page []any
	last, more, count := "", false, 0
	start, _ := slices.BinarySearch(view.ids, after)
	if start < len(view.ids) && view.ids[start] == after {
		start++
	}
	if after == "" {
		start = 0
	}
	for _, id := range view.ids[start:] {
		g := view.get(id)
		if g == nil || (fq != nil && !fq.root.eval(g.asUser(), nil)) {
			continue
		}
		count++
		if len(page) == top {
			more = true
			if !withCount {
				break
			}
			continue
		}
		page = append(page, renderGroupSel(g, props, false))
		last = id
	}
	if page == nil {
		page = []any{}
	}
	out := obj{{"@odata.context", c.contextURL("groups")}}
	if withCount {
		if after != "" {
			// The count is of the whole collection, not of what follows.
			count = 0
			for _, id := range view.ids {
				if g := view.get(id); g != nil && (fq == nil || fq.root.eval(g.asUser(), nil)) {
					count++
				}
			}
		}
		out = append(out, kv{"@odata.count", count})
	}
	if more {
		out = append(out, c.nextLink("groups", last, "/groups"))
	}
	out = append(out, kv{"value", page})
	return jsonResponse(http.StatusOK, out)
}

// groupTarget finds the group addressed by the path, honouring
// replication lag and replica misses as for users. The caller holds t.mu.
func (c *call) groupTarget() (*group, *apiError) {
	id := c.params[0]
	g := c.t.groups[id]
	if g == nil {
		g = c.t.groups[strings.ToLower(id)]
	}
	if g == nil {
		return nil, notFound(id)
	}
	if c.groupUnreplicated(g) {
		return nil, c.replicaMissError(id)
	}
	return g, nil
}

// groupUnreplicated is unreplicated (consistency.go) for a group: a new
// group is missing from replicas exactly as a new user is.
func (c *call) groupUnreplicated(g *group) bool {
	return c.unreplicated(&user{id: g.id, visibleAt: g.visibleAt, bornAt: g.bornAt})
}

func getGroup(c *call) response {
	if e := c.queryOptions("$select"); e != nil {
		return c.fail(e)
	}
	props, _, e := parseGroupSelect(c.query.Get("$select"), false)
	if e != nil {
		return c.fail(e)
	}
	c.t.mu.RLock()
	defer c.t.mu.RUnlock()
	g, e := c.groupTarget()
	if e != nil {
		return c.fail(e)
	}
	return jsonResponse(http.StatusOK, append(obj{{"@odata.context", c.contextURL("groups/$entity")}}, renderGroupSel(g, props, false)...))
}

// memberIDs lists a group's direct members, or (transitive) every user and
// group reachable through nesting, each once, in breadth-first order.
func (t *Tenant) memberIDs(g *group, transitive bool) []string {
	if !transitive {
		return append([]string(nil), g.members...)
	}
	seen := map[string]bool{g.id: true}
	var out []string
	queue := []*group{g}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, m := range cur.members {
			if seen[m] {
				continue
			}
			seen[m] = true
			out = append(out, m)
			if sub := t.groups[m]; sub != nil {
				queue = append(queue, sub)
			}
		}
	}
	return out
}

// groupMembers serves /members and /transitiveMembers, optionally cast to
// users (/microsoft.graph.user).
func groupMembers(transitive, usersOnly bool) func(c *call) response {
	return func(c *call) response {
		if e := c.queryOptions("$select", "$top", "$skiptoken"); e != nil {
			return c.fail(e)
		}
		sel, e := parseSelect(c.query.Get("$select"), false)
		if e != nil {
			return c.fail(e)
		}
		top, e := parseTop(c, 100)
		if e != nil {
			return c.fail(e)
		}
		routeKey := c.route.name + "/" + c.params[0]
		after, e := c.skipAfter(routeKey)
		if e != nil {
			return c.fail(e)
		}
		offset := 0
		if after != "" {
			offset, _ = strconv.Atoi(after)
		}
		t := c.t
		t.mu.RLock()
		defer t.mu.RUnlock()
		g, e := c.groupTarget()
		if e != nil {
			return c.fail(e)
		}
		var objs []obj
		for _, id := range t.memberIDs(g, transitive) {
			if u := t.users[id]; u != nil {
				objs = append(objs, t.renderUser(u, sel, true))
			} else if sg := t.groups[id]; sg != nil && !usersOnly {
				objs = append(objs, renderGroup(sg))
			}
		}
		if offset > len(objs) {
			offset = len(objs)
		}
		end := min(offset+top, len(objs))
		page := make([]any, 0, end-offset)
		for _, o := range objs[offset:end] {
			page = append(page, o)
		}
		ctx := "directoryObjects"
		if usersOnly {
			ctx = "users"
		}
		out := obj{{"@odata.context", c.contextURL(ctx)}}
		if end < len(objs) {
			out = append(out, c.nextLink(routeKey, strconv.Itoa(end), "/"+strings.Join(c.segs, "/")))
		}
		out = append(out, kv{"value", page})
		return jsonResponse(http.StatusOK, out)
	}
}
