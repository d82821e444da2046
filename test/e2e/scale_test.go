package e2e

// A running daemon with a flow table of a million entries: its status
// counts the whole table once a walk that started after the fill is in
// (within ten walks' time), and from then on every scrape does, without
// waiting for a walk of its own. The figures are printed, not asserted:
// speed goals live in make bench (bench-scan).

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/loader"
	"github.com/director-lb/director/test/lab"
)

func TestScrapeOfALargeFlowTable(t *testing.T) {
	const size, fill = 1 << 20, 900_000 // entries: size of the table, entries written
	l := seedLabWith(t, lab.Options{})
	cfg := runConfig{Node: "sc-" + l.Prefix(), W1: 3, W2: 1, Socket: filepath.Join(t.TempDir(), "director.sock")}
	text := strings.Replace(cfg.yaml(), "size: 65536", fmt.Sprintf("size: %d", size), 1)
	d := startDirectorIn(t, l, lab.LB1, text, cfg.Socket)

	// Fill the daemon's pinned flow table with idle connections of
	// clients that do not exist (forward entries of no real server).
	m, err := ebpf.LoadPinnedMap(filepath.Join(loader.PinDir("", cfg.Node), "flows"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close() }()
	now, err := bpf.Jiffies()
	if err != nil {
		t.Fatal(err)
	}
	keys, vals := make([]bpf.FlowKey, 0, fill), make([]bpf.Flow, 0, fill)
	for i := range fill {
		keys = append(keys, bpf.FlowKey{Saddr: 10 | uint32(i>>16&0xff)<<8 | uint32(i>>8&0xff)<<16 | uint32(i&0xff)<<24,
			Daddr: bpf.Be32(vip), Sport: bpf.Be16(uint16(1024 + i%60000)), Dport: bpf.Be16(9), Proto: bpf.ProtoTCP})
		vals = append(vals, bpf.Flow{Dir: bpf.DirForward, State: bpf.StateEstablished, RealId: 1 << 30, LastSeen: now, Timeout: 1 << 40})
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
		t.Fatal(err)
	}

	// A walk that overlapped the fill (the status page's sampler walks
	// every 2 s) may be served for up to ten walks' time: poll until a
	// census counts the whole fill.
	filled := time.Now()
	for {
		start := time.Now()
		st := d.MustStatus()
		if st.Stats.FlowEntries >= fill {
			t.Logf("director status counts %d entries %v after the fill (this status: %v; its walk %v old, took %v)",
				st.Stats.FlowEntries, time.Since(filled).Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
				st.Stats.FlowCountAge.Round(time.Millisecond), st.Stats.FlowCountDuration.Round(time.Millisecond))
			break
		}
		if time.Since(filled) > 60*time.Second {
			t.Fatalf("status counts %d entries 60s after a fill of %d", st.Stats.FlowEntries, fill)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
	var took []time.Duration
	for i := range 7 {
		start := time.Now()
		text := d.metrics()
		took = append(took, time.Since(start))
		if n := metricValue(t, text, "director_flow_table_entries", nil); n < fill {
			t.Errorf("scrape %d: director_flow_table_entries %v, want at least %d", i, n, fill)
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("scrapes of the running daemon with %d entries: median %v, slowest %v", fill,
		took[len(took)/2].Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond))
}
