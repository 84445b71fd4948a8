package graphsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEqIndexMatchesScan drives a tenant with a lagging index through
// random writes (mail, otherMails, UPN, stamps, deletes, restores, new
// users; odd cases and Unicode folding) and checks after each that every
// filter lists and counts exactly what a scan of the lagged view does, and
// that the address checks name the holder a scan names.
func TestEqIndexMatchesScan(t *testing.T) {
	clock := newClock()
	lag := 5 * time.Second
	s := startSim(t, Options{Users: 60, Now: clock.Now, Realism: &Realism{IndexLag: lag}})
	tn := s.Tenant("contoso")
	r := rand.New(rand.NewPCG(1, 2))
	vals := []string{"a@x.com", "A@X.com", "b@x.com", "straße@x.com", "STRASSE@x.com", "ſam@x.com", "SAM@x.com",
		"\u212aim@x.com", "kim@x.com", "İx@x.com", "ix@x.com", "", "ctsync:v1:1", "CTSYNC:V1:1", "ctsync:v1:2"}
	pick := func() string { return vals[r.IntN(len(vals))] }
	ids := func() []string {
		var out []string
		for _, u := range tn.Users() {
			out = append(out, u.ID)
		}
		for _, u := range tn.DeletedUsers() {
			out = append(out, u.ID)
		}
		return out
	}
	for step := 0; step < 400; step++ {
		all := ids()
		id := all[r.IntN(len(all))]
		switch op := r.IntN(10); op {
		case 0, 1:
			_ = tn.UpdateUser(id, map[string]any{"mail": pick()})
		case 2:
			_ = tn.UpdateUser(id, map[string]any{"otherMails": []string{pick(), pick()}})
		case 3:
			_ = tn.UpdateUser(id, map[string]any{"extensionAttribute15": pick()})
		case 4:
			_ = tn.UpdateUser(id, map[string]any{"extensionAttribute15": nil})
		case 5:
			_ = tn.SoftDelete(id)
		case 6:
			_ = tn.Restore(id)
		case 7:
			_ = tn.HardDelete(id)
		case 8:
			_, _ = tn.AddUser(map[string]any{"displayName": fmt.Sprintf("New %d", step), "mail": pick(), "otherMails": []string{pick()}})
		case 9:
			_ = tn.UpdateUser(id, map[string]any{"userPrincipalName": fmt.Sprintf("u%d.%s", step, strings.ToUpper(tn.Domain()))})
		}
		clock.Advance(time.Duration(r.IntN(1500)) * time.Millisecond)
		checkIndexAgainstScan(t, tn, r, vals, clock.Now(), lag)
	}
}

func checkIndexAgainstScan(t *testing.T, tn *Tenant, r *rand.Rand, vals []string, now time.Time, lag time.Duration) {
	t.Helper()
	q := func(s string) string { return strings.ReplaceAll(s, "'", "''") }
	v1, v2 := vals[r.IntN(len(vals))], vals[r.IntN(len(vals))]
	tn.mu.RLock()
	ids := tn.liveIDs()
	anyID := ids[r.IntN(len(ids))]
	upn, _ := tn.users[anyID].props["userPrincipalName"].(string)
	tn.mu.RUnlock()
	filters := []string{
		"mail eq '" + q(v1) + "'",
		"mail eq '" + q(v1) + "' or otherMails/any(x:x eq '" + q(v1) + "')",
		"otherMails/any(x:x eq '" + q(v1) + "' or x eq '" + q(v2) + "')",
		"mail in ('" + q(v1) + "', '" + q(v2) + "')",
		"userPrincipalName eq '" + q(strings.ToUpper(upn)) + "'",
		"id eq '" + strings.ToUpper(anyID) + "'",
		"onPremisesExtensionAttributes/extensionAttribute15 eq '" + q(v1) + "'",
		"onPremisesExtensionAttributes/extensionAttribute15 ne null",
		"userType eq 'Member' and mail eq '" + q(v1) + "'",
		"accountEnabled eq true and (mail eq '" + q(v1) + "' or mail eq '" + q(v2) + "')",
		"not (mail eq '" + q(v1) + "')",
		"startsWith(mail, 'a')",
	}
	tn.mu.RLock()
	defer tn.mu.RUnlock()
	for _, f := range filters {
		fq, err := parseFilter(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, l := range []time.Duration{0, lag} {
			v := tn.view(now, l)
			var want, got []string
			v.eachUser("", func(u *user) bool {
				if fq.matches(u) {
					want = append(want, u.id)
				}
				return true
			})
			v.eachMatch(fq, "", func(u *user) bool { got = append(got, u.id); return true })
			if !slices.Equal(want, got) {
				t.Fatalf("%s (lag %v): index %v, scan %v", f, l, got, want)
			}
			if len(want) > 1 {
				var page []string
				v.eachMatch(fq, want[0], func(u *user) bool { page = append(page, u.id); return len(page) < 1 })
				if !slices.Equal(page, want[1:2]) {
					t.Fatalf("%s after %s: %v, want %v", f, want[0], page, want[1:2])
				}
			}
			if n := v.countUsers(fq); n != len(want) {
				t.Fatalf("%s: count %d, want %d", f, n, len(want))
			}
		}
	}
	// Address checks: the first live holder in ID order, by scan.
	for _, a := range []string{vals[r.IntN(len(vals))], upn} {
		if a == "" {
			continue
		}
		want := ""
		for _, id := range tn.liveIDs() {
			if holdsAddress(tn.users[id], a) {
				want = id
				break
			}
		}
		got := ""
		if e := tn.addressConflict([]string{a}, nil); e != nil {
			got = e.details[1]["target"]
		}
		if got != want {
			t.Fatalf("addressConflict(%q) = %q, scan %q", a, got, want)
		}
	}
}
