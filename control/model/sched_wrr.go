package model

// wrr: IPVS's weighted round robin, as a BPF schedule (list order: see
// scheduler.go). The scheduler keeps a cursor and a current weight cw; di is the gcd
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
	"slices"
)

// expandWRR is wrr's Scheduler.Expand: a period of sum(w/gcd) entries,
// gcd being that of the positive weights, each server appearing w/gcd
// times.
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
