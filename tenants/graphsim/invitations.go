package graphsim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

var invitationFields = []string{"@odata.type", "invitedUserEmailAddress", "inviteRedirectUrl", "invitedUserDisplayName",
	"invitedUserType", "sendInvitationMessage", "invitedUserMessageInfo", "resetRedemption", "invitedUser", "invitedUserSponsors"}

// guestUPN is the UPN Entra gives a B2B guest: the address with @
// replaced by _, then #EXT#@ and the inviting tenant's domain.
func guestUPN(email, domain string) string {
	return strings.Replace(email, "@", "_", 1) + "#EXT#@" + domain
}

func invite(c *call) response {
	body, e := decodeObject(c.body)
	if e != nil {
		return c.fail(e)
	}
	for k := range body {
		if !slices.Contains(invitationFields, k) {
			return c.fail(badRequest(fmt.Sprintf("Property '%s' does not exist on type 'microsoft.graph.invitation'.", k)))
		}
	}
	email, ok := body["invitedUserEmailAddress"].(string)
	if !ok || email == "" {
		return c.fail(badRequest("Required property 'invitedUserEmailAddress' is missing or empty."))
	}
	email = strings.TrimSpace(email)
	if !validAddress(email) {
		return c.fail(badRequest("The specified email address '" + email + "' is invalid."))
	}
	redirect, ok := body["inviteRedirectUrl"].(string)
	if !ok || redirect == "" {
		return c.fail(badRequest("Required property 'inviteRedirectUrl' is missing or empty."))
	}
	if u, err := url.Parse(redirect); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return c.fail(badRequest("The inviteRedirectUrl '" + redirect + "' is not a valid absolute URL."))
	}
	userType := "Guest"
	if v, ok := body["invitedUserType"]; ok && v != nil {
		s, _ := v.(string)
		switch strings.ToLower(s) {
		case "guest":
			userType = "Guest"
		case "member":
			userType = "Member"
		default:
			return c.fail(badRequest("Invalid value for invitedUserType: must be Guest or Member."))
		}
	}
	displayName := ""
	if v, ok := body["invitedUserDisplayName"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return c.fail(badRequest("Invalid value for invitedUserDisplayName."))
		}
		displayName = strings.TrimSpace(s)
	}
	sendMsg, _ := body["sendInvitationMessage"].(bool)
	reset, _ := body["resetRedemption"].(bool)
	invitedID := ""
	if m, ok := body["invitedUser"].(map[string]any); ok {
		invitedID, _ = m["id"].(string)
	}

	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.verifiedDomain(email[strings.LastIndex(email, "@")+1:]) {
		return c.fail(badRequest("The invited user's address belongs to this tenant; invite external addresses only."))
	}
	// External collaboration settings apply to every invitation, a
	// re-invitation or a reset included (rules.go).
	if e := t.invitationBlocked(email); e != nil {
		return c.fail(e)
	}
	var gu *user
	status := "PendingAcceptance"
	switch {
	case reset && invitedID != "":
		gu = t.lookup(invitedID)
		if gu == nil || c.unreplicated(gu) {
			return c.fail(notFound(invitedID))
		}
		t.setProps(gu, map[string]any{"externalUserState": "PendingAcceptance",
			"externalUserStateChangeDateTime": c.now.UTC().Format(time.RFC3339), "mail": email,
			"otherMails": []string{email}})
	default:
		if prior, deleted := t.holderOf(email); prior != nil {
			isGuest := prior.props["creationType"] == "Invitation" || prior.props["userType"] == "Guest"
			if deleted || !isGuest {
				return c.fail(badRequest("The invited user already exists in the directory as object ID '" + prior.id + "'."))
			}
			// A re-invitation: the same guest, no new object.
			gu = prior
			if prior.props["externalUserState"] == "Accepted" {
				status = "Completed"
			}
			break
		}
		if displayName == "" {
			displayName = email[:strings.Index(email, "@")]
		}
		upn := guestUPN(email, t.domain)
		props := map[string]any{
			"displayName":                     displayName,
			"mail":                            email,
			"otherMails":                      []string{email},
			"userPrincipalName":               upn,
			"mailNickname":                    strings.Replace(email, "@", "_", 1) + "#EXT#",
			"userType":                        userType,
			"accountEnabled":                  true,
			"creationType":                    "Invitation",
			"externalUserState":               "PendingAcceptance",
			"externalUserStateChangeDateTime": c.now.UTC().Format(time.RFC3339),
			"proxyAddresses":                  []string{"SMTP:" + email},
			"identities":                      []map[string]any{{"signInType": "userPrincipalName", "issuer": t.domain, "issuerAssignedId": upn}},
		}
		gu = t.newUser(props, c.now, c.s.currentRealism().ReplicationLag)
		c.born(gu)
	}
	t.invCount++
	invID := t.newID()
	redeem := c.s.base + "/redeem?rd=" + url.QueryEscape(invID) + "&tenant=" + t.id
	out := obj{
		{"@odata.context", c.contextURL("invitations/$entity")},
		{"id", invID},
		{"inviteRedeemUrl", redeem},
		{"invitedUserDisplayName", gu.props["displayName"]},
		{"invitedUserType", gu.props["userType"]},
		{"invitedUserEmailAddress", email},
		{"sendInvitationMessage", sendMsg},
		{"resetRedemption", reset},
		{"inviteRedirectUrl", redirect},
		{"status", status},
		{"invitedUserMessageInfo", obj{{"messageLanguage", nil}, {"ccRecipients", []any{}}, {"customizedMessageBody", nil}}},
		{"invitedUser", obj{{"id", gu.id}}},
	}
	return jsonResponse(http.StatusCreated, out)
}

// holderOf finds a user (live first, then deleted) whose UPN is the guest
// UPN of email, or whose mail or otherMails hold email.
func (t *Tenant) holderOf(email string) (*user, bool) {
	upn := strings.ToLower(guestUPN(email, t.domain))
	match := func(u *user) bool {
		if s, _ := u.props["userPrincipalName"].(string); strings.ToLower(s) == upn {
			return true
		}
		if s, _ := u.props["mail"].(string); strings.EqualFold(s, email) {
			return true
		}
		if l, _ := u.props["otherMails"].([]string); slices.ContainsFunc(l, func(m string) bool { return strings.EqualFold(m, email) }) {
			return true
		}
		return false
	}
	if id, ok := t.upns[upn]; ok {
		return t.users[id], false
	}
	var live []string
	if email == "" {
		live = t.liveIDs()
	} else {
		// The live holders by address (mail, otherMails) and by UPN.
		cand, _ := t.addressHolders([]string{email}, nil)
		cand = append(cand, t.ix.lookup("userPrincipalName", upn)...)
		slices.Sort(cand)
		live = slices.Compact(cand)
	}
	for _, id := range live {
		if u := t.users[id]; match(u) {
			return u, false
		}
	}
	for _, u := range t.sortedDeleted() {
		if match(u) {
			return u, true
		}
	}
	return nil, false
}
