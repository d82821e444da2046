package model

// wrr: IPVS's weighted round robin, as a BPF schedule (see the sweep
// described at the top of scheduler.go).

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
