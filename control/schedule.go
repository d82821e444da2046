package control

// Schedule expansion: the order in which IPVS's rr and wrr schedulers hand
// out consecutive new connections, computed once per change so that the
// XDP program only walks it.
//
// IPVS keeps a service's real servers in a list, and `ipvsadm -a` inserts a
// new one at the head of that list (list_add_rcu in ip_vs_ctl.c): the list
// order is the reverse of the order in which servers were added. Changing a
// weight keeps a server's place. ListOrder gives that order for servers
// listed in configuration order.
//
// rr takes the next server of the list with a weight above zero, starting
// from the head. wrr keeps a current weight cw, starting at
// mw = max(w) - (gcd(w) - 1): walking the list, it takes the first server
// whose weight is at least cw; at the end of the list cw drops by the gcd,
// and once it reaches zero or less it starts again from mw. One period
// hands out sum(w)/gcd connections; weights 3:1 give A A A B.

import (
	"fmt"
)

// Scheduler names, as ipvsadm's -s.
const (
	SchedRR  = "rr"
	SchedWRR = "wrr"
)

// ListOrder maps configuration order to IPVS list order for n servers
// added in configuration order: element i of the result is the
// configuration index of the i-th server in the list (newest first).
func ListOrder(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = n - 1 - i
	}
	return out
}

func gcd(a, b uint32) uint32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ExpandSchedule returns one period of the scheduler's choices for
// consecutive new connections, as indexes into weights, which are in IPVS
// list order. A server of weight 0 never appears; if all weights are 0 the
// schedule is empty (no server takes new connections). It fails for an
// unknown scheduler, or when the period is longer than maxLen.
func ExpandSchedule(scheduler string, weights []uint32, maxLen int) ([]uint32, error) {
	switch scheduler {
	case SchedRR:
		var out []uint32
		for i, w := range weights {
			if w > 0 {
				out = append(out, uint32(i))
			}
		}
		if len(out) > maxLen {
			return nil, fmt.Errorf("rr schedule of %d servers exceeds %d slots", len(out), maxLen)
		}
		return out, nil
	case SchedWRR:
		return expandWRR(weights, maxLen)
	}
	return nil, fmt.Errorf("unknown scheduler %q (want rr or wrr)", scheduler)
}

func expandWRR(weights []uint32, maxLen int) ([]uint32, error) {
	var g, mw uint32
	var period uint64
	for _, w := range weights {
		if w > 0 {
			g = gcd(g, w)
			mw = max(mw, w)
		}
	}
	if mw == 0 {
		return nil, nil
	}
	for _, w := range weights {
		period += uint64(w / g)
	}
	if period > uint64(maxLen) {
		return nil, fmt.Errorf("wrr schedule of %d slots (sum of weights / their gcd) exceeds %d slots", period, maxLen)
	}
	// One period is a sweep of cw from mw down by g to above 0; in each
	// sweep step the list is walked once, taking every server whose
	// weight reaches cw. Starting at mw - (g - 1) as IPVS does only shifts
	// cw within the same multiples of g, so with weights multiples of g
	// the sweep takes the same servers at cw = mw, mw-g, ..., g.
	out := make([]uint32, 0, period)
	start := mw - (g - 1)
	for cw := int64(start); cw > 0; cw -= int64(g) {
		for i, w := range weights {
			if w > 0 && int64(w) >= cw {
				out = append(out, uint32(i))
			}
		}
	}
	return out, nil
}
