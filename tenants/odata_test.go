package tenants

import "testing"

func TestODataString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"alice@contoso.com", "'alice@contoso.com'"},
		{"o'brien@contoso.com", "'o''brien@contoso.com'"},
		{"x' or 1 eq 1 or mail eq 'y", "'x'' or 1 eq 1 or mail eq ''y'"},
		{"''", "''''''"},
		{"", "''"},
	}
	for _, c := range cases {
		if got := ODataString(c.in); got != c.want {
			t.Errorf("ODataString(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	if got, want := filterAnyEq("otherMails", "o'b@x"), "otherMails/any(x:x eq 'o''b@x')"; got != want {
		t.Errorf("filterAnyEq = %s, want %s", got, want)
	}
}

// TestODataStringIsOneLiteral checks, with a tiny OData literal scanner,
// that the quoted value is exactly one literal spanning the whole output.
func TestODataStringIsOneLiteral(t *testing.T) {
	for _, in := range []string{"x' or 1 eq 1 or mail eq 'y", "'", "a''b", "'); delete", "é'ü"} {
		q := ODataString(in)
		if q[0] != '\'' {
			t.Fatalf("%q: no opening quote", in)
		}
		var got []rune
		i := 1
		closed := -1
		rs := []rune(q)
		for i = 1; i < len(rs); i++ {
			if rs[i] == '\'' {
				if i+1 < len(rs) && rs[i+1] == '\'' {
					got = append(got, '\'')
					i++
					continue
				}
				closed = i
				break
			}
			got = append(got, rs[i])
		}
		if closed != len(rs)-1 {
			t.Errorf("%q: literal closes at %d of %d: %s", in, closed, len(rs), q)
		}
		if string(got) != in {
			t.Errorf("%q: literal decodes to %q", in, string(got))
		}
	}
}

func TestExtensionSlot(t *testing.T) {
	for name, want := range map[string]int{"extensionAttribute1": 1, "extensionAttribute15": 15} {
		if n, ok := extensionSlot(name); !ok || n != want {
			t.Errorf("%s: %d %v", name, n, ok)
		}
	}
	for _, bad := range []string{"extensionAttribute0", "extensionAttribute16", "extensionAttribute01", "mail", "extensionAttribute"} {
		if _, ok := extensionSlot(bad); ok {
			t.Errorf("%s accepted", bad)
		}
	}
}
