package model

// rr: IPVS's round robin, as a BPF schedule (list order: see
// scheduler.go). A cursor starts at the list head; each new connection
// goes to the next server after the cursor with a weight above zero,
// wrapping around. On a fresh service the first connection therefore goes
// to the server added last.

// expandRR is rr's Scheduler.Expand: the servers with a weight above
// zero, in list order.
func expandRR(weights []uint32, maxLen int) ([]uint32, error) {
	idx := positiveServers(weights)
	if len(idx) > max(maxLen, 0) {
		return nil, scheduleTooLong(SchedRR, uint64(len(idx)), maxLen)
	}
	return idx, nil
}
