package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"strings"
)

// decodeObject decodes a JSON object body.
func decodeObject(body []byte) (map[string]any, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("Empty Payload. JSON content expected.")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, badRequest("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	return m, nil
}

func invalidValue(name string) *apiError {
	return badRequest(fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", name))
}

// validAddress checks an SMTP address the way Entra does for mail and
// otherMails: one @, a non-empty local part, a dotted domain, no spaces.
func validAddress(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n<>\"") || strings.Count(s, "@") != 1 {
		return false
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return false
	}
	_, err := mail.ParseAddress(s)
	return err == nil || strings.Contains(local, "'")
}

// validateUser checks a user body for POST /users (create) or PATCH and
// converts it to stored values. internal (the in-process API) may also set
// read-only properties such as creationType, so tests can craft guests.
func (t *Tenant) validateUser(body map[string]any, create, internal bool, self *user) (map[string]any, *apiError) {
	out := make(map[string]any, len(body)+3)
	for k, v := range body {
		if k == "@odata.type" {
			continue
		}
		if strings.Contains(k, "@") {
			return nil, badRequest(fmt.Sprintf("Property annotation '%s' is not supported on this request.", k))
		}
		if k == "manager" {
			return nil, badRequest("The 'manager' navigation property cannot be set in the body; use PUT /users/{id}/manager/$ref.")
		}
		p := propIndex[k]
		if p == nil {
			return nil, badRequest(fmt.Sprintf("Property '%s' does not exist as a declared property or extension property.", k))
		}
		if !p.writable && (!internal || p.name == "id") {
			return nil, badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", k))
		}
		nv, err := convertValue(p, v)
		if err != nil {
			return nil, err
		}
		if err := t.checkValue(p, nv, self); err != nil {
			return nil, err
		}
		out[p.name] = nv
	}
	if create {
		for _, req := range []string{"accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"} {
			if internal && req == "passwordProfile" {
				continue
			}
			if out[req] == nil {
				return nil, badRequest(fmt.Sprintf("Property '%s' is required when creating the object.", req))
			}
		}
	}
	delete(out, "passwordProfile") // never stored, never returned
	if !internal {
		// The in-process API may craft duplicates (a source tenant with two
		// users sharing a mail); Graph's clients may not.
		if err := t.checkAddressConflict(out, self); err != nil {
			return nil, err
		}
		if m, ok := out["mail"].(string); ok && m != "" {
			out["proxyAddresses"] = withPrimarySMTP(self, m)
		}
	}
	return out, nil
}

// withPrimarySMTP is self's proxyAddresses after its mail becomes m: "Changes
// to this property will also update the user's proxyAddresses collection to
// include the value as an SMTP address" (user resource type, mail). The old
// primary stays as a secondary smtp: address, so the old mail remains held
// by this user (the stale values Entra is known to keep); nothing is
// removed.
func withPrimarySMTP(self *user, m string) []string {
	var old []string
	if self != nil {
		old, _ = self.props["proxyAddresses"].([]string)
	}
	out := []string{"SMTP:" + m}
	for _, s := range old {
		p, addr, ok := strings.Cut(s, ":")
		switch {
		case ok && strings.EqualFold(p, "smtp") && strings.EqualFold(addr, m):
			// the new primary, already first
		case ok && p == "SMTP":
			out = append(out, "smtp:"+addr)
		default:
			out = append(out, s)
		}
	}
	return out
}

// checkAddressConflict refuses a mail or otherMails value that another
// live object already holds in mail, otherMails, proxyAddresses or as its
// userPrincipalName. proxyAddresses are unique across directory objects and
// a change of mail is copied into proxyAddresses; the "user resource type"
// page claims such an update succeeds without the copy, but Graph answers
// 400 with this body (microsoft-graph-docs-contrib#8421, 2023), and the
// simulator takes the harsher, observed behaviour. The ConflictingObjects
// detail names the holder's ID (the exact target Graph puts there is cut
// off in the report). The caller holds t.mu.
func (t *Tenant) checkAddressConflict(props map[string]any, self *user) *apiError {
	var addrs []string
	if s, ok := props["mail"].(string); ok && s != "" {
		addrs = append(addrs, s)
	}
	if l, ok := props["otherMails"].([]string); ok {
		addrs = append(addrs, l...)
	}
	return t.addressConflict(addrs, self)
}

// addressConflict is checkAddressConflict for a list of SMTP addresses.
// The caller holds t.mu.
func (t *Tenant) addressConflict(addrs []string, self *user) *apiError {
	if len(addrs) == 0 {
		return nil
	}
	ids, ok := t.addressHolders(addrs, self)
	if !ok {
		ids = t.liveIDs()
	}
	for _, id := range ids {
		u := t.users[id]
		if self != nil && u.id == self.id {
			continue
		}
		for _, a := range addrs {
			if holdsAddress(u, a) {
				const msg = "Another object with the same value for property proxyAddresses already exists."
				e := badRequest(msg)
				e.details = []map[string]string{
					{"code": "ObjectConflict", "message": msg, "target": "proxyAddresses"},
					{"code": "ConflictingObjects", "message": msg, "target": u.id},
				}
				return e
			}
		}
	}
	return nil
}

// holdsAddress reports whether u holds the SMTP address a in mail,
// otherMails, proxyAddresses (any prefix case) or userPrincipalName.
func holdsAddress(u *user, a string) bool {
	for _, k := range []string{"mail", "userPrincipalName"} {
		if s, _ := u.props[k].(string); strings.EqualFold(s, a) {
			return true
		}
	}
	if l, _ := u.props["otherMails"].([]string); slices.ContainsFunc(l, func(s string) bool { return strings.EqualFold(s, a) }) {
		return true
	}
	l, _ := u.props["proxyAddresses"].([]string)
	return slices.ContainsFunc(l, func(s string) bool {
		p, addr, ok := strings.Cut(s, ":")
		return ok && strings.EqualFold(p, "smtp") && strings.EqualFold(addr, a)
	})
}

// convertValue converts a decoded JSON value to the stored form of p.
func convertValue(p *propDef, v any) (any, *apiError) {
	switch p.kind {
	case kString:
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			if p.maxLen > 0 && len([]rune(x)) > p.maxLen {
				return nil, invalidValue(p.name)
			}
			return v, nil // already boxed: no copy per stored string
		}
		return nil, invalidValue(p.name)
	case kBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, invalidValue(p.name)
	case kStrings:
		var out []string
		switch x := v.(type) {
		case nil:
			return []string{}, nil
		case []string:
			out = append([]string{}, x...)
		case []any:
			out = make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, invalidValue(p.name)
				}
				out = append(out, s)
			}
		default:
			return nil, invalidValue(p.name)
		}
		return out, nil
	case kExt:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalidValue(p.name)
		}
		out := map[string]any{}
		for k, e := range m {
			if k == "@odata.type" {
				continue
			}
			n, ok := isExtAttrName(k)
			if !ok || n != k {
				return nil, badRequest(fmt.Sprintf("Property '%s' does not exist on type 'microsoft.graph.onPremisesExtensionAttributes'.", k))
			}
			switch s := e.(type) {
			case nil:
				out[n] = nil
			case string:
				if len([]rune(s)) > 1024 {
					return nil, badRequest(fmt.Sprintf("Invalid value specified for property '%s': longer than 1024 characters.", n))
				}
				if s == "" {
					out[n] = nil
				} else {
					out[n] = s
				}
			default:
				return nil, badRequest(fmt.Sprintf("Invalid value specified for property '%s' of resource 'onPremisesExtensionAttributes'.", n))
			}
		}
		return out, nil
	case kPassword:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalidValue(p.name)
		}
		if pw, _ := m["password"].(string); pw == "" {
			return nil, badRequest("Property 'passwordProfile.password' is required.")
		}
		return true, nil
	case kIdentities:
		l, ok := v.([]any)
		if !ok {
			if ml, ok := v.([]map[string]any); ok {
				return ml, nil
			}
			return nil, invalidValue(p.name)
		}
		out := make([]map[string]any, 0, len(l))
		for _, e := range l {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, invalidValue(p.name)
			}
			out = append(out, map[string]any{"signInType": m["signInType"], "issuer": m["issuer"], "issuerAssignedId": m["issuerAssignedId"]})
		}
		return out, nil
	}
	return nil, invalidValue(p.name)
}

// checkValue applies the per-property rules Entra enforces.
func (t *Tenant) checkValue(p *propDef, v any, self *user) *apiError {
	s, _ := v.(string)
	switch p.name {
	case "displayName":
		if strings.TrimSpace(s) == "" {
			return invalidValue(p.name)
		}
	case "mailNickname":
		if v == nil || s == "" || strings.ContainsAny(s, " @\\\"<>,;:[]") {
			return invalidValue(p.name)
		}
	case "userPrincipalName":
		if v == nil {
			return invalidValue(p.name)
		}
		at := strings.LastIndex(s, "@")
		if at <= 0 || strings.ContainsAny(s, " \\\"<>,;:[]()") || strings.Count(s, "@") != 1 {
			return badRequest("Invalid value specified for property 'userPrincipalName' of resource 'User'.")
		}
		if !t.verifiedDomain(s[at+1:]) {
			return badRequest("The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.")
		}
		if id, ok := t.upns[strings.ToLower(s)]; ok && (self == nil || self.id != id) {
			e := badRequest("Another object with the same value for property userPrincipalName already exists.")
			e.details = []map[string]string{{"code": "ObjectConflict", "target": "userPrincipalName"}}
			return e
		}
	case "mail":
		if v != nil && !validAddress(s) {
			return invalidValue(p.name)
		}
	case "otherMails":
		for _, m := range v.([]string) {
			if !validAddress(m) {
				return invalidValue(p.name)
			}
		}
	case "userType":
		if v != nil && s != "Member" && s != "Guest" {
			return invalidValue(p.name)
		}
	case "usageLocation":
		if v != nil && (len(s) != 2 || strings.ToUpper(s) != s) {
			return invalidValue(p.name)
		}
	case "externalUserState":
		if v != nil && s != "PendingAcceptance" && s != "Accepted" {
			return invalidValue(p.name)
		}
	}
	return nil
}
