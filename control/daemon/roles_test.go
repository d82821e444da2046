package daemon

import (
	"slices"
	"testing"
)

// The data plane is active while any group is held: told once when the
// first group is taken and once when the last is let go, whatever the
// order, and not again for a group reported twice.
func TestRoleSetAnyGroupHeld(t *testing.T) {
	var told []bool
	r := &roleSet{held: make([]bool, 3), setActive: func(b bool) { told = append(told, b) }}
	for _, step := range []struct {
		group int
		held  bool
	}{{1, true}, {1, true}, {0, true}, {1, false}, {2, true}, {0, false}, {2, false}, {2, false}, {0, true}} {
		r.set(step.group, step.held)
	}
	if want := []bool{true, false, true}; !slices.Equal(told, want) {
		t.Fatalf("the data plane was told %v, want %v", told, want)
	}
}
