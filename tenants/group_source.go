package tenants

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/internal/directory"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// groupProps are the group properties ctsync reads, by their Graph names.
var groupProps = []string{directory.PropDisplayName, directory.PropDescription, directory.PropMailNickname}

// groupDeltaSelect is $select of a groups delta round: the properties,
// and members, which makes Graph report membership as members@delta.
var groupDeltaSelect = []string{"id", directory.PropDisplayName, directory.PropDescription, directory.PropMailNickname, "members"}

const opGroupsDelta = "GET /groups/delta"

func (c *Client) groupsBuilder() *groups.GroupsRequestBuilder {
	return groups.NewGroupsRequestBuilderInternal(map[string]string{}, c.adapter)
}

// GroupDelta runs one groups delta round (members@delta included). With
// link "" it starts a full round: every group of the tenant with every
// direct member; otherwise it continues from a deltaLink returned earlier
// and pages carry the groups whose displayName, description, mailNickname
// or direct membership changed, and the deleted ones (Removed set). Each
// object of a page is one directory.Group: Graph splits a large group's
// members over several objects with the same ID (in one page or across
// pages), and a members-only change carries no properties, so the caller
// merges a round's objects by ID (see directory.Group). Nested members are
// never expanded: a member group is a member of kind MemberGroup.
//
// It returns the new deltaLink once the last page was handled; the caller
// persists it only after applying every page. An expired link fails with
// an error matching directory.ErrSyncStateExpired: start again with "".
func (s *Source) GroupDelta(ctx context.Context, link string, page func([]directory.Group) error) (string, error) {
	fetch := func(next string) ([]byte, error) { return s.c.groupDeltaPage(ctx, next, false) }
	return runDelta(s.c, opGroupsDelta, link, fetch, decodeGroupDeltaPage, page)
}

// LatestGroupDelta returns a groups delta link from now on, without
// reading any group ($deltatoken=latest); its later rounds select what
// GroupDelta's do.
func (s *Source) LatestGroupDelta(ctx context.Context) (string, error) {
	c := s.c
	body, err := c.groupDeltaPage(ctx, "", true)
	if err != nil {
		return "", err
	}
	_, _, link, err := decodeGroupDeltaPage(body)
	if err == nil && link == "" {
		err = fmt.Errorf("$deltatoken=latest answered without @odata.deltaLink")
	}
	if err != nil {
		return "", &GraphError{Tenant: c.cfg.Name, Op: opGroupsDelta, Err: err}
	}
	return link, nil
}

// groupDeltaPage reads one page of groups delta as raw bytes: next (a
// nextLink or deltaLink), or the first page of a round ("" ), or with
// latest a deltaLink from now on.
func (c *Client) groupDeltaPage(ctx context.Context, next string, latest bool) ([]byte, error) {
	// Raw bytes (deltaPage): a members-only change leaves the properties
	// out, and members@delta carries "@removed".
	return c.deltaPage(ctx, opGroupsDelta, func(ctx context.Context) (*abs.RequestInformation, error) {
		if next != "" {
			return groups.NewDeltaRequestBuilder(next, c.adapter).ToGetRequestInformation(ctx, nil)
		}
		info, err := c.groupsBuilder().Delta().ToGetRequestInformation(ctx, &groups.DeltaRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.DeltaRequestBuilderGetQueryParameters{Select: groupDeltaSelect},
		})
		if err == nil && latest {
			err = addQuery(c, info, "%24deltatoken=latest")
		}
		return info, err
	})
}

// addQuery appends a raw query parameter to a built request (the SDK's
// query parameters have no $deltatoken).
func addQuery(c *Client, info *abs.RequestInformation, param string) error {
	// The adapter fills the base URL at send time; GetUri needs it now.
	info.PathParameters["baseurl"] = c.adapter.GetBaseUrl()
	u, err := info.GetUri()
	if err != nil {
		return err
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += param
	info.SetUri(*u)
	return nil
}

// decodeGroupDeltaPage reads a groups delta page: each object's ID,
// "@removed", the properties present (null as nil) and members@delta.
func decodeGroupDeltaPage(body []byte) (out []directory.Group, next, delta string, err error) {
	raw, err := decodeDeltaEnvelope(body, "groups delta page")
	if err != nil {
		return nil, "", "", err
	}
	out = make([]directory.Group, 0, len(raw.Value))
	for _, fields := range raw.Value {
		var g directory.Group
		if err := json.Unmarshal(fields["id"], &g.ID); err != nil || g.ID == "" {
			return nil, "", "", fmt.Errorf("groups delta page: an object without an id")
		}
		if rm, ok := fields["@removed"]; ok {
			g.Removed = removal(rm, directory.HardDeleted)
			out = append(out, g)
			continue
		}
		g.Attrs = map[string]any{}
		for _, p := range groupProps {
			v, ok := fields[p]
			if !ok {
				continue
			}
			var s *string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, "", "", fmt.Errorf("groups delta page: group %s: %s: %w", g.ID, p, err)
			}
			if s == nil {
				g.Attrs[p] = nil
			} else {
				g.Attrs[p] = *s
			}
		}
		if md, ok := fields["members@delta"]; ok {
			var entries []struct {
				Type    string          `json:"@odata.type"`
				ID      string          `json:"id"`
				Removed json.RawMessage `json:"@removed"`
			}
			if err := json.Unmarshal(md, &entries); err != nil {
				return nil, "", "", fmt.Errorf("groups delta page: group %s: members@delta: %w", g.ID, err)
			}
			for _, e := range entries {
				if e.ID == "" {
					continue
				}
				m := directory.Member{ID: e.ID, Kind: memberKind(e.Type)}
				if len(e.Removed) > 0 && string(e.Removed) != "null" {
					g.Left = append(g.Left, m)
				} else {
					g.Added = append(g.Added, m)
				}
			}
		}
		out = append(out, g)
	}
	return out, raw.Next, raw.Delta, nil
}

// memberKind reads a member's @odata.type; an object without one is taken
// as a user, as GroupMembers does.
func memberKind(odataType string) directory.MemberKind {
	switch strings.ToLower(strings.TrimPrefix(odataType, "#")) {
	case "microsoft.graph.user", "":
		return directory.MemberUser
	case "microsoft.graph.group":
		return directory.MemberGroup
	}
	return directory.MemberOther
}

// FindGroups finds source groups by object ID (when displayNameOrID is a
// GUID: at most one, none when it does not exist) or else by exact
// displayName (case-insensitive, as Graph compares; several groups may
// share a name). The groups carry displayName, description and
// mailNickname, not members.
func (s *Source) FindGroups(ctx context.Context, displayNameOrID string) ([]directory.Group, error) {
	c := s.c
	if isGUID(displayNameOrID) {
		g, err := c.getGroup(ctx, displayNameOrID)
		if IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []directory.Group{g}, nil
	}
	var out []directory.Group
	err := c.listGroups(ctx, "GET /groups?$filter=displayName", filterEq(directory.PropDisplayName, displayNameOrID), nil,
		func(gs []directory.Group) error { out = append(out, gs...); return nil })
	return out, err
}

// DirectMembers reads a group's direct members (users, groups and other
// objects) with their kinds; nested groups are not expanded.
func (s *Source) DirectMembers(ctx context.Context, groupID string) ([]directory.Member, error) {
	return s.c.directMembers(ctx, groupID)
}

// isGUID reports whether s is a GUID in its 8-4-4-4-12 form.
func isGUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	_, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	return err == nil
}

// getGroup reads one group by ID with groupProps.
func (c *Client) getGroup(ctx context.Context, id string) (directory.Group, error) {
	var m models.Groupable
	cfg := &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: append([]string{"id"}, groupProps...)},
	}
	err := c.call(ctx, "GET /groups/{id}", c.callOptsFor(id), func(ctx context.Context) error {
		var err error
		m, err = c.groupsBuilder().ByGroupId(id).Get(ctx, cfg)
		return err
	})
	if err != nil {
		return directory.Group{}, err
	}
	if m == nil {
		return directory.Group{}, &GraphError{Tenant: c.cfg.Name, Op: "GET /groups/{id}", Err: fmt.Errorf("empty response for group %s", id)}
	}
	return groupFromModel(m), nil
}

// groupFromModel converts a Graph group read with groupProps.
func groupFromModel(m models.Groupable) directory.Group {
	return directory.Group{ID: deref(m.GetId()), Attrs: map[string]any{
		directory.PropDisplayName:  strOrNil(m.GetDisplayName()),
		directory.PropDescription:  strOrNil(m.GetDescription()),
		directory.PropMailNickname: strOrNil(m.GetMailNickname()),
	}}
}

// listGroups pages through GET /groups with filter, handing page the
// groups keep accepts (nil: all). A filter reads Graph's lagging index.
func (c *Client) listGroups(ctx context.Context, op, filter string, keep func(directory.Group) bool,
	page func([]directory.Group) error) error {
	top := int32(c.cfg.PageSize)
	cfg := &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{
			Select: append([]string{"id"}, groupProps...), Filter: &filter, Top: &top,
		},
	}
	return pageThrough(ctx, c, op, callOpts{},
		func(ctx context.Context) (models.GroupCollectionResponseable, error) {
			return c.groupsBuilder().Get(ctx, cfg)
		},
		func(ctx context.Context, next string) (models.GroupCollectionResponseable, error) {
			return groups.NewGroupsRequestBuilder(next, c.adapter).Get(ctx, nil)
		},
		func(ms []models.Groupable) error {
			out := make([]directory.Group, 0, len(ms))
			for _, m := range ms {
				if g := groupFromModel(m); keep == nil || keep(g) {
					out = append(out, g)
				}
			}
			if len(out) > 0 {
				return page(out)
			}
			return nil
		})
}

// directMembers pages through GET /groups/{id}/members (IDs and types
// only). A 404 on a group created moments ago is retried.
func (c *Client) directMembers(ctx context.Context, groupID string) ([]directory.Member, error) {
	const op = "GET /groups/{id}/members"
	var out []directory.Member
	top := int32(999)
	cfg := &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top},
	}
	err := pageThrough(ctx, c, op, c.callOptsFor(groupID),
		func(ctx context.Context) (models.DirectoryObjectCollectionResponseable, error) {
			return c.groupsBuilder().ByGroupId(groupID).Members().Get(ctx, cfg)
		},
		func(ctx context.Context, next string) (models.DirectoryObjectCollectionResponseable, error) {
			return groups.NewItemMembersRequestBuilder(next, c.adapter).Get(ctx, nil)
		},
		func(objs []models.DirectoryObjectable) error {
			for _, o := range objs {
				if id := deref(o.GetId()); id != "" {
					out = append(out, directory.Member{ID: id, Kind: memberKind(deref(o.GetOdataType()))})
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}
