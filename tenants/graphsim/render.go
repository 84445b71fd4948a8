package graphsim

import (
	"net/http"
	"slices"
	"strings"
)

// selection is a parsed $select (and $expand=manager).
type selection struct {
	props    []*propDef // in schema order; id always included
	manager  bool       // delta only: track and return manager@delta
	expand   bool       // $expand=manager
	expandSe []*propDef // $select inside $expand=manager(...)
}

// parseSelect parses $select; allowManager lets delta track the manager.
func parseSelect(raw string, allowManager bool) (*selection, *apiError) {
	sel := &selection{}
	if strings.TrimSpace(raw) == "" {
		sel.props = defaultSelect
		return sel, nil
	}
	want := map[string]bool{"id": true}
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.EqualFold(f, "manager") {
			if !allowManager {
				return nil, badRequest("Parsing OData Select and Expand failed: 'manager' is a navigation property; use $expand=manager.")
			}
			sel.manager = true
			continue
		}
		p := propFold[strings.ToLower(f)]
		if p == nil {
			return nil, badRequest("Parsing OData Select and Expand failed: Could not find a property named '" + f + "' on type 'microsoft.graph.user'.")
		}
		want[p.name] = true
	}
	for i := range userProps {
		if want[userProps[i].name] {
			sel.props = append(sel.props, &userProps[i])
		}
	}
	return sel, nil
}

// parseExpand accepts only $expand=manager, optionally with ($select=...).
func (sel *selection) parseExpand(raw string) *apiError {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	name, inner, hasInner := strings.Cut(raw, "(")
	if !strings.EqualFold(strings.TrimSpace(name), "manager") {
		return badRequest("Parsing OData Select and Expand failed: only $expand=manager is supported on users.")
	}
	sel.expand = true
	if hasInner {
		inner = strings.TrimSuffix(strings.TrimSpace(inner), ")")
		v, ok := strings.CutPrefix(inner, "$select=")
		if !ok {
			return badRequest("Parsing OData Select and Expand failed: only $select is supported inside $expand.")
		}
		s, err := parseSelect(v, false)
		if err != nil {
			return err
		}
		sel.expandSe = s.props
	} else {
		sel.expandSe = defaultSelect
	}
	return nil
}

// propValue renders one stored property the way Graph does.
func propValue(u *user, p *propDef) any {
	switch p.name {
	case "id":
		return u.id
	case "showInAddressList":
		// "Do not use in Microsoft Graph": a PATCH is accepted and stored,
		// but Graph reads it back null ("user resource type",
		// https://learn.microsoft.com/graph/api/resources/user).
		return nil
	}
	v, ok := u.props[p.name]
	switch p.kind {
	case kStrings:
		if s, ok := v.([]string); ok && s != nil {
			return s
		}
		return []string{}
	case kIdentities:
		out := []any{}
		if l, ok := v.([]map[string]any); ok {
			for _, m := range l {
				out = append(out, obj{{"signInType", m["signInType"]}, {"issuer", m["issuer"]}, {"issuerAssignedId", m["issuerAssignedId"]}})
			}
		}
		return out
	case kExt:
		m, _ := v.(map[string]any)
		o := make(obj, 0, 15)
		for _, n := range extAttrNames {
			o = append(o, kv{n, m[n]})
		}
		return o
	case kPassword:
		return nil
	}
	if !ok {
		return nil
	}
	return v
}

// renderUser renders a user with the selected properties.
func (t *Tenant) renderUser(u *user, sel *selection, withType bool) obj {
	o := make(obj, 0, len(sel.props)+2)
	if withType {
		o = append(o, kv{"@odata.type", "#microsoft.graph.user"})
	}
	for _, p := range sel.props {
		o = append(o, kv{p.name, propValue(u, p)})
	}
	if sel.expand && u.manager != "" {
		if m := t.users[u.manager]; m != nil {
			mo := obj{{"@odata.type", "#microsoft.graph.user"}}
			for _, p := range sel.expandSe {
				mo = append(mo, kv{p.name, propValue(m, p)})
			}
			o = append(o, kv{"manager", mo})
		}
	}
	return o
}

// queryOptions validates the system query options of a request against the
// ones the endpoint supports.
func (c *call) queryOptions(allowed ...string) *apiError {
	for k := range c.query {
		if !strings.HasPrefix(k, "$") {
			continue
		}
		if !slices.Contains(allowed, k) {
			switch k {
			case "$orderby", "$search", "$skip":
				return errf(http.StatusBadRequest, codeUnsupported, "Unsupported query option '"+k+"' for this request (simulator).")
			}
			return badRequest("Query option '" + k + "' is not allowed on this request.")
		}
	}
	return nil
}

// advanced reports whether the request is an advanced query
// (ConsistencyLevel: eventual and $count=true).
func (c *call) advanced() bool {
	return strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual") && strings.EqualFold(c.query.Get("$count"), "true")
}

func (c *call) contextURL(frag string) string {
	return c.s.GraphURL() + "/$metadata#" + frag
}
