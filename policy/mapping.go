package policy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// mapping is one compiled attribute mapping.
type mapping struct {
	target     string
	kind       kind // the target's value type
	key        string
	createOnly bool
	drop       bool // apply = "never": removes the default mapping of target

	source   string // a direct mapping, or
	constant any    // a constant (already of the target's type), or
	isConst  bool
	expr     *expr // an expression
}

// value computes the mapping for one user, converted to the target's type.
func (m *mapping) value(u Attributes) (any, error) {
	switch {
	case m.isConst:
		return m.constant, nil
	case m.expr != nil:
		v, err := m.expr.eval(u)
		if err != nil {
			return nil, err
		}
		return coerce(v, m.kind)
	}
	v, _ := u.Attr(m.source)
	return coerce(v, m.kind)
}

// coerce converts a value to a target property's type: strings get
// integers as decimals and booleans as True/False; booleans accept
// "true"/"false" in any case; collections accept a single value as a
// one-item list. Empty strings become null for booleans, collections
// and references.
func coerce(v any, k kind) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kBool:
		if s, ok := v.(string); ok && s == "" {
			return nil, nil
		}
		return toBool(v)
	case kStrings:
		switch x := v.(type) {
		case []string:
			return append([]string(nil), x...), nil
		case string:
			if x == "" {
				return nil, nil
			}
			return []string{x}, nil
		}
		s, _, err := str(v)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	case kRef:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want an object ID, got %s", show(v))
		}
		if s == "" {
			return nil, nil
		}
		return s, nil
	}
	s, _, err := str(v)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// compileMappings merges the default mappings (when on) with the pair's
// own, checks them, and adds userType from the pair's user type.
func compileMappings(s PairSpec, userType string, c *collector) []*mapping {
	byTarget := map[string]*mapping{}
	if s.DefaultMappings == nil || *s.DefaultMappings {
		for _, ms := range DefaultMappings() {
			if m := compileMapping(ms, "default mapping", c); m != nil {
				byTarget[m.target] = m
			}
		}
	}
	mine := map[string]string{}
	for i, ms := range s.Mappings {
		key := fmt.Sprintf("mapping[%d]", i)
		if m := compileMapping(ms, key, c); m != nil {
			if prev, dup := mine[m.target]; dup {
				c.add(key+".target", 0, "%s is already mapped by %s", m.target, prev)
				continue
			}
			mine[m.target] = key
			if m.drop {
				if _, ok := byTarget[m.target]; !ok {
					c.add(key+".apply", 0, `apply = "never" drops a default mapping, and %s has none (default_mappings is off or it is not a default)`, m.target)
				}
				delete(byTarget, m.target)
				continue
			}
			byTarget[m.target] = m
		}
	}
	byTarget[propUserType] = &mapping{
		target: propUserType, kind: kString, key: "user_type",
		createOnly: !s.ConvertUserType, constant: userType, isConst: true,
	}
	out := make([]*mapping, 0, len(byTarget))
	for _, m := range byTarget {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].target < out[j].target })
	return out
}

// compileMapping checks one mapping, or returns nil after reporting why.
func compileMapping(ms MappingSpec, key string, c *collector) *mapping {
	n := len(c.errs)
	m := &mapping{key: key}
	target := strings.TrimSpace(ms.Target)
	pr := lookupProp(target)
	switch {
	case target == "":
		c.add(key+".target", 0, "target is required: the guest property to write")
	case target == propUserType || (pr != nil && pr.name == propUserType):
		c.add(key+".target", 0, "userType follows the pair's user_type and convert_user_type settings; set those instead")
	case pr == nil:
		c.add(key+".target", 0, "unknown guest property %q%s", ms.Target, suggestProp(target))
	case !pr.writable:
		c.add(key+".target", 0, "%s cannot be written: %s", pr.name, pr.readOnly)
	default:
		m.target, m.kind = pr.name, pr.kind
	}
	switch strings.ToLower(strings.TrimSpace(ms.Apply)) {
	case ApplyAlways, "":
	case ApplyCreate:
		m.createOnly = true
	case ApplyNever:
		if ms.Source != "" || ms.Constant != nil || ms.Expression != "" {
			c.add(key+".apply", 0, `apply = "never" drops the mapping: leave source, constant and expression out`)
		}
		if len(c.errs) > n {
			return nil
		}
		m.drop = true
		return m
	default:
		c.add(key+".apply", 0, "unknown apply %q: use \"always\", \"create\" (only when the guest is created) or \"never\" (drop a default mapping)", ms.Apply)
	}
	set := 0
	for _, b := range []bool{ms.Source != "", ms.Constant != nil, ms.Expression != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		c.add(key, 0, "give exactly one of source, constant or expression (got %d)", set)
		return nil
	}
	switch {
	case ms.Source != "":
		src := lookupProp(strings.TrimSpace(ms.Source))
		switch {
		case src == nil:
			c.add(key+".source", 0, "unknown source attribute %q%s", ms.Source, suggestProp(ms.Source))
		case (src.kind == kRef) != (m.kind == kRef) && m.target != "":
			c.add(key+".source", 0, "manager maps only from manager (the worker turns the source manager into its guest)")
		case src.kind == kStrings && m.target != "" && m.kind != kStrings:
			c.add(key+".source", 0, "%s is a string collection and %s a %s: use Item([%s], 1) or Join in an expression", src.name, m.target, m.kind, src.name)
		default:
			m.source = src.name
		}
	case ms.Constant != nil:
		if m.kind == kRef {
			c.add(key+".constant", 0, "manager maps only from manager, not a constant")
			break
		}
		v, err := coerce(*ms.Constant, m.kind)
		if err != nil {
			c.add(key+".constant", 0, "%s is a %s: %v", m.target, m.kind, err)
		}
		m.constant, m.isConst = v, true
	default:
		if m.kind == kRef {
			c.add(key+".expression", 0, "manager maps only from manager, not an expression")
			break
		}
		e, err := parseExpr(ms.Expression)
		if err != nil {
			c.add(key+".expression", column(ms.Expression, err.pos), "expression for %s: %s", target, err.msg)
			break
		}
		m.expr = e
	}
	if len(c.errs) > n {
		return nil
	}
	return m
}

// evalMappings computes the desired attributes of one user.
func evalMappings(ms []*mapping, u Attributes, creating bool) (map[string]any, error) {
	out := make(map[string]any, len(ms))
	var errs []error
	for _, m := range ms {
		if m.createOnly && !creating {
			continue
		}
		v, err := m.value(u)
		if err != nil {
			errs = append(errs, &EvalError{Target: m.target, Key: m.key, Err: err})
			continue
		}
		out[m.target] = v
	}
	switch len(errs) {
	case 0:
		return out, nil
	case 1:
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}
