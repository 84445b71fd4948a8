package guestmap

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Group sync keeps, per pair, one GroupEntry per source group it tracks
// and the link of the source's groups delta read, apart from the user map:
// reading the groups never loads the map, and dropping or rebuilding the
// map (Batch.DropMap, Rebuild) leaves them. Batch.DropGroups forgets them;
// ResetPair does both.
//
// The embedded store keeps the entries in the pair's "groups" bucket
// (source group ID -> value) and the link under the pair's key "glink";
// Redis in
//
//	ctsync:{P}:groups   HASH    source group ID -> group entry (binary, below)
//	ctsync:{P}:glink    STRING  the committed groups-delta link (Batch.GroupLink)

// GroupEntry is the store's record of one source group of a pair: what
// ctsync last read of it at the source and what it made of it in the target.
//
// Times are kept to the second, like Entry's.
type GroupEntry struct {
	SourceID    string `json:"sourceId"`              // the source group's object ID (the key)
	Name        string `json:"name,omitempty"`        // source displayName, as last read
	Description string `json:"description,omitempty"` // source description, as last read
	// MailNickname is the source mailNickname, as last read: group filters
	// may test it, and a group ctsync created carries its stamp there.
	MailNickname string `json:"mailNickname,omitempty"`
	// Users and Groups are the source group's direct members (object IDs, sorted, no duplicates).
	Users  []string `json:"users,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// MembersKnown says Users/Groups hold the full direct membership (false: never read).
	MembersKnown bool `json:"membersKnown,omitempty"`
	// InScope: the group is in the pair's group scope (false: tracked only because an in-scope group nests it).
	InScope   bool      `json:"inScope,omitempty"`
	TargetID  string    `json:"targetId,omitempty"` // the target group's object ID; "" before it exists
	Creating  time.Time `json:"creating,omitzero"`  // set just before POST /groups, cleared once TargetID is recorded: an interrupted create
	AttrHash  uint64    `json:"attrHash,omitempty"` // hash of the target attributes last written
	Managed   []string  `json:"managed,omitempty"`  // target member IDs (guests) ctsync added to the target group, sorted
	LastError string    `json:"lastError,omitempty"`
	Updated   time.Time `json:"updated,omitzero"`
}

// Group entry values, in the same building blocks as Entry's (codec.go),
// so a group of 100,000 members costs 1.7 MB rather than the 3.9 MB of a
// JSON array, and encodes and decodes in a few milliseconds:
//
//	byte    version (1)
//	byte    flags (1 members known, 2 in scope)
//	varint  creating, updated (unix seconds; 0 = zero time)
//	8 bytes attribute hash (big endian)
//	id      target ID
//	str     name, description, last error
//	ids     users, groups, managed
//	str     mail nickname
//
// ids is a uvarint count and that many ids. Bytes after the last field are
// ignored, so a later version may append fields that an older ctsync reads
// past. The source ID is the key, not part of the value.
const groupCodecVersion = 1

const (
	groupMembersKnown = 1 << iota
	groupInScope
)

// encodeGroup returns the stored value of g (SourceID excluded).
func encodeGroup(g *GroupEntry) []byte {
	n := len(g.Users) + len(g.Groups) + len(g.Managed)
	b := make([]byte, 0, 64+len(g.Name)+len(g.Description)+len(g.LastError)+17*n)
	var flags byte
	if g.MembersKnown {
		flags |= groupMembersKnown
	}
	if g.InScope {
		flags |= groupInScope
	}
	b = append(b, groupCodecVersion, flags)
	b = binary.AppendVarint(b, unixOrZero(g.Creating))
	b = binary.AppendVarint(b, unixOrZero(g.Updated))
	b = binary.BigEndian.AppendUint64(b, g.AttrHash)
	b = appendID(b, g.TargetID)
	b = appendStr(b, g.Name)
	b = appendStr(b, g.Description)
	b = appendStr(b, g.LastError)
	b = appendIDs(b, g.Users)
	b = appendIDs(b, g.Groups)
	b = appendIDs(b, g.Managed)
	return appendStr(b, g.MailNickname)
}

// decodeGroup is the inverse of encodeGroup.
func decodeGroup(sourceID string, b []byte) (GroupEntry, error) {
	d := decoder{b: b}
	g := GroupEntry{SourceID: sourceID}
	if v := d.byte(); v != groupCodecVersion {
		return GroupEntry{}, fmt.Errorf("guestmap: group entry %s: version %d: %w", sourceID, v, ErrCorrupt)
	}
	flags := d.byte()
	g.MembersKnown, g.InScope = flags&groupMembersKnown != 0, flags&groupInScope != 0
	g.Creating = timeOrZero(d.varint())
	g.Updated = timeOrZero(d.varint())
	g.AttrHash = d.uint64()
	g.TargetID = d.id()
	g.Name = d.str()
	g.Description = d.str()
	g.LastError = d.str()
	g.Users = d.ids()
	g.Groups = d.ids()
	g.Managed = d.ids()
	g.MailNickname = d.str()
	if d.bad {
		return GroupEntry{}, fmt.Errorf("guestmap: group entry %s: truncated: %w", sourceID, ErrCorrupt)
	}
	return g, nil
}

func appendIDs(b []byte, ids []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendID(b, id)
	}
	return b
}

// ids reads a list of ids. The strings share one backing string, built
// once: a list of 100,000 GUIDs is three allocations, not 100,000.
func (d *decoder) ids() []string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) { // every id takes at least its tag byte
		d.bad = true
		return nil
	}
	if n == 0 {
		return nil
	}
	var sb strings.Builder
	sb.Grow(int(n) * 36)
	ends := make([]int, n)
	var h [36]byte
	for i := range ends {
		switch d.byte() {
		case tagEmpty:
		case tagGUID:
			formatGUIDInto(&h, d.take(16))
			sb.Write(h[:])
		case tagStr:
			sb.Write(d.take(int(d.uvarint())))
		default:
			d.bad = true
		}
		if d.bad {
			return nil
		}
		ends[i] = sb.Len()
	}
	all := sb.String()
	out := make([]string, n)
	start := 0
	for i, end := range ends {
		out[i], start = all[start:end], end
	}
	return out
}

// formatGUIDInto writes the canonical form of a 16-byte GUID into h.
func formatGUIDInto(h *[36]byte, g []byte) {
	_ = g[15]
	for i, o := range guidHexPairs {
		h[o], h[o+1] = hexDigits[g[i]>>4], hexDigits[g[i]&0xf]
	}
	h[8], h[13], h[18], h[23] = '-', '-', '-', '-'
}

const hexDigits = "0123456789abcdef"

// prepareGroups validates b's group writes and fills their defaults: a
// zero Updated gets now, and member lists that are not sorted without
// duplicates are (in copies: the caller's slices are never changed). Both
// stores' Apply call it after prepareBatch.
func prepareGroups(b Batch, now time.Time) (Batch, error) {
	for _, id := range b.DeleteGroups {
		if err := checkID(id); err != nil {
			return b, err
		}
	}
	if len(b.PutGroups) == 0 {
		return b, nil
	}
	puts := make([]GroupEntry, len(b.PutGroups))
	for i, g := range b.PutGroups {
		if err := checkID(g.SourceID); err != nil {
			return b, err
		}
		if g.Updated.IsZero() {
			g.Updated = now
		}
		g.Users, g.Groups, g.Managed = sortedSet(g.Users), sortedSet(g.Groups), sortedSet(g.Managed)
		puts[i] = g
	}
	b.PutGroups = puts
	return b, nil
}

// sortedSet returns ids when they are sorted without duplicates (one pass,
// the usual case), else a sorted copy without them.
func sortedSet(ids []string) []string {
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			s := slices.Clone(ids)
			slices.Sort(s)
			return slices.Compact(s)
		}
	}
	return ids
}

// groupIDsPerItem is how many member IDs of a group entry count as one
// more item of a Redis chunk, so that a chunk stays a few megabytes
// (chunkItems × groupIDsPerItem IDs at most, but for one entry larger than
// that, which goes alone) however large the groups are.
const groupIDsPerItem = 100

// groupWeight is what one group entry counts toward a chunk's items.
func groupWeight(g *GroupEntry) int {
	return 1 + (len(g.Users)+len(g.Groups)+len(g.Managed))/groupIDsPerItem
}

// splitGroupBatch is splitBatch with the group fields: DropGroups goes
// with the resets of the first chunk, DeleteGroups and PutGroups follow
// the log (filling the last chunk of splitBatch, then chunks of their
// own, a group entry weighing groupWeight items), and GroupLink goes with
// the other links in the last chunk. A batch whose items, group weights
// included, fit one chunk stays one chunk.
func splitGroupBatch(b Batch, max int) []Batch {
	chunks := splitBatch(b, max)
	chunks[0].DropGroups = b.DropGroups
	cur := chunks[len(chunks)-1]
	chunks = chunks[:len(chunks)-1]
	tail := cur
	cur.DeltaLink, cur.FastLink, cur.Status, cur.Quarantine, cur.Unlock = nil, nil, nil, nil, nil
	n := len(cur.Delete) + len(cur.Put) + len(cur.Unstage) + len(cur.Stage) + len(cur.Log)
	room := func(w int) {
		if n > 0 && n+w > max {
			chunks = append(chunks, cur)
			cur, n = Batch{}, 0
		}
		n += w
	}
	for _, id := range b.DeleteGroups {
		room(1)
		cur.DeleteGroups = append(cur.DeleteGroups, id)
	}
	for i := range b.PutGroups {
		room(groupWeight(&b.PutGroups[i]))
		cur.PutGroups = append(cur.PutGroups, b.PutGroups[i])
	}
	cur.DeltaLink, cur.FastLink, cur.Status, cur.Quarantine, cur.Unlock = tail.DeltaLink, tail.FastLink, tail.Status, tail.Quarantine, tail.Unlock
	cur.GroupLink = b.GroupLink
	return append(chunks, cur)
}

// sortGroups orders entries by source ID.
func sortGroups(gs []GroupEntry) {
	slices.SortFunc(gs, func(a, b GroupEntry) int { return cmp.Compare(a.SourceID, b.SourceID) })
}

// CommitGroupLink commits a pair's groups-delta link under its lease.
func CommitGroupLink(ctx context.Context, s Store, lease *Lease, link string) error {
	return s.Apply(ctx, lease, Batch{GroupLink: &link})
}
