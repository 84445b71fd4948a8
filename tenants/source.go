package tenants

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/internal/directory"
	abs "github.com/microsoft/kiota-abstractions-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// Source is a tenant as a sync source: its internal members, read in full
// or by delta query, a page at a time.
type Source struct{ c *Client }

// scopeProps are always selected on source reads, so that the caller's
// scope can tell internal members from guests and external members (delta
// cannot filter by userType) and disabled users from enabled ones.
var scopeProps = []string{
	directory.PropUserType, directory.PropCreationType, directory.PropAccountEnabled,
	directory.PropUPN, directory.PropMail,
}

// errorMapping makes the SDK parse every 4xx/5xx body as an OData error.
var errorMapping = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// IsInternalMember reports whether u is one of the tenant's own members:
// userType Member, not created by invitation, not an #EXT# account. Only
// these are synced (a guest synced onward could loop back). Removed users
// and users read without these properties are not internal members.
func IsInternalMember(u directory.User) bool {
	return u.Removed == directory.NotRemoved &&
		u.Str(directory.PropUserType) == "Member" &&
		!strings.EqualFold(u.Str(directory.PropCreationType), "Invitation") &&
		!strings.Contains(strings.ToUpper(u.Str(directory.PropUPN)), "#EXT#")
}

// withScope returns props plus scopeProps, without duplicates.
func withScope(props []string) []string {
	out := append([]string{}, props...)
	for _, p := range scopeProps {
		found := false
		for _, q := range props {
			found = found || q == p
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}

func wantsManager(props []string) bool {
	for _, p := range props {
		if p == directory.PropManager {
			return true
		}
	}
	return false
}

// Users streams the tenant's internal members with props, a page (up to
// Config.PageSize users) at a time: guests are filtered out by Graph
// ($filter userType eq 'Member') and external members here. When props
// holds "manager" it is ignored: read managers with Managers, for the users
// in scope only. Nothing but the current page is held in memory.
func (s *Source) Users(ctx context.Context, props []string, page func([]directory.User) error) error {
	c := s.c
	props = withScope(props)
	filter := filterEq(directory.PropUserType, "Member")
	top := int32(c.cfg.PageSize)
	cfg := &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
			Select: selectFor(props, scopeProps...), Filter: &filter, Top: &top,
		},
	}
	return c.listUsers(ctx, "GET /users", cfg, props, IsInternalMember, page)
}

// listUsers pages through GET /users with cfg, converts each user with
// props and hands the ones keep accepts to page, a page at a time (empty
// pages are skipped). cfg's headers go on every page: an advanced query
// needs ConsistencyLevel on the next links too.
func (c *Client) listUsers(ctx context.Context, op string, cfg *users.UsersRequestBuilderGetRequestConfiguration,
	props []string, keep func(directory.User) bool, page func([]directory.User) error) error {
	nextCfg := &users.UsersRequestBuilderGetRequestConfiguration{Headers: cfg.Headers}
	return pageThrough(ctx, c, op, callOpts{},
		func(ctx context.Context) (models.UserCollectionResponseable, error) {
			return c.usersBuilder().Get(ctx, cfg)
		},
		func(ctx context.Context, next string) (models.UserCollectionResponseable, error) {
			return users.NewUsersRequestBuilder(next, c.adapter).Get(ctx, nextCfg)
		},
		func(ms []models.Userable) error {
			out := make([]directory.User, 0, len(ms))
			for _, u := range ms {
				if du := fromModel(u, props, allPresent); keep(du) {
					out = append(out, du)
				}
			}
			if len(out) > 0 {
				return page(out)
			}
			return nil
		})
}

// collection is a page of a Graph collection response.
type collection[M any] interface {
	GetValue() []M
	GetOdataNextLink() *string
}

// pageThrough pages through a Graph collection with op and opts: first
// reads the first page, nextPage the page at a nextLink; each page's
// objects go to handle. A nil response ends the listing.
func pageThrough[M any, R collection[M]](ctx context.Context, c *Client, op string, opts callOpts,
	first func(ctx context.Context) (R, error), nextPage func(ctx context.Context, next string) (R, error),
	handle func([]M) error) error {
	next := ""
	for {
		var resp R
		err := c.call(ctx, op, opts, func(ctx context.Context) error {
			var err error
			if next == "" {
				resp, err = first(ctx)
			} else {
				resp, err = nextPage(ctx, next)
			}
			return err
		})
		if err != nil {
			return err
		}
		if any(resp) == nil {
			return nil
		}
		if err := handle(resp.GetValue()); err != nil {
			return err
		}
		if next = deref(resp.GetOdataNextLink()); next == "" {
			return nil
		}
	}
}

func allPresent(string) bool { return true }

func everyone(directory.User) bool { return true }

// User reads one user by object ID or UPN, with props ("manager" is read
// by Managers). A missing user is a GraphError with NotFound.
func (s *Source) User(ctx context.Context, idOrUPN string, props []string) (*directory.User, error) {
	return s.c.getUser(ctx, idOrUPN, withScope(props))
}

// getUser reads one user with props (manager not included).
func (c *Client) getUser(ctx context.Context, id string, props []string) (*directory.User, error) {
	var m models.Userable
	cfg := &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: selectFor(props)},
	}
	err := c.call(ctx, "GET /users/{id}", c.callOptsFor(id), func(ctx context.Context) error {
		var err error
		m, err = c.usersBuilder().ByUserId(id).Get(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &GraphError{Tenant: c.cfg.Name, Op: "GET /users/{id}", Err: fmt.Errorf("empty response for user %s", id)}
	}
	u := fromModel(m, props, allPresent)
	return &u, nil
}

func (c *Client) usersBuilder() *users.UsersRequestBuilder {
	return users.NewUsersRequestBuilderInternal(map[string]string{}, c.adapter)
}

// Delta runs one delta round. With link "" it starts a full round (every
// user, guests included: Graph cannot filter delta by userType, so the
// caller's scope must, see IsInternalMember); otherwise it continues from a
// deltaLink returned earlier. Pages carry changed users (only the
// properties Graph sent: a missing key means "not sent") and removed ones
// (Removed set, no Attrs). It returns the new deltaLink once the last page
// was handled: the caller persists it only after applying every page. An
// expired link fails with IsSyncStateExpired: start again with "".
//
// When props holds "manager", delta selects it and Graph reports changes
// as manager@delta: Attrs["manager"] is then the manager's object ID, nil
// when the manager was removed, and absent when this page did not report
// the manager (unchanged; on a full round, a user without a manager).
func (s *Source) Delta(ctx context.Context, link string, props []string, page func([]directory.User) error) (string, error) {
	c := s.c
	props = withScope(props)
	const op = "GET /users/delta"
	fetch := func(next string) ([]byte, error) {
		return c.deltaPage(ctx, op, func(ctx context.Context) (*abs.RequestInformation, error) {
			if next == "" {
				return c.usersBuilder().Delta().
					ToGetRequestInformation(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
						QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: deltaSelectFor(props, scopeProps...)},
					})
			}
			return users.NewDeltaRequestBuilder(next, c.adapter).ToGetRequestInformation(ctx, nil)
		})
	}
	decode := func(body []byte) ([]directory.User, string, string, error) { return decodeDeltaPage(body, props) }
	return runDelta(c, op, link, fetch, decode, page)
}

// runDelta runs one delta round with op from link ("" starts a full
// round): fetch reads a page's raw body (next "" is the round's first
// page; an expired link fails there, see IsSyncStateExpired), decode
// splits it into its objects, nextLink and deltaLink, and page gets the
// objects of each page that has any. It returns the deltaLink once the
// last page was handled.
func runDelta[T any](c *Client, op, link string, fetch func(next string) ([]byte, error),
	decode func(body []byte) (out []T, next, delta string, err error), page func([]T) error) (string, error) {
	next := link
	for {
		body, err := fetch(next)
		if err != nil {
			return "", err
		}
		out, nextLink, deltaLink, err := decode(body)
		if err != nil {
			return "", &GraphError{Tenant: c.cfg.Name, Op: op, Err: err}
		}
		if len(out) > 0 {
			if err := page(out); err != nil {
				return "", err
			}
		}
		switch {
		case deltaLink != "":
			return deltaLink, nil
		case nextLink != "":
			next = nextLink
		default:
			return "", &GraphError{Tenant: c.cfg.Name, Op: op,
				Err: fmt.Errorf("page has neither @odata.nextLink nor @odata.deltaLink")}
		}
	}
}

// deltaPage sends the delta request build makes and returns the page as
// raw bytes: Graph may leave unchanged properties out of a delta item, and
// the typed model cannot tell absent from null (nor carries the
// "@removed" of members@delta).
func (c *Client) deltaPage(ctx context.Context, op string,
	build func(ctx context.Context) (*abs.RequestInformation, error)) ([]byte, error) {
	var body []byte
	err := c.call(ctx, op, callOpts{}, func(ctx context.Context) error {
		info, err := build(ctx)
		if err != nil {
			return err
		}
		res, err := c.adapter.SendPrimitive(ctx, info, "[]byte", errorMapping)
		body, _ = res.([]byte)
		return err
	})
	return body, err
}

// deltaEnvelope is a delta page as raw JSON: each object's fields, and
// the page's links.
type deltaEnvelope struct {
	Value []map[string]json.RawMessage `json:"value"`
	Next  string                       `json:"@odata.nextLink"`
	Delta string                       `json:"@odata.deltaLink"`
}

// decodeDeltaEnvelope reads a delta page's raw JSON; what names the page
// in an error ("delta page", "groups delta page").
func decodeDeltaEnvelope(body []byte, what string) (deltaEnvelope, error) {
	var raw deltaEnvelope
	if len(body) == 0 {
		return raw, fmt.Errorf("empty delta page")
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return raw, fmt.Errorf("decode %s: %w", what, err)
	}
	return raw, nil
}

// removal reads a delta object's "@removed" annotation ({"reason":
// "changed"|"deleted"}): deleted is HardDeleted, changed SoftDeleted, any
// other reason def.
func removal(rm json.RawMessage, def directory.Removal) directory.Removal {
	var r struct{ Reason string }
	_ = json.Unmarshal(rm, &r)
	switch r.Reason {
	case string(directory.HardDeleted):
		return directory.HardDeleted
	case string(directory.SoftDeleted):
		return directory.SoftDeleted
	}
	return def
}

// decodeDeltaPage reads a delta page twice: with the SDK's parser for typed
// values, and as raw JSON for which properties were present and for
// "@removed".
func decodeDeltaPage(body []byte, props []string) (out []directory.User, next, delta string, err error) {
	raw, err := decodeDeltaEnvelope(body, "delta page")
	if err != nil {
		return nil, "", "", err
	}
	node, err := jsonser.NewJsonParseNode(body)
	if err != nil {
		return nil, "", "", fmt.Errorf("parse delta page: %w", err)
	}
	parsed, err := node.GetObjectValue(users.CreateDeltaGetResponseFromDiscriminatorValue)
	if err != nil {
		return nil, "", "", fmt.Errorf("parse delta page: %w", err)
	}
	typed := parsed.(users.DeltaGetResponseable).GetValue()
	if len(typed) != len(raw.Value) {
		return nil, "", "", fmt.Errorf("delta page: %d typed users for %d values", len(typed), len(raw.Value))
	}
	out = make([]directory.User, 0, len(typed))
	for i, m := range typed {
		fields := raw.Value[i]
		if rm, ok := fields["@removed"]; ok {
			out = append(out, directory.User{ID: deref(m.GetId()), Removed: removal(rm, directory.SoftDeleted)})
			continue
		}
		u := fromModel(m, props, func(name string) bool {
			_, ok := fields[name]
			return ok
		})
		if wantsManager(props) {
			if md, ok := fields["manager@delta"]; ok {
				mgr, reported, err := decodeManagerDelta(md)
				if err != nil {
					return nil, "", "", fmt.Errorf("delta page: user %s: %w", u.ID, err)
				}
				if reported {
					u.Attrs[directory.PropManager] = mgr
				}
			}
		}
		out = append(out, u)
	}
	return out, raw.Next, raw.Delta, nil
}

// decodeManagerDelta reads a manager@delta annotation: an array of
// {"@odata.type", "id"} entries, where an entry carrying "@removed" is a
// manager taken away. The manager is the last entry not removed (a change
// of manager may list the old one removed beside the new one); nil when
// every entry is a removal; not reported when the array is empty.
func decodeManagerDelta(raw json.RawMessage) (manager any, reported bool, err error) {
	var entries []struct {
		ID      string          `json:"id"`
		Removed json.RawMessage `json:"@removed"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, false, fmt.Errorf("decode manager@delta: %w", err)
	}
	if len(entries) == 0 {
		return nil, false, nil
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if e := entries[i]; (len(e.Removed) == 0 || string(e.Removed) == "null") && e.ID != "" {
			return e.ID, true, nil
		}
	}
	return nil, true, nil
}

// GroupMembers returns the object IDs of a group's user members, direct or
// transitive (nested groups expanded by Graph).
func (s *Source) GroupMembers(ctx context.Context, groupID string, transitive bool) ([]string, error) {
	c := s.c
	var ids []string
	op := "GET /groups/{id}/members"
	if transitive {
		op = "GET /groups/{id}/transitiveMembers"
	}
	sel := []string{"id"}
	top := int32(999)
	first := func(ctx context.Context) (models.DirectoryObjectCollectionResponseable, error) {
		g := groups.NewGroupsRequestBuilderInternal(map[string]string{}, c.adapter).ByGroupId(groupID)
		if transitive {
			return g.TransitiveMembers().Get(ctx, &groups.ItemTransitiveMembersRequestBuilderGetRequestConfiguration{
				QueryParameters: &groups.ItemTransitiveMembersRequestBuilderGetQueryParameters{Select: sel, Top: &top},
			})
		}
		return g.Members().Get(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: sel, Top: &top},
		})
	}
	nextPage := func(ctx context.Context, next string) (models.DirectoryObjectCollectionResponseable, error) {
		if transitive {
			return groups.NewItemTransitiveMembersRequestBuilder(next, c.adapter).Get(ctx, nil)
		}
		return groups.NewItemMembersRequestBuilder(next, c.adapter).Get(ctx, nil)
	}
	err := pageThrough(ctx, c, op, callOpts{}, first, nextPage, func(objs []models.DirectoryObjectable) error {
		for _, o := range objs {
			// Members can be users, groups, devices, service principals;
			// an object without a type annotation is taken as a user.
			if t := deref(o.GetOdataType()); t == "" || t == "#microsoft.graph.user" {
				if id := deref(o.GetId()); id != "" {
					ids = append(ids, id)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
