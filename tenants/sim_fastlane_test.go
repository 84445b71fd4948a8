package tenants

import (
	"context"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestSimLatestDelta: $deltatoken=latest gives a link without reading any
// user, and its next round reports exactly what changed after it.
func TestSimLatestDelta(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}, Users: 300, Seed: 3})
	ten := s.Tenant("contoso")
	src := simClient(t, s, "contoso", nil).Source()
	ctx := context.Background()
	props := []string{directory.PropDisplayName}
	link, err := src.LatestDelta(ctx, props)
	if err != nil || link == "" {
		t.Fatalf("LatestDelta = %q, %v", link, err)
	}
	var seen []directory.User
	next, err := src.Delta(ctx, link, props, func(us []directory.User) error { seen = append(seen, us...); return nil })
	if err != nil || next == "" || len(seen) != 0 {
		t.Fatalf("round from a latest link with nothing changed: %d users, link %q, %v", len(seen), next, err)
	}
	victim := ten.Users()[5].ID
	if err := ten.UpdateUser(victim, map[string]any{"accountEnabled": false}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Delta(ctx, next, props, func(us []directory.User) error { seen = append(seen, us...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].ID != victim {
		t.Fatalf("round after a disable reported %+v, want only %s", seen, victim)
	}
	if on, ok := seen[0].Attrs[directory.PropAccountEnabled].(bool); !ok || on {
		t.Errorf("accountEnabled = %v (%v), want false", seen[0].Attrs[directory.PropAccountEnabled], ok)
	}
}

// TestSimRevokeSessions: revoking a user's sessions sets its
// signInSessionsValidFromDateTime; an unknown user is ErrNotFound; an app
// without a permission that includes User.RevokeSessions.All is refused.
func TestSimRevokeSessions(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"}, Users: 20, Seed: 4})
	ten := s.Tenant("fabrikam")
	dst := simClient(t, s, "fabrikam", nil).Target()
	ctx := context.Background()
	id := ten.Users()[2].ID
	before := time.Now().UTC().Truncate(time.Second)
	if err := dst.RevokeSessions(ctx, id); err != nil {
		t.Fatal(err)
	}
	u, _ := ten.User(id)
	at, err := time.Parse(time.RFC3339, u.Attrs["signInSessionsValidFromDateTime"].(string))
	if err != nil || at.Before(before) {
		t.Fatalf("signInSessionsValidFromDateTime = %v (%v), want from %v", u.Attrs["signInSessionsValidFromDateTime"], err, before)
	}
	if err := dst.RevokeSessions(ctx, id); err != nil {
		t.Fatalf("second revocation: %v", err)
	}
	err = dst.RevokeSessions(ctx, "00000000-0000-0000-0000-000000000001")
	if !IsNotFound(err) {
		t.Fatalf("unknown user: %v, want not found", err)
	}
	if err := ten.RevokePermissions(ten.ClientID(), "User.ReadWrite.All"); err != nil {
		t.Fatal(err)
	}
	fresh := simClient(t, s, "fabrikam", nil).Target()
	if err := fresh.RevokeSessions(ctx, id); !IsForbidden(err) {
		t.Fatalf("without User.ReadWrite.All: %v, want forbidden", err)
	}
	if err := ten.GrantPermissions(ten.ClientID(), "User.RevokeSessions.All"); err != nil {
		t.Fatal(err)
	}
	fresh = simClient(t, s, "fabrikam", nil).Target()
	if err := fresh.RevokeSessions(ctx, id); err != nil {
		t.Fatalf("with User.RevokeSessions.All: %v", err)
	}
}
