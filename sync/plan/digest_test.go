package plan

import "testing"

func TestDigest(t *testing.T) {
	base := func() *Plan {
		return &Plan{Changes: []Change{
			{Action: Create, SourceID: "u1", Set: map[string]any{"displayName": "Ada", "jobTitle": "Eng"}, Reason: "new"},
			{Action: SoftDelete, SourceID: "u2", GuestID: "g2", Event: "out_of_scope"},
		}, Unchanged: 3}
	}
	d := Digest(base(), 42)
	if len(d) != 32 || Digest(base(), 42) != d {
		t.Fatalf("digest %q is not stable", d)
	}
	same := base()
	same.Changes[0].Reason, same.Unchanged = "another wording", 7
	same.Changes[0].Set = map[string]any{"jobTitle": "Eng", "displayName": "Ada"}
	if Digest(same, 42) != d {
		t.Error("reasons, counts or map order changed the digest")
	}
	for name, change := range map[string]func(p *Plan){
		"a property value": func(p *Plan) { p.Changes[0].Set["jobTitle"] = "CTO" },
		"an action":        func(p *Plan) { p.Changes[1].Action = HardDelete },
		"a user more":      func(p *Plan) { p.Changes = append(p.Changes, Change{Action: Update, SourceID: "u3"}) },
		"a user less":      func(p *Plan) { p.Changes = p.Changes[:1] },
		"a staged action":  func(p *Plan) { p.Changes[1].Action, p.Changes[1].Staged = Stage, SoftDelete },
		"an adoption":      func(p *Plan) { p.Changes[0].AdoptGuest = "g9" },
	} {
		p := base()
		change(p)
		if Digest(p, 42) == d {
			t.Errorf("%s did not change the digest", name)
		}
	}
	if Digest(base(), 43) == d {
		t.Error("another policy gave the same digest")
	}
}
