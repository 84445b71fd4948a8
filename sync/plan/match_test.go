package plan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
)

const (
	slot  = "extensionAttribute15"
	stamp = "ctsync:t1:src1"
)

func guest(id, stampValue string) directory.User {
	return directory.User{ID: id, Attrs: map[string]any{
		directory.PropUPN: "ada_contoso.com#EXT#@fabrikam.com", directory.PropCreationType: "Invitation",
		directory.PropUserType: "Guest", directory.PropExternalUserState: "PendingAcceptance",
		directory.PropMail: "ada@contoso.com", slot: stampValue,
	}}
}

func memberUser(id string) directory.User {
	return directory.User{ID: id, Attrs: map[string]any{
		directory.PropUPN: "ada@fabrikam.com", directory.PropUserType: "Member", directory.PropMail: "ada@contoso.com",
	}}
}

func TestOwner(t *testing.T) {
	extOnlyUPN := directory.User{ID: "g", Attrs: map[string]any{directory.PropUPN: "x_y.com#EXT#@t.com"}}
	extOnlyState := directory.User{ID: "g", Attrs: map[string]any{directory.PropExternalUserState: "Accepted", slot: stamp}}
	stampedMember := memberUser("m")
	stampedMember.Attrs[slot] = stamp
	for _, tc := range []struct {
		name string
		u    directory.User
		want Ownership
	}{
		{"our guest", guest("g", stamp), Ours},
		{"unstamped guest", guest("g", ""), Unstamped},
		{"guest of another source user", guest("g", "ctsync:t1:src2"), StampedForOther},
		{"guest of another source tenant", guest("g", "ctsync:t2:src1"), StampedForOther},
		{"slot used by the target", guest("g", "cost-centre 42"), SlotInUse},
		{"a member", memberUser("m"), NotExternal},
		{"a member carrying our stamp", stampedMember, NotExternal},
		{"external by UPN only", extOnlyUPN, Unstamped},
		{"external by state only", extOnlyState, Ours},
	} {
		if got := Owner(tc.u, slot, stamp); got != tc.want {
			t.Errorf("%s: Owner = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckOwned(t *testing.T) {
	if err := CheckOwned(guest("g", stamp), slot, stamp, SoftDelete); err != nil {
		t.Fatalf("our guest refused: %v", err)
	}
	for _, u := range []directory.User{memberUser("m"), guest("g", ""), guest("g", "ctsync:t1:other")} {
		err := CheckOwned(u, slot, stamp, SoftDelete)
		var ce *ConflictError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), u.ID) || !strings.Contains(err.Error(), "soft-delete") {
			t.Errorf("%v: CheckOwned = %v, want a conflict naming the user and the action", u.Attrs, err)
		}
	}
}

func TestMatch(t *testing.T) {
	base := MatchInput{SourceID: "src1", Mail: "ada@contoso.com", Stamp: stamp, StampAttr: slot, ExistingGuest: "adopt", MailDomainVerified: true}
	with := func(f func(*MatchInput)) MatchInput { in := base; f(&in); return in }
	for _, tc := range []struct {
		name     string
		in       MatchInput
		kind     MatchKind
		guest    string
		conflict bool
		reason   string
	}{
		{"nothing found", base, Invite, "", false, ""},
		{"our stamp", with(func(in *MatchInput) { in.ByStamp = []directory.User{guest("g1", stamp)} }), AdoptOwn, "g1", false, ""},
		{"two with our stamp", with(func(in *MatchInput) { in.ByStamp = []directory.User{guest("g1", stamp), guest("g2", stamp)} }), Refuse, "", false, "g1, g2"},
		{"stale stamp hit is ignored", with(func(in *MatchInput) { in.ByStamp = []directory.User{guest("g1", "")} }), Invite, "", false, ""},
		{"our stamp on a member", with(func(in *MatchInput) {
			m := memberUser("m1")
			m.Attrs[slot] = stamp
			in.ByStamp = []directory.User{m}
		}), Refuse, "", true, "m1"},
		{"no mail", with(func(in *MatchInput) { in.Mail = "" }), Refuse, "", false, "no mail"},
		{"mail held by a member", with(func(in *MatchInput) { in.ByMail = []directory.User{memberUser("m1")} }), Refuse, "", true, "m1"},
		{"mail held by a member, policy skip", with(func(in *MatchInput) {
			in.ExistingGuest = "skip"
			in.ByMail = []directory.User{memberUser("m1")}
		}), Refuse, "", true, "not a B2B user"},
		{"mail held by another source user's guest", with(func(in *MatchInput) { in.ByMail = []directory.User{guest("g9", "ctsync:t1:src2")} }), Refuse, "", true, "src2"},
		{"mail held by a guest whose slot is used", with(func(in *MatchInput) { in.ByMail = []directory.User{guest("g9", "cc-42")} }), Refuse, "", true, "another value"},
		{"mail index shows our stamp", with(func(in *MatchInput) { in.ByMail = []directory.User{guest("g1", stamp)} }), AdoptOwn, "g1", false, ""},
		{"two unstamped guests", with(func(in *MatchInput) { in.ByMail = []directory.User{guest("g1", ""), guest("g2", "")} }), Refuse, "", false, "resolve by hand"},
		{"unstamped, our mark, policy skip", with(func(in *MatchInput) {
			in.ExistingGuest, in.InvitedBefore = "skip", true
			in.ByMail = []directory.User{guest("g1", "")}
		}), AdoptFound, "g1", false, ""},
		{"unstamped, policy adopt", with(func(in *MatchInput) { in.ByMail = []directory.User{guest("g1", "")} }), AdoptFound, "g1", false, ""},
		{"unstamped, policy adopt, unverified domain", with(func(in *MatchInput) {
			in.MailDomainVerified = false
			in.ByMail = []directory.User{guest("g1", "")}
		}), Refuse, "", true, "verified domain"},
		{"unstamped, policy skip", with(func(in *MatchInput) {
			in.ExistingGuest = "skip"
			in.ByMail = []directory.User{guest("g1", "")}
		}), SkipFound, "g1", false, "ctsync approve --pair"},
		{"unstamped, policy skip, an admin approved this guest", with(func(in *MatchInput) {
			in.ExistingGuest, in.ApprovedGuest = "skip", "g1"
			in.ByMail = []directory.User{guest("g1", "")}
		}), AdoptFound, "g1", false, "approved"},
		{"unstamped, policy skip, an admin approved another guest", with(func(in *MatchInput) {
			in.ExistingGuest, in.ApprovedGuest = "skip", "g0"
			in.ByMail = []directory.User{guest("g1", "")}
		}), SkipFound, "g1", false, "existing_guest = skip"},
		{"unstamped, policy fail", with(func(in *MatchInput) {
			in.ExistingGuest = "fail"
			in.ByMail = []directory.User{guest("g1", "")}
		}), Refuse, "", false, "existing_guest = fail"},
	} {
		got := Match(tc.in)
		if got.Kind != tc.kind || got.GuestID != tc.guest || got.Conflict != tc.conflict || !strings.Contains(got.Reason, tc.reason) {
			t.Errorf("%s: Match = %+v, want kind %s guest %q conflict %v reason ~%q", tc.name, got, tc.kind, tc.guest, tc.conflict, tc.reason)
		}
	}
}

func TestConfirm(t *testing.T) {
	in := MatchInput{SourceID: "src1", Mail: "ada@contoso.com", Stamp: stamp, StampAttr: slot, ExistingGuest: "adopt", MailDomainVerified: true}
	adopt := MatchResult{Kind: AdoptFound, GuestID: "g1"}
	own := MatchResult{Kind: AdoptOwn, GuestID: "g1"}
	for _, tc := range []struct {
		name  string
		m     MatchResult
		fresh directory.User
		kind  MatchKind
	}{
		{"adopt, still unstamped", adopt, guest("g1", ""), AdoptFound},
		{"adopt, stamped for us meanwhile", adopt, guest("g1", stamp), AdoptOwn},
		{"adopt, stamped for another meanwhile (the two-users race)", adopt, guest("g1", "ctsync:t1:src2"), Refuse},
		{"adopt, the index showed a member as a guest", adopt, memberUser("g1"), Refuse},
		{"own, still ours", own, guest("g1", stamp), AdoptOwn},
		{"own, stamp gone", own, guest("g1", ""), Refuse},
	} {
		if got := Confirm(in, tc.m, tc.fresh); got.Kind != tc.kind {
			t.Errorf("%s: Confirm = %+v, want %s", tc.name, got, tc.kind)
		}
	}
}

func TestAfterInvite(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	in := MatchInput{SourceID: "src1", Mail: "ada@contoso.com", Stamp: stamp, StampAttr: slot, ExistingGuest: "skip", MailDomainVerified: true}
	fresh := guest("g1", "")
	fresh.Attrs[PropCreated] = now.Add(-time.Second).Format(time.RFC3339)
	old := guest("g1", "")
	old.Attrs[PropCreated] = now.Add(-48 * time.Hour).Format(time.RFC3339)
	marked := in
	marked.InvitedBefore = true
	adopting := in
	adopting.ExistingGuest = "adopt"
	for _, tc := range []struct {
		name string
		in   MatchInput
		g    directory.User
		kind MatchKind
	}{
		{"a new guest", in, fresh, Invite},
		{"a new guest without createdDateTime", in, guest("g1", ""), Invite},
		{"the guest is already ours", in, guest("g1", stamp), AdoptOwn},
		{"another source user's guest (two users, one mail)", in, guest("g1", "ctsync:t1:src2"), Refuse},
		{"a member", in, memberUser("g1"), Refuse},
		{"an old unstamped guest, policy skip", in, old, SkipFound},
		{"an old unstamped guest, policy adopt", adopting, old, AdoptFound},
		{"an old unstamped guest, our mark", marked, old, AdoptFound},
	} {
		if got := AfterInvite(tc.in, tc.g, now); got.Kind != tc.kind {
			t.Errorf("%s: AfterInvite = %+v, want %s", tc.name, got, tc.kind)
		}
	}
}
