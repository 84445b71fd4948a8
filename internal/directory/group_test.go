package directory

import (
	"strings"
	"testing"
)

func TestGroupStampRoundTrip(t *testing.T) {
	tenant, group := "72f988bf-86f1-41af-91ab-2d7cd011db47", "0B3E9C2A-1F00-4D2B-9E8A-AB12CD34EF56"
	nick, err := GroupStamp(tenant, group)
	if err != nil {
		t.Fatal(err)
	}
	if len(nick) > 64 || !strings.HasPrefix(nick, GroupStampPrefix) || strings.ToLower(nick) != nick {
		t.Fatalf("stamp %q: want a lower-case mailNickname of at most 64 characters", nick)
	}
	gotT, gotG, ok := ParseGroupStamp(nick)
	if !ok || gotT != tenant || gotG != strings.ToLower(group) {
		t.Fatalf("ParseGroupStamp(%q) = %q, %q, %v", nick, gotT, gotG, ok)
	}
}

func TestGroupStampRejects(t *testing.T) {
	for _, tc := range []struct{ tenant, group string }{
		{"not-a-guid", "0b3e9c2a-1f00-4d2b-9e8a-ab12cd34ef56"},
		{"72f988bf-86f1-41af-91ab-2d7cd011db47", "g1"},
		{"72f988bf86f141af91ab2d7cd011db47aaaa", "0b3e9c2a-1f00-4d2b-9e8a-ab12cd34ef56"},
		{"72f988bf-86f1-41af-91ab-2d7cd011dbzz", "0b3e9c2a-1f00-4d2b-9e8a-ab12cd34ef56"},
	} {
		if _, err := GroupStamp(tc.tenant, tc.group); err == nil {
			t.Errorf("GroupStamp(%q, %q): want an error", tc.tenant, tc.group)
		}
	}
	for _, nick := range []string{"", "ctsync-", "ctsync-abc", "sales", "ctsync-" + strings.Repeat("a", 52) + "!"} {
		if _, _, ok := ParseGroupStamp(nick); ok {
			t.Errorf("ParseGroupStamp(%q): want not ok", nick)
		}
	}
}
