package bpfplane

// What reading a large flow table costs (make bench) and what the census
// answers: a status, a scrape (the metrics collector's Status and Stats)
// and the sync's full scan at 1M entries, plus the census's counts
// against the entries written.

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/control/metrics"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// newFilledPlane returns a plane whose flow table (of size entries)
// holds conns connections of the seed's service, two entries each: every
// third one half-open (SYN), the others established; and the flows map.
func newFilledPlane(tb testing.TB, size, conns int) (*Plane, *ebpf.Map) {
	tb.Helper()
	objs := loadTestObjects(tb, uint32(size))
	maps := bpf.NewMaps(objs)
	if err := maps.SetTimeouts(bpf.Timeouts(model.DefaultTimeouts)); err != nil {
		tb.Fatal(err)
	}
	p := New(maps, "test")
	if err := p.Apply([]model.Service{seedService(3, 1)}); err != nil {
		tb.Fatal(err)
	}
	reals, err := maps.Reals()
	if err != nil {
		tb.Fatal(err)
	}
	var ids []uint32
	for id := range reals {
		ids = append(ids, id)
	}
	now, err := bpf.Jiffies()
	if err != nil {
		tb.Fatal(err)
	}
	const chunk = 32768
	keys, vals := make([]bpf.FlowKey, 0, chunk), make([]bpf.Flow, 0, chunk)
	flush := func() {
		if _, err := objs.Flows.BatchUpdate(keys, vals, nil); err != nil {
			tb.Fatalf("fill the flow table: %v", err)
		}
		keys, vals = keys[:0], vals[:0]
	}
	vip := bpf.Be32(tVIP)
	for i := range conns {
		r := reals[ids[i%len(ids)]]
		state := bpf.StateEstablished
		if i%3 == 0 {
			state = bpf.StateSYN
		}
		client := uint32(10) | uint32(i>>16&0xff)<<8 | uint32(i>>8&0xff)<<16 | uint32(i&0xff)<<24
		sport := bpf.Be16(uint16(1024 + i%60000))
		k := bpf.FlowKey{Saddr: client, Daddr: vip, Sport: sport, Dport: bpf.Be16(80), Proto: bpf.ProtoTCP}
		f := bpf.Flow{NatAddr: r.Addr, NatPort: r.Port, Dir: bpf.DirForward, State: state, SvcId: r.SvcId,
			RealId: ids[i%len(ids)], RealGen: r.Gen, LastSeen: now, Timeout: 1 << 40}
		rf := f
		rf.Dir, rf.NatAddr, rf.NatPort = bpf.DirReply, vip, bpf.Be16(80)
		keys = append(keys, k, replyKey(k, f))
		vals = append(vals, f, rf)
		if len(keys) >= chunk {
			flush()
		}
	}
	if len(keys) > 0 {
		flush()
	}
	return p, objs.Flows
}

// TestCensusCounts: status and stats count what the table holds, and a
// census of a small table is taken afresh at every read.
func TestCensusCounts(t *testing.T) {
	const conns = 3000
	p, flows := newFilledPlane(t, 8192, conns)
	check := func(wantActive, wantInactive uint64, wantEntries int) {
		t.Helper()
		st, err := p.Status()
		if err != nil {
			t.Fatal(err)
		}
		var active, inactive uint64
		for _, r := range st[0].Reals {
			active += r.ActiveConns
			inactive += r.InactiveConns
		}
		if active != wantActive || inactive != wantInactive {
			t.Errorf("status: %d active, %d inactive; want %d, %d", active, inactive, wantActive, wantInactive)
		}
		stats, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if stats.FlowEntries != wantEntries {
			t.Errorf("stats: %d entries, want %d", stats.FlowEntries, wantEntries)
		}
		if stats.FlowCountDuration <= 0 || stats.FlowCountAge < 0 || stats.FlowCountAge > time.Minute {
			t.Errorf("stats: count age %v, duration %v", stats.FlowCountAge, stats.FlowCountDuration)
		}
	}
	check(conns*2/3, conns/3, 2*conns)
	// Remove one half-open connection's two entries: the next read sees it.
	var k bpf.FlowKey
	var f bpf.Flow
	it := flows.Iterate()
	for it.Next(&k, &f) {
		if f.Dir == bpf.DirForward && f.State == bpf.StateSYN {
			break
		}
	}
	if err := flows.Delete(replyKey(k, f)); err != nil {
		t.Fatal(err)
	}
	if err := flows.Delete(k); err != nil {
		t.Fatal(err)
	}
	check(conns*2/3, conns/3-1, 2*conns-2)
}

// TestCensusLargeTableServedFromCache: a census whose walk was slow is
// reused while fresh, and when stale it is served while a new walk runs.
func TestCensusLargeTableServedFromCache(t *testing.T) {
	p, _ := newFilledPlane(t, 4096, 1000)
	now := time.Unix(1000, 0)
	c := &censusCache{now: func() time.Time { return now }}
	first, err := c.get(p.maps)
	if err != nil {
		t.Fatal(err)
	}
	if first.entries != 2000 {
		t.Fatalf("census: %d entries, want 2000", first.entries)
	}
	c.mu.Lock()
	first.took = time.Second // as if the table were large
	c.mu.Unlock()
	now = now.Add(5 * time.Second)
	if got, _ := c.get(p.maps); got != first {
		t.Fatal("a census younger than ten walks was not reused")
	}
	now = now.Add(6 * time.Second)
	if got, _ := c.get(p.maps); got != first {
		t.Fatal("a stale census of a slow table was not served while the next walk runs")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		last := c.last
		c.mu.Unlock()
		if last != first {
			if last.entries != 2000 {
				t.Fatalf("background census: %d entries, want 2000", last.entries)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no background census within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkScanCost (make bench): a status, a scrape and the sync's scan
// at 1M flow-table entries. status_cold walks the table (the census is
// dropped before each); scrape is a whole /metrics scrape as the daemon
// serves it, with the census of the previous reads; sync_scan is
// SyncTable.Dump, the full table sent to the peer.
func BenchmarkScanCost(b *testing.B) {
	const entries = 1 << 20
	p, _ := newFilledPlane(b, entries, entries/2)
	reg := metrics.NewRegistry(p, nil, "bench")
	h := metrics.Handler(reg, nil)
	b.Run("status_cold", func(b *testing.B) {
		for range b.N {
			p.census.mu.Lock()
			p.census.last = nil
			p.census.mu.Unlock()
			if _, err := p.Status(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/status")
	})
	b.Run("scrape", func(b *testing.B) {
		for range b.N {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			if rec.Code != 200 {
				b.Fatalf("scrape: %d %s", rec.Code, rec.Body)
			}
			_, _ = io.Copy(io.Discard, rec.Body)
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/scrape")
	})
	b.Run("sync_scan", func(b *testing.B) {
		st, err := newSyncTable(p.maps, p.applied.Load)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = st.Close() }()
		for range b.N {
			n := 0
			if err := st.Dump(func(heartbeat.SyncRecord) bool { n++; return true }); err != nil {
				b.Fatal(err)
			}
			if n != entries/2 {
				b.Fatalf("sync scan: %d records, want %d", n, entries/2)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/scan")
	})
}
