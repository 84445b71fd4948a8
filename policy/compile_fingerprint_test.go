package policy

import "testing"

func TestFingerprint(t *testing.T) {
	all := PairSpec{Scope: ScopeSpec{All: true}}
	compile := func(s PairSpec) uint64 {
		t.Helper()
		p, err := Compile("p", s)
		if err != nil {
			t.Fatal(err)
		}
		return p.Fingerprint()
	}
	base := compile(all)
	if compile(all) != base {
		t.Fatal("fingerprint is not stable")
	}
	filtered := all
	filtered.Scope.Filters = []FilterSpec{{Clauses: []ClauseSpec{{Attribute: "department", Operator: "EQUALS", Value: "Eng"}}}}
	if compile(filtered) == base {
		t.Error("a new filter keeps the fingerprint")
	}
	mapped := all
	mapped.Mappings = []MappingSpec{{Target: "companyName", Expression: `"Contoso"`}}
	if compile(mapped) == base {
		t.Error("a new mapping keeps the fingerprint")
	}
	threshold := 7
	other := all
	other.DeletionThreshold = &threshold
	other.Lifecycle.OutOfScope = "disable"
	if compile(other) != base {
		t.Error("threshold and lifecycle change the fingerprint (they need no full read)")
	}
}
