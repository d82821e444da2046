package control

// Schedule expansion: the order in which IPVS's rr and wrr schedulers hand
// out consecutive new connections, computed once per change so that the XDP
// program only has to walk it (connection n of a service goes to entry
// n mod len of its schedule).
//
// List order. IPVS keeps a service's real servers (destinations) in a list
// and walks that list, never the configuration. `ipvsadm -a` links a new
// server in at the head of the list (ip_vs_ctl.c adds it with list_add_rcu),
// so the list is the reverse of the order in which servers were added:
// after `-a A`, `-a B`, `-a C` it reads C, B, A. Changing a weight with
// `ipvsadm -e` keeps a server where it is. ListOrder gives that permutation
// for servers given in configuration order; ExpandSchedule works on weights
// already in list order.
//
// rr. A cursor starts at the list head; each new connection goes to the
// next server after the cursor with a weight above zero, wrapping around.
// On a fresh service the first connection therefore goes to the server
// added last.
//
// wrr. The scheduler keeps a cursor and a current weight cw; di is the gcd
// of the positive weights and mw = max(w) - (di - 1). Each new connection
// goes to the next server after the cursor whose weight is at least cw;
// each time the walk passes the end of the list cw drops by di, and once
// it is zero or less it starts again at mw. In reduced weights r = w/di
// (R = max r) one sweep visits the list R times, the pass at level k taking,
// in list order, every server with r >= k, for k = R, R-1, ..., 1: one
// period is sum(r) connections and each server gets exactly r of them
// (weights 3:1 in a list [A, B] sweep as A, A, A B).
//
// Where the sweep starts. A service is made by `ipvsadm -A` with no server
// and then filled by `ipvsadm -a`; the kernel recomputes di and mw on every
// addition but keeps cw, and since the first addition leaves cw at 1 (with
// a single positive weight, mw is 1) every later one keeps it there. So on
// a service built that way, as the director's configuration describes one,
// the first new connections take the last pass (level 1: every server with
// a positive weight, in list order) and only then the sweep from the top.
// ExpandSchedule returns exactly that: the level-1 pass, then levels R down
// to 2. For the seed (A weight 3 added before B weight 1, so the list is
// [B, A]) that is B A A A, repeating. (A scheduler bound to a service that
// already has servers, e.g. `ipvsadm -E -s wrr`, starts at cw = mw instead,
// which is the same cycle rotated: A A B A for the seed.)

import (
	"cmp"
	"fmt"
	"slices"
)

// Scheduler names, as ipvsadm's -s takes them.
const (
	// SchedRR is IPVS's round-robin scheduler.
	SchedRR = "rr"
	// SchedWRR is IPVS's weighted round-robin scheduler.
	SchedWRR = "wrr"
)

// ListOrder maps configuration order (the order in which `ipvsadm -a` was
// run, i.e. the order in which real servers appear in a configuration) to
// IPVS list order, newest first: listOrder[i] is the configuration index of
// the i-th server of the IPVS list. With weights in configuration order,
// ExpandSchedule takes w[listOrder[i]] as its i-th weight, and its result
// entry e stands for configuration index listOrder[e].
func ListOrder(n int) []int {
	order := make([]int, max(n, 0))
	for i := range order {
		order[i] = n - 1 - i
	}
	return order
}

// ExpandSchedule returns one full period of the scheduler's choices for
// consecutive new connections on a freshly configured service, as indexes
// into weights, which are given in IPVS list order (see ListOrder).
// Repeating the result reproduces IPVS's sequence connection by connection.
//
// For rr the period is the servers with a weight above zero, in list order.
// For wrr it is sum(w/gcd) long, gcd being that of the positive weights;
// each server appears w/gcd times, in the order described at the top of
// this file. A server of weight 0 (quiesced) never appears; if no weight is
// above zero the schedule is empty: no server takes new connections.
//
// It fails for a scheduler other than SchedRR and SchedWRR, and when the
// period would be longer than maxLen entries.
func ExpandSchedule(scheduler string, weights []uint32, maxLen int) ([]uint32, error) {
	switch scheduler {
	case SchedRR:
		return expandRR(weights, maxLen)
	case SchedWRR:
		return expandWRR(weights, maxLen)
	}
	return nil, fmt.Errorf("unknown scheduler %q: the director implements %q and %q", scheduler, SchedRR, SchedWRR)
}

// scheduleTooLong is ExpandSchedule's error for a period above maxLen.
func scheduleTooLong(scheduler string, period uint64, maxLen int) error {
	return fmt.Errorf("%s schedule of %d entries per period exceeds the limit of %d entries", scheduler, period, maxLen)
}

// positiveServers returns the list indexes of the servers that take new
// connections, in list order.
func positiveServers(weights []uint32) []uint32 {
	var idx []uint32
	for i, w := range weights {
		if w > 0 {
			idx = append(idx, uint32(i))
		}
	}
	return idx
}

func expandRR(weights []uint32, maxLen int) ([]uint32, error) {
	idx := positiveServers(weights)
	if len(idx) > max(maxLen, 0) {
		return nil, scheduleTooLong(SchedRR, uint64(len(idx)), maxLen)
	}
	return idx, nil
}

func expandWRR(weights []uint32, maxLen int) ([]uint32, error) {
	pos := positiveServers(weights)
	if len(pos) == 0 {
		return nil, nil
	}
	var g uint32
	for _, i := range pos {
		g = scheduleGCD(g, weights[i])
	}
	// Reduced weights r = w/g; the sweep has one pass per level 1..top.
	var period uint64
	var top uint32
	for _, i := range pos {
		r := weights[i] / g
		period += uint64(r)
		top = max(top, r)
	}
	if period > uint64(max(maxLen, 0)) {
		return nil, scheduleTooLong(SchedWRR, period, maxLen)
	}
	out := make([]uint32, 0, period)
	// The pass at level 1, where a service built by ipvsadm -a starts.
	out = append(out, pos...)
	// Then levels top down to 2. The servers a pass takes only grow as
	// the level drops, so keep them in list order and add each server
	// when the level reaches its reduced weight: every server is inserted
	// once, and every pass is one append. top <= period <= maxLen bounds
	// the loop.
	byWeight := slices.Clone(pos)
	slices.SortStableFunc(byWeight, func(a, b uint32) int { return cmp.Compare(weights[b], weights[a]) })
	taking := make([]uint32, 0, len(pos))
	next := 0
	for level := top; level >= 2; level-- {
		for next < len(byWeight) && weights[byWeight[next]]/g >= level {
			at, _ := slices.BinarySearch(taking, byWeight[next])
			taking = slices.Insert(taking, at, byWeight[next])
			next++
		}
		out = append(out, taking...)
	}
	return out, nil
}

func scheduleGCD(a, b uint32) uint32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
