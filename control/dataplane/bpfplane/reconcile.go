package bpfplane

// The BPF adapter of Dataplane: it reconciles the services, reals,
// schedule and addrs maps to the desired services.
//
// Reconcile reads what the maps hold (so it works the same on a fresh
// program and on pinned state adopted after a restart), diffs it with the
// desired state, and writes in this order, so that no packet is ever
// scheduled to something that is not there yet or no longer there:
//  1. new real-server slots;
//  2. each changed schedule into a free region of the schedule slab;
//  3. the service value, switching to the new region in one map update
//     (which also restarts the cursor, as IPVS restarts wrr on a change);
//  4. only then the removal of real servers and services that went away
//     (their flows are dropped from then on, as IPVS does), and the
//     address flags used for fragments.
// A schedule that would come out identical is not rewritten, so weight
// changes that keep the expansion and re-applying the same state are free.

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/model"
)

func protoOK(p model.Proto) bool { return p == model.TCP || p == model.UDP }

// schedKinds says how the program runs each scheduler with Counts (the
// others walk their expansion: bpf.SchedCursor).
var schedKinds = map[string]bpf.SchedKind{"lc": bpf.SchedLC, "wlc": bpf.SchedWLC, "sed": bpf.SchedSED, "nq": bpf.SchedNQ,
	model.SchedSH: bpf.SchedSH, model.SchedMH: bpf.SchedMH}

// persistence returns the svc_value persistence netmask (network order)
// and timeout (seconds) of the service; 0, 0 when it is not persistent.
func persistence(s model.Service) (uint32, uint32) {
	if !s.Persistent() {
		return 0, 0
	}
	mask := s.Persistence.Netmask
	if !mask.Is4() {
		mask = model.HostNetmask
	}
	return bpf.Be32(mask), uint32(s.Persistence.Timeout / time.Second)
}

// schedFlags returns the svc_value flags of the service's scheduler flags.
func schedFlags(s model.Service) uint32 {
	var f uint32
	if s.HasSchedFlag(model.SchedFlagSHFallback) || s.HasSchedFlag(model.SchedFlagMHFallback) {
		f |= bpf.SchedFlagFallback
	}
	if s.HasSchedFlag(model.SchedFlagSHPort) || s.HasSchedFlag(model.SchedFlagMHPort) {
		f |= bpf.SchedFlagPort
	}
	return f
}

// schedule returns what the service's schedule region holds, given its
// real servers' slots (ids, in configuration order), and how the program
// uses it: the expansion in slots, or for a scheduler with Counts every
// real server in IPVS list order.
func schedule(s model.Service, ids []uint32, maxLen int) ([]uint32, bpf.SchedKind, error) {
	order := model.ListOrder(len(s.Reals))
	if sc, _ := model.LookupScheduler(s.Scheduler); sc.Counts {
		kind, ok := schedKinds[s.Scheduler]
		if !ok {
			return nil, 0, fmt.Errorf("scheduler %s: not in the BPF program", s.Scheduler)
		}
		out := make([]uint32, len(order))
		for i, ci := range order {
			out[i] = ids[ci]
		}
		return out, kind, nil
	}
	weights := make([]uint32, len(order))
	keys := make([]model.RealKey, len(order))
	for i, ci := range order {
		weights[i], keys[i] = s.Reals[ci].Weight, s.Reals[ci].Key()
	}
	var idx []uint32
	var err error
	if sc, _ := model.LookupScheduler(s.Scheduler); sc.Keyed != nil {
		idx, err = sc.Keyed(keys, weights, s.MHTableSize, maxLen)
	} else {
		idx, err = model.ExpandSchedule(s.Scheduler, weights, maxLen)
	}
	if err != nil {
		return nil, 0, err
	}
	out := make([]uint32, len(idx))
	for i, li := range idx {
		out[i] = ids[order[li]]
	}
	if kind, ok := schedKinds[s.Scheduler]; ok {
		return out, kind, nil // a hashed table
	}
	return out, bpf.SchedCursor, nil
}

// realValue is the reals entry of r in slot gen of service svcID; the next
// hop cache starts empty.
func realValue(r model.RealServer, gen, svcID uint32) bpf.Real {
	return bpf.Real{Addr: bpf.Be32(r.Addr), Port: bpf.Be16(r.Port), Gen: gen, SvcId: svcID,
		Weight: r.Weight, Upper: r.UpperThreshold, Lower: r.LowerThreshold}
}

// validate checks what the maps cannot represent.
func validate(services []model.Service) error {
	seen := map[model.ServiceKey]bool{}
	for _, s := range services {
		if !s.VIP.Is4() || !protoOK(s.Proto) || s.Port == 0 {
			return fmt.Errorf("service %s: need an IPv4 address, a port and tcp or udp", s.Key())
		}
		if seen[s.Key()] {
			return fmt.Errorf("service %s: duplicate", s.Key())
		}
		sched, ok := model.LookupScheduler(s.Scheduler)
		if !ok || !sched.BPF() {
			return fmt.Errorf("service %s: unknown scheduler %q", s.Key(), s.Scheduler)
		}
		if sched.Counts && len(s.Reals) > bpf.SchedMaxReals {
			return fmt.Errorf("service %s: scheduler %s takes at most %d real servers, got %d",
				s.Key(), s.Scheduler, bpf.SchedMaxReals, len(s.Reals))
		}
		seen[s.Key()] = true
		reals := map[model.RealKey]bool{}
		for _, r := range s.Reals {
			if !r.Addr.Is4() || r.Port == 0 {
				return fmt.Errorf("service %s: real server %s: need an IPv4 address and a port",
					s.Key(), netip.AddrPortFrom(r.Addr, r.Port))
			}
			k := r.Key()
			if reals[k] {
				return fmt.Errorf("service %s: real server %s: duplicate", s.Key(), netip.AddrPortFrom(r.Addr, r.Port))
			}
			reals[k] = true
		}
	}
	return nil
}

// current is what the maps hold.
type current struct {
	services map[bpf.SvcKey]bpf.SvcValue
	reals    map[uint32]bpf.Real
	maxGen   uint32
}

func (d *Plane) read() (*current, error) {
	svcs, err := d.maps.Services()
	if err != nil {
		return nil, err
	}
	reals, err := d.maps.Reals()
	if err != nil {
		return nil, err
	}
	c := &current{services: svcs, reals: reals}
	for _, r := range reals {
		c.maxGen = max(c.maxGen, r.Gen)
	}
	return c, nil
}

// realService finds the key of the service with index id.
func realService(cur *current, id uint32) bpf.SvcKey {
	for k, v := range cur.services {
		if v.Id == id {
			return k
		}
	}
	return bpf.SvcKey{}
}

func addCounters(a, b model.Counters) model.Counters {
	return model.Counters{PacketsIn: a.PacketsIn + b.PacketsIn, BytesIn: a.BytesIn + b.BytesIn,
		PacketsOut: a.PacketsOut + b.PacketsOut, BytesOut: a.BytesOut + b.BytesOut,
		Connections: a.Connections + b.Connections}
}

// freeID returns the smallest id below limit not in used.
func freeID(used map[uint32]bool, limit int) (uint32, error) {
	for i := 0; i < limit; i++ {
		if !used[uint32(i)] {
			return uint32(i), nil
		}
	}
	return 0, fmt.Errorf("all %d slots in use", limit)
}

// slab finds free regions of the schedule map.
type slab struct {
	size int
	used [][2]uint32 // [off, off+len)
}

func (s *slab) alloc(n int) (uint32, error) {
	sort.Slice(s.used, func(i, j int) bool { return s.used[i][0] < s.used[j][0] })
	var at uint32
	for _, u := range s.used {
		if int(u[0])-int(at) >= n {
			break
		}
		at = max(at, u[1])
	}
	if int(at)+n > s.size {
		return 0, fmt.Errorf("schedule map full: %d slots needed, %d in the map; raise its size", n, s.size)
	}
	s.used = append(s.used, [2]uint32{at, at + uint32(n)})
	return at, nil
}

func (s *slab) free(off, n uint32) {
	s.used = slices.DeleteFunc(s.used, func(u [2]uint32) bool { return u[0] == off && u[1] == off+n })
}

// Apply implements dataplane.Dataplane.
func (d *Plane) Apply(services []model.Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.applied.Add(1) // even a failed apply may have written
	if err := validate(services); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	cur, err := d.read()
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	capa := d.maps.Capacity()
	sl := &slab{size: capa.ScheduleSlots}
	usedSvc := map[uint32]bool{}
	for _, v := range cur.services {
		usedSvc[v.Id] = true
		if v.SchedLen > 0 {
			sl.used = append(sl.used, [2]uint32{v.SchedOff, v.SchedOff + v.SchedLen})
		}
	}
	usedReal := map[uint32]bool{}
	for id := range cur.reals {
		usedReal[id] = true
	}
	gen := cur.maxGen

	keep := map[bpf.SvcKey]bool{}
	keepReal := map[uint32]bool{}
	for _, s := range services {
		key := bpf.NewSvcKey(s.VIP, s.Port, uint8(s.Proto))
		keep[key] = true
		old, exists := cur.services[key]
		svcID := old.Id
		if !exists {
			if svcID, err = freeID(usedSvc, capa.Services); err != nil {
				return fmt.Errorf("apply: service %s: %w", s.Key(), err)
			}
			usedSvc[svcID] = true
		}
		// 1. real-server slots, reusing those the service already has.
		ids := make([]uint32, len(s.Reals))
		for i, r := range s.Reals {
			found := false
			for id, cr := range cur.reals {
				if exists && cr.SvcId == svcID && cr.Addr == bpf.Be32(r.Addr) && cr.Port == bpf.Be16(r.Port) {
					ids[i], found = id, true
					// Weight and thresholds change in place.
					if cr.Weight != r.Weight || cr.Upper != r.UpperThreshold || cr.Lower != r.LowerThreshold {
						nr := realValue(r, cr.Gen, svcID)
						if err := d.maps.PutReal(id, nr); err != nil {
							return err
						}
						cur.reals[id] = nr
					}
					break
				}
			}
			if !found {
				id, err := freeID(usedReal, capa.Reals)
				if err != nil {
					return fmt.Errorf("apply: service %s: real server %s: %w", s.Key(), r.Addr, err)
				}
				usedReal[id] = true
				gen++
				if err := d.maps.ResetRealStats(id); err != nil {
					return err
				}
				if err := d.maps.ResetRealConns(id); err != nil {
					return err
				}
				nr := realValue(r, gen, svcID)
				if err := d.maps.PutReal(id, nr); err != nil {
					return err
				}
				cur.reals[id] = nr
				ids[i] = id
			}
			keepReal[ids[i]] = true
		}
		// 2. the schedule, in IPVS list order.
		sched, kind, err := schedule(s, ids, capa.ScheduleSlots)
		if err != nil {
			return fmt.Errorf("apply: service %s: %w", s.Key(), err)
		}
		flags := schedFlags(s)
		pmask, ptimeout := persistence(s)
		if exists && old.SchedLen == uint32(len(sched)) && old.Sched == uint32(kind) && old.Flags == flags &&
			old.Pmask == pmask && old.Ptimeout == ptimeout {
			have, err := d.maps.ReadSchedule(old.SchedOff, old.SchedLen)
			if err != nil {
				return err
			}
			if slices.Equal(have, sched) {
				continue
			}
		}
		var off uint32
		if len(sched) > 0 {
			if off, err = sl.alloc(len(sched)); err != nil {
				return fmt.Errorf("apply: service %s: %w", s.Key(), err)
			}
			if err := d.maps.WriteSchedule(off, sched); err != nil {
				return err
			}
		}
		// 3. switch the service to it.
		if err := d.maps.PutService(key, bpf.SvcValue{Id: svcID, SchedOff: off, SchedLen: uint32(len(sched)), Sched: uint32(kind), Flags: flags,
			Pmask: pmask, Ptimeout: ptimeout}); err != nil {
			return err
		}
		if exists && old.SchedLen > 0 {
			sl.free(old.SchedOff, old.SchedLen)
		}
	}

	// 4. removals, after every service points only at live slots.
	var errs []error
	for key := range cur.services {
		if !keep[key] {
			errs = append(errs, d.maps.DeleteService(key))
		}
	}
	for id, r := range cur.reals {
		if keepReal[id] {
			continue
		}
		// Keep its counters in its service's totals.
		if ts, err := d.maps.RealStats(id); err == nil {
			key := realService(cur, r.SvcId)
			if keep[key] {
				d.retired[key] = addCounters(d.retired[key], counters(ts))
			}
		}
		errs = append(errs, d.maps.DeleteReal(id))
	}
	for key := range d.retired {
		if !keep[key] {
			delete(d.retired, key)
		}
	}
	errs = append(errs, d.applyAddrs(services))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	d.desired = dataplane.ByKey(services)
	return nil
}

// applyAddrs writes the VIP / real-server address flags.
func (d *Plane) applyAddrs(services []model.Service) error {
	want := map[netip.Addr]uint32{}
	for _, s := range services {
		want[s.VIP] |= bpf.AddrVIP
		for _, r := range s.Reals {
			want[r.Addr] |= bpf.AddrReal
		}
	}
	have, err := d.maps.Addrs()
	if err != nil {
		return err
	}
	for a, f := range want {
		if have[a] != f {
			if err := d.maps.SetAddr(a, f); err != nil {
				return err
			}
		}
	}
	for a := range have {
		if _, ok := want[a]; !ok {
			if err := d.maps.SetAddr(a, 0); err != nil {
				return err
			}
		}
	}
	return nil
}
