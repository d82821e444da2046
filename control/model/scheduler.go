package model

// The scheduler registry: every scheduler name a service may have
// (ipvsadm's -s), which data planes can run it, and for the BPF data
// planes how it expands into a schedule. Configuration validation derives
// its lists of valid names from this table, the BPF adapter expands
// through it, and the IPVS adapter hands the name to the kernel. Adding a
// scheduler is one row here plus, for the BPF data planes, a file with its
// expansion (sched_rr.go, sched_wrr.go) and its tests.
//
// rr and wrr are static schedules: the control plane computes, once per
// change, the order in which consecutive new connections go to the real
// servers, and the XDP program walks it with one cursor per service
// (connection n goes to entry n mod len). The least-connection family
// (lc, wlc, sed, nq: Counts, sched_lc.go) reads the servers' connection
// counts at each new connection, and sh (Hashed, sched_sh.go) looks the
// client up in a table the control plane builds; bpf/sched.h runs both.
// mh (Keyed, sched_mh.go) is a Maglev table built from the servers'
// identities. A scheduler with none of these (dh, lblc, ...) needs
// dataplane: ipvs.
//
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
// already in list order. How rr and wrr walk the list is told in
// sched_rr.go and sched_wrr.go.

import (
	"fmt"
	"slices"
	"strings"
)

// Scheduler is one scheduler of the registry.
type Scheduler struct {
	// Name is the scheduler's name, as ipvsadm's -s takes it.
	Name string
	// Summary says in a few words how it picks a real server.
	Summary string
	// Expand returns one full period of the scheduler's choices for
	// consecutive new connections on a freshly configured service, as
	// indexes into weights, which are given in IPVS list order (see
	// ListOrder); it fails when the period would be longer than maxLen
	// entries. Nil when only kernel IPVS runs the scheduler.
	Expand func(weights []uint32, maxLen int) ([]uint32, error)
	// Hashed: Expand returns a table indexed by a hash of the client (sh),
	// not a cycle walked by a cursor; every server is in it, weight 0
	// included.
	Hashed bool
	// Keyed is Expand for a scheduler whose table depends on the servers'
	// identities, not only their weights (mh): keys and weights in IPVS
	// list order, size the table's (Service.MHSize; 0 for the default).
	Keyed func(keys []RealKey, weights []uint32, size, maxLen int) ([]uint32, error)
	// Counts: the scheduler picks by the real servers' connection counts
	// and weights at each new connection (the least-connection family);
	// the BPF data planes keep the counts and walk the service's servers
	// in IPVS list order. Pick is the rule, as a model of IPVS's.
	Counts bool
	// Pick returns the list index of the server a new connection goes to,
	// given each server's state in IPVS list order, or -1 when none can
	// take it. Set for the schedulers with Counts.
	Pick func(servers []ConnState) int
}

// ConnState is what the least-connection schedulers know of a real server.
type ConnState struct {
	Weight     uint32
	Active     uint64 // established TCP connections
	Inactive   uint64 // every other connection
	Overloaded bool   // at its upper threshold (ipvsadm -x)
}

// BPF says whether the BPF data planes (XDP and TC) run the scheduler.
func (s Scheduler) BPF() bool { return s.Expand != nil || s.Keyed != nil || s.Counts }

// Scheduler names the rest of the code refers to.
const (
	// SchedRR is IPVS's round-robin scheduler.
	SchedRR = "rr"
	// SchedWRR is IPVS's weighted round-robin scheduler, the
	// configuration's default.
	SchedWRR = "wrr"
	// SchedSH is IPVS's source hashing scheduler.
	SchedSH = "sh"
	// SchedMH is IPVS's Maglev hashing scheduler.
	SchedMH = "mh"
)

// schedulers is the registry, in the order ipvsadm's manual lists them
// (reasons list the names in this order).
var schedulers = []Scheduler{
	{Name: SchedRR, Summary: "round robin", Expand: expandRR},
	{Name: SchedWRR, Summary: "weighted round robin", Expand: expandWRR},
	{Name: "lc", Summary: "least connection", Counts: true, Pick: pickLC},
	{Name: "wlc", Summary: "weighted least connection", Counts: true, Pick: pickWLC},
	{Name: SchedSH, Summary: "source hashing", Expand: expandSH, Hashed: true},
	{Name: "dh", Summary: "destination hashing"},
	{Name: "sed", Summary: "shortest expected delay", Counts: true, Pick: pickSED},
	{Name: "nq", Summary: "never queue", Counts: true, Pick: pickNQ},
	{Name: "lblc", Summary: "locality-based least connection"},
	{Name: "lblcr", Summary: "locality-based least connection with replication"},
	{Name: SchedMH, Summary: "maglev hashing", Keyed: expandMH, Hashed: true},
	{Name: "fo", Summary: "weighted failover"},
	{Name: "ovf", Summary: "weighted overflow"},
	{Name: "twos", Summary: "weighted random twos choice"},
}

// Schedulers returns the registry in its order.
func Schedulers() []Scheduler { return slices.Clone(schedulers) }

// LookupScheduler returns the scheduler called name.
func LookupScheduler(name string) (Scheduler, bool) {
	i := slices.IndexFunc(schedulers, func(s Scheduler) bool { return s.Name == name })
	if i < 0 {
		return Scheduler{}, false
	}
	return schedulers[i], true
}

// SchedulerNames lists the names of the registry in its order: all of
// them, or with bpf only those the BPF data planes run.
func SchedulerNames(bpf bool) []string {
	var out []string
	for _, s := range schedulers {
		if !bpf || s.BPF() {
			out = append(out, s.Name)
		}
	}
	return out
}

// JoinNames writes names as prose: "a", "a or b", "a, b or c" (conj
// "or"), or with "and".
func JoinNames(names []string, conj string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}

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

// ExpandSchedule returns the expansion (see Scheduler.Expand) of the
// scheduler called name. It fails for a scheduler without one.
func ExpandSchedule(name string, weights []uint32, maxLen int) ([]uint32, error) {
	s, ok := LookupScheduler(name)
	if !ok || s.Expand == nil {
		return nil, fmt.Errorf("unknown scheduler %q: the BPF data planes implement %s", name,
			JoinNames(SchedulerNames(true), "and"))
	}
	return s.Expand(weights, maxLen)
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

// schedFlags are IPVS's scheduler flags (ipvsadm -b) and the scheduler
// each belongs to, in ipvsadm's order.
var schedFlags = []struct{ name, scheduler string }{
	{SchedFlagSHFallback, SchedSH},
	{SchedFlagSHPort, SchedSH},
	{SchedFlagMHFallback, SchedMH},
	{SchedFlagMHPort, SchedMH},
}

// Scheduler flag names (Service.SchedFlags).
const (
	// SchedFlagSHFallback: sh picks another server when the hashed one is
	// unavailable (weight 0 or overloaded).
	SchedFlagSHFallback = "sh-fallback"
	// SchedFlagSHPort: sh hashes the client's port with its address.
	SchedFlagSHPort = "sh-port"
	// SchedFlagMHFallback: mh's counterpart of sh-fallback.
	SchedFlagMHFallback = "mh-fallback"
	// SchedFlagMHPort: mh's counterpart of sh-port.
	SchedFlagMHPort = "mh-port"
)

// SchedFlagNames lists the scheduler flags' names.
func SchedFlagNames() []string {
	out := make([]string, len(schedFlags))
	for i, f := range schedFlags {
		out[i] = f.name
	}
	return out
}

// SchedFlagOwner returns the scheduler that flag belongs to, "" if flag is
// no scheduler flag.
func SchedFlagOwner(flag string) string {
	for _, f := range schedFlags {
		if f.name == flag {
			return f.scheduler
		}
	}
	return ""
}

// HasSchedFlag says whether the service has scheduler flag flag.
func (s Service) HasSchedFlag(flag string) bool {
	return s.SchedFlags != "" && slices.Contains(strings.Split(s.SchedFlags, ","), flag)
}
