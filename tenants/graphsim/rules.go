package graphsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// This file holds the tenant settings behind some of Graph's refusals:
// external collaboration settings (who may be invited), directory-role
// holders (who an app may not write without a privileged role) and the
// tenant's domains (GET /domains).

// RolePrivilegedAuthAdmin is the app "permission" that lets an app write
// users who hold an admin role. In Entra it is not an application
// permission but a directory role assigned to the app's service principal:
// "Delete a user" (https://learn.microsoft.com/graph/api/user-delete) says
// User.ReadWrite.All isn't enough to delete users with privileged
// administrative roles in app-only scenarios: the app needs a higher
// privileged administrator role ("Who can perform sensitive actions";
// Privileged Authentication Administrator covers every admin), and updates of such users
// fail the same way with 403 Authorization_RequestDenied (Microsoft Q&A
// 1611025, "Update-MgUser on privileged accounts"). The simulator models
// the role as a permission name that AddApp can grant; ctsync's default app
// does not hold it, on purpose.
const RolePrivilegedAuthAdmin = "Privileged Authentication Administrator"

// PermDeleteRestore is the least-privileged application permission of
// "Permanently delete an item (directory object)" and "Restore deleted
// item" for users (https://learn.microsoft.com/graph/api/directory-deleteditems-delete,
// .../directory-deleteditems-restore). Older pages listed User.ReadWrite.All
// for restore; the simulator, harsher, requires User.DeleteRestore.All for
// both.
const PermDeleteRestore = "User.DeleteRestore.All"

var (
	permDeleteRestore = []string{PermDeleteRestore}
	// permReadDomains: "List domains" (https://learn.microsoft.com/graph/api/domain-list):
	// least privileged Domain.Read.All; higher Domain.ReadWrite.All, Directory.Read.All.
	permReadDomains = []string{"Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All"}
)

// tenantRules are a tenant's settings; guarded by Tenant.mu.
type tenantRules struct {
	allowed []string        // lower-cased; non-empty: invitations only to these domains
	blocked []string        // lower-cased; invitations to these domains refused
	admins  map[string]bool // user IDs holding a directory (admin) role
	domains []domainRec     // domains beyond the initial one
}

type domainRec struct {
	name     string
	verified bool
}

// SetCollaboration sets the tenant's external collaboration settings
// ("Collaboration restrictions" in Entra): invitations only to the allowed
// domains, or to any domain but the blocked ones. Entra offers one list or
// the other, so giving both is an error; giving neither allows every domain.
// Domains match exactly: no subdomain or wildcard matching is modelled.
func (t *Tenant) SetCollaboration(allowed, blocked []string) error {
	if len(allowed) > 0 && len(blocked) > 0 {
		return fmt.Errorf("graphsim: SetCollaboration: an allow list or a deny list, not both")
	}
	low := func(l []string) []string {
		var out []string
		for _, d := range l {
			out = append(out, strings.ToLower(strings.TrimSpace(d)))
		}
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rules.allowed, t.rules.blocked = low(allowed), low(blocked)
	return nil
}

// AssignAdminRole gives a user a directory (admin) role. From then on
// PATCH, DELETE and manager/$ref writes on that user answer 403 unless the
// calling app holds RolePrivilegedAuthAdmin.
func (t *Tenant) AssignAdminRole(userID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.lookup(userID)
	if u == nil {
		return fmt.Errorf("graphsim: AssignAdminRole %s: %w", userID, ErrNotFound)
	}
	if t.rules.admins == nil {
		t.rules.admins = map[string]bool{}
	}
	t.rules.admins[u.id] = true
	return nil
}

// RemoveAdminRole takes a user's directory roles away.
func (t *Tenant) RemoveAdminRole(userID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.lookup(userID); u != nil {
		delete(t.rules.admins, u.id)
	}
}

// AddDomain adds a custom domain to the tenant, verified or not. A
// verified domain can be used in userPrincipalName and appears in GET
// /domains with isVerified true; an unverified one is listed only.
func (t *Tenant) AddDomain(name string, verified bool) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || !strings.Contains(name, ".") || strings.ContainsAny(name, "@/ ") {
		return fmt.Errorf("graphsim: AddDomain: invalid domain name %q", name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if name == t.domain {
		return nil
	}
	for i, d := range t.rules.domains {
		if d.name == name {
			t.rules.domains[i].verified = verified
			return nil
		}
	}
	t.rules.domains = append(t.rules.domains, domainRec{name: name, verified: verified})
	return nil
}

// verifiedDomain reports whether d is one of the tenant's verified domains
// (the initial domain always is). The caller holds t.mu.
func (t *Tenant) verifiedDomain(d string) bool {
	d = strings.ToLower(d)
	if d == t.domain {
		return true
	}
	return slices.ContainsFunc(t.rules.domains, func(x domainRec) bool { return x.verified && x.name == d })
}

// invitationBlocked returns the refusal of an invitation to email by the
// external collaboration settings, or nil. Graph's exact answer is not
// documented ("Allow or block invitations to B2B users from specific
// organizations", https://learn.microsoft.com/entra/external-id/allow-deny-list,
// only says the invitation is blocked). The simulator answers 400
// Request_BadRequest: the refusal is about this address and is permanent,
// so a client must park that one user, not retry it; a 403
// Authorization_RequestDenied would wrongly tell the client its app lacks a
// permission. The caller holds t.mu.
func (t *Tenant) invitationBlocked(email string) *apiError {
	domain := strings.ToLower(email[strings.LastIndex(email, "@")+1:])
	r := t.rules
	if (len(r.allowed) > 0 && !slices.Contains(r.allowed, domain)) || slices.Contains(r.blocked, domain) {
		return badRequest("The invitation to '" + email + "' was blocked: the domain '" + domain +
			"' is not allowed by this tenant's external collaboration settings (collaboration restrictions).")
	}
	return nil
}

// guardPrivileged refuses a write on a user who holds an admin role unless
// the app holds RolePrivilegedAuthAdmin (see there for the sources). The
// caller holds t.mu.
func (c *call) guardPrivileged(u *user) *apiError {
	if c.t.rules.admins[u.id] && !c.roles[RolePrivilegedAuthAdmin] {
		return errf(http.StatusForbidden, codeDenied, "Insufficient privileges to complete the operation.")
	}
	return nil
}

// renderDomain renders a domain resource (https://learn.microsoft.com/graph/api/resources/domain).
func renderDomain(name string, verified, isDefault, initial bool) obj {
	caps := []string{}
	if verified {
		caps = []string{"Email", "OfficeCommunicationsOnline"}
	}
	return obj{
		{"authenticationType", "Managed"},
		{"availabilityStatus", nil},
		{"id", name},
		{"isAdminManaged", true},
		{"isDefault", isDefault},
		{"isInitial", initial},
		{"isRoot", true},
		{"isVerified", verified},
		{"passwordNotificationWindowInDays", nil},
		{"passwordValidityPeriodInDays", nil},
		{"supportedServices", caps},
		{"state", nil},
	}
}

// tenantDomains renders every domain of the tenant, the initial (default)
// one first. The caller holds t.mu.
func (t *Tenant) tenantDomains() []obj {
	out := []obj{renderDomain(t.domain, true, true, true)}
	for _, d := range t.rules.domains {
		out = append(out, renderDomain(d.name, d.verified, false, false))
	}
	return out
}

// domainSelect applies $select to rendered domains: only the named
// properties (any case), in the resource's order; an unknown name is a 400
// as on users.
func (c *call) domainSelect(ds []obj) ([]obj, *apiError) {
	if e := c.queryOptions("$select"); e != nil {
		return nil, e
	}
	raw := strings.TrimSpace(c.query.Get("$select"))
	if raw == "" {
		return ds, nil
	}
	want := map[string]bool{}
	for _, f := range strings.Split(raw, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if !slices.ContainsFunc(ds[0], func(m kv) bool { return strings.ToLower(m.k) == f }) {
			return nil, badRequest("Parsing OData Select and Expand failed: Could not find a property named '" + f + "' on type 'microsoft.graph.domain'.")
		}
		want[f] = true
	}
	out := make([]obj, len(ds))
	for i, d := range ds {
		for _, m := range d {
			if want[strings.ToLower(m.k)] {
				out[i] = append(out[i], m)
			}
		}
	}
	return out, nil
}

// listDomains is GET /domains (https://learn.microsoft.com/graph/api/domain-list).
func listDomains(c *call) response {
	c.t.mu.RLock()
	defer c.t.mu.RUnlock()
	ds, e := c.domainSelect(c.t.tenantDomains())
	if e != nil {
		return c.fail(e)
	}
	return jsonResponse(http.StatusOK, obj{
		{"@odata.context", c.contextURL("domains")},
		{"value", ds},
	})
}

// getDomain is GET /domains/{id} (https://learn.microsoft.com/graph/api/domain-get);
// the id is the domain name.
func getDomain(c *call) response {
	c.t.mu.RLock()
	defer c.t.mu.RUnlock()
	for _, d := range c.t.tenantDomains() {
		if strings.EqualFold(d[2].v.(string), c.params[0]) {
			ds, e := c.domainSelect([]obj{d})
			if e != nil {
				return c.fail(e)
			}
			return jsonResponse(http.StatusOK, append(obj{{"@odata.context", c.contextURL("domains/$entity")}}, ds[0]...))
		}
	}
	return c.fail(notFound(c.params[0]))
}

// writeTarget is target for PATCH, DELETE and manager/$ref writes: it also
// refuses a user who holds an admin role (guardPrivileged).
func (c *call) writeTarget() (*user, *apiError) {
	u, e := c.target()
	if e != nil {
		return nil, e
	}
	if e := c.guardPrivileged(u); e != nil {
		return nil, e
	}
	return u, nil
}

// deletedPrivTarget is deletedTarget for restore and permanent delete: a
// deleted user who held an admin role needs the privileged role too. "In
// app-only scenarios, the User.ReadWrite.All application permission isn't
// enough privilege to restore deleted users with administrator roles"
// (Restore deleted item, https://learn.microsoft.com/graph/api/directory-deleteditems-restore);
// the simulator holds permanent delete to the same rule.
func (c *call) deletedPrivTarget() (*user, *apiError) {
	u, e := c.deletedTarget()
	if e != nil {
		return nil, e
	}
	if e := c.guardPrivileged(u); e != nil {
		return nil, e
	}
	return u, nil
}

// heldAddresses lists the SMTP addresses a user holds: mail, otherMails
// and the smtp proxyAddresses. Restoring a user whose addresses another
// live object took meanwhile fails with the proxyAddresses conflict: the
// MSOnline Restore-MsolUser needed -AutoReconcileProxyConflicts to drop
// them, and Graph v1.0's restore has no such option.
func heldAddresses(u *user) []string {
	var out []string
	if s, _ := u.props["mail"].(string); s != "" {
		out = append(out, s)
	}
	if l, _ := u.props["otherMails"].([]string); len(l) > 0 {
		out = append(out, l...)
	}
	l, _ := u.props["proxyAddresses"].([]string)
	for _, s := range l {
		if p, addr, ok := strings.Cut(s, ":"); ok && strings.EqualFold(p, "smtp") {
			out = append(out, addr)
		}
	}
	return out
}
