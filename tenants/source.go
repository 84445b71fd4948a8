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
	next := ""
	for {
		var resp models.UserCollectionResponseable
		err := c.call(ctx, op, callOpts{}, func(ctx context.Context) error {
			var err error
			if next == "" {
				resp, err = c.usersBuilder().Get(ctx, cfg)
			} else {
				resp, err = users.NewUsersRequestBuilder(next, c.adapter).Get(ctx, nextCfg)
			}
			return err
		})
		if err != nil {
			return err
		}
		if resp == nil {
			return nil
		}
		out := make([]directory.User, 0, len(resp.GetValue()))
		for _, u := range resp.GetValue() {
			if du := fromModel(u, props, allPresent); keep(du) {
				out = append(out, du)
			}
		}
		if len(out) > 0 {
			if err := page(out); err != nil {
				return err
			}
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
	next := link
	for {
		var body []byte
		err := c.call(ctx, "GET /users/delta", callOpts{}, func(ctx context.Context) error {
			var info *abs.RequestInformation
			var err error
			if next == "" {
				info, err = c.usersBuilder().Delta().
					ToGetRequestInformation(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
						QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: deltaSelectFor(props, scopeProps...)},
					})
			} else {
				info, err = users.NewDeltaRequestBuilder(next, c.adapter).ToGetRequestInformation(ctx, nil)
			}
			if err != nil {
				return err
			}
			// Raw bytes: Graph may leave unchanged properties out of a
			// delta item, and the typed model cannot tell absent from null.
			res, err := c.adapter.SendPrimitive(ctx, info, "[]byte", errorMapping)
			body, _ = res.([]byte)
			return err
		})
		if err != nil {
			return "", err
		}
		out, nextLink, deltaLink, err := decodeDeltaPage(body, props)
		if err != nil {
			return "", &GraphError{Tenant: c.cfg.Name, Op: "GET /users/delta", Err: err}
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
			return "", &GraphError{Tenant: c.cfg.Name, Op: "GET /users/delta",
				Err: fmt.Errorf("page has neither @odata.nextLink nor @odata.deltaLink")}
		}
	}
}

// decodeDeltaPage reads a delta page twice: with the SDK's parser for typed
// values, and as raw JSON for which properties were present and for
// "@removed".
func decodeDeltaPage(body []byte, props []string) (out []directory.User, next, delta string, err error) {
	var raw struct {
		Value []map[string]json.RawMessage `json:"value"`
		Next  string                       `json:"@odata.nextLink"`
		Delta string                       `json:"@odata.deltaLink"`
	}
	if len(body) == 0 {
		return nil, "", "", fmt.Errorf("empty delta page")
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, "", "", fmt.Errorf("decode delta page: %w", err)
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
			var r struct{ Reason string }
			_ = json.Unmarshal(rm, &r)
			removal := directory.SoftDeleted
			if r.Reason == string(directory.HardDeleted) {
				removal = directory.HardDeleted
			}
			out = append(out, directory.User{ID: deref(m.GetId()), Removed: removal})
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
	next := ""
	op := "GET /groups/{id}/members"
	if transitive {
		op = "GET /groups/{id}/transitiveMembers"
	}
	sel := []string{"id"}
	top := int32(999)
	for {
		var resp models.DirectoryObjectCollectionResponseable
		err := c.call(ctx, op, callOpts{}, func(ctx context.Context) error {
			var err error
			g := groups.NewGroupsRequestBuilderInternal(map[string]string{}, c.adapter).ByGroupId(groupID)
			switch {
			case next != "" && transitive:
				resp, err = groups.NewItemTransitiveMembersRequestBuilder(next, c.adapter).Get(ctx, nil)
			case next != "":
				resp, err = groups.NewItemMembersRequestBuilder(next, c.adapter).Get(ctx, nil)
			case transitive:
				resp, err = g.TransitiveMembers().Get(ctx, &groups.ItemTransitiveMembersRequestBuilderGetRequestConfiguration{
					QueryParameters: &groups.ItemTransitiveMembersRequestBuilderGetQueryParameters{Select: sel, Top: &top},
				})
			default:
				resp, err = g.Members().Get(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
					QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: sel, Top: &top},
				})
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if resp == nil {
			return ids, nil
		}
		for _, o := range resp.GetValue() {
			// Members can be users, groups, devices, service principals;
			// an object without a type annotation is taken as a user.
			if t := deref(o.GetOdataType()); t == "" || t == "#microsoft.graph.user" {
				if id := deref(o.GetId()); id != "" {
					ids = append(ids, id)
				}
			}
		}
		next = deref(resp.GetOdataNextLink())
		if next == "" {
			return ids, nil
		}
	}
}
