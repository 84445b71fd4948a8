package guestmap

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/ctsync/ctsync/internal/directory"
	"time"
)

// Entry values are stored in a compact binary form so 100,000 users per
// pair fit in a few tens of megabytes of Redis:
//
//	byte    version (1)
//	byte    state
//	uvarint attempts
//	varint  created, updated, nextRetry (unix seconds; 0 = zero time)
//	8 bytes attribute hash (big endian)
//	id      guest ID
//	stamp   stamp
//	id      manager source ID
//	str     guest UPN, last error
//	byte    flags (optional: absent when zero; 1 = manager pending)
//
// An id is a tag byte: 0 empty, 1 followed by the 16 bytes of a canonical
// lower-case GUID, 2 followed by a str. A stamp uses tag 3 for the standard
// "ctsync:<tenant GUID>:<source ID>" form, followed by the tenant's 16
// bytes; otherwise it is encoded like an id. A str is a uvarint length and
// the bytes. The source ID is the hash field, not part of the value.
const codecVersion = 1

const (
	tagEmpty = 0
	tagGUID  = 1
	tagStr   = 2
	tagStamp = 3
)

// encodeEntry returns the stored value of e (SourceID excluded).
func encodeEntry(e *Entry) []byte {
	b := make([]byte, 0, 64+len(e.GuestUPN)+len(e.LastError))
	b = append(b, codecVersion, byte(e.State))
	b = binary.AppendUvarint(b, uint64(max(e.Attempts, 0)))
	b = binary.AppendVarint(b, unixOrZero(e.Created))
	b = binary.AppendVarint(b, unixOrZero(e.Updated))
	b = binary.AppendVarint(b, unixOrZero(e.NextRetry))
	b = binary.BigEndian.AppendUint64(b, e.AttrHash)
	b = appendID(b, e.GuestID)
	b = appendStamp(b, e.Stamp, e.SourceID)
	b = appendID(b, e.ManagerSourceID)
	b = appendStr(b, e.GuestUPN)
	b = appendStr(b, e.LastError)
	// Flags come last and only when set: entries without them keep their
	// size, and a ctsync from before them, which ignores trailing bytes,
	// still reads what a newer one writes (a rolling upgrade).
	if e.ManagerPending {
		b = append(b, flagManagerPending)
	}
	return b
}

// flagManagerPending is the flags bit of Entry.ManagerPending.
const flagManagerPending = 1

// decodeEntry is the inverse of encodeEntry.
func decodeEntry(sourceID string, b []byte) (Entry, error) {
	d := decoder{b: b}
	e := Entry{SourceID: sourceID}
	if v := d.byte(); v != codecVersion {
		return Entry{}, fmt.Errorf("guestmap: entry %s: version %d: %w", sourceID, v, ErrCorrupt)
	}
	e.State = State(d.byte())
	e.Attempts = int(d.uvarint())
	e.Created = timeOrZero(d.varint())
	e.Updated = timeOrZero(d.varint())
	e.NextRetry = timeOrZero(d.varint())
	e.AttrHash = d.uint64()
	e.GuestID = d.id()
	e.Stamp = d.stamp(sourceID)
	e.ManagerSourceID = d.id()
	e.GuestUPN = d.str()
	e.LastError = d.str()
	if !d.bad && len(d.b) > 0 {
		e.ManagerPending = d.byte()&flagManagerPending != 0
	}
	if d.bad {
		return Entry{}, fmt.Errorf("guestmap: entry %s: truncated: %w", sourceID, ErrCorrupt)
	}
	return e, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendID(b []byte, id string) []byte {
	if id == "" {
		return append(b, tagEmpty)
	}
	if g, ok := parseGUID(id); ok {
		return append(append(b, tagGUID), g[:]...)
	}
	return appendStr(append(b, tagStr), id)
}

func appendStamp(b []byte, stamp, sourceID string) []byte {
	if tenant, src, ok := directory.ParseStamp(stamp); ok && src == sourceID {
		if g, ok := parseGUID(tenant); ok {
			return append(append(b, tagStamp), g[:]...)
		}
	}
	return appendID(b, stamp)
}

// parseGUID accepts only the canonical lower-case 8-4-4-4-12 form, so that
// formatGUID gives back exactly the input.
func parseGUID(s string) (g [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, false
	}
	for i, o := range guidHexPairs {
		hi, lo := lowerHex[s[o]], lowerHex[s[o+1]]
		if (hi|lo)&0xf0 != 0 {
			return g, false
		}
		g[i] = hi<<4 | lo
	}
	return g, true
}

// guidHexPairs are the offsets of the 16 hex byte pairs of a GUID's
// 8-4-4-4-12 form.
var guidHexPairs = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// lowerHex maps '0'-'9' and 'a'-'f' to their values and every other byte
// (upper-case hex included) to 0xff.
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

func formatGUID(g []byte) string {
	var h [36]byte
	hex.Encode(h[0:8], g[0:4])
	h[8] = '-'
	hex.Encode(h[9:13], g[4:6])
	h[13] = '-'
	hex.Encode(h[14:18], g[6:8])
	h[18] = '-'
	hex.Encode(h[19:23], g[8:10])
	h[23] = '-'
	hex.Encode(h[24:36], g[10:16])
	return string(h[:])
}

// decoder reads the codec's fields, remembering the first short read.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n int) []byte {
	if d.bad || n < 0 || len(d.b) < n {
		d.bad = true
		return make([]byte, max(n, 0))
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte      { return d.take(1)[0] }
func (d *decoder) uint64() uint64  { return binary.BigEndian.Uint64(d.take(8)) }
func (d *decoder) str() string     { return string(d.take(int(d.uvarint()))) }
func (d *decoder) uvarint() uint64 { v, n := binary.Uvarint(d.b); d.skip(n); return v }
func (d *decoder) varint() int64   { v, n := binary.Varint(d.b); d.skip(n); return v }
func (d *decoder) skip(n int) {
	if n <= 0 {
		d.bad = true
		return
	}
	d.b = d.b[n:]
}

func (d *decoder) id() string {
	switch d.byte() {
	case tagEmpty:
		return ""
	case tagGUID:
		return formatGUID(d.take(16))
	case tagStr:
		return d.str()
	default:
		d.bad = true
		return ""
	}
}

func (d *decoder) stamp(sourceID string) string {
	if len(d.b) > 0 && d.b[0] == tagStamp {
		d.take(1)
		return directory.Stamp(formatGUID(d.take(16)), sourceID)
	}
	return d.id()
}
