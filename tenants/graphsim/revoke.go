package graphsim

import (
	"net/http"
	"time"
)

// permRevokeSessions are the application permissions of
// POST /users/{id}/revokeSignInSessions: "User.RevokeSessions.All" is the
// least privileged; User.ReadWrite.All and Directory.ReadWrite.All include
// it (user: revokeSignInSessions,
// https://learn.microsoft.com/graph/api/user-revokesigninsessions).
var permRevokeSessions = []string{"User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}

func init() {
	addRoute(http.MethodPost, "/users/{id}/revokeSignInSessions", permRevokeSessions, revokeSignInSessions)
}

// revokeSignInSessions invalidates the user's refresh tokens and session
// cookies: Graph resets signInSessionsValidFromDateTime to now and answers
// 200 with {"value": true}. Revoking twice is no error. A user with a
// privileged role needs a privileged caller, as for any write to that user
// (writeTarget). The simulator has no sessions to end: the property is the
// record tests assert on (Tenant.User(id).Attrs).
func revokeSignInSessions(c *call) response {
	if len(c.body) > 0 {
		if _, e := decodeObject(c.body); e != nil {
			return c.fail(e)
		}
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	u, e := c.writeTarget()
	if e != nil {
		return c.fail(e)
	}
	c.t.setProps(u, map[string]any{"signInSessionsValidFromDateTime": c.now.UTC().Format(time.RFC3339)})
	return jsonResponse(http.StatusOK, obj{
		{"@odata.context", c.contextURL("Edm.Boolean")},
		{"value", true},
	})
}
