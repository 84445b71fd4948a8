package policy

import (
	"reflect"
	"strings"
	"testing"
)

func TestDuplicateMails(t *testing.T) {
	users := []user{
		{"id": "1", "mail": "Ada@Contoso.com"},
		{"id": "2", "mail": "bob@contoso.com"},
		{"id": "3", "mail": "ada@contoso.com "},
		{"id": "4", "mail": nil},
		{"id": "5"},
		{"id": "6", "mail": ""},
		{"id": "7", "mail": "BOB@contoso.com"},
		{"id": "8", "mail": "ADA@contoso.com"},
		{"id": "9", "mail": "carol@contoso.com"},
	}
	got := DuplicateMails(users, func(u user) string { return u["id"].(string) })
	if len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	if got[0].Mail != "ada@contoso.com" || !reflect.DeepEqual(got[0].IDs, []string{"1", "3", "8"}) || !reflect.DeepEqual(got[0].Indexes, []int{0, 2, 7}) {
		t.Errorf("ada: %+v", got[0])
	}
	if got[1].Mail != "bob@contoso.com" || !reflect.DeepEqual(got[1].IDs, []string{"2", "7"}) {
		t.Errorf("bob: %+v", got[1])
	}
	if r := got[0].Reason; !strings.Contains(r, "3 source users share mail 'ada@contoso.com' (1, 3, 8)") || !strings.Contains(r, "none of them is synced") {
		t.Errorf("reason %q", r)
	}
	if DuplicateMails([]user{{"id": "1", "mail": "a@b"}}, func(u user) string { return "" }) != nil {
		t.Error("no duplicates should give nil")
	}
}
