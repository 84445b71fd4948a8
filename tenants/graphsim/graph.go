package graphsim

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// call is one Graph operation: a top-level request or one $batch item.
type call struct {
	s       *Server
	t       *Tenant
	app     *app
	roles   map[string]bool
	method  string
	segs    []string // path segments after /v1.0, unescaped
	params  []string // values of {id} segments, in order
	query   url.Values
	header  http.Header
	body    []byte
	rid     string
	now     time.Time
	route   *route
	inBatch bool
}

// route is one Graph endpoint the simulator serves.
type route struct {
	method  string
	pattern []string // literal segments, or "{id}"
	name    string   // "GET /users/{id}" for stats
	perms   []string // any one of them suffices
	write   bool
	handle  func(c *call) response
}

var (
	permReadUsers  = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permWriteUsers = []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}
	permInvite     = []string{"User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
	permReadGroups = []string{"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	// Group writes (groups_write.go): creating a group also takes
	// Group.Create; adding and removing members also GroupMember.ReadWrite.All
	// (group: create, update, add member, remove member pages).
	permCreateGroups = []string{"Group.Create", PermWriteGroups, "Directory.ReadWrite.All"}
	permWriteGroups  = []string{PermWriteGroups, "Directory.ReadWrite.All"}
	permWriteMembers = []string{"GroupMember.ReadWrite.All", PermWriteGroups, "Directory.ReadWrite.All"}
)

// PermWriteGroups is the application permission of group writes (create,
// update, delete, members): ctsync's group sync needs it in the target.
const PermWriteGroups = "Group.ReadWrite.All"

var routes []*route

// addRoute registers a handler for method and path ("{id}" a segment
// matching anything) that needs one of perms; every file of the simulator
// registers its routes with it, from init.
func addRoute(method, path string, perms []string, h func(c *call) response) {
	r := &route{method: method, name: method + " " + path, perms: perms, handle: h}
	r.pattern = strings.Split(strings.Trim(path, "/"), "/")
	r.write = method != http.MethodGet
	routes = append(routes, r)
}

func init() {
	add := addRoute
	add("GET", "/users", permReadUsers, listUsers)
	add("POST", "/users", permWriteUsers, createUser)
	add("GET", "/users/$count", permReadUsers, countUsers)
	add("GET", "/users/delta", permReadUsers, usersDelta)
	add("GET", "/users/{id}", permReadUsers, getUser)
	add("PATCH", "/users/{id}", permWriteUsers, patchUser)
	add("DELETE", "/users/{id}", permWriteUsers, deleteUser)
	add("GET", "/users/{id}/manager", permReadUsers, getManager)
	add("GET", "/users/{id}/manager/$ref", permReadUsers, getManagerRef)
	add("PUT", "/users/{id}/manager/$ref", permWriteUsers, putManager)
	add("DELETE", "/users/{id}/manager/$ref", permWriteUsers, deleteManager)
	add("POST", "/invitations", permInvite, invite)
	add("GET", "/directory/deletedItems/microsoft.graph.user", permReadUsers, listDeleted)
	add("GET", "/directory/deletedItems/{id}", permReadUsers, getDeleted)
	add("GET", "/directory/deletedItems/{id}/microsoft.graph.user", permReadUsers, getDeleted)
	add("POST", "/directory/deletedItems/{id}/restore", permDeleteRestore, restoreDeleted)
	add("DELETE", "/directory/deletedItems/{id}", permDeleteRestore, purgeDeleted)
	add("GET", "/domains", permReadDomains, listDomains)
	add("GET", "/domains/{id}", permReadDomains, getDomain)
	add("GET", "/groups", permReadGroups, listGroups)
	add("POST", "/groups", permCreateGroups, createGroup)
	add("GET", "/groups/delta", permReadGroups, groupsDelta) // before /groups/{id}
	add("GET", "/groups/{id}", permReadGroups, getGroup)
	add("PATCH", "/groups/{id}", permWriteGroups, patchGroup)
	add("DELETE", "/groups/{id}", permWriteGroups, deleteGroup)
	add("POST", "/groups/{id}/members/$ref", permWriteMembers, addMemberRef)
	add("DELETE", "/groups/{id}/members/{id}/$ref", permWriteMembers, removeMemberRef)
	add("GET", "/groups/{id}/members", permReadGroups, groupMembers(false, false))
	add("GET", "/groups/{id}/members/microsoft.graph.user", permReadGroups, groupMembers(false, true))
	add("GET", "/groups/{id}/transitiveMembers", permReadGroups, groupMembers(true, false))
	add("GET", "/groups/{id}/transitiveMembers/microsoft.graph.user", permReadGroups, groupMembers(true, true))
}

// segAlias maps the spellings the SDKs use to one canonical segment:
// msgraph-sdk-go calls /users/delta() and /members/graph.user.
func segAlias(s string) string {
	switch s {
	case "delta()", "microsoft.graph.delta()", "microsoft.graph.delta":
		return "delta"
	case "graph.user":
		return "microsoft.graph.user"
	case "microsoft.graph.restore", "microsoft.graph.restore()", "restore()":
		return "restore"
	}
	return s
}

// splitPath turns an escaped path after /v1.0 into unescaped segments.
func splitPath(escaped string) ([]string, bool) {
	escaped = strings.Trim(escaped, "/")
	if escaped == "" {
		return nil, true
	}
	raw := strings.Split(escaped, "/")
	out := make([]string, len(raw))
	for i, r := range raw {
		u, err := url.PathUnescape(r)
		if err != nil {
			return nil, false
		}
		out[i] = segAlias(u)
	}
	return out, true
}

// match finds the route for a method and path; found reports whether the
// path exists under another method (405).
func match(method string, segs []string) (r *route, params []string, pathFound bool) {
	for _, rt := range routes {
		if len(rt.pattern) != len(segs) {
			continue
		}
		var ps []string
		ok := true
		for i, p := range rt.pattern {
			if p == "{id}" {
				if strings.HasPrefix(segs[i], "$") || segs[i] == "" {
					ok = false
					break
				}
				ps = append(ps, segs[i])
				continue
			}
			if !strings.EqualFold(p, segs[i]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		pathFound = true
		if rt.method == method {
			return rt, ps, true
		}
	}
	return nil, nil, pathFound
}

// serveGraph is the HTTP entry of Graph v1.0 requests.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	rid := s.newRequestID()
	clientRID := r.Header.Get("client-request-id")
	s.sleepLatency()
	now := s.now()
	t, a, roles, err := s.authenticate(r)
	if err != nil {
		s.stats.unauthorized()
		resp := jsonError(unauthorized(err.(errToken)), rid, now)
		resp.header.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		writeResponse(w, resp, rid, clientRID)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeResponse(w, jsonError(badRequest(err.Error()), rid, now), rid, clientRID)
		return
	}
	segs, ok := splitPath(strings.TrimPrefix(r.URL.EscapedPath(), "/v1.0"))
	if !ok {
		writeResponse(w, jsonError(badRequest("Invalid request path."), rid, now), rid, clientRID)
		return
	}
	query, qerr := url.ParseQuery(r.URL.RawQuery)
	if qerr != nil {
		writeResponse(w, jsonError(badRequest("Invalid query string."), rid, now), rid, clientRID)
		return
	}
	c := &call{s: s, t: t, app: a, roles: roles, method: r.Method, segs: segs, query: query,
		header: r.Header, body: body, rid: rid, now: now}
	if len(segs) == 1 && segs[0] == "$batch" {
		if r.Method != http.MethodPost {
			writeResponse(w, jsonError(errf(http.StatusMethodNotAllowed, codeBadRequest, "Specified HTTP method is not allowed for the request target."), rid, now), rid, clientRID)
			return
		}
		s.stats.route(t.name, "POST /$batch")
		writeResponse(w, s.batch(c), rid, clientRID)
		return
	}
	resp, fault := s.execute(c)
	switch fault {
	case faultReset, faultLostReset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		// HTTP/2 cannot be hijacked: abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	writeResponse(w, resp, rid, clientRID)
}

// execute runs one Graph operation through routing, permissions, stats,
// throttling, faults and its handler.
func (s *Server) execute(c *call) (response, faultKind) {
	r, params, found := match(c.method, c.segs)
	if r == nil {
		if found {
			return jsonError(errf(http.StatusMethodNotAllowed, codeBadRequest, "Specified HTTP method is not allowed for the request target."), c.rid, c.now), faultNone
		}
		seg := ""
		if len(c.segs) > 0 {
			seg = c.segs[len(c.segs)-1]
		}
		return jsonError(errf(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg+"'."), c.rid, c.now), faultNone
	}
	c.route, c.params = r, params
	if !c.allowed(r.perms) {
		s.stats.count(c.t.name, r.name, r.write, false)
		return jsonError(errf(http.StatusForbidden, codeDenied, "Insufficient privileges to complete the operation."), c.rid, c.now), faultNone
	}
	s.stats.count(c.t.name, r.name, r.write, r.name == "POST /invitations")
	rz := s.currentRealism()
	var thrHeaders http.Header
	if rz.Throttling {
		res := s.thr.charge(c, rz.Limits, rz.ThrottleFactor)
		thrHeaders = res.headers
		if res.throttled {
			s.stats.throttled(c.t.name)
			resp := jsonError(errf(http.StatusTooManyRequests, codeThrottled, "Too many requests."), c.rid, c.now)
			for k, v := range res.headers {
				resp.header[k] = v
			}
			return resp, faultNone
		}
	}
	fault := s.drawFault(rz, r.write, c.inBatch)
	if fault.before() {
		s.stats.fault(c.t.name)
		return faultResponse(fault, c), fault
	}
	resp := r.handle(c)
	for k, v := range thrHeaders {
		resp.header[k] = v
	}
	if fault != faultNone {
		// The write was applied; its answer is lost.
		s.stats.fault(c.t.name)
		return faultResponse(fault, c), fault
	}
	return resp, faultNone
}

func (c *call) allowed(perms []string) bool {
	for _, p := range perms {
		if c.roles[p] {
			return true
		}
	}
	return false
}

func jsonError(e *apiError, rid string, now time.Time) response {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return response{status: e.status, header: h, body: errorBody(e, rid, now)}
}

// fail renders an apiError for this call.
func (c *call) fail(e *apiError) response { return jsonError(e, c.rid, c.now) }
