package textsafe

import "testing"

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain ASCII", "Adele Vance", "Adele Vance"},
		{"empty", "", ""},
		{"accents and CJK kept", "Zoë Ångström 山田太郎", "Zoë Ångström 山田太郎"},
		{"emoji kept", "Eve 🚀", "Eve 🚀"},
		{"newline forging a line", "Eve\n2026-01-01 FAKE LINE", `Eve\n2026-01-01 FAKE LINE`},
		{"carriage return", "a\rb", `a\rb`},
		{"tab", "a\tb", `a\tb`},
		{"ANSI colour", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"NUL and DEL", "a\x00b\x7f", `a\x00b\x7f`},
		{"C1 CSI", "a\u009b31m", `a\u009b31m`},
		{"bidi override", "abc\u202edcba", `abc\u202edcba`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"no-break space", "a\u00a0b", `a\u00a0b`},
		{"backslash kept", `CONTOSO\bob`, `CONTOSO\bob`},
		{"invalid UTF-8", "a\xffb", `a\xffb`},
		{"replacement char kept", "a\ufffdb", "a\ufffdb"},
		{"hostile displayName", "Eve\n2026-01-01 FAKE LINE\x1b[31m", `Eve\n2026-01-01 FAKE LINE\x1b[31m`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Escape(tc.in); got != tc.want {
				t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := Safe(tc.in); got != (tc.in == tc.want) {
				t.Errorf("Safe(%q) = %v", tc.in, got)
			}
		})
	}
}

// TestEscapeOutputIsSafe: whatever goes in, what comes out prints as it
// is, on one line.
func TestEscapeOutputIsSafe(t *testing.T) {
	for _, in := range []string{"\x1b]0;title\x07", "x\n\r\t\v\f", "\u0085\u2029", "\\\\n", "\xc3"} {
		if out := Escape(in); !Safe(out) {
			t.Errorf("Escape(%q) = %q is not safe", in, out)
		}
	}
}

func FuzzEscape(f *testing.F) {
	f.Add("Eve\n\x1b[31m")
	f.Fuzz(func(t *testing.T, s string) {
		if out := Escape(s); !Safe(out) {
			t.Fatalf("Escape(%q) = %q is not safe", s, out)
		}
	})
}
