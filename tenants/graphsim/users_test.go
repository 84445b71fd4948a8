package graphsim

import (
	"context"
	"errors"
	"net/http"
	"testing"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

func ptr[T any](v T) *T { return &v }

// listAll pages through GET /users with the SDK, following @odata.nextLink.
func listAll(t *testing.T, ub *users.UsersRequestBuilder, cfg *users.UsersRequestBuilderGetRequestConfiguration) ([]models.Userable, int) {
	t.Helper()
	ctx := context.Background()
	resp, err := ub.Get(ctx, cfg)
	if err != nil {
		t.Fatalf("GET /users: %v", err)
	}
	all := resp.GetValue()
	pages := 1
	for resp.GetOdataNextLink() != nil {
		resp, err = ub.WithUrl(*resp.GetOdataNextLink()).Get(ctx, nil)
		if err != nil {
			t.Fatalf("GET nextLink: %v", err)
		}
		all = append(all, resp.GetValue()...)
		pages++
	}
	return all, pages
}

func TestUsersPagingWithSecretAndCertificate(t *testing.T) {
	s := startSim(t, Options{Users: 250, Seed: 7})
	for name, a := range map[string]abs.RequestAdapter{
		"secret":      defaultAdapter(t, s, "contoso"),
		"certificate": adapter(t, s, certCredential(t, s, "contoso")),
	} {
		t.Run(name, func(t *testing.T) {
			ub := users.NewUsersRequestBuilderInternal(baseParams(s), a)
			all, pages := listAll(t, ub, nil)
			if len(all) != 250 || pages != 3 {
				t.Fatalf("got %d users in %d pages, want 250 in 3 (default page 100)", len(all), pages)
			}
			seen := map[string]bool{}
			for _, u := range all {
				if seen[*u.GetId()] {
					t.Fatalf("duplicate %s", *u.GetId())
				}
				seen[*u.GetId()] = true
				if u.GetUserType() != nil || u.GetAccountEnabled() != nil {
					t.Fatalf("userType/accountEnabled returned without $select")
				}
			}
			all, pages = listAll(t, ub, &users.UsersRequestBuilderGetRequestConfiguration{
				QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Top: ptr(int32(999)), Select: []string{"id", "userType", "accountEnabled", "onPremisesExtensionAttributes"}},
			})
			if len(all) != 250 || pages != 1 {
				t.Fatalf("$top=999: %d users in %d pages", len(all), pages)
			}
			if all[0].GetUserType() == nil || all[0].GetAccountEnabled() == nil || all[0].GetOnPremisesExtensionAttributes() == nil {
				t.Fatal("selected properties missing")
			}
			if all[0].GetDisplayName() != nil {
				t.Fatal("displayName returned although not selected")
			}
		})
	}
	st := s.Stats().Tenant("contoso")
	if st.Writes != 0 || st.Reads != 8 || st.Routes["GET /users"] != 8 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestUserCRUDAndErrors(t *testing.T) {
	s := startSim(t, Options{Users: 10, Seed: 1})
	a := defaultAdapter(t, s, "contoso")
	ctx := context.Background()
	ub := users.NewUsersRequestBuilderInternal(baseParams(s), a)

	nu := models.NewUser()
	nu.SetAccountEnabled(ptr(true))
	nu.SetDisplayName(ptr("Seán O'Brien"))
	nu.SetMailNickname(ptr("sean.obrien"))
	nu.SetUserPrincipalName(ptr("sean.o'brien@contoso.onmicrosoft.com"))
	pp := models.NewPasswordProfile()
	pp.SetPassword(ptr("S3cret!pass"))
	nu.SetPasswordProfile(pp)
	created, err := ub.Post(ctx, nu, nil)
	if err != nil {
		t.Fatalf("POST /users: %v", err)
	}
	id := *created.GetId()

	// Duplicate UPN -> 400.
	_, err = ub.Post(ctx, nu, nil)
	wantStatus(t, err, http.StatusBadRequest, "Request_BadRequest")

	// Missing required field -> 400.
	bad := models.NewUser()
	bad.SetDisplayName(ptr("x"))
	_, err = ub.Post(ctx, bad, nil)
	wantStatus(t, err, http.StatusBadRequest, "Request_BadRequest")

	// PATCH, then GET by UPN (with an apostrophe) and by ID.
	upd := models.NewUser()
	upd.SetJobTitle(ptr("Analyst"))
	upd.SetDepartment(ptr("Finance"))
	ext := models.NewOnPremisesExtensionAttributes()
	ext.SetExtensionAttribute15(ptr("ctsync:t:o"))
	upd.SetOnPremisesExtensionAttributes(ext)
	if _, err := ub.ByUserId(id).Patch(ctx, upd, nil); err != nil {
		t.Fatalf("PATCH: %v", err)
	}
	got, err := ub.ByUserId("sean.o'brien@contoso.onmicrosoft.com").Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "jobTitle", "department", "onPremisesExtensionAttributes", "userType"}},
	})
	if err != nil {
		t.Fatalf("GET by UPN: %v", err)
	}
	if *got.GetId() != id || *got.GetJobTitle() != "Analyst" || *got.GetDepartment() != "Finance" ||
		*got.GetOnPremisesExtensionAttributes().GetExtensionAttribute15() != "ctsync:t:o" || *got.GetUserType() != "Member" {
		t.Fatalf("unexpected user after PATCH")
	}

	// PATCH of a read-only property -> 400.
	ro := models.NewUser()
	ro.SetCreationType(ptr("Invitation"))
	_, err = ub.ByUserId(id).Patch(ctx, ro, nil)
	wantStatus(t, err, http.StatusBadRequest, "Request_BadRequest")

	// Manager: none -> 404; set; get; clear.
	_, err = ub.ByUserId(id).Manager().Get(ctx, nil)
	wantStatus(t, err, http.StatusNotFound, "Request_ResourceNotFound")
	boss := s.Tenant("contoso").Users()[0].ID
	ref := models.NewReferenceUpdate()
	ref.SetOdataId(ptr(s.GraphURL() + "/users/" + boss))
	if err := ub.ByUserId(id).Manager().Ref().Put(ctx, ref, nil); err != nil {
		t.Fatalf("PUT manager: %v", err)
	}
	m, err := ub.ByUserId(id).Manager().Get(ctx, nil)
	if err != nil || *m.GetId() != boss {
		t.Fatalf("GET manager: %v", err)
	}
	if err := ub.ByUserId(id).Manager().Ref().Delete(ctx, nil); err != nil {
		t.Fatalf("DELETE manager: %v", err)
	}
	if u, _ := s.Tenant("contoso").User(id); u.Attrs["manager"] != nil {
		t.Fatal("manager not cleared")
	}

	// DELETE -> soft delete; GET -> 404.
	if err := ub.ByUserId(id).Delete(ctx, nil); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	_, err = ub.ByUserId(id).Get(ctx, nil)
	wantStatus(t, err, http.StatusNotFound, "Request_ResourceNotFound")
	if u, ok := s.Tenant("contoso").User(id); !ok || !u.Deleted {
		t.Fatal("user not in deleted items")
	}
	st := s.Stats().Tenant("contoso")
	if st.Writes != 8 {
		t.Fatalf("writes = %d, want 8 (%v)", st.Writes, st.Routes)
	}
}

// wantStatus checks that err is a Graph error with the status and code.
func wantStatus(t *testing.T, err error, status int, code string) {
	t.Helper()
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("want ODataError %d %s, got %v", status, code, err)
	}
	if oe.ResponseStatusCode != status {
		t.Fatalf("status %d, want %d (%v)", oe.ResponseStatusCode, status, err)
	}
	if code != "" && (oe.GetErrorEscaped() == nil || oe.GetErrorEscaped().GetCode() == nil || *oe.GetErrorEscaped().GetCode() != code) {
		t.Fatalf("code mismatch, want %s: %+v", code, oe.GetErrorEscaped())
	}
}
