package bpfplane

// The BPF flow table as conntrack sync sees it (heartbeat.SyncTable): the
// program's change notifications turned into records of the connections
// as they are now, the whole table as records, and the peer's records
// written as the two entries of each connection, with this node's own
// service and real-server indexes (the pair's indexes differ whenever
// their configuration histories do).

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// syncBatchWindow is how long Changed gathers notifications after the
// first one: the latency added to a new connection's sync, traded for
// fuller messages under load.
const syncBatchWindow = 2 * time.Millisecond

// syncTable implements heartbeat.SyncTable over the maps.
type syncTable struct {
	maps   *bpf.Maps
	reader *bpf.SyncReader
	clock  *bpf.Clock
	hz     uint64

	applied func() uint64 // Plane's count of applies: the index is stale when it moves

	mu    sync.Mutex // guards the index
	index *syncIndex
}

// syncIndex maps the pair's names of services and real servers to this
// node's indexes.
type syncIndex struct {
	services map[bpf.SvcKey]uint32
	reals    map[syncRealKey]syncReal
	gens     map[uint32]uint32 // real id -> generation
	applied  uint64            // the apply count it was built at
}

type syncRealKey struct {
	svc  uint32
	addr uint32 // network order, as in the maps
	port uint16
}

type syncReal struct{ id, gen uint32 }

func newSyncTable(maps *bpf.Maps, applied func() uint64) (*syncTable, error) {
	hz, err := maps.HZ()
	if err != nil {
		return nil, err
	}
	clock, err := bpf.NewClock()
	if err != nil {
		return nil, err
	}
	r, err := maps.OpenSyncReader()
	if err != nil {
		_ = clock.Close() // cleanup on the error path; err is the one to report
		return nil, err
	}
	return &syncTable{maps: maps, reader: r, clock: clock, hz: hz, applied: applied}, nil
}

// Close releases the reader and the clock (Changed returns).
func (t *syncTable) Close() error {
	return errors.Join(t.reader.Close(), t.clock.Close())
}

func (t *syncTable) lookupIndex() (*syncIndex, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	applied := t.applied()
	if t.index != nil && t.index.applied == applied {
		return t.index, nil
	}
	svcs, err := t.maps.Services()
	if err != nil {
		return nil, err
	}
	reals, err := t.maps.Reals()
	if err != nil {
		return nil, err
	}
	ix := &syncIndex{services: map[bpf.SvcKey]uint32{}, reals: map[syncRealKey]syncReal{}, gens: map[uint32]uint32{},
		applied: applied}
	for k, v := range svcs {
		ix.services[k] = v.Id
	}
	for id, r := range reals {
		if r.Gen == 0 {
			continue
		}
		ix.reals[syncRealKey{r.SvcId, r.Addr, r.Port}] = syncReal{id, r.Gen}
		ix.gens[id] = r.Gen
	}
	t.index = ix
	return ix, nil
}

// left is the lifetime left of an entry at now.
func (t *syncTable) left(f bpf.Flow, now uint64) time.Duration {
	return bpf.Expiry(f, now, t.hz)
}

// record turns the forward entry (k, f) into an upsert; left is the
// connection's lifetime.
func record(k bpf.FlowKey, f bpf.Flow, left time.Duration) heartbeat.SyncRecord {
	return heartbeat.SyncRecord{Op: heartbeat.SyncUpsert, Proto: k.Proto, State: f.State,
		Client: addrPort(k.Saddr, k.Sport), VIP: addrPort(k.Daddr, k.Dport),
		Real: addrPort(f.NatAddr, f.NatPort), Left: left}
}

// replyKey is the key of the reply entry of forward entry (k, f).
func replyKey(k bpf.FlowKey, f bpf.Flow) bpf.FlowKey {
	return bpf.FlowKey{Saddr: f.NatAddr, Daddr: k.Saddr, Sport: f.NatPort, Dport: k.Sport, Proto: k.Proto}
}

// Changed implements heartbeat.SyncTable.
func (t *syncTable) Changed(ctx context.Context, limit int) ([]heartbeat.SyncRecord, time.Time, error) {
	keys := map[bpf.FlowKey]bool{}
	var first time.Time
	for len(keys) < limit {
		deadline := time.Now().Add(250 * time.Millisecond)
		if !first.IsZero() {
			deadline = first.Add(syncBatchWindow)
		}
		t.reader.SetDeadline(deadline)
		k, err := t.reader.Read()
		if errors.Is(err, bpf.ErrSyncDeadline) {
			if !first.IsZero() {
				break
			}
			if ctx.Err() != nil {
				return nil, first, nil
			}
			continue
		}
		if err != nil {
			return nil, first, err
		}
		if first.IsZero() {
			first = time.Now()
		}
		keys[k] = true
	}
	now, err := t.clock.Now()
	if err != nil {
		return nil, first, err
	}
	out := make([]heartbeat.SyncRecord, 0, len(keys))
	for k := range keys {
		f, ok, err := t.maps.LookupFlow(k)
		if err != nil {
			return nil, first, err
		}
		if !ok || f.Dir != bpf.DirForward {
			continue // gone already: the scan deletes it on the peer
		}
		left := t.left(f, now)
		if r, ok, _ := t.maps.LookupFlow(replyKey(k, f)); ok {
			left = max(left, t.left(r, now))
		}
		if left > 0 {
			out = append(out, record(k, f, left))
		}
	}
	return out, first, nil
}

// Dump implements heartbeat.SyncTable: every live connection, its
// lifetime the longer of its two entries'.
func (t *syncTable) Dump(fn func(heartbeat.SyncRecord) bool) error {
	now, err := t.clock.Now()
	if err != nil {
		return err
	}
	ix, err := t.lookupIndex()
	if err != nil {
		return err
	}
	type fwd struct {
		k    bpf.FlowKey
		f    bpf.Flow
		left time.Duration
	}
	byReply := map[bpf.FlowKey]*fwd{}
	replies := map[bpf.FlowKey]time.Duration{}
	err = t.maps.Flows(func(e bpf.FlowEntry) bool {
		if e.HalfOpen {
			return true // not synced until established
		}
		if e.Value.Dir == bpf.DirForward {
			if ix.gens[e.Value.RealId] == e.Value.RealGen { // its real server is still there
				byReply[replyKey(e.Key, e.Value)] = &fwd{e.Key, e.Value, t.left(e.Value, now)}
			}
		} else {
			replies[e.Key] = t.left(e.Value, now)
		}
		return true
	})
	if err != nil {
		return err
	}
	for rk, c := range byReply {
		left := max(c.left, replies[rk])
		if left > 0 && !fn(record(c.k, c.f, left)) {
			return nil
		}
	}
	return nil
}

// Install implements heartbeat.SyncTable.
func (t *syncTable) Install(recs []heartbeat.SyncRecord) (heartbeat.SyncInstalled, error) {
	var res heartbeat.SyncInstalled
	ix, err := t.lookupIndex()
	if err != nil {
		return res, err
	}
	now, err := t.clock.Now()
	if err != nil {
		return res, err
	}
	tmo, err := t.maps.Timeouts()
	if err != nil {
		return res, err
	}
	var errs []error
	for _, r := range recs {
		k := bpf.FlowKey{Saddr: bpf.Be32(r.Client.Addr()), Daddr: bpf.Be32(r.VIP.Addr()),
			Sport: bpf.Be16(r.Client.Port()), Dport: bpf.Be16(r.VIP.Port()), Proto: r.Proto}
		cur, have, err := t.maps.LookupFlow(k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		realAddr, realPort := bpf.Be32(r.Real.Addr()), bpf.Be16(r.Real.Port())
		sameReal := have && cur.Dir == bpf.DirForward && cur.NatAddr == realAddr && cur.NatPort == realPort
		if r.Op == heartbeat.SyncDelete {
			if sameReal {
				errs = append(errs, t.maps.DeleteFlow(replyKey(k, cur)), t.maps.DeleteFlow(k))
			}
			res.Installed++
			continue
		}
		if r.State == bpf.StateSYN {
			// A half-open connection (from a peer that syncs them):
			// not kept on a standby, it is sent again once
			// established.
			res.Installed++
			continue
		}
		if have && !sameReal && t.left(cur, now) > 0 && !replaceable(cur) {
			res.Conflicts++
			continue
		}
		svc, ok := ix.services[bpf.NewSvcKey(r.VIP.Addr(), r.VIP.Port(), r.Proto)]
		if !ok {
			res.Unknown++
			continue
		}
		real, ok := ix.reals[syncRealKey{svc, realAddr, realPort}]
		if !ok {
			res.Unknown++
			continue
		}
		timeout := bpf.ToJiffies(stateTimeout(model.Timeouts(tmo), r.State), t.hz)
		left := bpf.ToJiffies(r.Left, t.hz)
		seen := now
		if left < timeout {
			seen = now - (timeout - left)
		}
		f := bpf.Flow{NatAddr: realAddr, NatPort: realPort, Dir: bpf.DirForward, State: r.State,
			SvcId: svc, RealId: real.id, RealGen: real.gen, LastSeen: seen, Timeout: timeout}
		if sameReal {
			f.HopIfindex, f.HopSmac, f.HopDmac, f.HopTime = cur.HopIfindex, cur.HopSmac, cur.HopDmac, cur.HopTime
		}
		rf := bpf.Flow{NatAddr: k.Daddr, NatPort: k.Dport, Dir: bpf.DirReply, State: r.State,
			SvcId: svc, RealId: real.id, RealGen: real.gen, LastSeen: seen, Timeout: timeout}
		if have && !sameReal && cur.Dir == bpf.DirForward {
			// The older connection of this tuple is replaced: its reply
			// entry (its real server's side) goes with it, as the
			// program's flow_forget does.
			if err := t.maps.DeleteFlow(replyKey(k, cur)); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		// Reply entry first, as the program does.
		if err := t.maps.PutFlow(replyKey(k, f), rf); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := t.maps.PutFlow(k, f); err != nil {
			errs = append(errs, err)
			continue
		}
		res.Installed++
	}
	return res, errors.Join(errs...)
}

// replaceable says whether a live local connection gives way to the
// peer's record of another connection with the same tuple: only a
// closing one (FIN or RST seen). The program itself forgets such an entry
// when a new SYN reuses its tuple (a client reusing a source port within
// tcp_fin), and schedules the new connection anew, maybe to another real
// server: the peer's record is of that newer connection. A SYN-state or
// established connection is never traded for a record (the program never
// moves one to another real server), nor a UDP one.
func replaceable(cur bpf.Flow) bool {
	return cur.Dir == bpf.DirForward && cur.State == bpf.StateFIN
}

// stateTimeout is the idle timeout of a flow state.
func stateTimeout(t model.Timeouts, state uint8) time.Duration {
	switch state {
	case bpf.StateSYN:
		return t.SYN
	case bpf.StateEstablished:
		return t.Established
	case bpf.StateFIN:
		return t.FIN
	}
	return t.UDP
}

var _ dataplane.SyncTable = (*syncTable)(nil)
