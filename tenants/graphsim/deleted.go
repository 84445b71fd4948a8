package graphsim

import (
	"net/http"
	"strings"
)

func (c *call) renderDeleted(u *user, sel *selection) obj {
	o := c.t.renderUser(u, sel, true)
	has := false
	for _, m := range o {
		if m.k == "deletedDateTime" {
			has = true
		}
	}
	if !has {
		o = append(o, kv{"deletedDateTime", u.props["deletedDateTime"]})
	}
	return o
}

func listDeleted(c *call) response {
	if e := c.queryOptions("$select", "$filter", "$top", "$skiptoken", "$count"); e != nil {
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
	fq, e := c.parseFilterFor()
	if e != nil {
		return c.fail(e)
	}
	after, e := c.skipAfter("deleted")
	if e != nil {
		return c.fail(e)
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	c.t.purgeExpired(c.now)
	var page []any
	var last string
	more := false
	// A $filter (or advanced) list of deleted items reads the lagging index
	// like /users does.
	var base []string
	for _, u := range c.t.sortedDeleted() {
		base = append(base, u.id)
	}
	c.listView().each(base, after, isDeleted, func(u *user) bool {
		if !fq.matches(u) {
			return true
		}
		if len(page) == top {
			more = true
			return false
		}
		page = append(page, c.renderDeleted(u, sel))
		last = u.id
		return true
	})
	if page == nil {
		page = []any{}
	}
	out := obj{{"@odata.context", c.contextURL("directoryObjects(microsoft.graph.user)")}}
	if more {
		out = append(out, c.nextLink("deleted", last, "/directory/deletedItems/microsoft.graph.user"))
	}
	out = append(out, kv{"value", page})
	return jsonResponse(http.StatusOK, out)
}

func (c *call) deletedTarget() (*user, *apiError) {
	c.t.purgeExpired(c.now)
	u := c.t.deleted[strings.ToLower(c.params[0])]
	if u == nil {
		u = c.t.deleted[c.params[0]]
	}
	// A user created moments ago and deleted at once can still be missing
	// from the replica serving deleted items.
	if u == nil || c.unreplicated(u) {
		return nil, notFound(c.params[0])
	}
	return u, nil
}

func getDeleted(c *call) response {
	if e := c.queryOptions("$select"); e != nil {
		return c.fail(e)
	}
	sel, e := parseSelect(c.query.Get("$select"), false)
	if e != nil {
		return c.fail(e)
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	u, e := c.deletedTarget()
	if e != nil {
		return c.fail(e)
	}
	out := append(obj{{"@odata.context", c.contextURL("directoryObjects/$entity")}}, c.renderDeleted(u, sel)...)
	return jsonResponse(http.StatusOK, out)
}

func restoreDeleted(c *call) response {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	u, e := c.deletedPrivTarget()
	if e != nil {
		return c.fail(e)
	}
	if upn, _ := u.props["userPrincipalName"].(string); upn != "" {
		if _, taken := c.t.upns[strings.ToLower(upn)]; taken {
			e := badRequest("Another object with the same value for property userPrincipalName already exists.")
			e.details = []map[string]string{{"code": "ObjectConflict", "target": "userPrincipalName"}}
			return c.fail(e)
		}
	}
	if e := c.t.addressConflict(heldAddresses(u), u); e != nil {
		return c.fail(e)
	}
	c.t.restore(u)
	out := append(obj{{"@odata.context", c.contextURL("directoryObjects/$entity")}}, c.t.renderUser(u, &selection{props: defaultSelect}, true)...)
	return jsonResponse(http.StatusOK, out)
}

func purgeDeleted(c *call) response {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	u, e := c.deletedPrivTarget()
	if e != nil {
		return c.fail(e)
	}
	c.t.hardDelete(u)
	return noContent()
}
