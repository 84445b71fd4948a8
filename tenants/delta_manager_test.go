package tenants

import (
	"reflect"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestDeltaSelectsManager: delta's $select carries manager when asked,
// GET /users' never does.
func TestDeltaSelectsManager(t *testing.T) {
	props := []string{"mail", "manager", "extensionAttribute3"}
	if got, want := deltaSelectFor(props, "userType"), []string{"id", "userType", "mail", "manager", "onPremisesExtensionAttributes"}; !reflect.DeepEqual(got, want) {
		t.Errorf("delta select %v, want %v", got, want)
	}
	if got, want := selectFor(props, "userType"), []string{"id", "userType", "mail", "onPremisesExtensionAttributes"}; !reflect.DeepEqual(got, want) {
		t.Errorf("select %v, want %v", got, want)
	}
}

// TestDecodeDeltaManager reads manager@delta as Graph sends it: a new or
// changed manager, a removed one, one changed with the old listed removed,
// and users whose manager was not reported.
func TestDecodeDeltaManager(t *testing.T) {
	body := `{
	"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(displayName,manager)",
	"@odata.nextLink": "https://graph.microsoft.com/v1.0/users/delta()?$skiptoken=abc",
	"value": [
		{"displayName": "Ann Lee", "id": "u1",
		 "manager@delta": [{"@odata.type": "#microsoft.graph.user", "id": "m1"}]},
		{"id": "u2",
		 "manager@delta": [{"@odata.type": "#microsoft.graph.user", "id": "m1", "@removed": {"reason": "deleted"}}]},
		{"id": "u3",
		 "manager@delta": [
			{"@odata.type": "#microsoft.graph.user", "id": "m1", "@removed": {"reason": "deleted"}},
			{"@odata.type": "#microsoft.graph.user", "id": "m2"}]},
		{"displayName": "Dan", "id": "u4"},
		{"id": "u5", "manager@delta": []},
		{"id": "u6", "@removed": {"reason": "changed"}}
	]}`
	props := []string{directory.PropDisplayName, directory.PropManager}
	us, next, delta, err := decodeDeltaPage([]byte(body), props)
	if err != nil {
		t.Fatal(err)
	}
	if next == "" || delta != "" || len(us) != 6 {
		t.Fatalf("next %q delta %q, %d users", next, delta, len(us))
	}
	type want struct {
		present bool
		v       any
	}
	for i, w := range []want{{true, "m1"}, {true, nil}, {true, "m2"}, {false, nil}, {false, nil}} {
		v, ok := us[i].Attr(directory.PropManager)
		if ok != w.present || v != w.v {
			t.Errorf("%s: manager %v (present %v), want %v (present %v)", us[i].ID, v, ok, w.v, w.present)
		}
	}
	if us[0].Str(directory.PropDisplayName) != "Ann Lee" {
		t.Errorf("u1 %+v", us[0])
	}
	if us[5].Removed != directory.SoftDeleted || us[5].Attrs != nil {
		t.Errorf("u6 %+v", us[5])
	}
	// without "manager" in props, manager@delta is not read
	us, _, _, err = decodeDeltaPage([]byte(body), []string{directory.PropDisplayName})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := us[0].Attr(directory.PropManager); ok {
		t.Errorf("manager read unasked: %+v", us[0])
	}
	// a malformed annotation fails the page rather than guessing
	if _, _, _, err := decodeDeltaPage([]byte(`{"value":[{"id":"u1","manager@delta":{"id":"m"}}],"@odata.deltaLink":"x"}`), props); err == nil {
		t.Error("malformed manager@delta accepted")
	}
}

// TestSimDeltaManager: the simulator reports manager@delta when delta
// selects manager: set on the initial round, changed, removed.
func TestSimDeltaManager(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}})
	ten := s.Tenant("contoso")
	boss, err := ten.AddUser(map[string]any{"displayName": "Boss"})
	must(t, err)
	boss2, err := ten.AddUser(map[string]any{"displayName": "Boss Two"})
	must(t, err)
	worker, err := ten.AddUser(map[string]any{"displayName": "Worker", "manager": boss})
	must(t, err)
	other, err := ten.AddUser(map[string]any{"displayName": "Other", "manager": boss})
	must(t, err)
	src := simClient(t, s, "contoso", nil).Source()
	props := []string{directory.PropDisplayName, directory.PropManager}

	all, link := deltaRound(t, src, "", props)
	if m := all[worker].Attrs[directory.PropManager]; m != boss {
		t.Fatalf("initial round: worker's manager %v, want %s (%+v)", m, boss, all[worker])
	}
	if _, ok := all[boss].Attr(directory.PropManager); ok {
		t.Errorf("boss has a manager: %+v", all[boss])
	}

	must(t, ten.UpdateUser(worker, map[string]any{"manager": boss2}))
	must(t, ten.UpdateUser(other, map[string]any{"manager": nil}))
	got, _ := deltaRound(t, src, link, props)
	if m, ok := got[worker].Attr(directory.PropManager); !ok || m != boss2 {
		t.Errorf("changed manager: %v %v (%+v)", m, ok, got[worker])
	}
	if m, ok := got[other].Attr(directory.PropManager); !ok || m != nil {
		t.Errorf("removed manager: %v %v (%+v)", m, ok, got[other])
	}
}
