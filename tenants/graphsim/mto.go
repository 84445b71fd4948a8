package graphsim

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// This file holds the multi-tenant organisation (MTO) the simulated tenants
// belong to, for `ctsync init --from-mto` and `ctsync validate --online`:
//
//   - GET /tenantRelationships/multiTenantOrganization
//     (https://learn.microsoft.com/graph/api/multitenantorganization-get):
//     id (tenant-specific: the same MTO has another object ID in each
//     tenant), createdDateTime, displayName, description, state (active; a
//     tenant in no MTO reads state inactive and null properties, as the
//     page's second example shows). $select only. Application permission
//     MultiTenantOrganization.Read.All (higher: .ReadWrite.All).
//   - GET /tenantRelationships/multiTenantOrganization/tenants
//     (https://learn.microsoft.com/graph/api/multitenantorganization-list-tenants):
//     multiTenantOrganizationMember objects: tenantId, displayName,
//     addedDateTime, joinedDateTime, addedByTenantId, role (owner, member),
//     state (pending, active, removed), transitionDetails (desiredRole,
//     desiredState, status, details; null when nothing is in progress).
//     $select and $filter. MultiTenantOrganization.Read.All or
//     .ReadWrite.All (or Directory.Read.All, "returns all properties")
//     list every member; MultiTenantOrganization.ReadBasic.All lists only
//     the active ones with tenantId and displayName.
//   - GET /tenantRelationships/findTenantInformationByTenantId(tenantId='{id}')
//     (https://learn.microsoft.com/graph/api/tenantrelationship-findtenantinformationbytenantid):
//     tenantInformation (tenantId, displayName, defaultDomainName,
//     federationBrandName) of any tenant, which is how one tenant learns
//     another's domain. Application permission
//     CrossTenantInformation.ReadBasic.All. An unknown tenant answers 404.
//
// By default every simulated tenant is an active member of one MTO, the
// first tenant its owner. SetMTOMemberState, AddMTOMember and
// RemoveMTOMember change that for tests.

var (
	permReadMTO        = []string{"MultiTenantOrganization.Read.All", "MultiTenantOrganization.ReadWrite.All"}
	permReadMTOMembers = []string{"MultiTenantOrganization.Read.All", "MultiTenantOrganization.ReadWrite.All",
		"Directory.Read.All", PermReadMTOBasic}
	permTenantInfo = []string{"CrossTenantInformation.ReadBasic.All"}
)

// PermReadMTOBasic lists only the active members of the MTO, with their
// tenantId and displayName.
const PermReadMTOBasic = "MultiTenantOrganization.ReadBasic.All"

// MTO member states and roles.
const (
	MTOActive  = "active"
	MTOPending = "pending"
	MTORemoved = "removed"
	MTOOwner   = "owner"
	MTOMember  = "member"
)

func init() {
	add := func(path string, perms []string, h func(c *call) response) { addRoute(http.MethodGet, path, perms, h) }
	add("/tenantRelationships/multiTenantOrganization", permReadMTO, getMTO)
	add("/tenantRelationships/multiTenantOrganization/tenants", permReadMTOMembers, listMTOMembers)
	// The function call is one path segment; the handler parses it.
	add("/tenantRelationships/{id}", permTenantInfo, findTenantInformation)
}

// mtoOrg is the server's one MTO, shared by its tenants.
type mtoOrg struct {
	mu          sync.Mutex
	displayName string
	description string
	created     time.Time
	members     []*mtoMemberRec
}

type mtoMemberRec struct {
	tenantID, displayName, role, state, addedBy string
	added, joined                               time.Time // joined zero: null
}

// mtoInit guards the lazy creation of every server's MTO.
var mtoInit sync.Mutex

// mtoCreated is the MTO's creation time: fixed, so responses are the same
// from one run to the next.
var mtoCreated = time.Date(2024, 5, 26, 22, 5, 23, 0, time.UTC)

// org returns the server's MTO, created at first use with every tenant an
// active member and the first one its owner.
func (s *Server) org() *mtoOrg {
	mtoInit.Lock()
	defer mtoInit.Unlock()
	if len(s.tenants) == 0 {
		return &mtoOrg{}
	}
	if o := s.tenants[0].mto; o != nil {
		return o
	}
	owner := s.tenants[0]
	var names []string
	for _, t := range s.tenants {
		names = append(names, t.name)
	}
	o := &mtoOrg{
		displayName: owner.DisplayName() + " organization",
		description: "Simulated multitenant organization of " + strings.Join(names, ", "),
		created:     mtoCreated,
	}
	for i, t := range s.tenants {
		m := &mtoMemberRec{tenantID: t.id, displayName: t.DisplayName(), role: MTOMember, state: MTOActive,
			addedBy: owner.id, added: mtoCreated.Add(time.Duration(i) * time.Hour)}
		m.joined = m.added.Add(10 * time.Minute)
		if i == 0 {
			m.role, m.joined = MTOOwner, mtoCreated
		}
		o.members = append(o.members, m)
	}
	for _, t := range s.tenants {
		t.mto = o
	}
	return o
}

// DisplayName is the tenant's organisation name: its name with a capital
// ("Contoso").
func (t *Tenant) DisplayName() string {
	if t.name == "" {
		return ""
	}
	return strings.ToUpper(t.name[:1]) + t.name[1:]
}

// SetMTOMemberState sets the state (MTOActive, MTOPending or MTORemoved) of
// a member of the server's MTO, by tenant ID or name. A pending member has
// not joined (joinedDateTime null); a removed one is being removed
// (transitionDetails says so).
func (s *Server) SetMTOMemberState(tenant, state string) error {
	switch state {
	case MTOActive, MTOPending, MTORemoved:
	default:
		return fmt.Errorf("graphsim: SetMTOMemberState: state %q: want active, pending or removed", state)
	}
	id := s.tenantIDOf(tenant)
	o := s.org()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range o.members {
		if strings.EqualFold(m.tenantID, id) {
			m.state = state
			switch {
			case state == MTOPending:
				m.joined = time.Time{}
			case m.joined.IsZero():
				m.joined = m.added.Add(10 * time.Minute)
			}
			return nil
		}
	}
	return fmt.Errorf("graphsim: SetMTOMemberState: %s is not a member: %w", tenant, ErrNotFound)
}

// AddMTOMember adds a tenant the simulator does not host (only its ID and
// name are known) to the MTO as a member in state.
func (s *Server) AddMTOMember(tenantID, displayName, state string) error {
	if !guidRE.MatchString(tenantID) {
		return fmt.Errorf("graphsim: AddMTOMember: %q is not a tenant ID", tenantID)
	}
	o := s.org()
	o.mu.Lock()
	for _, m := range o.members {
		if strings.EqualFold(m.tenantID, tenantID) {
			o.mu.Unlock()
			return fmt.Errorf("graphsim: AddMTOMember: %s is already a member", tenantID)
		}
	}
	m := &mtoMemberRec{tenantID: strings.ToLower(tenantID), displayName: displayName, role: MTOMember, state: MTOActive,
		added: mtoCreated.Add(24 * time.Hour)}
	if len(o.members) > 0 {
		m.addedBy = o.members[0].tenantID
	}
	o.members = append(o.members, m)
	o.mu.Unlock()
	return s.SetMTOMemberState(tenantID, state)
}

// RemoveMTOMember takes a tenant (ID or name) out of the MTO altogether:
// a simulated tenant removed reads the MTO as inactive.
func (s *Server) RemoveMTOMember(tenant string) error {
	id := s.tenantIDOf(tenant)
	o := s.org()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, m := range o.members {
		if strings.EqualFold(m.tenantID, id) {
			o.members = slices.Delete(o.members, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("graphsim: RemoveMTOMember: %s is not a member: %w", tenant, ErrNotFound)
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// has reports whether the tenant is in the MTO's member list
// (in any state). The caller holds o.mu.
func (o *mtoOrg) has(tenantID string) bool {
	return slices.ContainsFunc(o.members, func(m *mtoMemberRec) bool { return m.tenantID == tenantID })
}

// getMTO is GET /tenantRelationships/multiTenantOrganization.
func getMTO(c *call) response {
	if e := c.queryOptions("$select"); e != nil {
		return c.fail(e)
	}
	o := c.s.org()
	o.mu.Lock()
	in := o.has(c.t.id)
	var body obj
	if in {
		h := sha256.Sum256([]byte("graphsim-mto:" + c.t.id))
		var idb [16]byte
		copy(idb[:], h[:16])
		body = obj{
			{"@odata.context", c.contextURL("tenantRelationships/multiTenantOrganization/$entity")},
			{"id", formatGUID(idb)},
			{"createdDateTime", o.created.UTC().Format(time.RFC3339)},
			{"displayName", o.displayName},
			{"description", o.description},
			{"state", "active"},
		}
	} else {
		// Not part of any multitenant organisation (the docs' second example).
		body = obj{
			{"@odata.context", c.contextURL("tenantRelationships/multiTenantOrganization/$entity")},
			{"createdDateTime", nil},
			{"displayName", nil},
			{"description", nil},
			{"state", "inactive"},
		}
	}
	o.mu.Unlock()
	sel, e := c.mtoSelect(body, "multiTenantOrganization")
	if e != nil {
		return c.fail(e)
	}
	return jsonResponse(http.StatusOK, sel)
}

var mtoFilterRE = regexp.MustCompile(`^\s*(tenantId|displayName|role|state)\s+eq\s+'((?:[^']|'')*)'\s*$`)

// listMTOMembers is GET /tenantRelationships/multiTenantOrganization/tenants.
// $filter takes one clause: tenantId, displayName, role or state eq 'value'.
func listMTOMembers(c *call) response {
	if e := c.queryOptions("$select", "$filter"); e != nil {
		return c.fail(e)
	}
	var fProp, fVal string
	if raw := c.query.Get("$filter"); raw != "" {
		m := mtoFilterRE.FindStringSubmatch(raw)
		if m == nil {
			return c.fail(badRequest("Invalid filter clause: the simulator supports one clause, tenantId, displayName, role or state eq 'value'."))
		}
		fProp, fVal = m[1], strings.ReplaceAll(m[2], "''", "'")
	}
	basic := !c.allowed(slices.DeleteFunc(slices.Clone(permReadMTOMembers), func(p string) bool { return p == PermReadMTOBasic }))
	o := c.s.org()
	o.mu.Lock()
	var items []any
	if o.has(c.t.id) {
		for _, m := range o.members {
			if basic && m.state != MTOActive {
				continue
			}
			r := renderMTOMember(m)
			if basic {
				r = obj{{"tenantId", m.tenantID}, {"displayName", m.displayName}}
			}
			if fProp != "" {
				v, _ := field(r, fProp).(string)
				if !strings.EqualFold(v, fVal) {
					continue
				}
			}
			items = append(items, r)
		}
	}
	o.mu.Unlock()
	if items == nil {
		items = []any{}
	}
	for i, it := range items {
		s, e := c.mtoSelect(it.(obj), "multiTenantOrganizationMember")
		if e != nil {
			return c.fail(e)
		}
		items[i] = s
	}
	return jsonResponse(http.StatusOK, obj{
		{"@odata.context", c.contextURL("tenantRelationships/multiTenantOrganization/tenants")},
		{"value", items},
	})
}

func renderMTOMember(m *mtoMemberRec) obj {
	var joined, transition any
	if !m.joined.IsZero() {
		joined = m.joined.UTC().Format(time.RFC3339)
	}
	if m.state == MTORemoved {
		transition = obj{{"desiredRole", m.role}, {"desiredState", MTORemoved}, {"status", "running"}, {"details", nil}}
	}
	var addedBy any
	if m.addedBy != "" {
		addedBy = m.addedBy
	}
	return obj{
		{"tenantId", m.tenantID},
		{"displayName", m.displayName},
		{"addedDateTime", m.added.UTC().Format(time.RFC3339)},
		{"joinedDateTime", joined},
		{"addedByTenantId", addedBy},
		{"role", m.role},
		{"state", m.state},
		{"transitionDetails", transition},
	}
}

// field returns the value of the member named k (any case), or nil.
func field(o obj, k string) any {
	for _, m := range o {
		if strings.EqualFold(m.k, k) {
			return m.v
		}
	}
	return nil
}

// mtoSelect applies $select: the named properties (any case) in the
// resource's order, the @odata annotations kept; an unknown name is a 400.
func (c *call) mtoSelect(o obj, typ string) (obj, *apiError) {
	raw := strings.TrimSpace(c.query.Get("$select"))
	if raw == "" {
		return o, nil
	}
	known := map[string][]string{
		"multiTenantOrganization":       {"id", "createdDateTime", "displayName", "description", "state"},
		"multiTenantOrganizationMember": {"tenantId", "displayName", "addedDateTime", "joinedDateTime", "addedByTenantId", "role", "state", "transitionDetails", "id"},
	}[typ]
	want := map[string]bool{}
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, f) }) {
			return nil, badRequest("Parsing OData Select and Expand failed: Could not find a property named '" + f + "' on type 'microsoft.graph." + typ + "'.")
		}
		want[strings.ToLower(f)] = true
	}
	var out obj
	for _, m := range o {
		if strings.HasPrefix(m.k, "@") || want[strings.ToLower(m.k)] {
			out = append(out, m)
		}
	}
	return out, nil
}

var tenantInfoRE = regexp.MustCompile(`^findTenantInformationByTenantId\(tenantId='([^']*)'\)$`)

// findTenantInformation is GET
// /tenantRelationships/findTenantInformationByTenantId(tenantId='{id}').
// Only the simulator's own tenants are known; members added with
// AddMTOMember answer 404 like an unknown tenant.
func findTenantInformation(c *call) response {
	m := tenantInfoRE.FindStringSubmatch(c.params[0])
	if m == nil {
		return c.fail(errf(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+c.params[0]+"'."))
	}
	if e := c.queryOptions("$select"); e != nil {
		return c.fail(e)
	}
	if !guidRE.MatchString(m[1]) {
		return c.fail(badRequest("Invalid tenantId '" + m[1] + "': a GUID is expected."))
	}
	var t *Tenant
	for _, x := range c.s.tenants {
		if strings.EqualFold(x.id, m[1]) {
			t = x
		}
	}
	if t == nil {
		return c.fail(notFound(m[1]))
	}
	return jsonResponse(http.StatusOK, obj{
		{"@odata.context", c.contextURL("microsoft.graph.tenantInformation")},
		{"tenantId", t.id},
		{"federationBrandName", nil},
		{"displayName", t.DisplayName()},
		{"defaultDomainName", t.domain},
	})
}

// tenantIDOf is the ID of a simulated tenant named tenant, or tenant
// itself (an ID of a tenant the simulator does not host).
func (s *Server) tenantIDOf(tenant string) string {
	if t := s.Tenant(tenant); t != nil {
		return t.id
	}
	return tenant
}
