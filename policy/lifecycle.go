package policy

import "strings"

// Event is something that happened to a source user that the guest must
// follow. The values match sync/plan's.
type Event string

// Lifecycle events.
const (
	// Disabled: the source account was disabled.
	Disabled Event = "disabled"
	// OutOfScope: the user left the pair's scope (filters, groups, exclusions).
	OutOfScope Event = "out_of_scope"
	// SoftDeleted: the source user was deleted and can still be restored.
	SoftDeleted Event = "soft_deleted"
	// HardDeleted: the source user is gone for good.
	HardDeleted Event = "hard_deleted"
	// Restored: the source user came back from deleted items.
	Restored Event = "restored"
)

// Events lists every lifecycle event, in the order the spec documents them.
var Events = []Event{Disabled, OutOfScope, SoftDeleted, HardDeleted, Restored}

// Action is what happens to a guest: on an event, the lifecycle actions
// below; sync/plan adds the actions only a plan has (create, update, ...)
// to the same type, so one vocabulary runs from the configuration to the
// provisioning log.
type Action string

// Lifecycle actions.
const (
	None       Action = "none"
	Disable    Action = "disable"
	SoftDelete Action = "soft-delete"
	HardDelete Action = "hard-delete"
	Restore    Action = "restore"
)

// Destructive reports whether the action counts against the deletion
// threshold (deletes plus disables, as Entra counts them).
func (a Action) Destructive() bool {
	return a == Disable || a == SoftDelete || a == HardDelete
}

// lifecycleRule says, per event, its key, its default (Entra's) and which
// actions make sense for it: restoring a guest because its source was
// disabled, or deleting one because its source came back, is a mistake.
var lifecycleRules = []struct {
	event   Event
	key     string
	def     Action
	allowed []Action
}{
	{Disabled, "lifecycle.disabled", Disable, []Action{None, Disable, SoftDelete, HardDelete}},
	{OutOfScope, "lifecycle.out_of_scope", SoftDelete, []Action{None, Disable, SoftDelete, HardDelete}},
	{SoftDeleted, "lifecycle.soft_deleted", SoftDelete, []Action{None, Disable, SoftDelete, HardDelete}},
	{HardDeleted, "lifecycle.hard_deleted", SoftDelete, []Action{None, Disable, SoftDelete, HardDelete}},
	{Restored, "lifecycle.restored", Restore, []Action{None, Restore}},
}

// field returns the LifecycleSpec field of an event.
func (l *LifecycleSpec) field(e Event) *string {
	switch e {
	case Disabled:
		return &l.Disabled
	case OutOfScope:
		return &l.OutOfScope
	case SoftDeleted:
		return &l.SoftDeleted
	case HardDeleted:
		return &l.HardDeleted
	case Restored:
		return &l.Restored
	}
	return nil
}

// compileLifecycle checks each event's action (after defaults).
func compileLifecycle(l LifecycleSpec, c *collector) map[Event]Action {
	out := make(map[Event]Action, len(lifecycleRules))
	for _, r := range lifecycleRules {
		v := strings.ToLower(strings.TrimSpace(*l.field(r.event)))
		v = strings.ReplaceAll(v, "_", "-")
		a := Action(v)
		ok := false
		for _, al := range r.allowed {
			ok = ok || a == al
		}
		if !ok {
			names := make([]string, len(r.allowed))
			for i, al := range r.allowed {
				names[i] = `"` + string(al) + `"`
			}
			c.add(r.key, 0, "unknown or unfit action %q for this event: use one of %s", *l.field(r.event), strings.Join(names, ", "))
			a = r.def
		}
		out[r.event] = a
	}
	return out
}
