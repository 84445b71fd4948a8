package graphsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/groups"
)

func TestGroupMembers(t *testing.T) {
	s := startSim(t, Options{Users: 3, Seed: 5})
	ten := s.Tenant("contoso")
	us := ten.Users()
	inner, _ := ten.AddGroup("Inner", us[0].ID, us[1].ID)
	outer, _ := ten.AddGroup("Outer", inner, us[2].ID)
	ctx := context.Background()
	gb := groups.NewGroupsRequestBuilderInternal(baseParams(s), defaultAdapter(t, s, "contoso"))

	direct, err := gb.ByGroupId(outer).Members().Get(ctx, nil)
	if err != nil || len(direct.GetValue()) != 2 {
		t.Fatalf("direct members: %v", err)
	}
	if *direct.GetValue()[0].GetOdataType() != "#microsoft.graph.group" {
		t.Fatalf("first member type %s", *direct.GetValue()[0].GetOdataType())
	}
	trans, err := gb.ByGroupId(outer).TransitiveMembers().GraphUser().Get(ctx, nil)
	if err != nil || len(trans.GetValue()) != 3 {
		t.Fatalf("transitive users: %v", err)
	}
	all, err := gb.ByGroupId(outer).TransitiveMembers().Get(ctx, nil)
	if err != nil || len(all.GetValue()) != 4 {
		t.Fatalf("transitive members: %v", err)
	}
	users, err := gb.ByGroupId(outer).Members().GraphUser().Get(ctx, nil)
	if err != nil || len(users.GetValue()) != 1 || *users.GetValue()[0].GetId() != us[2].ID {
		t.Fatalf("member users: %v", err)
	}
	// Paging of members.
	tok := accessToken(t, s, "contoso")
	code, _, body := raw(t, s, tok, "GET", "/groups/"+outer+"/transitiveMembers?$top=2", "")
	if code != 200 || body["@odata.nextLink"] == nil || len(body["value"].([]any)) != 2 {
		t.Fatalf("paged members: %d %v", code, body)
	}
	code, _, body = raw(t, s, tok, "GET", body["@odata.nextLink"].(string), "")
	if code != 200 || body["@odata.nextLink"] != nil || len(body["value"].([]any)) != 2 {
		t.Fatalf("second page: %d %v", code, body)
	}
	_, err = gb.ByGroupId("00000000-0000-0000-0000-000000000000").Members().Get(ctx, nil)
	wantStatus(t, err, http.StatusNotFound, "Request_ResourceNotFound")
}

func TestBatch(t *testing.T) {
	s := startSim(t, Options{Users: 3, Seed: 5})
	tok := accessToken(t, s, "contoso")
	us := s.Tenant("contoso").Users()
	var reqs []string
	for i := 0; i < 21; i++ {
		reqs = append(reqs, fmt.Sprintf(`{"id":"%d","method":"GET","url":"/users/%s"}`, i, us[0].ID))
	}
	code, _, _ := raw(t, s, tok, "POST", "/$batch", `{"requests":[`+strings.Join(reqs, ",")+`]}`)
	if code != 400 {
		t.Fatalf("21 requests: %d", code)
	}
	s.ResetStats()
	body := `{"requests":[
	 {"id":"1","method":"PATCH","url":"/users/` + us[0].ID + `","headers":{"Content-Type":"application/json"},"body":{"jobTitle":"Batched"}},
	 {"id":"2","method":"GET","url":"users/` + us[0].ID + `?$select=jobTitle","dependsOn":["1"]},
	 {"id":"3","method":"GET","url":"/users/nobody@contoso.onmicrosoft.com"},
	 {"id":"4","method":"DELETE","url":"/users/` + us[1].ID + `","dependsOn":["3"]},
	 {"id":"5","method":"PATCH","url":"/users/` + us[2].ID + `","body":{"creationType":"x"}}]}`
	code, _, resp := raw(t, s, tok, "POST", "/$batch", body)
	if code != 200 {
		t.Fatalf("batch: %d %v", code, resp)
	}
	got := map[string]map[string]any{}
	for _, r := range resp["responses"].([]any) {
		m := r.(map[string]any)
		got[m["id"].(string)] = m
	}
	want := map[string]float64{"1": 204, "2": 200, "3": 404, "4": 424, "5": 400}
	for id, st := range want {
		if got[id]["status"] != st {
			b, _ := json.Marshal(got[id])
			t.Fatalf("item %s: %s, want %v", id, b, st)
		}
	}
	if got["2"]["body"].(map[string]any)["jobTitle"] != "Batched" {
		t.Fatal("dependant did not see the write")
	}
	if u, _ := s.Tenant("contoso").User(us[1].ID); u.Deleted {
		t.Fatal("424 item was executed")
	}
	st := s.Stats().Tenant("contoso")
	if st.Routes["POST /$batch"] != 1 || st.Writes != 2 || st.Reads != 2 {
		t.Fatalf("batch stats %+v", st)
	}
}
