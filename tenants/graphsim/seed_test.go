package graphsim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeedDeterministicAndAwkward(t *testing.T) {
	a := startSim(t, Options{Users: 120, Seed: 99})
	b := startSim(t, Options{Users: 120, Seed: 99})
	ua, ub := a.Tenant("northwind").Users(), b.Tenant("northwind").Users()
	if len(ua) != 120 || len(ub) != 120 {
		t.Fatalf("users %d %d", len(ua), len(ub))
	}
	for i := range ua {
		if ua[i].ID != ub[i].ID || ua[i].Attrs["userPrincipalName"] != ub[i].Attrs["userPrincipalName"] {
			t.Fatalf("seed not deterministic at %d", i)
		}
	}
	if a.Tenant("contoso").ID() != b.Tenant("contoso").ID() {
		t.Fatal("tenant IDs not deterministic")
	}
	var guests, disabled, apostrophes, accents, managers, noTitle int
	for _, u := range ua {
		if u.Attrs["userType"] == "Guest" {
			guests++
		}
		if u.Attrs["accountEnabled"] == false {
			disabled++
		}
		if strings.Contains(u.Attrs["displayName"].(string), "'") {
			apostrophes++
		}
		if strings.ContainsAny(u.Attrs["displayName"].(string), "éüóñøç") {
			accents++
		}
		if u.Attrs["manager"] != nil {
			managers++
		}
		if _, ok := u.Attrs["jobTitle"]; !ok {
			noTitle++
		}
	}
	if guests == 0 || disabled == 0 || apostrophes == 0 || accents == 0 || managers < 100 || noTitle == 0 {
		t.Fatalf("seed lacks variety: guests %d disabled %d apostrophes %d accents %d managers %d noTitle %d",
			guests, disabled, apostrophes, accents, managers, noTitle)
	}
	ten := a.Tenant("northwind")
	all, ok := ten.GroupID("All Staff")
	if !ok {
		t.Fatal("no All Staff group")
	}
	if d, tr := len(ten.Members(all, false)), len(ten.Members(all, true)); d >= tr {
		t.Fatalf("nesting missing: direct %d transitive %d", d, tr)
	}
}

func TestSeedFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seed.json")
	seed := `{"tenants":[{"name":"acme","users":[
	 {"displayName":"Boss","userPrincipalName":"boss@acme.onmicrosoft.com","manager":"vp@acme.onmicrosoft.com"},
	 {"displayName":"VP","userPrincipalName":"vp@acme.onmicrosoft.com","extensionAttribute3":"x"},
	 {"displayName":"Guest One","userPrincipalName":"g_ext.example#EXT#@acme.onmicrosoft.com","userType":"Guest","creationType":"Invitation","mail":"g@ext.example"}],
	 "groups":[{"displayName":"Inner","members":["boss@acme.onmicrosoft.com"]},{"displayName":"Outer","members":["Inner","vp@acme.onmicrosoft.com"]}]}]}`
	if err := os.WriteFile(p, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSim(t, Options{SeedFile: p})
	ten := s.Tenant("acme")
	boss, ok := ten.User("boss@acme.onmicrosoft.com")
	vp, _ := ten.User("vp@acme.onmicrosoft.com")
	if !ok || boss.Attrs["manager"] != vp.ID || vp.Attrs["extensionAttribute3"] != "x" {
		t.Fatalf("seed file users: %+v %+v", boss, vp)
	}
	outer, _ := ten.GroupID("Outer")
	if len(ten.Members(outer, true)) != 3 {
		t.Fatal("seed file groups")
	}
	if len(s.Tenants()) != 1 {
		t.Fatal("seed file should define the tenants")
	}
}
