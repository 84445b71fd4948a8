package graphsim

import (
	"context"
	"net/http"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/invitations"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

func newInvitation(email string) *models.Invitation {
	inv := models.NewInvitation()
	inv.SetInvitedUserEmailAddress(ptr(email))
	inv.SetInviteRedirectUrl(ptr("https://myapps.microsoft.com"))
	inv.SetInvitedUserDisplayName(ptr("Siobhán O'Brien"))
	inv.SetSendInvitationMessage(ptr(false))
	return inv
}

func TestInvitationsAndDeletedItems(t *testing.T) {
	s := startSim(t, Options{Users: 5, Seed: 2})
	a := defaultAdapter(t, s, "fabrikam")
	ctx := context.Background()
	ib := invitations.NewInvitationsRequestBuilderInternal(baseParams(s), a)
	ub := users.NewUsersRequestBuilderInternal(baseParams(s), a)

	res, err := ib.Post(ctx, newInvitation("siobhan.o'brien@contoso.com"), nil)
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	gid := *res.GetInvitedUser().GetId()
	if *res.GetStatus() != "PendingAcceptance" || res.GetInviteRedeemUrl() == nil || res.GetId() == nil {
		t.Fatal("invitation response incomplete")
	}
	g, err := ub.ByUserId(gid).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "userPrincipalName", "mail", "otherMails", "userType", "externalUserState", "creationType", "displayName"}},
	})
	if err != nil {
		t.Fatalf("get guest: %v", err)
	}
	if *g.GetUserPrincipalName() != "siobhan.o'brien_contoso.com#EXT#@fabrikam.onmicrosoft.com" ||
		*g.GetMail() != "siobhan.o'brien@contoso.com" || g.GetOtherMails()[0] != "siobhan.o'brien@contoso.com" ||
		*g.GetUserType() != "Guest" || *g.GetExternalUserState() != "PendingAcceptance" || *g.GetCreationType() != "Invitation" {
		t.Fatalf("guest shape wrong: %s", *g.GetUserPrincipalName())
	}

	// Re-inviting the same address returns the same guest.
	res2, err := ib.Post(ctx, newInvitation("siobhan.o'brien@contoso.com"), nil)
	if err != nil || *res2.GetInvitedUser().GetId() != gid {
		t.Fatalf("re-invite: %v", err)
	}
	// Validation.
	bad := models.NewInvitation()
	bad.SetInvitedUserEmailAddress(ptr("x@y.com"))
	_, err = ib.Post(ctx, bad, nil)
	wantStatus(t, err, http.StatusBadRequest, "Request_BadRequest")
	_, err = ib.Post(ctx, newInvitation("not-an-address"), nil)
	wantStatus(t, err, http.StatusBadRequest, "Request_BadRequest")
	member := newInvitation("m@partner.example")
	member.SetInvitedUserType(ptr("Member"))
	res3, err := ib.Post(ctx, member, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Tenant("fabrikam").User(*res3.GetInvitedUser().GetId()); u.Attrs["userType"] != "Member" {
		t.Fatal("invitedUserType Member ignored")
	}

	// Soft delete, list deleted items, get, restore, delete again, purge.
	if err := ub.ByUserId(gid).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	_, err = ib.Post(ctx, newInvitation("siobhan.o'brien@contoso.com"), nil)
	wantStatus(t, err, http.StatusBadRequest, "Request_BadRequest") // held by a soft-deleted guest
	db := directory.NewDirectoryRequestBuilderInternal(baseParams(s), a).DeletedItems()
	list, err := db.GraphUser().Get(ctx, nil)
	if err != nil || len(list.GetValue()) != 1 || *list.GetValue()[0].GetId() != gid {
		t.Fatalf("deleted list: %v", err)
	}
	if _, err := db.ByDirectoryObjectId(gid).Get(ctx, nil); err != nil {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := db.ByDirectoryObjectId(gid).Restore().Post(ctx, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if _, err := ub.ByUserId(gid).Get(ctx, nil); err != nil {
		t.Fatalf("restored user: %v", err)
	}
	_ = ub.ByUserId(gid).Delete(ctx, nil)
	if err := db.ByDirectoryObjectId(gid).Delete(ctx, nil); err != nil {
		t.Fatalf("purge: %v", err)
	}
	_, err = db.ByDirectoryObjectId(gid).Get(ctx, nil)
	wantStatus(t, err, http.StatusNotFound, "Request_ResourceNotFound")
	if st := s.Stats().Tenant("fabrikam"); st.Invitations != 6 {
		t.Fatalf("invitations counted %d, want 6", st.Invitations)
	}
}

func TestReplicationLag(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 2, Now: clock.Now, Realism: &Realism{ReplicationLag: 5e9}})
	a := defaultAdapter(t, s, "fabrikam")
	ctx := context.Background()
	res, err := invitations.NewInvitationsRequestBuilderInternal(baseParams(s), a).Post(ctx, newInvitation("lag@partner.example"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ub := users.NewUsersRequestBuilderInternal(baseParams(s), a)
	_, err = ub.ByUserId(*res.GetInvitedUser().GetId()).Get(ctx, nil)
	wantStatus(t, err, http.StatusNotFound, "Request_ResourceNotFound")
	clock.Advance(6e9)
	if _, err := ub.ByUserId(*res.GetInvitedUser().GetId()).Get(ctx, nil); err != nil {
		t.Fatalf("after lag: %v", err)
	}
}
