package graphsim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// This file lets tests change an app registration after the fact: grant
// or revoke application permissions (admin consent given or taken back)
// and expire its client secret. Tokens already issued keep the roles they
// were issued with, as Entra's do until they expire; the next token
// carries the change. With Options.SharedApp the one app is shared by
// every tenant, so a change applies in all of them.

// GrantPermissions adds application permissions (with admin consent) to
// the app clientID of the tenant.
func (t *Tenant) GrantPermissions(clientID string, perms ...string) error {
	return t.changeApp(clientID, func(a *app) {
		for _, p := range perms {
			a.perms[p] = true
		}
	})
}

// RevokePermissions removes application permissions from the app
// clientID of the tenant (the tenant's default app included).
func (t *Tenant) RevokePermissions(clientID string, perms ...string) error {
	return t.changeApp(clientID, func(a *app) {
		for _, p := range perms {
			delete(a.perms, p)
		}
	})
}

// ExpireSecret makes the app's client secret expired: the token endpoint
// then refuses it with AADSTS7000222 (invalid_client), as Entra does for a
// secret past its end date. A certificate keeps working.
func (t *Tenant) ExpireSecret(clientID string) error {
	return t.changeApp(clientID, func(a *app) { a.secretExpired = true })
}

// Permissions lists the application permissions of the app clientID, sorted.
func (t *Tenant) Permissions(clientID string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	a := t.apps[clientID]
	if a == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(a.perms))
}

func (t *Tenant) changeApp(clientID string, change func(*app)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.apps[strings.TrimSpace(clientID)]
	if a == nil {
		return fmt.Errorf("graphsim: no app %q in tenant %s: %w", clientID, t.name, ErrNotFound)
	}
	change(a)
	return nil
}
