package tenants

import (
	"strconv"
	"strings"
)

// ODataString returns s as an OData string literal for $filter: wrapped in
// single quotes, with every quote inside doubled. It is the only way ctsync
// puts a value into a filter, so that a value such as o'brien@contoso.com
// works and a value such as "x' or 1 eq 1 or mail eq 'y" stays one literal
// instead of widening the query.
func ODataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// filterEq returns "prop eq 'value'".
func filterEq(prop, value string) string {
	return prop + " eq " + ODataString(value)
}

// filterAnyEq returns "prop/any(x:x eq 'value')" for string collections.
func filterAnyEq(prop, value string) string {
	return prop + "/any(x:x eq " + ODataString(value) + ")"
}

// extensionSlot returns N for "extensionAttributeN" (1..15).
func extensionSlot(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "extensionAttribute")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || n > 15 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}
