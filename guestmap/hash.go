package guestmap

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
)

// HashAttrs returns a stable 64-bit hash of a set of attributes (Graph
// property name -> value as in directory.User.Attrs), for Entry.AttrHash:
// equal maps hash equal whatever their order; a nil value and a missing key
// differ. Values are string, bool, integers, floats, []string or nil;
// anything else is hashed by its fmt %#v form.
func HashAttrs(attrs map[string]any) uint64 {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := fnv.New64a()
	var buf []byte
	for _, k := range keys {
		buf = appendStr(buf[:0], k)
		buf = appendValue(buf, attrs[k])
		h.Write(buf)
	}
	return h.Sum64()
}

// appendValue writes a type tag and the value, so "1", 1 and true differ.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'n')
	case string:
		return appendStr(append(b, 's'), x)
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	case int:
		return binary.AppendVarint(append(b, 'i'), int64(x))
	case int32:
		return binary.AppendVarint(append(b, 'i'), int64(x))
	case int64:
		return binary.AppendVarint(append(b, 'i'), x)
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 'd'), math.Float64bits(x))
	case []string:
		b = binary.AppendUvarint(append(b, 'l'), uint64(len(x)))
		for _, s := range x {
			b = appendStr(b, s)
		}
		return b
	default:
		return appendStr(append(b, 'x'), fmt.Sprintf("%#v", v))
	}
}
