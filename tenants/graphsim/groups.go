package graphsim

import (
	"net/http"
	"strconv"
	"strings"
)

func renderGroup(g *group) obj {
	return obj{
		{"@odata.type", "#microsoft.graph.group"},
		{"id", g.id},
		{"displayName", g.displayName},
		{"description", nilIfEmpty(g.description)},
		{"mailNickname", g.mailNick},
		{"mailEnabled", false},
		{"securityEnabled", true},
		{"groupTypes", []string{}},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func listGroups(c *call) response {
	if e := c.queryOptions("$top", "$skiptoken", "$select"); e != nil {
		return c.fail(e)
	}
	top, e := parseTop(c, 100)
	if e != nil {
		return c.fail(e)
	}
	after, e := c.skipAfter("groups")
	if e != nil {
		return c.fail(e)
	}
	c.t.mu.RLock()
	defer c.t.mu.RUnlock()
	var page []any
	last, more := "", false
	for _, id := range c.t.gids {
		if id <= after {
			continue
		}
		if len(page) == top {
			more = true
			break
		}
		page = append(page, renderGroup(c.t.groups[id])[1:])
		last = id
	}
	if page == nil {
		page = []any{}
	}
	out := obj{{"@odata.context", c.contextURL("groups")}}
	if more {
		out = append(out, c.nextLink("groups", last, "/groups"))
	}
	out = append(out, kv{"value", page})
	return jsonResponse(http.StatusOK, out)
}

func getGroup(c *call) response {
	c.t.mu.RLock()
	defer c.t.mu.RUnlock()
	g := c.t.groups[c.params[0]]
	if g == nil {
		return c.fail(notFound(c.params[0]))
	}
	return jsonResponse(http.StatusOK, append(obj{{"@odata.context", c.contextURL("groups/$entity")}}, renderGroup(g)[1:]...))
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
		g := t.groups[c.params[0]]
		if g == nil {
			return c.fail(notFound(c.params[0]))
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
