package tenants

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonser "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

func serialize(t *testing.T, u models.Userable) map[string]any {
	t.Helper()
	w := jsonser.NewJsonSerializationWriter()
	if err := w.WriteObjectValue("", u); err != nil {
		t.Fatal(err)
	}
	b, err := w.GetSerializedContent()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// TestToModel: only the given properties are sent, nulls are sent as null,
// extension attributes are nested back, unknown names pass through.
func TestToModel(t *testing.T) {
	u, err := toModel(map[string]any{
		"displayName": "Ann", "jobTitle": nil, "accountEnabled": false,
		"otherMails": []string{"a@x"}, "extensionAttribute15": "ctsync:t:o", "extensionAttribute2": nil,
		"extension_abc_costCenter": "42",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := serialize(t, u)
	want := map[string]any{
		"displayName": "Ann", "jobTitle": nil, "accountEnabled": false, "otherMails": []any{"a@x"},
		"onPremisesExtensionAttributes": map[string]any{"extensionAttribute15": "ctsync:t:o", "extensionAttribute2": nil},
		"extension_abc_costCenter":      "42",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body %v\nwant %v", got, want)
	}
	for _, bad := range []map[string]any{{"displayName": 3}, {"creationType": "x"}, {"extensionAttribute1": true}} {
		if _, err := toModel(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestFromModel(t *testing.T) {
	m := models.NewUser()
	id, mail, ea := "u1", "a@x", "ctsync:t:o"
	m.SetId(&id)
	m.SetMail(&mail)
	en := true
	m.SetAccountEnabled(&en)
	ext := models.NewOnPremisesExtensionAttributes()
	ext.SetExtensionAttribute15(&ea)
	m.SetOnPremisesExtensionAttributes(ext)
	m.SetAdditionalData(map[string]any{"extension_abc_n": ptr(float64(7))})
	props := []string{"mail", "jobTitle", "accountEnabled", "extensionAttribute15", "extensionAttribute1", "extension_abc_n", "manager"}
	got := fromModel(m, props, allPresent)
	want := map[string]any{"mail": "a@x", "jobTitle": nil, "accountEnabled": true,
		"extensionAttribute15": "ctsync:t:o", "extensionAttribute1": nil, "extension_abc_n": int64(7)}
	if got.ID != "u1" || !reflect.DeepEqual(got.Attrs, want) {
		t.Errorf("got %+v", got)
	}
	// absent properties (delta) stay absent
	got = fromModel(m, props, func(n string) bool { return n == "mail" })
	if !reflect.DeepEqual(got.Attrs, map[string]any{"mail": "a@x"}) {
		t.Errorf("partial %+v", got.Attrs)
	}
}

func TestSelectFor(t *testing.T) {
	got := selectFor([]string{"mail", "extensionAttribute3", "manager", "extensionAttribute15", "mail"}, "userType")
	want := []string{"id", "userType", "mail", "onPremisesExtensionAttributes"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%v", got)
	}
}

func ptr[T any](v T) *T { return &v }
