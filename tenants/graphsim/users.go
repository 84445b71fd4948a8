package graphsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// pageToken is the state behind a $skiptoken of a plain collection.
type pageToken struct {
	T     string `json:"t"` // tenant ID
	R     string `json:"r"` // route
	After string `json:"a"` // last ID returned
}

func parseTop(c *call, def int) (int, *apiError) {
	raw := c.query.Get("$top")
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 999 {
		return 0, badRequest("Invalid page size specified: '" + raw + "'. Must be between 1 and 999 inclusive.")
	}
	return n, nil
}

// countOption validates $count. Without ConsistencyLevel: eventual Graph
// silently ignores $count=true: no error, no @odata.count, and the query
// is not advanced ("Advanced query capabilities on Microsoft Entra ID
// objects", https://learn.microsoft.com/graph/aad-advanced-queries, "Error
// handling for advanced queries").
func (c *call) countOption() (bool, *apiError) {
	raw, ok := c.query["$count"]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(raw[0]) {
	case "true":
		return strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual"), nil
	case "false":
		return false, nil
	}
	return false, badRequest("Invalid value for $count: '" + raw[0] + "'.")
}

// parseFilterFor parses $filter and enforces advanced-query requirements.
func (c *call) parseFilterFor() (*filterQuery, *apiError) {
	raw := c.query.Get("$filter")
	if raw == "" {
		return nil, nil
	}
	fq, err := parseFilter(raw)
	if err != nil {
		return nil, errf(http.StatusBadRequest, codeUnsupported, err.Error())
	}
	if fq.advanced != "" && !c.advanced() {
		return nil, errf(http.StatusBadRequest, codeUnsupported, fq.advanced)
	}
	return fq, nil
}

// skipAfter opens a $skiptoken for the given route.
func (c *call) skipAfter(routeName string) (string, *apiError) {
	raw := c.query.Get("$skiptoken")
	if raw == "" {
		return "", nil
	}
	var pt pageToken
	if !c.s.unseal(raw, &pt) || pt.T != c.t.id || pt.R != routeName {
		return "", badRequest("The $skiptoken is invalid or does not belong to this request.")
	}
	return pt.After, nil
}

// nextLink is the @odata.nextLink of a page of routeName at path that
// stopped after the given key; skipAfter reads the token back.
func (c *call) nextLink(routeName, after, path string) kv {
	tok := c.s.seal(pageToken{T: c.t.id, R: routeName, After: after})
	return kv{"@odata.nextLink", c.link(path, []string{"$skiptoken"}, "$skiptoken", tok)}
}

// matches says whether u passes the filter; no filter passes everyone.
func (fq *filterQuery) matches(u *user) bool {
	return fq == nil || fq.root.eval(u, nil)
}

func listUsers(c *call) response {
	if e := c.queryOptions("$select", "$filter", "$top", "$count", "$expand", "$skiptoken"); e != nil {
		return c.fail(e)
	}
	sel, e := parseSelect(c.query.Get("$select"), false)
	if e != nil {
		return c.fail(e)
	}
	if e := sel.parseExpand(c.query.Get("$expand")); e != nil {
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
	fq, e := c.parseFilterFor()
	if e != nil {
		return c.fail(e)
	}
	after, e := c.skipAfter("users")
	if e != nil {
		return c.fail(e)
	}
	t := c.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	// $filter lists and advanced queries read the lagging index.
	view := c.listView()
	var page []*user
	more := false
	view.eachMatch(fq, after, func(u *user) bool {
		if len(page) == top {
			more = true
			return false
		}
		page = append(page, u)
		return true
	})
	values := make([]any, len(page))
	for i, u := range page {
		values[i] = t.renderUser(u, sel, false)
	}
	out := obj{{"@odata.context", c.contextURL("users")}}
	if withCount {
		out = append(out, kv{"@odata.count", view.countUsers(fq)})
	}
	if more {
		out = append(out, c.nextLink("users", page[len(page)-1].id, "/users"))
	}
	out = append(out, kv{"value", values})
	return jsonResponse(http.StatusOK, out)
}

func countUsers(c *call) response {
	if !strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual") {
		// Graph's documented answer (aad-advanced-queries, "Error handling").
		return c.fail(badRequest("$count is not currently supported."))
	}
	if e := c.queryOptions("$filter"); e != nil {
		return c.fail(e)
	}
	raw := c.query.Get("$filter")
	var fq *filterQuery
	if raw != "" {
		var err error
		if fq, err = parseFilter(raw); err != nil {
			return c.fail(errf(http.StatusBadRequest, codeUnsupported, err.Error()))
		}
	}
	c.t.mu.RLock()
	n := c.listView().countUsers(fq) // always an advanced query: lagged
	c.t.mu.RUnlock()
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	return response{status: http.StatusOK, header: h, body: []byte(strconv.Itoa(n))}
}

// target finds the user addressed by the path, honouring replication lag
// and replica misses.
func (c *call) target() (*user, *apiError) {
	u := c.t.lookup(c.params[0])
	if u == nil {
		return nil, notFound(c.params[0])
	}
	if c.unreplicated(u) {
		return nil, c.replicaMissError(c.params[0])
	}
	return u, nil
}

func getUser(c *call) response {
	if e := c.queryOptions("$select", "$expand"); e != nil {
		return c.fail(e)
	}
	sel, e := parseSelect(c.query.Get("$select"), false)
	if e != nil {
		return c.fail(e)
	}
	if e := sel.parseExpand(c.query.Get("$expand")); e != nil {
		return c.fail(e)
	}
	c.t.mu.RLock()
	defer c.t.mu.RUnlock()
	u, e := c.target()
	if e != nil {
		return c.fail(e)
	}
	out := append(obj{{"@odata.context", c.contextURL("users/$entity")}}, c.t.renderUser(u, sel, false)...)
	return jsonResponse(http.StatusOK, out)
}

func createUser(c *call) response {
	body, e := decodeObject(c.body)
	if e != nil {
		return c.fail(e)
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	props, e := c.t.validateUser(body, true, false, nil)
	if e != nil {
		return c.fail(e)
	}
	if props["userType"] == nil {
		props["userType"] = "Member"
	}
	u := c.t.newUser(props, c.now, c.s.currentRealism().ReplicationLag)
	c.born(u)
	sel := &selection{props: defaultSelect}
	return c.createdResponse("users", u.id, c.t.renderUser(u, sel, false))
}

// createdResponse answers a create in collection ("users", "groups"): 201
// with the new object o and its Location.
func (c *call) createdResponse(collection, id string, o obj) response {
	out := append(obj{{"@odata.context", c.contextURL(collection + "/$entity")}}, o...)
	r := jsonResponse(http.StatusCreated, out)
	r.header.Set("Location", c.s.GraphURL()+"/"+collection+"/"+id)
	return r
}

func patchUser(c *call) response {
	body, e := decodeObject(c.body)
	if e != nil {
		return c.fail(e)
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	u, e := c.writeTarget()
	if e != nil {
		return c.fail(e)
	}
	props, e := c.t.validateUser(body, false, false, u)
	if e != nil {
		return c.fail(e)
	}
	c.t.setProps(u, props)
	return noContent()
}

func deleteUser(c *call) response {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	u, e := c.writeTarget()
	if e != nil {
		return c.fail(e)
	}
	c.t.softDelete(u, c.now)
	return noContent()
}

func getManager(c *call) response {
	if e := c.queryOptions("$select"); e != nil {
		return c.fail(e)
	}
	sel, e := parseSelect(c.query.Get("$select"), false)
	if e != nil {
		return c.fail(e)
	}
	c.t.mu.RLock()
	defer c.t.mu.RUnlock()
	u, e := c.target()
	if e != nil {
		return c.fail(e)
	}
	m := c.t.users[u.manager]
	if m == nil {
		return c.fail(notFound("manager"))
	}
	out := append(obj{{"@odata.context", c.contextURL("directoryObjects/$entity")}}, c.t.renderUser(m, sel, true)...)
	return jsonResponse(http.StatusOK, out)
}

func getManagerRef(c *call) response {
	c.t.mu.RLock()
	defer c.t.mu.RUnlock()
	u, e := c.target()
	if e != nil {
		return c.fail(e)
	}
	if c.t.users[u.manager] == nil {
		return c.fail(notFound("manager"))
	}
	return jsonResponse(http.StatusOK, obj{
		{"@odata.context", c.contextURL("$ref")},
		{"@odata.id", c.s.GraphURL() + "/directoryObjects/" + u.manager + "/Microsoft.DirectoryServices.User"},
	})
}

func putManager(c *call) response {
	var body map[string]any
	if err := json.Unmarshal(c.body, &body); err != nil || body == nil {
		return c.fail(badRequest("Unable to read JSON request payload."))
	}
	ref, _ := body["@odata.id"].(string)
	if ref == "" {
		return c.fail(badRequest("The request body must contain '@odata.id'."))
	}
	ref = strings.TrimRight(ref, "/")
	i := strings.LastIndex(ref, "/")
	refID := ref[i+1:]
	kind := ""
	if j := strings.LastIndex(ref[:max(i, 0)], "/"); j >= 0 {
		kind = strings.ToLower(ref[j+1 : i])
	}
	if i < 0 || (kind != "users" && kind != "directoryobjects") {
		return c.fail(badRequest("Invalid object identifier '" + ref + "'."))
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	u, e := c.writeTarget()
	if e != nil {
		return c.fail(e)
	}
	// The referenced manager is read from a replica too: a young one can
	// be missing (docs/graph-behaviour.md, msgraph-sdk-go#221).
	m := c.t.lookup(refID)
	if m == nil || c.unreplicated(m) {
		return c.fail(notFound(refID))
	}
	if m.id == u.id {
		return c.fail(badRequest("A user cannot be their own manager."))
	}
	c.t.setManager(u, m.id)
	return noContent()
}

func deleteManager(c *call) response {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	u, e := c.writeTarget()
	if e != nil {
		return c.fail(e)
	}
	if u.manager == "" {
		return c.fail(notFound("manager"))
	}
	c.t.setManager(u, "")
	return noContent()
}
