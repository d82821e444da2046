package heartbeat

// The time between consecutive heartbeats heard from the peer, as the
// runner's loop sees them: the jitter that deadtime must absorb. A node
// under stress (saturated CPUs, a flood through it) shows here how close
// it came to a false failover long before it has one.

import (
	"slices"
	"time"
)

// GapBounds are the upper bounds of the GapStats buckets.
var GapBounds = []time.Duration{
	2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	30 * time.Millisecond, 40 * time.Millisecond, 50 * time.Millisecond, 75 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2 * time.Second, 5 * time.Second,
}

// GapStats is a histogram of the intervals between heartbeats heard from
// the peer.
type GapStats struct {
	// Counts[i] counts the gaps at most GapBounds[i] (and above the bound
	// before); the last element those above every bound.
	Counts []uint64
	// Count, Sum and Max are over every gap.
	Count uint64
	Sum   time.Duration
	Max   time.Duration
}

// add records one gap.
func (g *GapStats) add(d time.Duration) {
	if g.Counts == nil {
		g.Counts = make([]uint64, len(GapBounds)+1)
	}
	i, _ := slices.BinarySearch(GapBounds, d)
	g.Counts[i]++
	g.Count++
	g.Sum += d
	g.Max = max(g.Max, d)
}

// Quantile is an upper bound of the q quantile (0 < q <= 1): the bucket
// bound it falls under, or Max above the last bound; 0 without gaps.
func (g GapStats) Quantile(q float64) time.Duration {
	if g.Count == 0 {
		return 0
	}
	want := uint64(q*float64(g.Count) + 0.5)
	var seen uint64
	for i, c := range g.Counts {
		seen += c
		if seen >= want && i < len(GapBounds) {
			return min(GapBounds[i], g.Max)
		}
	}
	return g.Max
}

func (g GapStats) clone() GapStats {
	g.Counts = slices.Clone(g.Counts)
	return g
}
