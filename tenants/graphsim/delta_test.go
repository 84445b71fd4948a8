package graphsim

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// fakeClock is a settable clock for tokens, delta expiry and windows.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// deltaRound follows one delta round to its deltaLink.
func deltaRound(t *testing.T, ub *users.UsersRequestBuilder, link string, cfg *users.DeltaRequestBuilderGetRequestConfiguration) ([]models.Userable, string, error) {
	t.Helper()
	ctx := context.Background()
	db := ub.Delta()
	if link != "" {
		db = db.WithUrl(link)
	}
	var all []models.Userable
	for {
		resp, err := db.GetAsDeltaGetResponse(ctx, cfg)
		if err != nil {
			return nil, "", err
		}
		all = append(all, resp.GetValue()...)
		if resp.GetOdataDeltaLink() != nil {
			return all, *resp.GetOdataDeltaLink(), nil
		}
		if resp.GetOdataNextLink() == nil {
			t.Fatal("delta page without nextLink or deltaLink")
		}
		db = ub.Delta().WithUrl(*resp.GetOdataNextLink())
	}
}

func removedReason(u models.Userable) string {
	r, ok := u.GetAdditionalData()["@removed"]
	if !ok {
		return ""
	}
	m, _ := r.(map[string]any)
	if s, ok := m["reason"].(*string); ok {
		return *s
	}
	return "?"
}

func TestDeltaRounds(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 12, Seed: 3, Now: clock.Now, TokenLifetime: 365 * 24 * time.Hour})
	ten := s.Tenant("contoso")
	ub := users.NewUsersRequestBuilderInternal(baseParams(s), defaultAdapter(t, s, "contoso"))
	h := abs.NewRequestHeaders()
	h.Add("Prefer", "odata.maxpagesize=5")
	cfg := &users.DeltaRequestBuilderGetRequestConfiguration{
		Headers:         h,
		QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: []string{"displayName", "jobTitle", "userType", "manager"}},
	}
	all, link, err := deltaRound(t, ub, "", cfg)
	if err != nil {
		t.Fatalf("initial round: %v", err)
	}
	if len(all) != 12 {
		t.Fatalf("initial round: %d users, want 12", len(all))
	}
	if all[0].GetUserType() == nil || all[0].GetMail() != nil {
		t.Fatal("initial round must carry exactly the selected properties")
	}

	// No change: one request, nothing returned.
	s.ResetStats()
	got, link, err := deltaRound(t, ub, link, nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("no-change round: %d users, err %v", len(got), err)
	}
	if st := s.Stats().Tenant("contoso"); st.Requests != 1 || st.Routes["GET /users/delta"] != 1 {
		t.Fatalf("no-change round cost %+v", st)
	}

	// An unselected property changes: nothing surfaces.
	us := ten.Users()
	if err := ten.UpdateUser(us[1].ID, map[string]any{"department": "Nowhere"}); err != nil {
		t.Fatal(err)
	}
	if got, link, err = deltaRound(t, ub, link, nil); err != nil || len(got) != 0 {
		t.Fatalf("unselected change surfaced: %d, %v", len(got), err)
	}

	// A selected change, a soft delete, a hard delete and a joiner.
	_ = ten.UpdateUser(us[2].ID, map[string]any{"jobTitle": "Chief Tester"})
	_ = ten.SoftDelete(us[3].ID)
	_ = ten.HardDelete(us[4].ID)
	joiner, _ := ten.AddUser(map[string]any{"displayName": "José Müller"})
	got, link, err = deltaRound(t, ub, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]models.Userable{}
	for _, u := range got {
		byID[*u.GetId()] = u
	}
	if len(got) != 4 {
		t.Fatalf("round: %d entries, want 4", len(got))
	}
	if u := byID[us[2].ID]; u == nil || *u.GetJobTitle() != "Chief Tester" || u.GetDisplayName() == nil {
		t.Fatal("changed user must carry every selected property (default, non-minimal)")
	}
	if r := removedReason(byID[us[3].ID]); r != "changed" {
		t.Fatalf("soft delete reason %q", r)
	}
	if r := removedReason(byID[us[4].ID]); r != "deleted" {
		t.Fatalf("hard delete reason %q", r)
	}
	if u := byID[joiner]; u == nil || *u.GetDisplayName() != "José Müller" {
		t.Fatal("joiner missing")
	}

	// Prefer: return=minimal: only changed properties.
	_ = ten.UpdateUser(us[5].ID, map[string]any{"jobTitle": "Minimal"})
	mh := abs.NewRequestHeaders()
	mh.Add("Prefer", "return=minimal")
	got, link, err = deltaRound(t, ub, link, &users.DeltaRequestBuilderGetRequestConfiguration{Headers: mh})
	if err != nil || len(got) != 1 || got[0].GetDisplayName() != nil || *got[0].GetJobTitle() != "Minimal" {
		t.Fatalf("minimal round wrong: %d %v", len(got), err)
	}

	// Expired tokens: by ExpireDeltaTokens, then by age.
	ten.ExpireDeltaTokens()
	_, _, err = deltaRound(t, ub, link, nil)
	wantStatus(t, err, http.StatusBadRequest, "syncStateNotFound")
	_, link, err = deltaRound(t, ub, "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(8 * 24 * time.Hour)
	_, _, err = deltaRound(t, ub, link, nil)
	wantStatus(t, err, http.StatusBadRequest, "syncStateNotFound")
}

func TestDeltaLatestGoneAndShapes(t *testing.T) {
	s := startSim(t, Options{Users: 3, Seed: 3, DeltaExpiredStatus: http.StatusGone})
	tok := accessToken(t, s, "contoso")
	code, _, body := raw(t, s, tok, "GET", "/users/delta?$deltatoken=latest&$select=displayName", "")
	if code != 200 || len(body["value"].([]any)) != 0 || body["@odata.deltaLink"] == nil {
		t.Fatalf("latest: %d %v", code, body)
	}
	link := body["@odata.deltaLink"].(string)
	id, _ := s.Tenant("contoso").AddUser(map[string]any{"displayName": "New Joiner"})
	code, _, body = raw(t, s, tok, "GET", link, "")
	vals := body["value"].([]any)
	if code != 200 || len(vals) != 1 || vals[0].(map[string]any)["id"] != id {
		t.Fatalf("after latest: %d %v", code, body)
	}
	if code, _, _ := raw(t, s, tok, "GET", "/users/delta?$top=5", ""); code != 400 {
		t.Fatalf("$top on delta: %d", code)
	}
	if code, _, _ := raw(t, s, tok, "GET", "/users/delta?$filter=displayName eq 'x'", ""); code != 400 {
		t.Fatalf("non-id filter on delta: %d", code)
	}
	code, _, body = raw(t, s, tok, "GET", "/users/delta?$filter="+escape("id eq '"+id+"'"), "")
	if code != 200 || len(body["value"].([]any)) != 1 {
		t.Fatalf("id filter: %d %v", code, body)
	}
	s.Tenant("contoso").ExpireDeltaTokens()
	code, _, body = raw(t, s, tok, "GET", link, "")
	if code != http.StatusGone {
		t.Fatalf("expired with 410 configured: %d %v", code, body)
	}
	// Forged token.
	if code, _, _ := raw(t, s, tok, "GET", "/users/delta?$deltatoken=abc.def", ""); code != 400 {
		t.Fatalf("forged token: %d", code)
	}
}
