package bpfplane

// Recounting the real servers' connections. The program counts them as
// flows are created, change state and are forgotten (bpf/sched.h), but a
// flow table entry can also end without the program noticing: a closed
// connection that simply expires (no packet ever forgets it), an entry
// the LRU evicts under pressure, a flow installed by connection sync. So
// that lc, wlc, sed, nq and the thresholds see what the table really
// holds, Recount counts the live connections of each real server (a
// forward entry whose connection one of its two entries kept alive, the
// program's rule) and writes the difference to the program's count as
// that server's correction (real_conns_adj). A server whose count the
// program changed while the table was read keeps its correction until a
// recount in which it stays still (the table read and the count would not
// match); after recountPatience such rounds in a row (a busy server) the
// correction is written anyway, off by the connections that changed
// meanwhile until the next recount.

import (
	"time"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/control/model"
)

// RecountInterval is how often a plane made by Wrap recounts, while one of
// its services needs the counts (a least-connection scheduler or a
// threshold).
const RecountInterval = 2 * time.Second

// recountPatience is how many recounts in a row a busy server's correction
// may wait for a quiet moment.
const recountPatience = 3

// needsCounts says whether any desired service reads connection counts,
// or has persistence templates to refresh.
func needsCounts(services map[model.ServiceKey]model.Service) bool {
	for _, s := range services {
		if s.Persistent() {
			return true
		}
		if sc, _ := model.LookupScheduler(s.Scheduler); sc.Counts {
			return true
		}
		for _, r := range s.Reals {
			if r.UpperThreshold > 0 {
				return true
			}
		}
	}
	return false
}

// Recount recounts the flow table and writes every real server's
// correction.
func (d *Plane) Recount() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, err := d.read()
	if err != nil {
		return err
	}
	now, err := bpf.Jiffies()
	if err != nil {
		return err
	}
	before := map[uint32]bpf.ConnCounts{}
	for id := range cur.reals {
		if before[id], err = d.maps.RealConns(id); err != nil {
			return err
		}
	}
	table := map[bpf.FlowKey]bpf.Flow{}
	if err := d.maps.Flows(func(e bpf.FlowEntry) bool { table[e.Key] = e.Value; return true }); err != nil {
		return err
	}
	idle := func(f bpf.Flow) bool { return now-f.LastSeen > f.Timeout }
	truth := map[uint32]*bpf.ConnAdj{}
	live := map[bpf.FlowKey]bool{}
	for k, f := range table {
		if f.Dir != bpf.DirForward {
			continue
		}
		if r, ok := cur.reals[f.RealId]; !ok || r.Gen != f.RealGen {
			continue
		}
		if idle(f) {
			twin, ok := table[bpf.FlowKey{Saddr: f.NatAddr, Daddr: k.Saddr, Sport: f.NatPort, Dport: k.Sport, Proto: k.Proto}]
			if !ok || idle(twin) {
				continue
			}
		}
		live[k] = true
		t := truth[f.RealId]
		if t == nil {
			t = &bpf.ConnAdj{}
			truth[f.RealId] = t
		}
		if f.State == bpf.StateEstablished {
			t.Active++
		} else {
			t.Inactive++
		}
	}
	if err := d.refreshTemplates(cur, table, live, now); err != nil {
		return err
	}
	if d.busy == nil {
		d.busy = map[uint32]int{}
	}
	for id := range cur.reals {
		c, err := d.maps.RealConns(id)
		if err != nil {
			return err
		}
		if b := before[id]; (b.Active != c.Active || b.Inactive != c.Inactive) && d.busy[id] < recountPatience {
			d.busy[id]++
			continue
		}
		d.busy[id] = 0
		var t bpf.ConnAdj
		if p := truth[id]; p != nil {
			t = *p
		}
		want := bpf.ConnAdj{Active: c.Active - t.Active, Inactive: c.Inactive - t.Inactive}
		have, err := d.maps.RealConnsAdj(id)
		if err != nil {
			return err
		}
		if have != want {
			if err := d.maps.SetRealConnsAdj(id, want); err != nil {
				return err
			}
		}
	}
	return nil
}

// recountLoop recounts every RecountInterval until stop is closed, while
// the services need it. Errors wait for the next round: the counts only
// steer scheduling.
func (d *Plane) recountLoop(stop <-chan struct{}) {
	t := time.NewTicker(RecountInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			d.mu.Lock()
			need := needsCounts(d.desired)
			d.mu.Unlock()
			if need {
				_ = d.Recount()
			}
		}
	}
}

// refreshTemplates marks the persistence templates of clients with a live
// connection (live: forward keys) as seen now, so that a template expires
// its timeout after the client's last connection has ended, and makes the
// template of a client that has live connections but none: on the
// standby of a pair, whose connections come from connection sync, the
// templates follow from them, so a client keeps its server across a
// failover.
func (d *Plane) refreshTemplates(cur *current, table map[bpf.FlowKey]bpf.Flow, live map[bpf.FlowKey]bool, now uint64) error {
	masks := map[uint32]uint32{} // persistent services' ids -> netmask
	for _, v := range cur.services {
		if v.Ptimeout > 0 {
			masks[v.Id] = v.Pmask
		}
	}
	if len(masks) == 0 {
		return nil
	}
	seen := map[bpf.PersistKey]bpf.Persist{} // -> the real server of a live connection
	for k := range live {
		f := table[k]
		if mask, ok := masks[f.SvcId]; ok {
			seen[bpf.PersistKey{SvcId: f.SvcId, Client: k.Saddr & mask}] = bpf.Persist{RealId: f.RealId, RealGen: f.RealGen, LastSeen: now}
		}
	}
	var stale []bpf.PersistKey
	var vals []bpf.Persist
	err := d.maps.Templates(func(k bpf.PersistKey, v bpf.Persist) bool {
		p, ok := seen[k]
		if !ok {
			return true
		}
		delete(seen, k) // it has a template
		if p.RealId == v.RealId && p.RealGen == v.RealGen && v.LastSeen != now {
			v.LastSeen = now
			stale = append(stale, k)
			vals = append(vals, v)
		}
		return true
	})
	if err != nil {
		return err
	}
	for k, p := range seen { // live connections without a template
		stale = append(stale, k)
		vals = append(vals, p)
	}
	for i, k := range stale {
		if err := d.maps.PutTemplate(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}
