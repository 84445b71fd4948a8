package tenants

import (
	"context"
	"fmt"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// LatestDelta returns a delta link from now on, without reading any user:
// users delta with $deltatoken=latest answers one empty page with a
// deltaLink (Track changes with delta query, "Optional query parameters":
// https://learn.microsoft.com/graph/delta-query-overview). props select
// what the link's later rounds return, as Delta's do. The SDK's query
// parameters have no $deltatoken, so it is added to the built URL.
func (s *Source) LatestDelta(ctx context.Context, props []string) (string, error) {
	c := s.c
	props = withScope(props)
	body, err := c.deltaPage(ctx, "GET /users/delta", func(ctx context.Context) (*abs.RequestInformation, error) {
		info, err := c.usersBuilder().Delta().ToGetRequestInformation(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: deltaSelectFor(props, scopeProps...)},
		})
		if err == nil {
			err = addQuery(c, info, "%24deltatoken=latest")
		}
		return info, err
	})
	if err != nil {
		return "", err
	}
	_, _, link, err := decodeDeltaPage(body, props)
	if err == nil && link == "" {
		err = fmt.Errorf("$deltatoken=latest answered without @odata.deltaLink")
	}
	if err != nil {
		return "", &GraphError{Tenant: c.cfg.Name, Op: "GET /users/delta", Err: err}
	}
	return link, nil
}

// RevokeSessions invalidates a user's refresh tokens and session cookies
// (POST /users/{id}/revokeSignInSessions; needs User.RevokeSessions.All,
// which User.ReadWrite.All includes): the user must sign in again, in
// every app, within minutes. Repeating it is harmless, so it is retried
// like any call.
func (t *Target) RevokeSessions(ctx context.Context, id string) error {
	c := t.c
	var ok bool
	err := c.call(ctx, "POST /users/{id}/revokeSignInSessions", c.callOptsFor(id), func(ctx context.Context) error {
		res, err := c.usersBuilder().ByUserId(id).RevokeSignInSessions().PostAsRevokeSignInSessionsPostResponse(ctx, nil)
		if err != nil {
			return err
		}
		if v := res.GetValue(); v != nil {
			ok = *v
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !ok {
		return &GraphError{Tenant: c.cfg.Name, Op: "POST /users/{id}/revokeSignInSessions", Err: fmt.Errorf("Graph answered value false for user %s", id)}
	}
	return nil
}
