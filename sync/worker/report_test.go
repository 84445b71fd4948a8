package worker

import "testing"

// TestProgressLeft: the changes left count the users not planned yet at
// the rate of changes per user planned so far.
func TestProgressLeft(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Progress
		want float64
	}{
		{"nothing planned yet", Progress{Read: 1000}, 0},
		{"all planned", Progress{Read: 1000, Considered: 1000, Planned: 400, Applied: 100}, 300},
		{"first sync, half planned", Progress{Read: 1000, Considered: 500, Planned: 500, Applied: 200}, 800},
		{"quiet users", Progress{Read: 1000, Considered: 500, Planned: 50, Applied: 50}, 50},
		{"revisited users beyond the read", Progress{Read: 10, Considered: 12, Planned: 12, Applied: 2}, 10},
		{"applied all", Progress{Read: 10, Considered: 10, Planned: 5, Applied: 5}, 0},
	} {
		if got := tc.p.Left(); got != tc.want {
			t.Errorf("%s: Left() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
