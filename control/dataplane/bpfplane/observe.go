package bpfplane

// The read side of the BPF plane: services, real servers and counters from
// the maps, connection counts and the connection list from the flow table,
// and the program's own counters.

import (
	"net/netip"
	"time"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/model"
)

// Status implements dataplane.Dataplane: services from the maps, with counters and
// connection counts from the flow table's census (census.go).
func (d *Plane) Status() ([]model.ServiceStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, err := d.read()
	if err != nil {
		return nil, err
	}
	cen, err := d.census.get(d.maps)
	if err != nil {
		return nil, err
	}
	templates, err := d.liveTemplates(cur)
	if err != nil {
		return nil, err
	}
	var out []model.ServiceStatus
	for key, v := range cur.services {
		st := model.ServiceStatus{ServiceKey: model.ServiceKey{VIP: bpf.AddrFromBe32(key.Vip), Port: bpf.PortFromBe16(key.Port), Proto: model.Proto(key.Proto)}}
		want := d.desired[st.ServiceKey]
		st.Scheduler = want.Scheduler
		st.SchedFlags, st.Persistence = want.SchedFlags, want.Persistence
		if want.Scheduler == model.SchedMH {
			st.MHTableSize = want.MHSize()
		}
		st.Counters = d.retired[key]
		byKey := map[model.RealKey]model.RealServer{}
		for _, r := range want.Reals {
			byKey[r.Key()] = r
		}
		for id, r := range cur.reals {
			if r.SvcId != v.Id {
				continue
			}
			rs := model.RealStatus{RealServer: model.RealServer{Addr: bpf.AddrFromBe32(r.Addr), Port: bpf.PortFromBe16(r.Port)}}
			w := byKey[rs.Key()]
			rs.Weight, rs.UpperThreshold, rs.LowerThreshold = w.Weight, w.UpperThreshold, w.LowerThreshold
			ts, err := d.maps.RealStats(id)
			if err != nil {
				return nil, err
			}
			rs.Counters = counters(ts)
			st.Counters = addCounters(st.Counters, rs.Counters)
			if c := cen.conns[realGen{id, r.Gen}]; c != nil {
				rs.ActiveConns, rs.InactiveConns = c.active, c.inactive
			}
			rs.PersistentConns = templates[id]
			st.Reals = append(st.Reals, rs)
		}
		out = append(out, st)
	}
	dataplane.SortStatus(out, d.desired)
	return out, nil
}

// addrPort converts an address and port in network order, as the maps
// hold them.
func addrPort(a uint32, p uint16) netip.AddrPort {
	return netip.AddrPortFrom(bpf.AddrFromBe32(a), bpf.PortFromBe16(p))
}

func counters(t bpf.TrafficStats) model.Counters {
	return model.Counters{PacketsIn: t.PktsIn, BytesIn: t.BytesIn, PacketsOut: t.PktsOut,
		BytesOut: t.BytesOut, Connections: t.Conns}
}

var stateNames = map[uint8]string{bpf.StateSYN: "SYN", bpf.StateEstablished: "ESTABLISHED",
	bpf.StateFIN: "FIN", bpf.StateUDP: "UDP"}

// Flows implements Observer: one line per connection (forward entries),
// with the time left before it expires if idle.
func (d *Plane) Flows() ([]model.Flow, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now, err := bpf.Jiffies()
	if err != nil {
		return nil, err
	}
	hz, err := d.maps.HZ()
	if err != nil {
		return nil, err
	}
	var out []model.Flow
	err = d.maps.Flows(func(e bpf.FlowEntry) bool {
		if e.Value.Dir != bpf.DirForward {
			return true
		}
		k, v := e.Key, e.Value
		out = append(out, model.Flow{
			Proto:   model.Proto(k.Proto),
			Client:  addrPort(k.Saddr, k.Sport),
			VIP:     addrPort(k.Daddr, k.Dport),
			Real:    addrPort(v.NatAddr, v.NatPort),
			State:   stateNames[v.State],
			Expires: bpf.Expiry(v, now, hz),
		})
		return true
	})
	if err != nil {
		return nil, err
	}
	if out, err = d.templateFlows(out, now, hz); err != nil {
		return nil, err
	}
	dataplane.SortFlows(out)
	return out, nil
}

// liveTemplates counts the unexpired persistence templates by real id.
func (d *Plane) liveTemplates(cur *current) (map[uint32]uint64, error) {
	out := map[uint32]uint64{}
	timeouts := map[uint32]uint32{}
	for _, v := range cur.services {
		if v.Ptimeout > 0 {
			timeouts[v.Id] = v.Ptimeout
		}
	}
	if len(timeouts) == 0 {
		return out, nil
	}
	now, err := bpf.Jiffies()
	if err != nil {
		return nil, err
	}
	hz, err := d.maps.HZ()
	if err != nil {
		return nil, err
	}
	err = d.maps.Templates(func(k bpf.PersistKey, v bpf.Persist) bool {
		r, ok := cur.reals[v.RealId]
		if t, pok := timeouts[k.SvcId]; pok && ok && r.Gen == v.RealGen && now-v.LastSeen <= uint64(t)*hz {
			out[v.RealId]++
		}
		return true
	})
	return out, err
}

// templateFlows appends the persistence templates to out, as ipvsadm -Lnc
// lists them: state NONE, the client's masked address with port 0, the
// service, the real server, and the time left before the template expires.
func (d *Plane) templateFlows(out []model.Flow, now, hz uint64) ([]model.Flow, error) {
	cur, err := d.read()
	if err != nil {
		return nil, err
	}
	svcs := map[uint32]bpf.SvcKey{}
	timeouts := map[uint32]uint64{}
	for k, v := range cur.services {
		if v.Ptimeout > 0 {
			svcs[v.Id], timeouts[v.Id] = k, uint64(v.Ptimeout)*hz
		}
	}
	err = d.maps.Templates(func(k bpf.PersistKey, v bpf.Persist) bool {
		sk, ok := svcs[k.SvcId]
		r, rok := cur.reals[v.RealId]
		if !ok || !rok || r.Gen != v.RealGen {
			return true
		}
		left := bpf.Expiry(bpf.Flow{LastSeen: v.LastSeen, Timeout: timeouts[k.SvcId]}, now, hz)
		if left <= 0 {
			return true
		}
		out = append(out, model.Flow{
			Proto:   model.Proto(sk.Proto),
			Client:  addrPort(k.Client, 0),
			VIP:     addrPort(sk.Vip, sk.Port),
			Real:    addrPort(r.Addr, r.Port),
			State:   "NONE",
			Expires: left,
		})
		return true
	})
	return out, err
}

// Stats implements Observer.
func (d *Plane) Stats() (model.DataplaneStats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cp := d.maps.Capacity()
	st := model.DataplaneStats{Mode: d.mode, Packets: map[string]uint64{}, Drops: map[string]uint64{},
		FlowCapacity:        cp.Flows + cp.HalfOpen,
		FlowCapacityByState: map[string]int{"established": cp.Flows, "half_open": cp.HalfOpen}}
	paths, err := d.maps.Paths()
	if err != nil {
		return st, err
	}
	for i, n := range paths {
		info := bpf.Paths[bpf.PktPath(i)]
		st.Packets[info.Name] = n
		if info.Verdict == "drop" {
			st.Drops[info.Name] = n
		}
	}
	if st.Verdicts, err = d.maps.Verdicts(); err != nil {
		return st, err
	}
	st.FlowRefused = paths[bpf.PathTableFull]
	if d.dp != nil {
		n, ok, err := d.dp.RedirectErrors()
		if err != nil {
			return st, err
		}
		if ok {
			st.RedirectErrors = n
			st.Verdicts["forward"] -= min(n, st.Verdicts["forward"])
			st.Verdicts["redirect_error"] = n
		}
	}
	cen, err := d.census.get(d.maps)
	if err != nil {
		return st, err
	}
	st.FlowEntries = cen.entries
	st.FlowCountAge, st.FlowCountDuration = time.Since(cen.at), cen.took
	ft := cen.table
	st.FlowEntriesByState = map[string]int{"established": ft.Established, "half_open": ft.HalfOpen}
	d.evictMu.Lock()
	d.evicted = max(d.evicted, ft.Evicted)
	st.FlowEvictions = d.evicted
	d.evictMu.Unlock()
	return st, nil
}
