package graphsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// inviteGuest invites addr over HTTP and returns the guest's object ID.
func inviteGuest(t *testing.T, s *Server, tok, addr string) string {
	t.Helper()
	code, _, body := raw(t, s, tok, "POST", "/invitations",
		`{"invitedUserEmailAddress":"`+addr+`","inviteRedirectUrl":"https://myapps.microsoft.com"}`)
	if code != http.StatusCreated {
		t.Fatalf("invite %s: %d %v", addr, code, body)
	}
	return body["invitedUser"].(map[string]any)["id"].(string)
}

// createMember creates a member user over HTTP and returns its ID.
func createMember(t *testing.T, s *Server, tok, nick string) string {
	t.Helper()
	code, _, body := raw(t, s, tok, "POST", "/users", `{"accountEnabled":true,"displayName":"`+nick+`","mailNickname":"`+nick+
		`","userPrincipalName":"`+nick+`@contoso.onmicrosoft.com","passwordProfile":{"password":"Secret-123456"}}`)
	if code != http.StatusCreated {
		t.Fatalf("create %s: %d %v", nick, code, body)
	}
	return body["id"].(string)
}

// listIDs lists the IDs GET path returns (one page is enough here).
func listIDs(t *testing.T, s *Server, tok, path string, hdr ...string) []string {
	t.Helper()
	code, _, body := raw(t, s, tok, "GET", path, "", hdr...)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, code, body)
	}
	var ids []string
	for _, v := range body["value"].([]any) {
		ids = append(ids, v.(map[string]any)["id"].(string))
	}
	return ids
}

func TestIndexLag(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 3, Now: clock.Now, TokenLifetime: 48 * time.Hour, Realism: &Realism{IndexLag: 5 * time.Second}})
	tok := accessToken(t, s, "contoso")
	const addr = "lagged@fabrikam.example"
	byMail := "/users?$filter=" + escape("mail eq '"+addr+"'")
	advanced := []string{"ConsistencyLevel", "eventual"}

	id := inviteGuest(t, s, tok, addr)
	// Created within the lag: $filter and advanced queries do not see it...
	if got := listIDs(t, s, tok, byMail); len(got) != 0 {
		t.Fatalf("filter sees a user created 0 s ago: %v", got)
	}
	if got := listIDs(t, s, tok, "/users?$count=true&$top=999", advanced...); contains(got, id) {
		t.Fatal("advanced query sees a user created 0 s ago")
	}
	// ...while GET by ID, a plain list and delta do.
	if code, _, _ := raw(t, s, tok, "GET", "/users/"+id, ""); code != http.StatusOK {
		t.Fatalf("GET by ID of a fresh user: %d", code)
	}
	if got := listIDs(t, s, tok, "/users?$top=999"); !contains(got, id) {
		t.Fatal("plain list does not see a fresh user")
	}
	// $count and /users/$count count from the index too.
	_, _, body := raw(t, s, tok, "GET", "/users?$count=true&$top=1", "", advanced...)
	if body["@odata.count"] != float64(3) {
		t.Fatalf("@odata.count %v, want 3 (the index predates the invitation)", body["@odata.count"])
	}

	// The SDK, as package tenants calls it, misses it too.
	ub := users.NewUsersRequestBuilderInternal(baseParams(s), defaultAdapter(t, s, "contoso"))
	filter := "mail eq '" + addr + "'"
	cfg := &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &filter}}
	if resp, err := ub.Get(context.Background(), cfg); err != nil || len(resp.GetValue()) != 0 {
		t.Fatalf("SDK filter right after the write: %v, %d users", err, len(resp.GetValue()))
	}

	clock.Advance(5 * time.Second)
	if got := listIDs(t, s, tok, byMail); len(got) != 1 || got[0] != id {
		t.Fatalf("filter after the lag: %v", got)
	}
	if resp, err := ub.Get(context.Background(), cfg); err != nil || len(resp.GetValue()) != 1 {
		t.Fatalf("SDK filter after the lag: %v", err)
	}

	// A change: the index shows the old value for the lag.
	if code, _, _ := raw(t, s, tok, "PATCH", "/users/"+id, `{"jobTitle":"Pilot"}`); code != http.StatusNoContent {
		t.Fatalf("PATCH: %d", code)
	}
	byTitle := "/users?$filter=" + escape("jobTitle eq 'Pilot'")
	clock.Advance(4 * time.Second)
	if got := listIDs(t, s, tok, byTitle); len(got) != 0 {
		t.Fatalf("filter sees a change made 4 s ago: %v", got)
	}
	clock.Advance(time.Second)
	if got := listIDs(t, s, tok, byTitle); len(got) != 1 {
		t.Fatalf("filter misses a change made 5 s ago: %v", got)
	}

	// A delete: still listed for the lag, and not yet in a filtered list of
	// deleted items.
	if code, _, _ := raw(t, s, tok, "DELETE", "/users/"+id, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	if got := listIDs(t, s, tok, byMail); len(got) != 1 {
		t.Fatalf("filter lost a user deleted 0 s ago: %v", got)
	}
	delByMail := "/directory/deletedItems/microsoft.graph.user?$filter=" + escape("mail eq '"+addr+"'")
	if got := listIDs(t, s, tok, delByMail); len(got) != 0 {
		t.Fatalf("deleted items filter sees a delete made 0 s ago: %v", got)
	}
	clock.Advance(6 * time.Second)
	if got := listIDs(t, s, tok, byMail); len(got) != 0 {
		t.Fatalf("filter still sees a user deleted 6 s ago: %v", got)
	}
	if got := listIDs(t, s, tok, delByMail); len(got) != 1 {
		t.Fatalf("deleted items filter after the lag: %v", got)
	}

	// Memory stays bounded: every version has been caught up with.
	tn := s.Tenant("contoso")
	tn.mu.RLock()
	tn.view(clock.Now(), 5*time.Second)
	tn.mu.RUnlock()
	if n := len(tn.idx.pending) + len(tn.idx.queue); n != 0 {
		t.Fatalf("index keeps %d caught-up versions", n)
	}
}

func TestIndexLagPagesAcrossPendingUsers(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 5, Now: clock.Now, TokenLifetime: 48 * time.Hour, Realism: &Realism{IndexLag: time.Minute}})
	tok := accessToken(t, s, "contoso")
	tn := s.Tenant("contoso")
	old := tn.Users()
	// Delete two and add two: the index still shows exactly the old five.
	for _, u := range old[:2] {
		if err := tn.SoftDelete(u.ID); err != nil {
			t.Fatal(err)
		}
	}
	inviteGuest(t, s, tok, "a@fabrikam.example")
	inviteGuest(t, s, tok, "b@fabrikam.example")
	var got []string
	next := "/users?$top=2&$filter=" + escape("accountEnabled eq true")
	for next != "" {
		code, _, body := raw(t, s, tok, "GET", next, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", next, code)
		}
		for _, v := range body["value"].([]any) {
			got = append(got, v.(map[string]any)["id"].(string))
		}
		next, _ = body["@odata.nextLink"].(string)
	}
	var want []string
	for _, u := range old {
		want = append(want, u.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("paged lagged list\n got %v\nwant %v", got, want)
	}
	// SettleIndexes: the index catches up at once.
	s.SettleIndexes()
	got = listIDs(t, s, tok, "/users?$top=999&$filter="+escape("accountEnabled eq true"))
	if len(got) != 5 || contains(got, old[0].ID) || contains(got, old[1].ID) {
		t.Fatalf("after SettleIndexes: %v", got)
	}
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestReplicaMissAfterSuccess(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 2, Seed: 5, Now: clock.Now, TokenLifetime: 48 * time.Hour,
		Realism: &Realism{ReplicaWindow: 10 * time.Second, ReplicaMissRate: 0.5}})
	tok := accessToken(t, s, "contoso")
	id := inviteGuest(t, s, tok, "young@fabrikam.example")
	var seq []int
	okThen404 := false
	for i := 0; i < 40; i++ {
		code, _, body := raw(t, s, tok, "GET", "/users/"+id, "")
		if code == http.StatusNotFound {
			if c := body["error"].(map[string]any)["code"]; c != "Request_ResourceNotFound" {
				t.Fatalf("replica miss code %v", c)
			}
			if len(seq) > 0 && seq[len(seq)-1] == http.StatusOK {
				okThen404 = true
			}
		}
		seq = append(seq, code)
	}
	if !okThen404 {
		t.Fatalf("no 404 after a success within the replica window: %v", seq)
	}
	if n := s.Stats().Tenant("contoso").ReplicaMisses; n == 0 {
		t.Fatal("ReplicaMisses not counted")
	}
	// Seeded users are old: never missed.
	old := s.Tenant("contoso").Users()[0].ID
	if old == id {
		old = s.Tenant("contoso").Users()[1].ID
	}
	for i := 0; i < 20; i++ {
		if code, _, _ := raw(t, s, tok, "GET", "/users/"+old, ""); code != http.StatusOK {
			t.Fatalf("old user answered %d", code)
		}
	}
	// After the window every request finds it, by ID and by UPN.
	clock.Advance(10 * time.Second)
	upn := guestUPN("young@fabrikam.example", s.Tenant("contoso").Domain())
	for i := 0; i < 20; i++ {
		if code, _, _ := raw(t, s, tok, "GET", "/users/"+url.PathEscape(upn), ""); code != http.StatusOK {
			t.Fatalf("after the window: %d", code)
		}
	}
	// Deterministic from the seed.
	s2 := startSim(t, Options{Users: 2, Seed: 5, Now: newClock().Now, TokenLifetime: 48 * time.Hour,
		Realism: &Realism{ReplicaWindow: 10 * time.Second, ReplicaMissRate: 0.5}})
	tok2 := accessToken(t, s2, "contoso")
	id2 := inviteGuest(t, s2, tok2, "young@fabrikam.example")
	var seq2 []int
	for i := 0; i < 40; i++ {
		code, _, _ := raw(t, s2, tok2, "GET", "/users/"+id2, "")
		seq2 = append(seq2, code)
	}
	if fmt.Sprint(seq) != fmt.Sprint(seq2) {
		t.Fatalf("replica misses not deterministic:\n%v\n%v", seq, seq2)
	}
}

func TestReplicaMissEverywhere(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 2, Now: clock.Now, TokenLifetime: 48 * time.Hour})
	tok := accessToken(t, s, "contoso")
	old := s.Tenant("contoso").Users()[0].ID
	young := createMember(t, s, tok, "young")
	gone := createMember(t, s, tok, "gone")
	if code, _, _ := raw(t, s, tok, "DELETE", "/users/"+gone, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	s.SetRealism(Realism{ReplicaWindow: time.Minute, ReplicaMissRate: 1})

	cases := []struct {
		name, method, path, body string
	}{
		{"GET by ID", "GET", "/users/" + young, ""},
		{"GET by UPN", "GET", "/users/young@contoso.onmicrosoft.com", ""},
		{"PATCH", "PATCH", "/users/" + young, `{"jobTitle":"x"}`},
		{"DELETE", "DELETE", "/users/" + young, ""},
		{"manager $ref names a young manager", "PUT", "/users/" + old + "/manager/$ref",
			`{"@odata.id":"https://graph.microsoft.com/v1.0/users/` + young + `"}`},
		{"deleted item", "GET", "/directory/deletedItems/" + gone, ""},
		{"restore", "POST", "/directory/deletedItems/" + gone + "/restore", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := raw(t, s, tok, tc.method, tc.path, tc.body)
			ec, _ := body["error"].(map[string]any)["code"].(string)
			if tc.method == "PATCH" && ec == "Directory_ObjectNotFound" {
				ec = "Request_ResourceNotFound" // the other code a PATCH miss has
			}
			if code != http.StatusNotFound || ec != "Request_ResourceNotFound" {
				t.Fatalf("%s %s: %d %v, want 404 Request_ResourceNotFound", tc.method, tc.path, code, body)
			}
		})
	}
	// A PATCH miss also comes as Directory_ObjectNotFound, still a 404.
	codes := map[string]int{}
	for i := 0; i < 20; i++ {
		status, _, body := raw(t, s, tok, "PATCH", "/users/"+young, `{"jobTitle":"x"}`)
		if status != http.StatusNotFound {
			t.Fatalf("PATCH miss: %d", status)
		}
		codes[body["error"].(map[string]any)["code"].(string)]++
	}
	if codes["Directory_ObjectNotFound"] == 0 || codes["Request_ResourceNotFound"] == 0 {
		t.Fatalf("PATCH miss codes %v", codes)
	}

	t.Run("batch item", func(t *testing.T) {
		code, _, body := raw(t, s, tok, "POST", "/$batch", `{"requests":[`+
			`{"id":"1","method":"GET","url":"/users/`+old+`"},`+
			`{"id":"2","method":"GET","url":"/users/`+young+`"},`+
			`{"id":"3","method":"PATCH","url":"/users/`+young+`","body":{"jobTitle":"x"},"headers":{"Content-Type":"application/json"},"dependsOn":["2"]}]}`)
		if code != http.StatusOK {
			t.Fatalf("batch envelope %d", code)
		}
		got := map[string]float64{}
		for _, r := range body["responses"].([]any) {
			m := r.(map[string]any)
			got[m["id"].(string)] = m["status"].(float64)
		}
		if got["1"] != 200 || got["2"] != 404 || got["3"] != 424 {
			t.Fatalf("batch statuses %v, want 1:200 2:404 3:424", got)
		}
	})

	// Outside the window the same requests succeed.
	clock.Advance(time.Minute)
	if code, _, _ := raw(t, s, tok, "PUT", "/users/"+old+"/manager/$ref",
		`{"@odata.id":"https://graph.microsoft.com/v1.0/users/`+young+`"}`); code != http.StatusNoContent {
		t.Fatalf("manager $ref after the window: %d", code)
	}
	if code, _, _ := raw(t, s, tok, "GET", "/directory/deletedItems/"+gone, ""); code != http.StatusOK {
		t.Fatalf("deleted item after the window: %d", code)
	}
}

// tokenStatus posts one client-credentials request and returns the status,
// Retry-After and decoded body.
func tokenStatus(t *testing.T, s *Server, tenant string) (int, string, map[string]any) {
	t.Helper()
	tn := s.Tenant(tenant)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {tn.ClientID()}, "client_secret": {tn.ClientSecret()},
		"scope": {"https://graph.microsoft.com/.default"}}
	req, _ := http.NewRequest("POST", s.AuthorityURL()+"/"+tn.ID()+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, resp.Header.Get("Retry-After"), m
}

func TestTokenFaults(t *testing.T) {
	s := startSim(t, Options{Users: 1, Seed: 9, Realism: &Realism{TokenFaultRate: 1}})
	seen := map[int]bool{}
	for i := 0; i < 24; i++ {
		code, ra, body := tokenStatus(t, s, "contoso")
		seen[code] = true
		if code != http.StatusServiceUnavailable && code != http.StatusInternalServerError {
			t.Fatalf("token fault status %d", code)
		}
		if ra == "" {
			t.Fatal("token fault without Retry-After")
		}
		desc, _ := body["error_description"].(string)
		if body["error"] != "temporarily_unavailable" || !strings.HasPrefix(desc, "AADSTS") || body["error_codes"] == nil ||
			body["trace_id"] == nil || body["correlation_id"] == nil || body["timestamp"] == nil {
			t.Fatalf("token fault body is not AAD-shaped: %v", body)
		}
	}
	if !seen[503] || !seen[500] {
		t.Fatalf("want both 503 and 500, got %v", seen)
	}
	if st := s.Stats().Tenant("contoso"); st.TokenFaults != 24 || st.Tokens != 24 {
		t.Fatalf("token stats %+v", st)
	}
	s.SetRealism(Realism{})
	if code, _, body := tokenStatus(t, s, "contoso"); code != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("without faults: %d %v", code, body)
	}

	// Deterministic from the seed.
	run := func() string {
		s := startSim(t, Options{Users: 1, Seed: 9, Realism: &Realism{TokenFaultRate: 0.5}})
		var out []string
		for i := 0; i < 20; i++ {
			code, _, _ := tokenStatus(t, s, "contoso")
			out = append(out, fmt.Sprint(code))
		}
		return strings.Join(out, ",")
	}
	if a, b := run(), run(); a != b || !strings.Contains(a, "200") {
		t.Fatalf("token faults not deterministic or never succeed:\n%s\n%s", a, b)
	}
}

func TestSharedAppQuotaAcrossTenants(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 2, Tenants: []string{"contoso", "fabrikam"}, SharedApp: true, Now: clock.Now,
		TokenLifetime: 48 * time.Hour, Realism: &Realism{Throttling: true, Limits: Limits{AppResourceUnits: 6}}})
	in := s.Info()
	a, b := in.Tenants[0], in.Tenants[1]
	if !in.SharedApp || a.ClientID != b.ClientID || a.ClientSecret != b.ClientSecret || a.CertFile != b.CertFile {
		t.Fatalf("shared app not reflected in Info: %+v", in)
	}
	if s.SecretFile("contoso") != s.SecretFile("fabrikam") || s.SecretFile("contoso") == "" {
		t.Fatalf("secret files %q %q", s.SecretFile("contoso"), s.SecretFile("fabrikam"))
	}
	if sec, err := os.ReadFile(s.SecretFile("fabrikam")); err != nil || string(sec) != a.ClientSecret {
		t.Fatalf("shared secret file: %v", err)
	}
	if _, err := os.Stat(s.StateDir() + "/contoso.secret"); err == nil {
		t.Fatal("a per-tenant secret file is left beside the shared one")
	}
	tokA, tokB := accessToken(t, s, "contoso"), accessToken(t, s, "fabrikam")
	// GET /users costs 2 RU: three calls, split over two tenants, use the
	// app's 6; the fourth is throttled in either tenant.
	for i, tok := range []string{tokA, tokB, tokA} {
		if code, _, _ := raw(t, s, tok, "GET", "/users", ""); code != http.StatusOK {
			t.Fatalf("call %d: %d", i, code)
		}
	}
	code, hdr, _ := raw(t, s, tokB, "GET", "/users", "")
	if code != http.StatusTooManyRequests {
		t.Fatalf("app-wide quota: %d, want 429", code)
	}
	if sc := hdr.Get("x-ms-throttle-scope"); !strings.HasPrefix(sc, "Application/ReadWrite/"+a.ClientID+"/") {
		t.Fatalf("x-ms-throttle-scope %q", sc)
	}
	if hdr.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	clock.Advance(time.Minute)
	if code, _, _ := raw(t, s, tokA, "GET", "/users", ""); code != http.StatusOK {
		t.Fatalf("after the window: %d", code)
	}

	// Without a shared app, each tenant's own app has its own budget.
	s2 := startSim(t, Options{Users: 2, Tenants: []string{"contoso", "fabrikam"}, Now: clock.Now,
		TokenLifetime: 48 * time.Hour, Realism: &Realism{Throttling: true, Limits: Limits{AppResourceUnits: 6}}})
	t2A, t2B := accessToken(t, s2, "contoso"), accessToken(t, s2, "fabrikam")
	for i, tok := range []string{t2A, t2B, t2A, t2B} {
		if code, _, _ := raw(t, s2, tok, "GET", "/users", ""); code != http.StatusOK {
			t.Fatalf("separate apps, call %d: %d", i, code)
		}
	}
}

func TestAppWriteQuota(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 2, Tenants: []string{"contoso", "fabrikam"}, SharedApp: true, Now: clock.Now,
		TokenLifetime: 48 * time.Hour, Realism: &Realism{Throttling: true, Limits: Limits{AppWrites: 2}}})
	var last http.Header
	var code int
	for _, tn := range []string{"contoso", "fabrikam", "contoso"} {
		tok := accessToken(t, s, tn)
		id := s.Tenant(tn).Users()[0].ID
		code, last, _ = raw(t, s, tok, "PATCH", "/users/"+id, `{"jobTitle":"x"}`)
	}
	if code != http.StatusTooManyRequests || !strings.HasPrefix(last.Get("x-ms-throttle-scope"), "Application/Write/") ||
		last.Get("x-ms-throttle-information") != "WriteLimitExceeded" {
		t.Fatalf("app write quota: %d %v", code, last)
	}
}

func TestThrottleFactor(t *testing.T) {
	for _, tc := range []struct {
		factor float64
		ok     int // GET /users (2 RU) calls within 10 RU scaled
	}{
		{0, 5}, {1, 5}, {0.8, 4}, {0.5, 2},
	} {
		t.Run(fmt.Sprint(tc.factor), func(t *testing.T) {
			clock := newClock()
			s := startSim(t, Options{Users: 2, Now: clock.Now, TokenLifetime: 48 * time.Hour,
				Realism: &Realism{Throttling: true, ThrottleFactor: tc.factor, Limits: Limits{ResourceUnits: 10}}})
			tok := accessToken(t, s, "contoso")
			for i := 0; i < tc.ok; i++ {
				if code, _, _ := raw(t, s, tok, "GET", "/users", ""); code != http.StatusOK {
					t.Fatalf("call %d: %d", i, code)
				}
			}
			if code, _, _ := raw(t, s, tok, "GET", "/users", ""); code != http.StatusTooManyRequests {
				t.Fatalf("call %d: %d, want 429", tc.ok, code)
			}
		})
	}
}

func TestHostileProfile(t *testing.T) {
	h, ok := ProfileRealism(ProfileHostile)
	if !ok || h != HostileRealism() {
		t.Fatal("ProfileRealism(hostile) is not HostileRealism")
	}
	r := RealisticRealism()
	if !h.Throttling || h.IndexLag <= 0 || h.ReplicaWindow <= 0 || h.ReplicaMissRate <= 0 || h.TokenFaultRate <= 0 ||
		h.ThrottleFactor >= 1 || h.FaultRate <= r.FaultRate || h.LostResponseRate < r.LostResponseRate {
		t.Fatalf("hostile is not harsher than realistic: %+v", h)
	}
	if _, ok := ProfileRealism("slow"); ok {
		t.Fatal("unknown profile accepted")
	}
	s := startSim(t, Options{Users: 1, Profile: ProfileHostile})
	if s.Realism() != h {
		t.Fatalf("Start(hostile) realism %+v", s.Realism())
	}

	// A correct client converges under it: after creating a user it
	// retries 404s by ID, and looks a fresh write up by ID, not by filter.
	// The fake clock moves one second per attempt; no faults or latency so
	// that only consistency is measured.
	clock := newClock()
	h.Latency, h.FaultRate, h.LostResponseRate, h.TokenFaultRate = Latency{}, 0, 0, 0
	s = startSim(t, Options{Users: 3, Seed: 17, Now: clock.Now, TokenLifetime: 48 * time.Hour, Realism: &h})
	tok := accessToken(t, s, "contoso")
	worst := 0
	for i := 0; i < 20; i++ {
		id := inviteGuest(t, s, tok, fmt.Sprintf("g%d@fabrikam.example", i))
		tries := 1
		for {
			code, _, _ := raw(t, s, tok, "PATCH", "/users/"+id, `{"jobTitle":"synced"}`)
			if code == http.StatusNoContent {
				break
			}
			if code != http.StatusNotFound || tries == 10 {
				t.Fatalf("guest %d: PATCH answered %d after %d tries", i, code, tries)
			}
			tries++
			clock.Advance(time.Second)
		}
		worst = max(worst, tries)
	}
	t.Logf("worst PATCH tries after an invitation: %d", worst)
	clock.Advance(h.IndexLag)
	if got := listIDs(t, s, tok, "/users?$top=999&$filter="+escape("jobTitle eq 'synced'")); len(got) != 20 {
		t.Fatalf("after the index lag the filter finds %d of 20", len(got))
	}
}

// BenchmarkListUsersFilterLagged lists through the lagging index while 200
// of 2,000 users have writes the index has not caught up with.
func BenchmarkListUsersFilterLagged(b *testing.B) {
	s := startSim(b, Options{Users: 2000, Tenants: []string{"contoso"}, Realism: &Realism{IndexLag: time.Hour}})
	tn := s.Tenant("contoso")
	for i, u := range tn.Users() {
		if i%10 == 0 {
			if err := tn.UpdateUser(u.ID, map[string]any{"jobTitle": "changed"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	tok := accessToken(b, s, "contoso")
	benchRequests(b, s, func(int64) *http.Request {
		req, _ := http.NewRequest("GET", s.GraphURL()+"/users?$top=100&$filter="+escape("accountEnabled eq true"), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	})
}
