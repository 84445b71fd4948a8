package directory

import "testing"

func TestStampRoundTrip(t *testing.T) {
	tn, id, ok := ParseStamp(Stamp("tid", "oid"))
	if !ok || tn != "tid" || id != "oid" {
		t.Fatalf("round trip: %q %q %v", tn, id, ok)
	}
	for _, bad := range []string{"", "ctsync:", "ctsync:t", "ctsync::o", "ctsync:t:", "other:t:o"} {
		if _, _, ok := ParseStamp(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
