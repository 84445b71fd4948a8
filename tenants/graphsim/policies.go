package graphsim

import (
	"fmt"
	"net/http"
	"strings"
)

// This file holds the tenant policies Graph exposes under /policies that
// decide whether invitations can work, for `ctsync validate --online`:
//
//   - GET /policies/authorizationPolicy (https://learn.microsoft.com/graph/api/authorizationpolicy-get):
//     allowInvitesFrom (none, adminsAndGuestInviters,
//     adminsGuestInvitersAndAllMembers, everyone; everyone is the default
//     outside the US Government clouds). Application permission
//     Policy.Read.All (higher: Policy.ReadWrite.Authorization).
//   - GET /policies/crossTenantAccessPolicy/default and
//     GET /policies/crossTenantAccessPolicy/partners/{tenantId}
//     (https://learn.microsoft.com/graph/api/crosstenantaccesspolicyconfigurationdefault-get,
//     .../crosstenantaccesspolicyconfigurationpartner-get): b2bCollaborationInbound
//     (usersAndGroups and applications, each allowed or blocked for a list
//     of targets, AllUsers / AllApplications meaning everyone) and
//     automaticUserConsentSettings.inboundAllowed (invitations from that
//     tenant are redeemed automatically). In the default configuration
//     inboundAllowed is always false (read-only); a partner's null fields
//     inherit the default. A tenant without a partner configuration answers
//     404. Application permission Policy.Read.All (higher:
//     Policy.ReadWrite.CrossTenantAccess).
//
// The simulator enforces none of these on POST /invitations (SetCollaboration
// is what refuses invitations there); they are read-only facts tests set.

// AllowInvitesFrom values of the authorization policy.
const (
	InvitesFromNone                 = "none"
	InvitesFromAdminsAndGuestInvite = "adminsAndGuestInviters"
	InvitesFromAdminsInvitersMember = "adminsGuestInvitersAndAllMembers"
	InvitesFromEveryone             = "everyone"
)

var (
	permReadAuthzPolicy      = []string{"Policy.Read.All", "Policy.ReadWrite.Authorization"}
	permReadCrossTenantAcces = []string{"Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"}
)

func init() {
	add := func(path string, perms []string, h func(c *call) response) { addRoute(http.MethodGet, path, perms, h) }
	add("/policies/authorizationPolicy", permReadAuthzPolicy, getAuthorizationPolicy)
	add("/policies/crossTenantAccessPolicy/default", permReadCrossTenantAcces, getCrossTenantDefault)
	add("/policies/crossTenantAccessPolicy/partners/{id}", permReadCrossTenantAcces, getCrossTenantPartner)
}

// CrossTenantAccess is a cross-tenant access configuration's inbound B2B
// collaboration part, as tests set it.
type CrossTenantAccess struct {
	// InboundUsers is b2bCollaborationInbound.usersAndGroups.accessType
	// for AllUsers: "allowed" or "blocked"; "" leaves the setting null (a
	// partner then inherits the default's).
	InboundUsers string
	// InboundApplications is b2bCollaborationInbound.applications.accessType
	// for AllApplications, likewise.
	InboundApplications string
	// AutoRedeem is automaticUserConsentSettings.inboundAllowed; nil is
	// null (inherits the default, which is always false).
	AutoRedeem *bool
}

// tenantPolicies are a tenant's policies; guarded by Tenant.mu. The zero
// value is the simulator's default: invitations from everyone, B2B
// collaboration inbound allowed for all users and applications, and every
// other simulated tenant a partner whose invitations are redeemed
// automatically (a multi-tenant organisation set up for cross-tenant
// sync).
type tenantPolicies struct {
	allowInvitesFrom string                        // "" means everyone
	def              *CrossTenantAccess            // nil: allowed, allowed
	partners         map[string]*CrossTenantAccess // tenant ID -> config; a nil value: no partner configuration
}

// SetAuthorizationPolicy sets the authorization policy's allowInvitesFrom
// (one of the InvitesFrom constants).
func (t *Tenant) SetAuthorizationPolicy(allowInvitesFrom string) error {
	switch allowInvitesFrom {
	case InvitesFromNone, InvitesFromAdminsAndGuestInvite, InvitesFromAdminsInvitersMember, InvitesFromEveryone:
	default:
		return fmt.Errorf("graphsim: SetAuthorizationPolicy: unknown allowInvitesFrom %q", allowInvitesFrom)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.policies.allowInvitesFrom = allowInvitesFrom
	return nil
}

// SetCrossTenantDefault sets the default cross-tenant access
// configuration's inbound B2B collaboration. AutoRedeem is ignored: Graph
// keeps it false in the default configuration.
func (t *Tenant) SetCrossTenantDefault(c CrossTenantAccess) error {
	if err := c.check(false); err != nil {
		return err
	}
	c.AutoRedeem = nil
	t.mu.Lock()
	defer t.mu.Unlock()
	t.policies.def = &c
	return nil
}

// SetCrossTenantPartner sets the partner configuration for partnerTenantID
// (any tenant ID, simulated or not); nil removes it, so that GET answers
// 404 and the default applies.
func (t *Tenant) SetCrossTenantPartner(partnerTenantID string, c *CrossTenantAccess) error {
	if c != nil {
		if err := c.check(true); err != nil {
			return err
		}
		cp := *c
		c = &cp
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.policies.partners == nil {
		t.policies.partners = map[string]*CrossTenantAccess{}
	}
	t.policies.partners[strings.ToLower(partnerTenantID)] = c
	return nil
}

func (c CrossTenantAccess) check(nullable bool) error {
	for _, v := range []string{c.InboundUsers, c.InboundApplications} {
		switch {
		case v == "allowed" || v == "blocked":
		case v == "" && nullable:
		default:
			return fmt.Errorf("graphsim: cross-tenant access type %q: want allowed or blocked", v)
		}
	}
	return nil
}

// partner returns the partner configuration for id and whether one
// exists. The caller holds t.mu.
func (t *Tenant) partner(id string) (CrossTenantAccess, bool) {
	id = strings.ToLower(id)
	if c, set := t.policies.partners[id]; set {
		if c == nil {
			return CrossTenantAccess{}, false
		}
		return *c, true
	}
	if o := t.s.byKey[id]; o != nil && o != t && o.id == id {
		yes := true
		return CrossTenantAccess{AutoRedeem: &yes}, true
	}
	return CrossTenantAccess{}, false
}

func getAuthorizationPolicy(c *call) response {
	if e := c.queryOptions("$select"); e != nil {
		return c.fail(e)
	}
	c.t.mu.RLock()
	from := c.t.policies.allowInvitesFrom
	c.t.mu.RUnlock()
	if from == "" {
		from = InvitesFromEveryone
	}
	return jsonResponse(http.StatusOK, obj{
		{"@odata.context", c.contextURL("policies/authorizationPolicy/$entity")},
		{"id", "authorizationPolicy"},
		{"allowInvitesFrom", from},
		{"allowedToSignUpEmailBasedSubscriptions", true},
		{"allowedToUseSSPR", true},
		{"allowEmailVerifiedUsersToJoinOrganization", false},
		{"allowUserConsentForRiskyApps", nil},
		{"blockMsolPowerShell", false},
		{"description", "Used to manage authorization related settings across the company."},
		{"displayName", "Authorization Policy"},
		{"guestUserRoleId", "10dae51f-b6af-4016-8d66-8c2a99b929b3"},
		{"defaultUserRolePermissions", obj{
			{"allowedToCreateApps", true},
			{"allowedToCreateSecurityGroups", true},
			{"allowedToCreateTenants", true},
			{"allowedToReadBitlockerKeysForOwnedDevice", true},
			{"allowedToReadOtherUsers", true},
			{"permissionGrantPoliciesAssigned", []string{"ManagePermissionGrantsForSelf.microsoft-user-default-legacy"}},
		}},
	})
}

// renderTargetConfig renders a crossTenantAccessPolicyTargetConfiguration
// for everyone (AllUsers or AllApplications); null when access is "".
func renderTargetConfig(access, target, targetType string) any {
	if access == "" {
		return nil
	}
	return obj{
		{"accessType", access},
		{"targets", []obj{{{"target", target}, {"targetType", targetType}}}},
	}
}

// renderB2B renders a crossTenantAccessPolicyB2BSetting; null when both
// parts are null.
func renderB2B(users, apps string) any {
	if users == "" && apps == "" {
		return nil
	}
	return obj{
		{"usersAndGroups", renderTargetConfig(users, "AllUsers", "user")},
		{"applications", renderTargetConfig(apps, "AllApplications", "application")},
	}
}

func renderAllowed() obj {
	return obj{
		{"usersAndGroups", renderTargetConfig("allowed", "AllUsers", "user")},
		{"applications", renderTargetConfig("allowed", "AllApplications", "application")},
	}
}

func getCrossTenantDefault(c *call) response {
	if e := c.queryOptions("$select"); e != nil {
		return c.fail(e)
	}
	c.t.mu.RLock()
	d := CrossTenantAccess{InboundUsers: "allowed", InboundApplications: "allowed"}
	serviceDefault := c.t.policies.def == nil
	if !serviceDefault {
		d = *c.t.policies.def
	}
	c.t.mu.RUnlock()
	return jsonResponse(http.StatusOK, obj{
		{"@odata.context", c.contextURL("policies/crossTenantAccessPolicy/default/$entity")},
		{"isServiceDefault", serviceDefault},
		{"inboundTrust", obj{
			{"isMfaAccepted", false},
			{"isCompliantDeviceAccepted", false},
			{"isHybridAzureADJoinedDeviceAccepted", false},
		}},
		{"automaticUserConsentSettings", obj{{"inboundAllowed", false}, {"outboundAllowed", false}}},
		{"b2bCollaborationOutbound", renderAllowed()},
		{"b2bCollaborationInbound", renderB2B(d.InboundUsers, d.InboundApplications)},
		{"b2bDirectConnectOutbound", obj{
			{"usersAndGroups", renderTargetConfig("blocked", "AllUsers", "user")},
			{"applications", renderTargetConfig("blocked", "AllApplications", "application")},
		}},
		{"b2bDirectConnectInbound", obj{
			{"usersAndGroups", renderTargetConfig("blocked", "AllUsers", "user")},
			{"applications", renderTargetConfig("blocked", "AllApplications", "application")},
		}},
	})
}

func getCrossTenantPartner(c *call) response {
	if e := c.queryOptions("$select"); e != nil {
		return c.fail(e)
	}
	id := c.params[0]
	c.t.mu.RLock()
	p, ok := c.t.partner(id)
	c.t.mu.RUnlock()
	if !ok {
		return c.fail(notFound(id))
	}
	var consent any
	if p.AutoRedeem != nil {
		consent = obj{{"inboundAllowed", *p.AutoRedeem}, {"outboundAllowed", *p.AutoRedeem}}
	}
	return jsonResponse(http.StatusOK, obj{
		{"@odata.context", c.contextURL("policies/crossTenantAccessPolicy/partners/$entity")},
		{"tenantId", strings.ToLower(id)},
		{"isServiceProvider", nil},
		{"isInMultiTenantOrganization", true},
		{"inboundTrust", nil},
		{"automaticUserConsentSettings", consent},
		{"b2bCollaborationOutbound", nil},
		{"b2bCollaborationInbound", renderB2B(p.InboundUsers, p.InboundApplications)},
		{"b2bDirectConnectOutbound", nil},
		{"b2bDirectConnectInbound", nil},
		{"tenantRestrictions", nil},
	})
}
