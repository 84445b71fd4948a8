package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math"
	"reflect"
	"sort"
	"strconv"
)

// Hash returns a stable hash of a desired attribute set: the same
// attributes give the same hash on every run and machine, whatever the
// map's iteration order, so an unchanged user costs no write. Keys are
// sorted and each value is written in a canonical, type-tagged,
// length-prefixed encoding; null, "" and an empty collection hash alike
// (Graph treats them as the same absence). The result is the first 64
// bits of SHA-256: the map keeps it per user, so it stays small.
func Hash(attrs map[string]any) uint64 {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	var buf [8]byte
	for _, k := range keys {
		writeStr(h, &buf, k)
		writeValue(h, &buf, attrs[k])
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

func writeStr(h hash.Hash, buf *[8]byte, s string) {
	binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
	h.Write(buf[:])
	h.Write([]byte(s))
}

// writeValue writes a tag byte then the value.
func writeValue(h hash.Hash, buf *[8]byte, v any) {
	if isEmpty(v) {
		h.Write([]byte{'n'})
		return
	}
	switch x := v.(type) {
	case string:
		h.Write([]byte{'s'})
		writeStr(h, buf, x)
	case bool:
		if x {
			h.Write([]byte{'t'})
		} else {
			h.Write([]byte{'f'})
		}
	case int64:
		h.Write([]byte{'i'})
		binary.BigEndian.PutUint64(buf[:], uint64(x))
		h.Write(buf[:])
	case int:
		writeValue(h, buf, int64(x))
	case []string:
		h.Write([]byte{'l'})
		binary.BigEndian.PutUint64(buf[:], uint64(len(x)))
		h.Write(buf[:])
		for _, s := range x {
			writeStr(h, buf, s)
		}
	case float64:
		h.Write([]byte{'d'})
		binary.BigEndian.PutUint64(buf[:], math.Float64bits(x))
		h.Write(buf[:])
	default:
		// Not a value policy produces; hash its printed form so the result
		// is still deterministic for simple types.
		h.Write([]byte{'?'})
		writeStr(h, buf, strconv.Quote(fmt.Sprintf("%T:%v", v, v)))
	}
}

// GroupHash returns the hash of a target group's attributes as
// GroupRules.Target gives them, so an unchanged group costs no write. It
// is Hash of the two properties by their Graph names: a description of ""
// hashes as none, as Graph stores it.
func GroupHash(displayName, description string) uint64 {
	return Hash(map[string]any{"displayName": displayName, "description": description})
}

// SameValue compares two Graph values as Hash does: equal values, or both
// null, "" or an empty collection (Graph's ways of saying "no value").
func SameValue(a, b any) bool {
	if isEmpty(a) && isEmpty(b) {
		return true
	}
	return reflect.DeepEqual(a, b)
}
