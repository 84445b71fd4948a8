package policy

import (
	"reflect"
	"testing"
)

func TestSetDefaultsFillsEverything(t *testing.T) {
	s := PairSpec{Mappings: []MappingSpec{{Target: "city", Source: "city"}}}
	s.SetDefaults()
	if s.UserType != "Member" || s.ExistingGuest != "skip" || *s.DeletionThreshold != 500 || !*s.DefaultMappings {
		t.Fatalf("scalar defaults: %+v", s)
	}
	if s.Mappings[0].Apply != ApplyAlways {
		t.Fatalf("mapping apply default: %q", s.Mappings[0].Apply)
	}
	want := LifecycleSpec{Disabled: "disable", OutOfScope: "soft-delete", SoftDeleted: "soft-delete", HardDeleted: "soft-delete", Restored: "restore"}
	if s.Lifecycle != want {
		t.Fatalf("lifecycle defaults: %+v", s.Lifecycle)
	}
}

func TestSetDefaultsKeepsGivenValues(t *testing.T) {
	s := PairSpec{UserType: "Guest", ExistingGuest: "adopt", DeletionThreshold: ptr(0), DefaultMappings: ptr(false),
		Mappings:  []MappingSpec{{Target: "city", Source: "city", Apply: "create"}},
		Lifecycle: LifecycleSpec{HardDeleted: "hard-delete"}}
	s.SetDefaults()
	if s.UserType != "Guest" || s.ExistingGuest != "adopt" || *s.DeletionThreshold != 0 || *s.DefaultMappings || s.Mappings[0].Apply != "create" {
		t.Fatalf("given values changed: %+v", s)
	}
	if s.Lifecycle.HardDeleted != "hard-delete" || s.Lifecycle.Disabled != "disable" {
		t.Fatalf("lifecycle: %+v", s.Lifecycle)
	}
}

func TestCompileDoesNotTouchCallersSpec(t *testing.T) {
	s := allMembers()
	s.Mappings = []MappingSpec{{Target: "city", Source: "city"}}
	mustCompile(t, s)
	if s.Mappings[0].Apply != "" || s.UserType != "" || s.DeletionThreshold != nil {
		t.Fatalf("Compile changed the caller's spec: %+v", s)
	}
}

func TestDefaultMappingSetMirrorsEntra(t *testing.T) {
	want := []string{"accountEnabled", "businessPhones", "city", "companyName", "country", "department",
		"displayName", "employeeId", "givenName", "jobTitle", "mail", "manager", "mobilePhone",
		"officeLocation", "surname", "usageLocation", "userType"}
	p := mustCompile(t, allMembers())
	if got := p.TargetProperties(); !reflect.DeepEqual(got, want) {
		t.Fatalf("targets:\n got %v\nwant %v", got, want)
	}
}

func TestCompiledDefaults(t *testing.T) {
	p := mustCompile(t, allMembers())
	if p.UserType() != "Member" || p.ConvertUserType() || p.DeletionThreshold() != 500 || p.ExistingGuest() != SkipExisting {
		t.Fatalf("defaults: type %q convert %v threshold %d existing %q", p.UserType(), p.ConvertUserType(), p.DeletionThreshold(), p.ExistingGuest())
	}
	if p.Groups() != nil || p.Transitive() {
		t.Fatalf("all-members scope has groups %v transitive %v", p.Groups(), p.Transitive())
	}
	u := member(map[string]any{"manager": "m1", "businessPhones": []string{"+49 1"}, "jobTitle": nil})
	create, err := p.Desired(u, true)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]any{
		"displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace", "mail": "ada@contoso.com",
		"department": "Engineering", "country": "Germany", "manager": "m1", "businessPhones": []string{"+49 1"},
		"accountEnabled": true, "userType": "Member", "jobTitle": nil,
		"city": nil, // not read: null
	}
	for k, v := range checks {
		if got, ok := create[k]; !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("create %s = %#v (present %v), want %#v", k, got, ok, v)
		}
	}
	// Graph reads showInAddressList back as null: a default mapping of it
	// would be rewritten on every diff, so it is not mapped by default.
	if v, ok := create["showInAddressList"]; ok {
		t.Errorf("showInAddressList mapped by default (%v)", v)
	}
	update, err := p.Desired(u, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := update["userType"]; ok {
		t.Error("userType is create-only by default, but was in the update set")
	}
	if len(update) != len(create)-1 {
		t.Errorf("update has %d attributes, create %d", len(update), len(create))
	}
}

func TestConvertUserTypeAppliesAlways(t *testing.T) {
	s := allMembers()
	s.UserType, s.ConvertUserType = "guest", true
	p := mustCompile(t, s)
	if p.UserType() != "Guest" {
		t.Fatalf("user type %q, want Guest (normalised)", p.UserType())
	}
	d, err := p.Desired(member(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	if d["userType"] != "Guest" {
		t.Fatalf("userType on update = %v, want Guest", d["userType"])
	}
}
