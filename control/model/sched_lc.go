package model

// lc, wlc, sed and nq: IPVS's least-connection family, as the rules the
// BPF program follows (bpf/sched.h) and the tests compare it with. Each
// walks the service's real servers in IPVS list order (see scheduler.go)
// and passes over a server that is overloaded or has weight 0.
//
//   - lc: overhead = active*256 + inactive; the first server of least
//     overhead wins (a later one must be strictly lower).
//   - wlc: the same overhead, weighed: a later server wins when
//     overhead(best) * weight(it) > overhead(it) * weight(best).
//   - sed: as wlc with overhead = active + 1.
//   - nq: the first server with no active connection wins at once;
//     otherwise as sed.
//
// A new connection counts as inactive until its handshake completes, so
// a burst of SYNs spreads by the inactive term (lc, wlc) but not for sed
// and nq, which only see active connections.

// connOverhead is IPVS's overhead of a server for lc and wlc.
func connOverhead(s ConnState) uint64 { return s.Active<<8 + s.Inactive }

// sedOverhead is the overhead of sed and nq.
func sedOverhead(s ConnState) uint64 { return s.Active + 1 }

func pickLC(servers []ConnState) int {
	best := -1
	var loh uint64
	for i, s := range servers {
		if s.Overloaded || s.Weight == 0 {
			continue
		}
		if doh := connOverhead(s); best < 0 || doh < loh {
			best, loh = i, doh
		}
	}
	return best
}

// pickWeighted is wlc and sed: overhead per weight, first of the least.
func pickWeighted(servers []ConnState, overhead func(ConnState) uint64) int {
	best := -1
	var loh uint64
	for i, s := range servers {
		if s.Overloaded || s.Weight == 0 {
			continue
		}
		doh := overhead(s)
		if best < 0 || loh*uint64(s.Weight) > doh*uint64(servers[best].Weight) {
			best, loh = i, doh
		}
	}
	return best
}

func pickWLC(servers []ConnState) int { return pickWeighted(servers, connOverhead) }

func pickSED(servers []ConnState) int { return pickWeighted(servers, sedOverhead) }

func pickNQ(servers []ConnState) int {
	for i, s := range servers {
		if !s.Overloaded && s.Weight > 0 && s.Active == 0 {
			return i
		}
	}
	return pickSED(servers)
}

// Overloaded is IPVS's overload flag of a real server with thresholds
// upper and lower (ipvsadm -x, -y; 0 = none) and total connections (active
// + inactive), was being the flag's previous value: set once total reaches
// upper, cleared once total falls below lower, or below 3/4 of upper when
// no lower is set, at once when neither is.
func Overloaded(upper, lower uint32, was bool, total uint64) bool {
	switch {
	case upper > 0 && total >= uint64(upper):
		return true
	case !was:
		return false
	case lower > 0:
		return total >= uint64(lower)
	case upper == 0:
		return false
	default:
		return total*4 >= uint64(upper)*3
	}
}
