package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/textsafe"
	"github.com/ctsync/ctsync/policy"
	"github.com/ctsync/ctsync/tenants"
)

// This file holds the decisions of `ctsync validate --online`: from what
// package tenants read of a tenant (a sign-in failure, the token's roles,
// its policies, its stamp slot) to findings with a message and a fix. They
// are pure functions, table-tested in doctor_test.go; doctor_run.go calls
// Graph and prints.

// finding is one line of `validate --online`.
type finding struct {
	Tenant   string `json:"tenant"`
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
}

// Severities: an error makes validate --online exit 1 (ctsync will fail);
// a warning will work but is worth knowing.
const (
	sevOK      = "ok"
	sevWarning = "warning"
	sevError   = "error"
)

// Checks, as named in the findings.
const (
	checkSignIn      = "sign-in"
	checkPermissions = "permissions"
	checkInvitations = "invitations"
	checkCrossTenant = "cross-tenant-access"
	checkStampSlot   = "stamp-slot"
	checkMTO         = "mto"
)

// aadstsHint is what an AADSTS code means for a ctsync tenant, and the fix.
type aadstsHint struct{ hint, fix string }

// aadstsHints covers the refusals a ctsync configuration runs into
// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes);
// other codes are printed with Entra's first sentence.
var aadstsHints = map[int]aadstsHint{
	7000215: {"wrong client secret",
		"put the secret's Value (not its Secret ID) from the app registration's Certificates & secrets into %s"},
	7000222: {"the client secret has expired",
		"create a new client secret for the app and put its Value into %s"},
	700016: {"the app is not found in the tenant (admin consent never given there, or a wrong client_id)",
		"check client_id; for a multi-tenant app, have an admin of the tenant grant admin consent to it"},
	90002: {"the tenant is not found",
		"check tenant_id (the directory ID, a GUID) and authority_host"},
	700027: {"the certificate is not accepted (not registered on the app, or expired)",
		"upload the certificate of %s to the app registration's Certificates & secrets"},
	7000218: {"no client secret or certificate was sent",
		"set the tenant's client secret or certificate (%s)"},
	1002012: {"the token scope is not valid",
		"check graph_base_url (the scope is derived from its host)"},
	50034: {"the account does not exist in the tenant",
		"check tenant_id and client_id"},
}

// signInFinding turns a sign-in failure into one line: where the tenant
// is configured, the AADSTS code, a hint and the fix. secretAt names where
// the credential comes from ("client_secret_file /etc/ctsync/x"), never
// its value.
func signInFinding(tenant, where, secretAt string, f tenants.CredentialFailure) finding {
	fd := finding{Tenant: tenant, Check: checkSignIn, Severity: sevError}
	prefix := where
	if prefix != "" {
		prefix += ": "
	}
	desc := textsafe.Escape(f.Description)
	switch h, known := aadstsHints[f.Code]; {
	case f.Code != 0 && known:
		fd.Message = fmt.Sprintf("%ssign-in failed: AADSTS%d %s (%s)", prefix, f.Code, h.hint, desc)
		fd.Fix = h.fix
		if strings.Contains(fd.Fix, "%s") {
			fd.Fix = fmt.Sprintf(fd.Fix, secretAt)
		}
	case f.Code != 0:
		fd.Message = fmt.Sprintf("%ssign-in failed: AADSTS%d: %s", prefix, f.Code, desc)
		fd.Fix = fmt.Sprintf("look up AADSTS%d in Microsoft's Entra error codes reference", f.Code)
	case f.Transient:
		fd.Message = fmt.Sprintf("%ssign-in failed: the authority did not answer or failed for now (%s)", prefix, desc)
		fd.Fix = "check the network path to authority_host and try again"
	default:
		fd.Message = fmt.Sprintf("%ssign-in failed: %s", prefix, desc)
		fd.Fix = "fix the tenant's credential settings (" + secretAt + ")"
	}
	return fd
}

// impliedBy lists, for each permission ctsync asks for, the higher
// privileged application permissions that include it, from Microsoft
// Graph's permissions reference and the "Higher privileged permissions"
// column of the API pages ctsync calls (users, delta, invitations, group
// members, domains). An app holding one of them needs not the lesser one.
// User.DeleteRestore.All has none on purpose: docs/graph-behaviour.md
// treats it as required for both restore and permanent delete.
var impliedBy = map[string][]string{
	policy.PermUserRead:      {policy.PermUserReadWrite, "Directory.Read.All", "Directory.ReadWrite.All"},
	policy.PermUserReadWrite: {"Directory.ReadWrite.All"},
	policy.PermUserInvite:    {policy.PermUserReadWrite, "Directory.ReadWrite.All"},
	policy.PermGroupMembers:  {"GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	policy.PermDomainRead:    {"Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	// Policy.Read.All is optional (validate --online reads the policies
	// with it); each policy has its own write permission that reads it.
	permPolicyRead: {},
}

// permPolicyRead lets validate --online read the invitation settings; a
// sync needs it not.
const permPolicyRead = "Policy.Read.All"

// holds reports whether roles grant perm, itself or through a permission
// that includes it.
func holds(roles []string, perm string) bool {
	if slices.Contains(roles, perm) {
		return true
	}
	for _, p := range impliedBy[perm] {
		if slices.Contains(roles, p) {
			return true
		}
	}
	return false
}

// permissionFindings compares the token's roles with what the enabled
// pairs need of the tenant: an error per missing permission, naming it,
// why it is needed and for which pairs; else one ok line.
func permissionFindings(tenant, clientID string, roles []string, needs map[string]*permNeed) []finding {
	var out []finding
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range needs {
			if !yield(k) {
				return
			}
		}
	})
	for _, p := range names {
		if holds(roles, p) {
			continue
		}
		n := needs[p]
		out = append(out, finding{Tenant: tenant, Check: checkPermissions, Severity: sevError,
			Message: fmt.Sprintf("missing application permission %s, needed to %s (%s)", p, n.why, strings.Join(n.pairs, ", ")),
			Fix: fmt.Sprintf("in tenant %s, add the Microsoft Graph application permission %s to app %s (API permissions) and grant admin consent",
				tenant, p, clientID)})
	}
	if len(out) == 0 {
		msg := "every permission the pairs need is granted"
		if len(names) > 0 {
			msg += " (" + strings.Join(names, ", ") + ")"
		} else {
			msg = "no enabled pair uses this tenant"
		}
		out = append(out, finding{Tenant: tenant, Check: checkPermissions, Severity: sevOK, Message: msg})
	}
	return out
}

// policySkipped is the warning for a policy check the app may not read.
func policySkipped(tenant, check, what, clientID string) finding {
	return finding{Tenant: tenant, Check: check, Severity: sevWarning,
		Message: fmt.Sprintf("not checked: reading %s needs the application permission %s, which ctsync itself does not need", what, permPolicyRead),
		Fix: fmt.Sprintf("grant %s (with admin consent) to app %s in tenant %s to have it checked, or check it by hand in the Entra admin center",
			permPolicyRead, clientID, tenant)}
}

// invitationsFinding judges the target's guest invite setting
// (authorizationPolicy.allowInvitesFrom). "none" blocks every invitation,
// admins' and apps' included. The two restricted settings are documented
// for users (admins and the Guest Inviter role); whether they stop an app
// that holds User.Invite.All is not documented, so they are a warning.
func invitationsFinding(tenant, clientID string, p tenants.AuthorizationPolicy) finding {
	fd := finding{Tenant: tenant, Check: checkInvitations}
	const where = "External Identities > External collaboration settings > Guest invite settings"
	switch p.AllowInvitesFrom {
	case "everyone":
		fd.Severity = sevOK
		fd.Message = "guest invitations are allowed (allowInvitesFrom = everyone)"
	case "none":
		fd.Severity = sevError
		fd.Message = "guest invitations are blocked for everyone, ctsync included (allowInvitesFrom = none): every invitation will fail"
		fd.Fix = fmt.Sprintf("in tenant %s, %s: allow at least admins and users in the Guest Inviter role, and give app %s the Guest Inviter role", tenant, where, clientID)
	case "adminsAndGuestInviters", "adminsGuestInvitersAndAllMembers":
		fd.Severity = sevWarning
		fd.Message = fmt.Sprintf("guest invitations are restricted (allowInvitesFrom = %s); Microsoft documents the restriction for users, an app with User.Invite.All may be refused", p.AllowInvitesFrom)
		fd.Fix = fmt.Sprintf("if invitations fail with 403, assign the Guest Inviter role to app %s's service principal in tenant %s, or relax %s", clientID, tenant, where)
	default:
		fd.Severity = sevWarning
		fd.Message = fmt.Sprintf("unknown guest invite setting allowInvitesFrom = %q", textsafe.Escape(p.AllowInvitesFrom))
		fd.Fix = fmt.Sprintf("check %s in tenant %s", where, tenant)
	}
	return fd
}

// crossTenantFindings judges the target's inbound B2B collaboration for
// invitations from one source tenant: the partner configuration for the
// source where it sets a value, else the default. Users (or applications)
// blocked for everyone makes every invitation from the source fail (an
// error); a partial block or allow list only some (a warning); invitations
// not redeemed automatically leave the guests PendingAcceptance (a
// warning).
func crossTenantFindings(target, source, sourceID string, def tenants.CrossTenantAccess, partner *tenants.CrossTenantAccess) []finding {
	users, apps, redeem := def.Users, def.Applications, def.AutoRedeem
	const where = "External Identities > Cross-tenant access settings"
	inDefault := where + " > Default settings"
	inPartner := fmt.Sprintf("%s > Organizational settings > %s (%s)", where, source, sourceID)
	usersAt, appsAt := inDefault, inDefault
	if partner != nil {
		if partner.Users != nil {
			users, usersAt = partner.Users, inPartner
		}
		if partner.Applications != nil {
			apps, appsAt = partner.Applications, inPartner
		}
		if partner.AutoRedeem != nil {
			redeem = partner.AutoRedeem
		}
	}
	var out []finding
	add := func(sev, msg, fix string) {
		out = append(out, finding{Tenant: target, Check: checkCrossTenant, Severity: sev, Message: msg, Fix: fix})
	}
	from := func(at string) string {
		if at == inDefault {
			return "default settings"
		}
		return "organizational settings for " + source
	}
	judge := func(t *tenants.AccessTargets, all, what, at string) {
		switch {
		case t == nil:
		case t.Access == "blocked" && slices.Contains(t.Targets, all):
			add(sevError, fmt.Sprintf("B2B collaboration inbound from %s blocks all %s (%s): every invitation from %s will fail", source, what, from(at), source),
				fmt.Sprintf("in tenant %s, %s > Inbound access > B2B collaboration: allow %s", target, at, what))
		case t.Access == "blocked":
			add(sevWarning, fmt.Sprintf("B2B collaboration inbound from %s blocks some %s (%s): their invitations will fail", source, what, from(at)),
				fmt.Sprintf("in tenant %s, %s > Inbound access > B2B collaboration: check the blocked %s", target, at, what))
		case t.Access == "allowed" && !slices.Contains(t.Targets, all):
			add(sevWarning, fmt.Sprintf("B2B collaboration inbound from %s allows only some %s (%s): the others' invitations will fail", source, what, from(at)),
				fmt.Sprintf("in tenant %s, %s > Inbound access > B2B collaboration: allow every %s the pairs sync", target, at, what))
		}
	}
	judge(users, "AllUsers", "users and groups", usersAt)
	judge(apps, "AllApplications", "applications", appsAt)
	if redeem == nil || !*redeem {
		add(sevWarning, fmt.Sprintf("invitations from %s are not redeemed automatically: its guests stay PendingAcceptance until each redeems", source),
			fmt.Sprintf("in tenant %s, %s (add the organization if missing) > Inbound access > Trust settings: tick \"Automatically redeem invitations\" (and the outbound one in %s)",
				target, inPartner, source))
	}
	if len(out) == 0 {
		add(sevOK, fmt.Sprintf("B2B collaboration inbound from %s is allowed and its invitations are redeemed automatically", source), "")
	}
	return out
}

// stampSlotFinding judges the target's stamp slot: values that are not
// ctsync stamps mean another tool (or a sync rule) writes the slot, and
// ctsync would refuse those users as conflicts, or worse, lose its stamps.
func stampSlotFinding(tenant string, s tenants.SlotScan) finding {
	fd := finding{Tenant: tenant, Check: checkStampSlot}
	scope := ""
	if s.Bounded {
		scope = fmt.Sprintf(" (scanned the first %d users whose slot is set)", s.Scanned)
	}
	switch {
	case s.Foreign > 0:
		fd.Severity = sevError
		fd.Message = fmt.Sprintf("%d users of tenant %s use %s for something else (e.g. %s)%s",
			s.Foreign, tenant, s.Attribute, textsafe.Escape(s.Example), scope)
		fd.Fix = fmt.Sprintf("choose another stamp_attribute for tenant %s (an extensionAttribute no tool or sync rule writes)", tenant)
	case s.Scanned == 0:
		fd.Severity = sevOK
		fd.Message = fmt.Sprintf("%s is unused", s.Attribute)
	default:
		fd.Severity = sevOK
		fd.Message = fmt.Sprintf("%s holds only ctsync stamps (%d users)%s", s.Attribute, s.Stamped, scope)
	}
	return fd
}

// mtoFindings compares the configured tenants with the multi-tenant
// organisation read from tenant `from`: a warning for each configured
// tenant that is not an active member (pending, being removed, or not a
// member at all), and for each active member not configured; else one ok
// line. Disagreeing is not an error: ctsync syncs any two tenants it can
// sign in to, but a tenant that joined or left the organisation since the
// file was written is worth knowing.
func mtoFindings(from string, tens []mtoTenant, org tenants.MTO, members []tenants.MTOMember) []finding {
	orgName := textsafe.Escape(org.DisplayName)
	if org.State != tenants.MTOActive {
		return []finding{{Tenant: from, Check: checkMTO, Severity: sevWarning,
			Message: fmt.Sprintf("tenant %s is in no multi-tenant organisation (state %s): the configured tenants could not be compared with one", from, textsafe.Escape(org.State)),
			Fix:     "nothing to do if the tenants are not meant to form a multi-tenant organisation"}}
	}
	byID := map[string]tenants.MTOMember{}
	for _, m := range members {
		byID[strings.ToLower(m.TenantID)] = m
	}
	var out []finding
	configured := map[string]bool{}
	for _, t := range tens {
		id := strings.ToLower(t.id)
		configured[id] = true
		m, ok := byID[id]
		switch {
		case !ok:
			out = append(out, finding{Tenant: t.name, Check: checkMTO, Severity: sevWarning,
				Message: fmt.Sprintf("tenant %s (%s) is configured but is not a member of the multi-tenant organisation \"%s\" (read from %s)", t.name, t.id, orgName, from),
				Fix:     fmt.Sprintf("if %s left the organisation, remove it and its pairs from the configuration; if it should join, add it in Entra (Multitenant organization)", t.name)})
		case m.State != tenants.MTOActive:
			out = append(out, finding{Tenant: t.name, Check: checkMTO, Severity: sevWarning,
				Message: fmt.Sprintf("tenant %s (%s) is configured but is %s in the multi-tenant organisation \"%s\", not active (read from %s)", t.name, t.id, textsafe.Escape(m.State), orgName, from),
				Fix:     "a pending tenant joins in its own Entra admin center (Multitenant organization > join); a removed one should leave the configuration with its pairs"})
		}
	}
	for _, m := range members {
		if m.State == tenants.MTOActive && !configured[strings.ToLower(m.TenantID)] {
			out = append(out, finding{Tenant: from, Check: checkMTO, Severity: sevWarning,
				Message: fmt.Sprintf("tenant \"%s\" (%s) is an active member of the multi-tenant organisation \"%s\" but is not configured", textsafe.Escape(m.DisplayName), textsafe.Escape(m.TenantID), orgName),
				Fix:     "add it as a [[tenant]] with its pairs (`ctsync init --from-mto --out new.toml` writes the whole mesh to compare with), or leave it out on purpose"})
		}
	}
	if len(out) == 0 {
		out = append(out, finding{Tenant: from, Check: checkMTO, Severity: sevOK,
			Message: fmt.Sprintf("the %d configured tenants are the active members of the multi-tenant organisation \"%s\"", len(tens), orgName)})
	}
	return out
}

// mtoTenant is a configured tenant as mtoFindings sees it.
type mtoTenant struct{ name, id string }

// mtoSkipped is the warning when no tenant's app may read the MTO.
func mtoSkipped(tried []string) finding {
	return finding{Tenant: tried[0], Check: checkMTO, Severity: sevWarning,
		Message: fmt.Sprintf("not checked: reading the multi-tenant organisation needs the application permission %s, which ctsync itself does not need (tried %s)",
			tenants.PermReadMTO, strings.Join(tried, ", ")),
		Fix: fmt.Sprintf("grant %s (with admin consent) to the app of one tenant to have the configuration compared with the organisation's members", tenants.PermReadMTO)}
}
