package policy

import (
	"reflect"
	"testing"
)

func names(ps []Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func TestPermissions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   func(*PairSpec)
		source []string
		target []string
	}{
		{"defaults restore soft-deleted guests", func(*PairSpec) {},
			[]string{PermUserRead}, []string{PermUserInvite, PermUserReadWrite, PermDeleteRestore}},
		{"no restore, no purge", func(s *PairSpec) { s.Lifecycle.Restored = "none" },
			[]string{PermUserRead}, []string{PermUserInvite, PermUserReadWrite}},
		{"purge only", func(s *PairSpec) { s.Lifecycle.Restored, s.Lifecycle.HardDeleted = "none", "hard-delete" },
			[]string{PermUserRead}, []string{PermUserInvite, PermUserReadWrite, PermDeleteRestore}},
		{"adopt reads the source's domains", func(s *PairSpec) { s.ExistingGuest, s.Lifecycle.Restored = "adopt", "none" },
			[]string{PermUserRead, PermDomainRead}, []string{PermUserInvite, PermUserReadWrite}},
		{"group scope", func(s *PairSpec) {
			s.Scope = ScopeSpec{Groups: []string{"0b7c6a52-1f43-4c1e-9a0e-6d1f2b3c4d5e"}}
			s.Lifecycle.Restored = "none"
		},
			[]string{PermUserRead, PermGroupMembers}, []string{PermUserInvite, PermUserReadWrite}},
		{"group sync reads groups at the source and writes them in the target", func(s *PairSpec) {
			s.Groups = &GroupsSpec{Names: []string{"Engineering"}}
			s.Lifecycle.Restored = "none"
		},
			[]string{PermUserRead, PermGroupMembers}, []string{PermUserInvite, PermUserReadWrite, PermGroupWrite}},
	} {
		spec := allMembers()
		tc.spec(&spec)
		src, dst := mustCompile(t, spec).Permissions()
		if !reflect.DeepEqual(names(src), tc.source) || !reflect.DeepEqual(names(dst), tc.target) {
			t.Errorf("%s: source %v target %v, want %v %v", tc.name, names(src), names(dst), tc.source, tc.target)
		}
	}
}
