package bpf

// Typed access to the director's maps. Callers work with netip addresses,
// host-order ports and summed counters; the network-order layout of the C
// structs and the per-CPU folding stay in this file.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/cilium/ebpf"
)

// Generated mirrors of the C structs (types.h), exported under short names.
type (
	// SvcKey is the key of the services map.
	SvcKey = directorSvcKey
	// SvcValue is the value of the services map.
	SvcValue = directorSvcValue
	// Real is the value of the reals map.
	Real = directorReal
	// FlowKey is the key of the flows map.
	FlowKey = directorFlowKey
	// Flow is the value of the flows map.
	Flow = directorFlow
	// TrafficStats holds one service's or real server's counters.
	TrafficStats = directorTrafficStats
	// DpConfig holds the runtime settings of the config map.
	DpConfig = directorDpConfig
	// StateMeta is the ABI stamp of the pinned state.
	StateMeta = directorStateMeta
	// PktPath says what happened to a packet (enum pkt_path).
	PktPath = directorPktPath
	// ConnCounts are a real server's connection counts (real_conns).
	ConnCounts = directorConnCounts
	// ConnAdj corrects a real server's connection counts (real_conns_adj).
	ConnAdj = directorConnAdj
	// PersistKey is the key of a persistence template.
	PersistKey = directorPersistKey
	// Persist is a persistence template.
	Persist = directorPersistTmpl
	// SchedKind is how a service picks real servers (enum sched_kind).
	SchedKind = directorSchedKind
)

// Scheduler kinds of svc_value.sched (enum sched_kind).
const (
	SchedCursor = directorSchedKindSCHED_CURSOR
	SchedLC     = directorSchedKindSCHED_LC
	SchedWLC    = directorSchedKindSCHED_WLC
	SchedSED    = directorSchedKindSCHED_SED
	SchedNQ     = directorSchedKindSCHED_NQ
	SchedSH     = directorSchedKindSCHED_SH
	SchedMH     = directorSchedKindSCHED_MH
)

// Scheduler flags of svc_value.flags (enum sched_flags).
const (
	SchedFlagFallback = uint32(directorSchedFlagsSCHED_F_FALLBACK)
	SchedFlagPort     = uint32(directorSchedFlagsSCHED_F_PORT)
)

// SchedMaxReals is sched.h's SCHED_MAX_REALS: the most real servers a
// service of the least-connection family may have.
const SchedMaxReals = 256

// ABI is DIRECTOR_ABI of types.h: the version of the maps' meaning.
const ABI = 3

// Flow directions and states (enum flow_dir, enum flow_state).
const (
	DirForward       = uint8(directorFlowDirFLOW_FORWARD)
	DirReply         = uint8(directorFlowDirFLOW_REPLY)
	StateSYN         = uint8(directorFlowStateSTATE_SYN)
	StateEstablished = uint8(directorFlowStateSTATE_ESTABLISHED)
	StateFIN         = uint8(directorFlowStateSTATE_FIN)
	StateUDP         = uint8(directorFlowStateSTATE_UDP)
	AddrVIP          = uint32(directorAddrFlagsADDR_VIP)
	AddrReal         = uint32(directorAddrFlagsADDR_REAL)
	NumPaths         = int(directorPktPathPATH_MAX)
)

// Protocol numbers of services.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// LoadSpec returns the collection spec embedded in this package.
func LoadSpec() (*ebpf.CollectionSpec, error) {
	return loadDirector()
}

// Objects are the loaded programs and maps (generated).
type Objects = directorObjects

// Be32 converts an IPv4 address to the network-order value of a C __be32.
func Be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

// AddrFromBe32 is the inverse of Be32.
func AddrFromBe32(v uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// Be16 converts a host-order port to the network-order value of a C __be16.
func Be16(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

// PortFromBe16 is the inverse of Be16.
func PortFromBe16(v uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	return binary.BigEndian.Uint16(b[:])
}

// NewSvcKey builds a services key.
func NewSvcKey(vip netip.Addr, port uint16, proto uint8) SvcKey {
	return SvcKey{Vip: Be32(vip), Port: Be16(port), Proto: proto}
}

// HalfOpenSize is the size of the half-open table for an established table
// of flows entries: a quarter of it, at least 1024 entries, and at least
// HalfOpenPerCPU entries per possible CPU, since the table is split into
// equal per-CPU LRU lists (maps.h).
func HalfOpenSize(flows int) int {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		cpus = 1
	}
	return max(flows/4, 1024, HalfOpenPerCPU*cpus)
}

// HalfOpenPerCPU is the least share of the half-open table a CPU gets.
const HalfOpenPerCPU = 512

// Maps wraps the director's maps. It does not own them: closing is the
// loader's job.
type Maps struct {
	services, reals, schedule, flows, addrs *ebpf.Map
	realStats, paths, config, meta          *ebpf.Map
	syncEvents, halfOpen, ctStats           *ebpf.Map
	realConns, realConnsAdj, persist        *ebpf.Map
	peerLinks                               *ebpf.Map
	// cfgMu serialises the read-modify-writes of the config entry.
	cfgMu sync.Mutex
	// cpMu serialises the control plane's read-modify-writes of its own
	// ct_stats slots (CT_CP_FIRST on).
	cpMu sync.Mutex
}

// NewMaps wraps the maps of loaded objects.
func NewMaps(o *Objects) *Maps {
	return &Maps{
		services: o.Services, reals: o.Reals, schedule: o.Schedule, flows: o.Flows,
		addrs: o.Addrs, realStats: o.RealStats, paths: o.PathStats, config: o.Config, meta: o.Meta,
		syncEvents: o.SyncEvents, halfOpen: o.HalfOpen, ctStats: o.CtStats,
		realConns: o.RealConns, realConnsAdj: o.RealConnsAdj, persist: o.Persist,
		peerLinks: o.PeerLinks,
	}
}

// Capacity reports the size of the maps that bound what can be configured.
type Capacity struct {
	Services, Reals, ScheduleSlots int
	// Flows is the size of the established table, HalfOpen of the
	// half-open one.
	Flows, HalfOpen int
}

// Capacity returns the maps' sizes.
func (m *Maps) Capacity() Capacity {
	return Capacity{
		Services:      int(m.services.MaxEntries()),
		Reals:         int(m.reals.MaxEntries()),
		ScheduleSlots: int(m.schedule.MaxEntries()),
		Flows:         int(m.flows.MaxEntries()),
		HalfOpen:      int(m.halfOpen.MaxEntries()),
	}
}

// PutService creates or replaces a service. Replacing resets its cursor.
func (m *Maps) PutService(k SvcKey, v SvcValue) error {
	if err := m.services.Put(k, v); err != nil {
		return fmt.Errorf("put service: %w", err)
	}
	return nil
}

// DeleteService removes a service; a missing one is not an error.
func (m *Maps) DeleteService(k SvcKey) error {
	if err := m.services.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete service: %w", err)
	}
	return nil
}

// Services returns every service in the map.
func (m *Maps) Services() (map[SvcKey]SvcValue, error) {
	out := map[SvcKey]SvcValue{}
	var k SvcKey
	var v SvcValue
	it := m.services.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate services: %w", err)
	}
	return out, nil
}

// PutReal writes real server slot id. r.Gen must be non-zero.
func (m *Maps) PutReal(id uint32, r Real) error {
	if r.Gen == 0 {
		return fmt.Errorf("put real %d: generation 0 marks a free slot", id)
	}
	if err := m.reals.Put(id, r); err != nil {
		return fmt.Errorf("put real %d: %w", id, err)
	}
	return nil
}

// DeleteReal frees real server slot id: flows still pointing at it are
// dropped from now on.
func (m *Maps) DeleteReal(id uint32) error {
	if err := m.reals.Put(id, Real{}); err != nil {
		return fmt.Errorf("delete real %d: %w", id, err)
	}
	return nil
}

// Reals returns every used real server slot.
func (m *Maps) Reals() (map[uint32]Real, error) {
	out := map[uint32]Real{}
	var k uint32
	var v Real
	it := m.reals.Iterate()
	for it.Next(&k, &v) {
		if v.Gen != 0 {
			out[k] = v
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate reals: %w", err)
	}
	return out, nil
}

// WriteSchedule writes ids into consecutive schedule slots from off.
func (m *Maps) WriteSchedule(off uint32, ids []uint32) error {
	if len(ids) == 0 {
		return nil
	}
	if int(off)+len(ids) > int(m.schedule.MaxEntries()) {
		return fmt.Errorf("write schedule: slots %d..%d exceed the schedule map (%d slots)",
			off, int(off)+len(ids)-1, m.schedule.MaxEntries())
	}
	keys := make([]uint32, len(ids))
	for i := range keys {
		keys[i] = off + uint32(i)
	}
	if _, err := m.schedule.BatchUpdate(keys, ids, nil); err != nil {
		// Batch operations on arrays need 5.6+; fall back to one by one.
		for i, k := range keys {
			if err := m.schedule.Put(k, ids[i]); err != nil {
				return fmt.Errorf("write schedule slot %d: %w", k, err)
			}
		}
	}
	return nil
}

// ReadSchedule reads n slots from off.
func (m *Maps) ReadSchedule(off, n uint32) ([]uint32, error) {
	out := make([]uint32, n)
	for i := range out {
		if err := m.schedule.Lookup(off+uint32(i), &out[i]); err != nil {
			return nil, fmt.Errorf("read schedule slot %d: %w", off+uint32(i), err)
		}
	}
	return out, nil
}

// SetAddr records the flags (AddrVIP, AddrReal) of an address; 0 removes it.
func (m *Maps) SetAddr(a netip.Addr, flags uint32) error {
	k := Be32(a)
	if flags == 0 {
		if err := m.addrs.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete address %s: %w", a, err)
		}
		return nil
	}
	if err := m.addrs.Put(k, flags); err != nil {
		return fmt.Errorf("put address %s: %w", a, err)
	}
	return nil
}

// Addrs returns the address flags map.
func (m *Maps) Addrs() (map[netip.Addr]uint32, error) {
	out := map[netip.Addr]uint32{}
	var k, v uint32
	it := m.addrs.Iterate()
	for it.Next(&k, &v) {
		out[AddrFromBe32(k)] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate addresses: %w", err)
	}
	return out, nil
}

// Timeouts are the idle timeouts of the flow states, as ipvsadm --set.
type Timeouts struct {
	SYN, Established, FIN, UDP time.Duration
}

// DefaultTimeouts are IPVS's defaults.
var DefaultTimeouts = Timeouts{SYN: 60 * time.Second, Established: 900 * time.Second,
	FIN: 120 * time.Second, UDP: 300 * time.Second}

// config reads the config entry.
func (m *Maps) readConfig() (DpConfig, error) {
	var c DpConfig
	if err := m.config.Lookup(uint32(0), &c); err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	return c, nil
}

// InitClock records the kernel's HZ (ProbeHZ); it must be set before
// timeouts, which the program keeps in jiffies.
func (m *Maps) InitClock(hz uint64) error {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	c, err := m.readConfig()
	if err != nil {
		return err
	}
	c.Hz = hz
	if err := m.config.Put(uint32(0), c); err != nil {
		return fmt.Errorf("put config: %w", err)
	}
	return nil
}

// HZ returns the recorded HZ (0 before InitClock).
func (m *Maps) HZ() (uint64, error) {
	c, err := m.readConfig()
	return c.Hz, err
}

// ToJiffies converts a duration to jiffies at hz (at least one for a
// positive duration).
func ToJiffies(d time.Duration, hz uint64) uint64 {
	j := uint64(d) * hz / uint64(time.Second)
	if d > 0 && j == 0 {
		j = 1
	}
	return j
}

func fromJiffies(j, hz uint64) time.Duration {
	if hz == 0 {
		return 0
	}
	return time.Duration(j * uint64(time.Second) / hz)
}

// SetTimeouts writes the timeouts; they apply to flows created or changing
// state from now on. Timeouts are kept in jiffies: the smallest non-zero
// one is one jiffy.
func (m *Maps) SetTimeouts(t Timeouts) error {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	c, err := m.readConfig()
	if err != nil {
		return err
	}
	if c.Hz == 0 {
		return errors.New("set timeouts: clock not initialised (InitClock)")
	}
	c.TimeoutSyn = ToJiffies(t.SYN, c.Hz)
	c.TimeoutEst = ToJiffies(t.Established, c.Hz)
	c.TimeoutFin = ToJiffies(t.FIN, c.Hz)
	c.TimeoutUdp = ToJiffies(t.UDP, c.Hz)
	if err := m.config.Put(uint32(0), c); err != nil {
		return fmt.Errorf("put config: %w", err)
	}
	return nil
}

// Timeouts reads the timeouts back.
func (m *Maps) Timeouts() (Timeouts, error) {
	c, err := m.readConfig()
	if err != nil {
		return Timeouts{}, err
	}
	return Timeouts{SYN: fromJiffies(c.TimeoutSyn, c.Hz), Established: fromJiffies(c.TimeoutEst, c.Hz),
		FIN: fromJiffies(c.TimeoutFin, c.Hz), UDP: fromJiffies(c.TimeoutUdp, c.Hz)}, nil
}

// Expiry returns how long flow entry f has left before it expires, from
// the kernel's current jiffies now (Jiffies).
func Expiry(f Flow, now, hz uint64) time.Duration {
	if f.LastSeen >= now { // refreshed after now was read
		return fromJiffies(f.Timeout, hz)
	}
	idle := now - f.LastSeen
	if idle >= f.Timeout {
		return 0
	}
	return fromJiffies(f.Timeout-idle, hz)
}

// Meta reads the ABI stamp.
func (m *Maps) Meta() (StateMeta, error) {
	var v StateMeta
	if err := m.meta.Lookup(uint32(0), &v); err != nil {
		return v, fmt.Errorf("read meta: %w", err)
	}
	return v, nil
}

// SetMeta writes the ABI stamp.
func (m *Maps) SetMeta(v StateMeta) error {
	if err := m.meta.Put(uint32(0), v); err != nil {
		return fmt.Errorf("write meta: %w", err)
	}
	return nil
}

// FlowEntry is one entry of the flow table, decoded.
type FlowEntry struct {
	Key   FlowKey
	Value Flow
	// HalfOpen: the entry is in the half-open table (TCP handshake not
	// completed, UDP without a reply yet), not the established one.
	HalfOpen bool
}

// Flows calls fn for each entry of the flow table, established entries
// first, then half-open ones, until fn returns false. Both tables are read
// in batches (batch.go). Under a flood the half-open table changes faster
// than a walk can follow it: a walk that falls back to Map.Iterate may then
// end early without an error, so counts and listings of half-open entries
// are a lower bound while the table churns. The established table does not
// churn that way.
func (m *Maps) Flows(fn func(FlowEntry) bool) error {
	for _, t := range []struct {
		mp   *ebpf.Map
		half bool
	}{{m.flows, false}, {m.halfOpen, true}} {
		stopped := false
		err := walkBatched(t.mp, func(keys []FlowKey, vals []Flow) bool {
			for i := range keys {
				if !fn(FlowEntry{Key: keys[i], Value: vals[i], HalfOpen: t.half}) {
					stopped = true
					return false
				}
			}
			return true
		})
		if err != nil && (!t.half || !errors.Is(err, ebpf.ErrIterationAborted)) {
			return fmt.Errorf("flows: %w", err)
		}
		if stopped {
			return nil
		}
	}
	return nil
}

// LookupFlow returns the entry for k, established or half-open.
func (m *Maps) LookupFlow(k FlowKey) (Flow, bool, error) {
	var v Flow
	for _, mp := range []*ebpf.Map{m.flows, m.halfOpen} {
		err := mp.Lookup(k, &v)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		}
		if err != nil {
			return v, false, fmt.Errorf("lookup flow: %w", err)
		}
		return v, true, nil
	}
	return v, false, nil
}

// PutFlow writes an entry of an established connection (conntrack sync
// and tests).
func (m *Maps) PutFlow(k FlowKey, v Flow) error {
	if err := m.flows.Put(k, v); err != nil {
		return fmt.Errorf("put flow: %w", err)
	}
	return nil
}

// PutHalfOpenFlow writes an entry of a half-open connection (tests).
func (m *Maps) PutHalfOpenFlow(k FlowKey, v Flow) error {
	if err := m.halfOpen.Put(k, v); err != nil {
		return fmt.Errorf("put half-open flow: %w", err)
	}
	return nil
}

// FlowTableStats is the use of the flow table: entries by table, and
// events.
type FlowTableStats struct {
	// Established and HalfOpen are the entries in each table (two per
	// connection).
	Established, HalfOpen int
	// Promoted counts connections moved from half-open to established.
	Promoted uint64
	// Evicted counts half-open entries the table recycled to make room
	// (added - removed - present; see enum ct_event).
	Evicted uint64
	// Swept counts entries of dead established connections deleted by
	// the control plane's sweep.
	Swept uint64
	// added and removed are the half-open table's insertions and
	// deletions, read by FlowTableEvents for Count.
	added, removed uint64
}

// FlowTableEvents reads the flow table's event counters. Established,
// HalfOpen and Evicted stay zero until Count is given the entries of a walk
// that started after this read.
func (m *Maps) FlowTableEvents() (FlowTableStats, error) {
	var st FlowTableStats
	ev, err := sumCounters(m.ctStats, int(directorCtEventCT_MAX))
	if err != nil {
		return st, err
	}
	st.Promoted = ev[directorCtEventCT_PROMOTED]
	st.Swept = ev[directorCtEventCT_SWEPT]
	st.added, st.removed = ev[directorCtEventCT_HALF_OPEN_ADDED], ev[directorCtEventCT_HALF_OPEN_REMOVED]
	return st, nil
}

// Count records the entries a walk found in each table and derives
// Evicted. The counters were read before the walk, so that an entry added
// meanwhile can only make Evicted smaller (the caller keeps it monotonic).
func (st *FlowTableStats) Count(established, halfOpen int) {
	st.Established, st.HalfOpen = established, halfOpen
	st.Evicted = 0
	if gone := st.removed + uint64(halfOpen); st.added > gone {
		st.Evicted = st.added - gone
	}
}

// addCPCounter adds n to a control-plane slot of ct_stats (CPU 0's value;
// the program never writes these slots).
func (m *Maps) addCPCounter(ev directorCtEvent, n uint64) error {
	m.cpMu.Lock()
	defer m.cpMu.Unlock()
	var per []uint64
	if err := m.ctStats.Lookup(uint32(ev), &per); err != nil {
		return fmt.Errorf("read flow table counter %d: %w", ev, err)
	}
	if len(per) == 0 {
		return fmt.Errorf("read flow table counter %d: no CPU", ev)
	}
	per[0] += n
	if err := m.ctStats.Put(uint32(ev), per); err != nil {
		return fmt.Errorf("write flow table counter %d: %w", ev, err)
	}
	return nil
}

// Sweep deletes the entries of dead established connections, which the
// established table (unlike an LRU) never recycles: every entry idle past
// its timeout (at now, in jiffies) whose twin is idle too or gone. It is
// what flow_alive decides on the packet path, so a swept connection was
// already dead to the program. Returns the number of entries deleted.
func (m *Maps) Sweep(now uint64) (int, error) {
	// A packet may refresh an entry after now was read: LastSeen is then
	// past now, and the entry is busy (an unsigned difference would wrap
	// around and sweep it), as in flow_idle.
	idle := func(f Flow) bool { return int64(now-f.LastSeen) > int64(f.Timeout) }
	var dead []FlowKey
	var lookupErr error
	// Read in batches (batch.go): an entry-by-entry walk costs two system
	// calls per entry, seconds per sweep at millions of entries.
	err := walkBatched(m.flows, func(keys []FlowKey, vals []Flow) bool {
		for i, k := range keys {
			if !idle(vals[i]) {
				continue
			}
			var tw Flow
			err := m.flows.Lookup(twinKey(k, vals[i]), &tw)
			if err == nil && !idle(tw) {
				continue
			}
			if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				lookupErr = err
				return false
			}
			dead = append(dead, k)
		}
		return true
	})
	if err == nil {
		err = lookupErr
	}
	if err != nil {
		return 0, fmt.Errorf("sweep flows: %w", err)
	}
	n := 0
	for _, k := range dead {
		// Checked again just before the delete: a packet may have
		// revived the connection since the walk.
		var v, tw Flow
		if err := m.flows.Lookup(k, &v); err != nil || !idle(v) {
			continue
		}
		if err := m.flows.Lookup(twinKey(k, v), &tw); err == nil && !idle(tw) {
			continue
		}
		if err := m.flows.Delete(k); err == nil {
			n++
		}
	}
	if n > 0 {
		if err := m.addCPCounter(directorCtEventCT_SWEPT, uint64(n)); err != nil {
			return n, err
		}
	}
	return n, nil
}

// twinKey is the key of the other direction's entry of (k, f), as
// twin_key in conntrack.h.
func twinKey(k FlowKey, f Flow) FlowKey {
	if f.Dir == DirForward {
		return FlowKey{Saddr: f.NatAddr, Daddr: k.Saddr, Sport: f.NatPort, Dport: k.Sport, Proto: k.Proto}
	}
	return FlowKey{Saddr: k.Daddr, Daddr: f.NatAddr, Sport: k.Dport, Dport: f.NatPort, Proto: k.Proto}
}

// sumStats folds per-CPU traffic counters.
func sumStats(per []TrafficStats) TrafficStats {
	var t TrafficStats
	for _, s := range per {
		t.PktsIn += s.PktsIn
		t.BytesIn += s.BytesIn
		t.PktsOut += s.PktsOut
		t.BytesOut += s.BytesOut
		t.Conns += s.Conns
	}
	return t
}

// RealStats returns the counters of real server id, summed over CPUs.
func (m *Maps) RealStats(id uint32) (TrafficStats, error) {
	var per []TrafficStats
	if err := m.realStats.Lookup(id, &per); err != nil {
		return TrafficStats{}, fmt.Errorf("read real stats %d: %w", id, err)
	}
	return sumStats(per), nil
}

// RealConns returns the connection counts of real server id.
func (m *Maps) RealConns(id uint32) (ConnCounts, error) {
	var c ConnCounts
	if err := m.realConns.Lookup(id, &c); err != nil {
		return ConnCounts{}, fmt.Errorf("read real conns %d: %w", id, err)
	}
	return c, nil
}

// ResetRealConns zeroes the connection counts of real server id and
// their correction, before the slot is given to a new real server.
func (m *Maps) ResetRealConns(id uint32) error {
	if err := m.realConns.Put(id, ConnCounts{}); err != nil {
		return fmt.Errorf("reset real conns %d: %w", id, err)
	}
	return m.SetRealConnsAdj(id, ConnAdj{})
}

// Templates calls fn for each persistence template until fn returns false.
func (m *Maps) Templates(fn func(PersistKey, Persist) bool) error {
	var k PersistKey
	var v Persist
	it := m.persist.Iterate()
	for it.Next(&k, &v) {
		if !fn(k, v) {
			return nil
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate persistence templates: %w", err)
	}
	return nil
}

// PutTemplate writes a persistence template.
func (m *Maps) PutTemplate(k PersistKey, v Persist) error {
	if err := m.persist.Put(k, v); err != nil {
		return fmt.Errorf("put persistence template: %w", err)
	}
	return nil
}

// SetRealConnsAdj writes the correction of real server id's counts.
func (m *Maps) SetRealConnsAdj(id uint32, a ConnAdj) error {
	if err := m.realConnsAdj.Put(id, a); err != nil {
		return fmt.Errorf("write real conns correction %d: %w", id, err)
	}
	return nil
}

// RealConnsAdj reads the correction of real server id's counts.
func (m *Maps) RealConnsAdj(id uint32) (ConnAdj, error) {
	var a ConnAdj
	if err := m.realConnsAdj.Lookup(id, &a); err != nil {
		return ConnAdj{}, fmt.Errorf("read real conns correction %d: %w", id, err)
	}
	return a, nil
}

// ResetRealStats zeroes the counters of real server id (slot reuse).
func (m *Maps) ResetRealStats(id uint32) error {
	return m.resetStats(m.realStats, id)
}

func (m *Maps) resetStats(mp *ebpf.Map, id uint32) error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("count CPUs: %w", err)
	}
	if err := mp.Put(id, make([]TrafficStats, n)); err != nil {
		return fmt.Errorf("reset stats %d: %w", id, err)
	}
	return nil
}

func sumCounters(mp *ebpf.Map, n int) ([]uint64, error) {
	out := make([]uint64, n)
	for i := range out {
		var per []uint64
		if err := mp.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("read counter %d: %w", i, err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}

// Verdicts returns packets per verdict ("pass", "drop", "forward": XDP_TX
// or XDP_REDIRECT), summed from the path counters.
func (m *Maps) Verdicts() (map[string]uint64, error) {
	paths, err := m.Paths()
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{"pass": 0, "drop": 0, "forward": 0}
	for i, n := range paths {
		out[Paths[PktPath(i)].Verdict] += n
	}
	return out, nil
}

// Paths returns packets per PktPath.
func (m *Maps) Paths() ([]uint64, error) {
	return sumCounters(m.paths, NumPaths)
}
