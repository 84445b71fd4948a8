package tenants

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// maxBind is how many members one PATCH with members@odata.bind may add
// (Graph's limit: "Add members", "Update group").
const maxBind = 20

// FindGroupByStamp returns the groups whose mailNickname is nick (a group
// stamp, directory.GroupStamp): normally one; more is a duplicate the
// caller resolves. The $filter is a plain eq, but Graph answers every
// $filter list from an index that lags writes: a group created moments ago
// may not be found yet.
func (t *Target) FindGroupByStamp(ctx context.Context, nick string) ([]directory.Group, error) {
	var out []directory.Group
	same := func(g directory.Group) bool { return strings.EqualFold(g.Str(directory.PropMailNickname), nick) }
	err := t.c.listGroups(ctx, "GET /groups?$filter=stamp", filterEq(directory.PropMailNickname, nick), same,
		func(gs []directory.Group) error { out = append(out, gs...); return nil })
	return out, err
}

// StampedGroups streams, a page at a time, every group whose mailNickname
// starts with directory.GroupStampPrefix: the groups ctsync created, to
// rebuild the map from the target. The index behind it lags writes.
func (t *Target) StampedGroups(ctx context.Context, page func([]directory.Group) error) error {
	stamped := func(g directory.Group) bool {
		return strings.HasPrefix(strings.ToLower(g.Str(directory.PropMailNickname)), directory.GroupStampPrefix)
	}
	f := "startsWith(" + directory.PropMailNickname + "," + ODataString(directory.GroupStampPrefix) + ")"
	return t.c.listGroups(ctx, "GET /groups?$filter=stamped", f, stamped, page)
}

// CreateGroup creates a security group (mailEnabled false, securityEnabled
// true, no groupTypes) and returns its ID. Every later call naming the new
// group through this client retries 404s for RetryPolicy.Replication.
//
// POST /groups is not idempotent, so a try that may have been applied (a
// 5xx, a lost answer) is not sent again: the error (ErrTransient) leaves
// the caller to find the group by its stamp once the index shows it,
// rather than to risk a second group. A 429 is retried as usual.
func (t *Target) CreateGroup(ctx context.Context, g directory.NewGroup) (string, error) {
	c := t.c
	const op = "POST /groups"
	if g.DisplayName == "" || g.MailNickname == "" {
		return "", &GraphError{Tenant: c.cfg.Name, Op: op, Err: fmt.Errorf("a group needs a displayName and a mailNickname")}
	}
	body := models.NewGroup()
	body.SetDisplayName(&g.DisplayName)
	body.SetMailNickname(&g.MailNickname)
	if g.Description != "" {
		body.SetDescription(&g.Description)
	}
	mailEnabled, securityEnabled := false, true
	body.SetMailEnabled(&mailEnabled)
	body.SetSecurityEnabled(&securityEnabled)
	body.SetGroupTypes([]string{})
	var id string
	err := c.call(ctx, op, callOpts{noReplay: true}, func(ctx context.Context) error {
		res, err := c.groupsBuilder().Post(ctx, body, nil)
		if err == nil && res != nil {
			id = deref(res.GetId())
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", &GraphError{Tenant: c.cfg.Name, Op: op, Err: fmt.Errorf("create answered without an id")}
	}
	c.noteCreated(id)
	return id, nil
}

// UpdateGroup patches displayName, description or mailNickname (Graph
// names; a nil or "" description clears it). Members are written with
// AddMembers and RemoveMember.
func (t *Target) UpdateGroup(ctx context.Context, id string, props map[string]any) error {
	c := t.c
	const op = "PATCH /groups/{id}"
	if len(props) == 0 {
		return nil
	}
	body := models.NewGroup()
	body.SetOdataType(nil) // Graph needs no type annotation on PATCH
	data := body.GetAdditionalData()
	for k, v := range props {
		switch k {
		case directory.PropDisplayName, directory.PropDescription, directory.PropMailNickname:
		default:
			return &GraphError{Tenant: c.cfg.Name, Op: op, Err: fmt.Errorf("property %s cannot be written to a group", k)}
		}
		switch s := v.(type) {
		case nil:
		case string:
			if s == "" && k == directory.PropDescription {
				v = nil // Graph clears with null
			}
		default:
			return &GraphError{Tenant: c.cfg.Name, Op: op, Err: fmt.Errorf("property %s: want a string, got %T", k, v)}
		}
		data[k] = v
	}
	return c.patchGroup(ctx, op, id, body, c.callOptsFor(id))
}

func (c *Client) patchGroup(ctx context.Context, op, id string, body models.Groupable, o callOpts) error {
	return c.call(ctx, op, o, func(ctx context.Context) error {
		_, err := c.groupsBuilder().ByGroupId(id).Patch(ctx, body, nil)
		return err
	})
}

// DeleteGroup deletes a group (a security group is deleted for good). A
// group already gone is success; a 404 on a group created moments ago is
// retried first, as it may not have replicated yet.
func (t *Target) DeleteGroup(ctx context.Context, id string) error {
	c := t.c
	o := c.callOptsFor(id)
	o.goneIsDone = true
	err := c.call(ctx, "DELETE /groups/{id}", o, func(ctx context.Context) error {
		return c.groupsBuilder().ByGroupId(id).Delete(ctx, nil)
	})
	if err != nil && !IsNotFound(err) {
		return err
	}
	c.forget(id)
	return nil
}

// AddMembers adds members (object IDs of users or groups) to a group,
// members@odata.bind 20 at a time. When a batch fails because one of its
// members already is one (Graph refuses the whole batch) or one is not
// found, its members are added one by one through members/$ref, where
// "already a member" is success; the other failures are returned together
// (errors.Is and IsNotFound see through them) after every member was
// tried. 404s naming a group or member created moments ago are retried.
func (t *Target) AddMembers(ctx context.Context, groupID string, memberIDs []string) error {
	seen := make(map[string]bool, len(memberIDs))
	ids := make([]string, 0, len(memberIDs))
	for _, id := range memberIDs {
		if k := strings.ToLower(id); id != "" && !seen[k] {
			seen[k] = true
			ids = append(ids, id)
		}
	}
	var errs []error
	for start := 0; start < len(ids); start += maxBind {
		batch := ids[start:min(start+maxBind, len(ids))]
		err := t.bindMembers(ctx, groupID, batch)
		if err == nil || (len(batch) == 1 && alreadyMember(err)) {
			continue
		}
		if !(alreadyMember(err) || IsNotFound(err)) || ctx.Err() != nil {
			// Throttled past the retries, forbidden, out of time: the
			// next batches would fare no better.
			return errors.Join(append(errs, err)...)
		}
		if len(batch) == 1 {
			errs = append(errs, err) // the one member (or the group) is not found
			continue
		}
		for _, m := range batch {
			if err := t.addMemberRef(ctx, groupID, m); err != nil && !alreadyMember(err) {
				errs = append(errs, err)
				if ctx.Err() != nil || !IsNotFound(err) {
					return errors.Join(errs...)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// bindMembers adds members in one PATCH with members@odata.bind.
func (t *Target) bindMembers(ctx context.Context, groupID string, batch []string) error {
	c := t.c
	refs := make([]string, len(batch))
	for i, m := range batch {
		refs[i] = c.cfg.GraphBaseURL + "/directoryObjects/" + m
	}
	body := models.NewGroup()
	body.SetOdataType(nil)
	body.GetAdditionalData()["members@odata.bind"] = refs
	return c.patchGroup(ctx, "PATCH /groups/{id}", groupID, body, c.callOptsFor(append([]string{groupID}, batch...)...))
}

// addMemberRef adds one member through POST /groups/{id}/members/$ref.
func (t *Target) addMemberRef(ctx context.Context, groupID, memberID string) error {
	c := t.c
	body := models.NewReferenceCreate()
	ref := c.cfg.GraphBaseURL + "/directoryObjects/" + memberID
	body.SetOdataId(&ref)
	return c.call(ctx, "POST /groups/{id}/members/$ref", c.callOptsFor(groupID, memberID), func(ctx context.Context) error {
		return c.groupsBuilder().ByGroupId(groupID).Members().Ref().Post(ctx, body, nil)
	})
}

// alreadyMember reports Graph's 400 for a member reference that exists
// already ("One or more added object references already exist for the
// following modified properties: 'members'."). Graph gives it no code of
// its own (Request_BadRequest), so this is the one place ctsync reads a
// message.
func alreadyMember(err error) bool {
	ge := graphErr(err)
	return ge != nil && ge.Status == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(ge.Message), "already exist")
}

// RemoveMember removes a direct member from a group; one that is not a
// member (404) is success, except that a 404 naming a group or member
// created moments ago is retried first (a replica may not hold them yet).
func (t *Target) RemoveMember(ctx context.Context, groupID, memberID string) error {
	c := t.c
	err := c.call(ctx, "DELETE /groups/{id}/members/{id}/$ref", c.callOptsFor(groupID, memberID), func(ctx context.Context) error {
		return c.groupsBuilder().ByGroupId(groupID).Members().ByDirectoryObjectId(memberID).Ref().Delete(ctx, nil)
	})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// Members lists the object IDs of a group's direct members (users,
// groups and any other object).
func (t *Target) Members(ctx context.Context, groupID string) ([]string, error) {
	ms, err := t.c.directMembers(ctx, groupID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids, nil
}
