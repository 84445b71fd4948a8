package tenants

import (
	"context"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestSimTargetLifecycle walks every target operation on one guest:
// invite, stamp, find by stamp and mail, patch (set, clear, extension
// attributes, manager set and clear), disable, soft delete, restore, hard
// delete.
func TestSimTargetLifecycle(t *testing.T) {
	ctx := context.Background()
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"}})
	ten := s.Tenant("fabrikam")
	c := simClient(t, s, "fabrikam", nil)
	tg := c.Target()

	id, err := tg.Invite(ctx, directory.Invitation{Email: "ann@contoso.com", DisplayName: "Ann Lee", UserType: "Member"})
	must(t, err)
	if st := s.Stats().Tenant("fabrikam"); st.Invitations != 1 {
		t.Fatalf("invitations %d", st.Invitations)
	}
	stamp := directory.Stamp("src-tenant", "src-object")
	must(t, tg.Update(ctx, id, map[string]any{tg.StampAttribute(): stamp, "jobTitle": "Engineer", "department": "R&D"}))

	found, err := tg.FindByStamp(ctx, stamp)
	must(t, err)
	if len(found) != 1 || found[0].ID != id || found[0].Str(directory.PropUserType) != "Member" ||
		found[0].Str("extensionAttribute15") != stamp {
		t.Fatalf("by stamp: %+v", found)
	}
	if none, err := tg.FindByStamp(ctx, directory.Stamp("src-tenant", "other")); err != nil || len(none) != 0 {
		t.Fatalf("other stamp: %v %v", none, err)
	}
	byMail, err := tg.FindByMail(ctx, "ann@contoso.com")
	must(t, err)
	if len(byMail) != 1 || byMail[0].ID != id {
		t.Fatalf("by mail: %+v", byMail)
	}
	var stamped []directory.User
	must(t, tg.Stamped(ctx, func(us []directory.User) error { stamped = append(stamped, us...); return nil }))
	if len(stamped) != 1 || stamped[0].ID != id {
		t.Fatalf("stamped: %+v", stamped)
	}

	boss, err := ten.AddUser(map[string]any{"displayName": "Boss"})
	must(t, err)
	must(t, tg.Update(ctx, id, map[string]any{"jobTitle": nil, "extensionAttribute2": "two", "manager": boss}))
	u, err := tg.Get(ctx, id, []string{"jobTitle", "department", "extensionAttribute2", "manager"})
	must(t, err)
	if v, ok := u.Attr("jobTitle"); !ok || v != nil {
		t.Errorf("jobTitle not cleared: %+v", u.Attrs)
	}
	if u.Str("department") != "R&D" || u.Str("extensionAttribute2") != "two" || u.Str("manager") != boss {
		t.Errorf("after patch: %+v", u.Attrs)
	}
	must(t, tg.Update(ctx, id, map[string]any{"manager": nil}))
	must(t, tg.Update(ctx, id, map[string]any{"manager": nil})) // clearing twice is fine
	if su, _ := ten.User(id); su.Attrs["manager"] != nil {
		t.Errorf("manager not cleared: %v", su.Attrs["manager"])
	}
	// the stamp survived the patches
	if su, _ := ten.User(id); su.Attrs["extensionAttribute15"] != stamp {
		t.Errorf("stamp lost: %+v", su.Attrs)
	}

	must(t, tg.Disable(ctx, id))
	if su, _ := ten.User(id); su.Attrs["accountEnabled"] != false {
		t.Errorf("not disabled: %+v", su.Attrs)
	}
	must(t, tg.SoftDelete(ctx, id))
	if _, err := tg.Get(ctx, id, nil); !IsNotFound(err) {
		t.Fatalf("get after soft delete: %v", err)
	}
	must(t, tg.Restore(ctx, id))
	if _, err := tg.Get(ctx, id, nil); err != nil {
		t.Fatalf("get after restore: %v", err)
	}
	must(t, tg.SoftDelete(ctx, id))
	must(t, tg.HardDelete(ctx, id))
	if err := tg.Restore(ctx, id); !IsNotFound(err) {
		t.Fatalf("restore after hard delete: %v", err)
	}
	if err := tg.Update(ctx, id, map[string]any{"jobTitle": "x"}); !IsNotFound(err) {
		t.Fatalf("update after hard delete: %v", err)
	}

	// A live user is purged in one call (soft delete, then purge).
	live, err := tg.Invite(ctx, directory.Invitation{Email: "live@contoso.com", RedirectURL: "https://myapplications.microsoft.com"})
	must(t, err)
	must(t, tg.HardDelete(ctx, live))
	if _, ok := ten.User(live); ok {
		t.Fatalf("hard-deleted live user still exists")
	}
	for _, d := range ten.DeletedUsers() {
		if d.ID == live {
			t.Fatalf("hard-deleted live user is in deleted items")
		}
	}
}

// TestSimEscaping: a mail with a quote is found; a value crafted to widen
// the filter finds nothing, in mail and stamp lookups.
func TestSimEscaping(t *testing.T) {
	ctx := context.Background()
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"}})
	ten := s.Tenant("fabrikam")
	obrien, err := ten.AddUser(map[string]any{"displayName": "Pat O'Brien", "mail": "o'brien@contoso.com",
		"otherMails": []string{"pat.o'brien@contoso.com"}})
	must(t, err)
	for _, n := range []string{"y", "z"} {
		_, err := ten.AddUser(map[string]any{"displayName": "User " + n, "mail": n + "@contoso.com",
			"extensionAttribute15": directory.Stamp("t", n)})
		must(t, err)
	}
	tg := simClient(t, s, "fabrikam", nil).Target()
	for _, mail := range []string{"o'brien@contoso.com", "pat.o'brien@contoso.com"} {
		got, err := tg.FindByMail(ctx, mail)
		must(t, err)
		if len(got) != 1 || got[0].ID != obrien {
			t.Errorf("%s: %+v", mail, got)
		}
	}
	for _, evil := range []string{"x' or 1 eq 1 or mail eq 'y", "y@contoso.com' or mail ne '", "') or true or ('"} {
		got, err := tg.FindByMail(ctx, evil)
		if err != nil && !IsBadRequest(err) {
			t.Errorf("%q: %v", evil, err)
		}
		if len(got) != 0 {
			t.Errorf("%q widened the mail filter: %d users", evil, len(got))
		}
		got, err = tg.FindByStamp(ctx, evil)
		if err != nil && !IsBadRequest(err) {
			t.Errorf("%q: %v", evil, err)
		}
		if len(got) != 0 {
			t.Errorf("%q widened the stamp filter: %d users", evil, len(got))
		}
	}
}

// TestSimNotFoundAfterInvite: with replication lag, the first reads and
// writes of a new guest answer 404 and are retried until it appears.
func TestSimNotFoundAfterInvite(t *testing.T) {
	ctx := context.Background()
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"},
		Realism: &graphsim.Realism{ReplicationLag: 1500e6}}) // 1.5 s
	c := simClient(t, s, "fabrikam", func(c *Config, _ *Options) {
		c.Retry.BaseDelay = 100e6 // 100 ms
	})
	tg := c.Target()
	id, err := tg.Invite(ctx, directory.Invitation{Email: "bo@contoso.com"})
	must(t, err)
	must(t, tg.Update(ctx, id, map[string]any{tg.StampAttribute(): directory.Stamp("t", "bo")}))
	u, err := tg.Get(ctx, id, []string{tg.StampAttribute()})
	must(t, err)
	if u.Str(tg.StampAttribute()) != directory.Stamp("t", "bo") {
		t.Fatalf("%+v", u)
	}
	if n := s.Stats().Tenant("fabrikam").Routes["PATCH /users/{id}"]; n < 2 {
		t.Errorf("expected the PATCH to meet a 404 first; %d PATCHes", n)
	}
}
