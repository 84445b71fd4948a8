package tenants

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestStampQueries: Stamped asks for "ne null" (Graph has no startsWith on
// extension attributes) and FindByStamp for "eq", both as advanced queries
// on every page; Stamped keeps only values with ctsync's prefix.
func TestStampQueries(t *testing.T) {
	var mu sync.Mutex
	var reqs []*http.Request
	c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("page") == "" {
			_, _ = w.Write([]byte(`{"value":[
				{"id":"a","onPremisesExtensionAttributes":{"extensionAttribute15":"ctsync:t:1"}},
				{"id":"b","onPremisesExtensionAttributes":{"extensionAttribute15":"costcenter-42"}}],
				"@odata.nextLink":"https://` + r.Host + `/v1.0/users?page=2"}`))
			return
		}
		_, _ = w.Write([]byte(`{"value":[{"id":"c","onPremisesExtensionAttributes":{"extensionAttribute15":"ctsync:t:3"}}]}`))
	}, nil)
	tg := c.Target()
	var got []string
	must(t, tg.Stamped(context.Background(), func(us []directory.User) error {
		for _, u := range us {
			got = append(got, u.ID)
		}
		return nil
	}))
	if len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Fatalf("stamped %v, want [a c]", got)
	}
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	q := reqs[0].URL.Query()
	if f := q.Get("$filter"); f != "onPremisesExtensionAttributes/extensionAttribute15 ne null" {
		t.Errorf("filter %q", f)
	}
	if q.Get("$count") != "true" {
		t.Errorf("no $count=true: %s", reqs[0].URL.RawQuery)
	}
	for i, r := range reqs {
		if r.Header.Get("ConsistencyLevel") != "eventual" {
			t.Errorf("request %d without ConsistencyLevel: eventual", i)
		}
	}

	reqs = nil
	if _, err := tg.FindByStamp(context.Background(), "ctsync:t:1"); err != nil {
		t.Fatal(err)
	}
	q = reqs[0].URL.Query()
	if q.Get("$filter") != "onPremisesExtensionAttributes/extensionAttribute15 eq 'ctsync:t:1'" ||
		q.Get("$count") != "true" || reqs[0].Header.Get("ConsistencyLevel") != "eventual" {
		t.Errorf("FindByStamp sent %s with ConsistencyLevel %q", reqs[0].URL.RawQuery, reqs[0].Header.Get("ConsistencyLevel"))
	}
}

// TestSimStampedForeignValues: against the simulator (which answers 400 to
// startsWith on extension attributes, as Graph does), Stamped finds the
// stamped guests and not a user whose stamp slot holds another tool's value.
func TestSimStampedForeignValues(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"}})
	ten := s.Tenant("fabrikam")
	var want []string
	for _, v := range []string{directory.Stamp("t", "1"), "costcenter-42", directory.Stamp("t", "2"), ""} {
		attrs := map[string]any{"displayName": "U " + v, "userType": "Guest", "creationType": "Invitation"}
		if v != "" {
			attrs["extensionAttribute15"] = v
		}
		id, err := ten.AddUser(attrs)
		must(t, err)
		if v != "" && v[0] == 'c' && v != "costcenter-42" {
			want = append(want, id)
		}
	}
	tg := simClient(t, s, "fabrikam", nil).Target()
	got := map[string]bool{}
	must(t, tg.Stamped(context.Background(), func(us []directory.User) error {
		for _, u := range us {
			got[u.ID] = true
		}
		return nil
	}))
	if len(got) != len(want) {
		t.Fatalf("stamped %v, want %v", got, want)
	}
	for _, id := range want {
		if !got[id] {
			t.Fatalf("missing %s in %v", id, got)
		}
	}
}

// TestDomainsQuery: GET /domains selects id and isVerified, follows
// nextLink and keeps the verified names, lower-cased.
func TestDomainsQuery(t *testing.T) {
	var sel []string
	c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("page") == "" {
			sel = append(sel, r.URL.Query().Get("$select"))
			_, _ = w.Write([]byte(`{"value":[{"id":"contoso.onmicrosoft.com","isVerified":true},
				{"id":"Contoso.com","isVerified":true},{"id":"claimed.example","isVerified":false},{"id":"odd.example"}],
				"@odata.nextLink":"https://` + r.Host + `/v1.0/domains?page=2"}`))
			return
		}
		_, _ = w.Write([]byte(`{"value":[{"id":"sub.contoso.com","isVerified":true}]}`))
	}, nil)
	got, err := c.Source().Domains(context.Background())
	must(t, err)
	if fmt.Sprint(got) != "[contoso.onmicrosoft.com contoso.com sub.contoso.com]" {
		t.Errorf("domains %v", got)
	}
	if len(sel) != 1 || sel[0] != "id,isVerified" {
		t.Errorf("$select %v", sel)
	}
}
