package model

// rr: IPVS's round robin, as a BPF schedule (see the rules at the top of
// scheduler.go).

// expandRR is rr's Scheduler.Expand: the servers with a weight above
// zero, in list order.
func expandRR(weights []uint32, maxLen int) ([]uint32, error) {
	idx := positiveServers(weights)
	if len(idx) > max(maxLen, 0) {
		return nil, scheduleTooLong(SchedRR, uint64(len(idx)), maxLen)
	}
	return idx, nil
}
