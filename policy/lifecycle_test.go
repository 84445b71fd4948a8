package policy

import "testing"

func TestLifecycleDefaultsFollowEntra(t *testing.T) {
	p := mustCompile(t, allMembers())
	want := map[Event]Action{Disabled: Disable, OutOfScope: SoftDelete, SoftDeleted: SoftDelete, HardDeleted: SoftDelete, Restored: Restore}
	for e, a := range want {
		if got := p.Action(e); got != a {
			t.Errorf("Action(%s) = %s, want %s", e, got, a)
		}
	}
	if got := p.Action("nonsense"); got != None {
		t.Errorf("unknown event: %s", got)
	}
}

func TestLifecycleConfigured(t *testing.T) {
	cases := []struct {
		set   func(*LifecycleSpec)
		event Event
		want  Action
	}{
		{func(l *LifecycleSpec) { l.Disabled = "none" }, Disabled, None},
		{func(l *LifecycleSpec) { l.Disabled = "soft-delete" }, Disabled, SoftDelete},
		{func(l *LifecycleSpec) { l.OutOfScope = "disable" }, OutOfScope, Disable},
		{func(l *LifecycleSpec) { l.OutOfScope = "none" }, OutOfScope, None},
		{func(l *LifecycleSpec) { l.OutOfScope = "HARD_DELETE" }, OutOfScope, HardDelete},
		{func(l *LifecycleSpec) { l.SoftDeleted = "disable" }, SoftDeleted, Disable},
		{func(l *LifecycleSpec) { l.HardDeleted = "hard-delete" }, HardDeleted, HardDelete},
		{func(l *LifecycleSpec) { l.Restored = "none" }, Restored, None},
	}
	for _, c := range cases {
		s := allMembers()
		c.set(&s.Lifecycle)
		if got := mustCompile(t, s).Action(c.event); got != c.want {
			t.Errorf("%s: got %s, want %s", c.event, got, c.want)
		}
	}
}

func TestLifecycleRejectsUnknownAndUnfitActions(t *testing.T) {
	s := allMembers()
	s.Lifecycle = LifecycleSpec{Disabled: "restore", OutOfScope: "delete", Restored: "soft-delete"}
	errs := compileErrs(t, s)
	findErr(t, errs, "lifecycle.disabled", `"restore"`)
	findErr(t, errs, "lifecycle.out_of_scope", `"delete"`)
	findErr(t, errs, "lifecycle.restored", `"soft-delete"`)
	if len(errs) != 3 {
		t.Fatalf("want 3 errors, got %v", errs)
	}
}

func TestActionDestructive(t *testing.T) {
	for a, want := range map[Action]bool{None: false, Disable: true, SoftDelete: true, HardDelete: true, Restore: false} {
		if a.Destructive() != want {
			t.Errorf("%s.Destructive() = %v", a, !want)
		}
	}
}
