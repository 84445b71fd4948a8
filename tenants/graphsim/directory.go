package graphsim

import (
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Tenant is one simulated Entra tenant: its directory (users, deleted
// items, groups), its app registrations and its change log for delta.
//
// The exported methods inspect and mutate the directory in-process; they
// bypass HTTP, realism and permissions and are not counted in Stats. Their
// writes still reach the search index only after Realism.IndexLag, like
// any write (an admin's change in the portal is not indexed sooner).
type Tenant struct {
	s      *Server
	name   string
	id     string
	domain string

	mu    sync.RWMutex
	rng   *rand.Rand
	users map[string]*user  // live users by ID
	upns  map[string]string // lower-cased UPN -> ID (live users)
	ids   []string          // live user IDs, sorted: stable paging order (read through liveIDs)
	// pendingIDs are live user IDs created since ids was last merged:
	// inserting each into the sorted ids moved the whole slice (with GC
	// write barriers), which at 100,000 users was most of the simulator's
	// CPU in a first sync. Readers merge them in (liveIDs); writers, who
	// hold mu, append. idsMu serialises the merge between readers holding
	// only mu's read lock.
	pendingIDs []string
	idsMu      sync.Mutex
	deleted    map[string]*user  // soft-deleted users by ID
	tombs      map[string]uint64 // hard-deleted user ID -> sequence of the deletion
	groups     map[string]*group
	gids       []string          // group IDs, sorted
	gseq       uint64            // group change sequence: groups delta tokens remember it (groups_delta.go)
	gtombs     map[string]uint64 // deleted group ID -> gseq of its deletion
	gidx       groupIndex        // the lagging index of group $filter lists (groups_index.go)
	apps       map[string]*app
	seq        uint64       // change sequence; delta tokens remember it
	epoch      uint64       // bumped by ExpireDeltaTokens
	members    atomic.Int64 // live users, for throttling tiers
	mainApp    *app
	invCount   uint64
	idx        searchIndex    // the lagging index of $filter and advanced queries
	ix         eqIndex        // live users by the values ctsync looks up (index.go)
	bulk       bool           // generating: ids are appended, sorted at the end
	lastStamp  any            // the last createdDateTime (stamp), boxed
	rules      tenantRules    // collaboration settings, admin roles, domains (rules.go)
	policies   tenantPolicies // authorization and cross-tenant access policies (policies.go)
	mto        *mtoOrg        // the multi-tenant organisation, shared by the server's tenants (mto.go)
}

// user is one stored user object.
type user struct {
	id          string
	props       map[string]any    // Graph name -> value; absent: never set
	manager     string            // manager's object ID, "" for none
	prevManager string            // the manager before the last manager change (for manager@delta)
	seqs        map[string]uint64 // property -> sequence of its last change, when not created (see seq)
	managerSeq  uint64            // sequence of the last manager change, 0 for never
	created     uint64            // sequence of creation or restore
	visibleAt   time.Time         // replication lag: by-ID reads answer 404 before this
	bornAt      time.Time         // creation over Graph (zero for in-process users): replica misses
	deletedAt   time.Time
	deletedSeq  uint64
}

// group is one security group with direct members (users or groups).
type group struct {
	id          string
	displayName string
	mailNick    string
	description string
	members     []string
	// Delta and consistency (groups_*.go).
	created   uint64                // gseq of creation
	seqs      map[string]uint64     // displayName, description, mailNickname -> gseq of the last change
	marks     map[string]memberMark // member ID -> its last membership change after creation
	createdAt string                // createdDateTime
	visibleAt time.Time             // replication lag: by-ID requests answer 404 before this
	bornAt    time.Time             // creation over Graph (zero in-process): replica misses
}

// app is an app registration (service principal) in a tenant.
type app struct {
	clientID string
	secret   string
	perms    map[string]bool
	cert     *appCert
	// secretExpired: the secret is still the app's but past its end
	// date (ExpireSecret): the token endpoint answers AADSTS7000222.
	secretExpired bool
}

// DefaultPermissions are the application permissions of every tenant's
// default app: what ctsync needs, and the two read-only permissions its
// set-up commands use, nothing more.
//
// User.DeleteRestore.All covers restore and permanent delete of deleted
// items; Group.ReadWrite.All lets group sync create the target's groups
// and write their members; Domain.Read.All lets ctsync read the target's
// verified domains.
// MultiTenantOrganization.Read.All and CrossTenantInformation.ReadBasic.All
// let `ctsync init --from-mto` read the multi-tenant organisation and its
// tenants' domains, and `validate --online` compare it with the
// configuration (a sync needs neither).
var DefaultPermissions = []string{"User.ReadWrite.All", "User.Invite.All", "GroupMember.Read.All",
	"User.DeleteRestore.All", "Domain.Read.All", "MultiTenantOrganization.Read.All", "CrossTenantInformation.ReadBasic.All",
	PermWriteGroups}

// Name is the tenant's short name ("contoso").
func (t *Tenant) Name() string { return t.name }

// ID is the tenant's ID (a GUID derived from its name).
func (t *Tenant) ID() string { return t.id }

// Domain is the tenant's initial domain ("contoso.onmicrosoft.com").
func (t *Tenant) Domain() string { return t.domain }

// ClientID is the client ID of the tenant's default app registration.
func (t *Tenant) ClientID() string { return t.mainApp.clientID }

// ClientSecret is the client secret of the tenant's default app.
func (t *Tenant) ClientSecret() string { return t.mainApp.secret }

func (t *Tenant) newID() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := t.rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[x>>4], hexd[x&0x0f])
	}
	return string(out)
}

func (t *Tenant) bump() uint64 {
	t.seq++
	return t.seq
}

// insertLive adds u to the live indexes.
func (t *Tenant) insertLive(u *user) {
	t.users[u.id] = u
	if upn, _ := u.props["userPrincipalName"].(string); upn != "" {
		t.upns[strings.ToLower(upn)] = u.id
	}
	if t.bulk {
		t.ids = append(t.ids, u.id) // new IDs; generate sorts them at the end
	} else {
		t.pendingIDs = append(t.pendingIDs, u.id) // merged by liveIDs
	}
	t.ix.add(u)
	t.members.Store(int64(len(t.users)))
}

// removeLive drops u from the live indexes.
func (t *Tenant) removeLive(u *user) {
	t.ix.remove(u)
	delete(t.users, u.id)
	if upn, _ := u.props["userPrincipalName"].(string); upn != "" {
		if t.upns[strings.ToLower(upn)] == u.id {
			delete(t.upns, strings.ToLower(upn))
		}
	}
	ids := t.liveIDs()
	if i, found := slices.BinarySearch(ids, u.id); found {
		t.ids = slices.Delete(ids, i, i+1)
	}
	t.members.Store(int64(len(t.users)))
}

// liveIDs returns the live user IDs in ID order, merging in those created
// since the last call. The caller holds mu (read or write); the slice
// returned is not changed afterwards by a merge (a merge makes a new one),
// only by a writer holding mu.
func (t *Tenant) liveIDs() []string {
	t.idsMu.Lock()
	defer t.idsMu.Unlock()
	if len(t.pendingIDs) == 0 {
		return t.ids
	}
	slices.Sort(t.pendingIDs)
	merged := make([]string, 0, len(t.ids)+len(t.pendingIDs))
	a, b := t.ids, t.pendingIDs
	for len(a) > 0 && len(b) > 0 {
		if a[0] <= b[0] {
			merged, a = append(merged, a[0]), a[1:]
		} else {
			merged, b = append(merged, b[0]), b[1:]
		}
	}
	merged = append(append(merged, a...), b...)
	t.ids, t.pendingIDs = slices.Compact(merged), nil
	return t.ids
}

// lookup finds a live user by object ID or UPN (case-insensitive).
func (t *Tenant) lookup(idOrUPN string) *user {
	if u := t.users[idOrUPN]; u != nil {
		return u
	}
	if u := t.users[strings.ToLower(idOrUPN)]; u != nil {
		return u
	}
	if id, ok := t.upns[strings.ToLower(idOrUPN)]; ok {
		return t.users[id]
	}
	return nil
}

// newUser creates and indexes a user with already validated properties; it
// keeps props (the caller must not use it afterwards).
func (t *Tenant) newUser(props map[string]any, now time.Time, lag time.Duration) *user {
	seq := t.bump()
	u := &user{
		id:        t.newID(),
		props:     props, // the caller's fresh map; changed at u.created: no seqs entries (seq)
		created:   seq,
		visibleAt: now.Add(lag),
	}
	u.props["id"] = u.id
	u.props["createdDateTime"] = t.stamp(now)
	t.insertLive(u)
	t.indexCreated(u.id)
	return u
}

// seq is the sequence of the last change of property k. Properties set
// when the user was created carry no seqs entry (a seeded tenant of
// 100,000 users would hold millions of them): they changed at u.created.
// id, createdDateTime and deletedDateTime are stored beside the properties
// but were never "changed" (0) unless a restore marked every property.
func (u *user) seq(k string) uint64 {
	if s, ok := u.seqs[k]; ok {
		return s
	}
	switch k {
	case "id", "createdDateTime", "deletedDateTime":
		return 0
	}
	if _, ok := u.props[k]; ok {
		return u.created
	}
	return 0
}

func (u *user) setSeq(k string, seq uint64) {
	if u.seqs == nil {
		u.seqs = map[string]uint64{}
	}
	u.seqs[k] = seq
}

// stamp formats a creation time; users created in the same second (a
// seeded tenant: all of them) share one string.
func (t *Tenant) stamp(now time.Time) any {
	s := now.UTC().Format(time.RFC3339)
	if t.lastStamp != nil && t.lastStamp.(string) == s {
		return t.lastStamp
	}
	t.lastStamp = s
	return t.lastStamp
}

// setProps applies validated property values, recording a change sequence
// only for values that really change (a no-op PATCH surfaces nothing in delta).
func (t *Tenant) setProps(u *user, props map[string]any) {
	var seq uint64
	live := t.users[u.id] == u
	for k, v := range props {
		old, had := u.props[k]
		if k == "onPremisesExtensionAttributes" {
			merged := mergeExt(old, v)
			if had && equalValue(old, merged) {
				continue
			}
			v = merged
		} else if had && equalValue(old, v) {
			continue
		}
		if seq == 0 {
			seq = t.bump()
			t.indexBefore(u)
			if live {
				t.ix.remove(u)
			}
		}
		if k == "userPrincipalName" {
			if s, _ := old.(string); s != "" {
				delete(t.upns, strings.ToLower(s))
			}
			if s, _ := v.(string); s != "" {
				t.upns[strings.ToLower(s)] = u.id
			}
		}
		u.props[k] = v
		u.setSeq(k, seq)
	}
	if seq != 0 && live {
		t.ix.add(u)
	}
}

// setManager sets or clears (id "") a user's manager.
func (t *Tenant) setManager(u *user, managerID string) {
	if u.manager == managerID {
		return
	}
	t.indexBefore(u)
	u.prevManager = u.manager
	u.manager = managerID
	u.managerSeq = t.bump()
}

// softDelete moves a live user to deleted items.
func (t *Tenant) softDelete(u *user, now time.Time) {
	t.indexBefore(u)
	t.removeLive(u)
	u.deletedAt = now
	u.deletedSeq = t.bump()
	u.props["deletedDateTime"] = now.UTC().Format(time.RFC3339)
	t.deleted[u.id] = u
	t.dropMemberships(u.id)
}

// hardDelete removes a user (live or deleted) for good.
func (t *Tenant) hardDelete(u *user) {
	t.indexBefore(u)
	if t.users[u.id] == u {
		t.removeLive(u)
	}
	delete(t.deleted, u.id)
	t.tombs[u.id] = t.bump()
	t.dropMemberships(u.id)
	for _, o := range t.users {
		if o.manager == u.id {
			t.setManager(o, "")
		}
	}
}

// restore brings a soft-deleted user back; every property counts as changed.
func (t *Tenant) restore(u *user) {
	t.indexBefore(u)
	delete(t.deleted, u.id)
	seq := t.bump()
	delete(u.props, "deletedDateTime")
	u.deletedAt = time.Time{}
	u.deletedSeq = 0
	u.created = seq
	if u.managerSeq != 0 {
		u.managerSeq = seq
	}
	for k := range u.props {
		u.setSeq(k, seq)
	}
	t.insertLive(u)
}

// purgeExpired hard-deletes users that stayed 30 days in deleted items.
func (t *Tenant) purgeExpired(now time.Time) {
	for _, u := range t.deleted {
		if now.Sub(u.deletedAt) >= 30*24*time.Hour {
			t.hardDelete(u)
		}
	}
}

// dropMemberships takes a deleted object out of every group it was a
// direct member of; groups delta reports each as a member removal.
func (t *Tenant) dropMemberships(id string) {
	var seq uint64
	for _, g := range t.groups {
		if slices.Contains(g.members, id) {
			if seq == 0 {
				seq = t.gbump()
			}
			t.leaveGroup(g, id, seq)
		}
	}
}

func (t *Tenant) addGroup(g *group) {
	g.created = t.gbump()
	if g.createdAt == "" {
		g.createdAt = t.s.now().UTC().Format(time.RFC3339)
	}
	t.groupIndexBefore(g, true)
	t.groups[g.id] = g
	i, _ := slices.BinarySearch(t.gids, g.id)
	t.gids = slices.Insert(t.gids, i, g.id)
}

// sortedDeleted lists soft-deleted users by ID.
func (t *Tenant) sortedDeleted() []*user {
	out := make([]*user, 0, len(t.deleted))
	for _, u := range t.deleted {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// mergeExt merges an onPremisesExtensionAttributes update into the old
// value: Graph's PATCH of a complex property changes only the named members.
func mergeExt(old, upd any) map[string]any {
	out := map[string]any{}
	if m, ok := old.(map[string]any); ok {
		for k, v := range m {
			out[k] = v
		}
	}
	if m, ok := upd.(map[string]any); ok {
		for k, v := range m {
			if v == nil {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
	}
	return out
}

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case []string:
		y, ok := b.([]string)
		return ok && slices.Equal(x, y)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !equalValue(v, w) {
				return false
			}
		}
		return true
	case []map[string]any:
		y, ok := b.([]map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}
