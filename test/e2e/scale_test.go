package e2e

// A running daemon with a flow table of a million entries: its scrapes
// and status see the whole table (the census, renewed in the background)
// and a scrape does not wait for a walk of it. The figures are printed,
// not asserted: speed goals live in make bench (bench-scan).

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

	start := time.Now()
	st := d.MustStatus()
	t.Logf("director status with %d entries: %v (%d entries counted)", fill, time.Since(start).Round(time.Millisecond), st.Stats.FlowEntries)
	if st.Stats.FlowEntries < fill {
		t.Errorf("status counts %d entries, want at least %d", st.Stats.FlowEntries, fill)
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
