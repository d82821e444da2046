package e2e

// A SYN flood from a real sender (hping3) with a spoofed source address no
// host owns, against a director whose flow table is the smallest allowed:
// the flood overfills the half-open table, and the established connections
// opened before it all keep answering, during and after; most new
// connections made during the flood get through.

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
)

// floodSource is inside the lab's public subnet and owned by no host.
const floodSource = "192.168.56.77"

func TestSYNFloodKeepsEstablished(t *testing.T) {
	if _, err := exec.LookPath("hping3"); err != nil {
		t.Fatalf("hping3 is needed (make deps-test installs it): %v", err)
	}
	forEachPlane(t, func(t *testing.T, pl plane) {
		l := seedLabFor(t, pl)
		socket := filepath.Join(t.TempDir(), "director.sock")
		cfg := fmt.Sprintf(`node: flood-%s
interfaces:
  public: enp0s3
  internal: enp0s8
control_socket: %s
flow_table:
  size: 1024
services:
  - vip: 192.168.56.10
    port: 80
    scheduler: wrr
    real_servers:
      - {address: 192.168.200.11, port: 80, weight: 3}
      - {address: 192.168.200.12, port: 80, weight: 1}
metrics:
  listen: 127.0.0.1:9917
dataplane: %s
`, l.Prefix(), socket, pl.dataplane)
		if pl.tcAttachKey != "" {
			cfg += "tc_attach: " + pl.tcAttachKey + "\n"
		}
		d := startDirectorIn(t, l, lab.LB1, cfg, socket)
		kept := openKept(t, l, 20)

		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		defer cancel()
		flood := l.Command(ctx, lab.Client, "hping3", "-q", "-S", "--flood", "-p", "80", "-a", floodSource, lab.VIP)
		if err := flood.Start(); err != nil {
			t.Fatal(err)
		}
		floodDone := make(chan error, 1)
		go func() { floodDone <- flood.Wait() }()
		defer func() {
			cancel()
			if err := <-floodDone; err != nil {
				t.Logf("hping3 stopped: %v", err)
			}
		}()

		// The flood has overfilled the half-open table once evictions
		// exceed its size.
		deadline := time.Now().Add(8 * time.Second)
		var evicted float64
		for time.Now().Before(deadline) {
			evicted = metricValue(t, d.metrics(), "director_flow_table_evictions_total", nil)
			if evicted > 1024 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if evicted <= 1024 {
			t.Fatalf("the flood did not overfill the half-open table: %v evictions", evicted)
		}
		t0 := time.Now()
		st := d.MustStatus()
		t.Logf("during the flood: %d flow entries %v, %d evictions, %d refused",
			st.Stats.FlowEntries, st.Stats.FlowEntriesByState, st.Stats.FlowEvictions, st.Stats.FlowRefused)

		if n, problems := surviving(kept); n != len(kept) {
			t.Errorf("during the flood: %d of %d keep-alive connections answered: %v", n, len(kept), problems)
		}
		// New connections during the flood.
		okNew, tries := 0, 20
		for range tries {
			c := l.HTTPClient(lab.Client, false)
			c.Timeout = 2 * time.Second
			if _, err := askKept(c, lab.VIP); err == nil {
				okNew++
			}
		}
		t.Logf("%s: new connections during the flood: %d of %d succeeded", pl.name, okNew, tries)
		if okNew*2 <= tries {
			t.Errorf("only %d of %d new connections succeeded during the flood", okNew, tries)
		}
		after := metricValue(t, d.metrics(), "director_flow_table_evictions_total", nil)
		if after <= evicted {
			t.Errorf("evictions stopped during the flood (%v, then %v): was it still running?", evicted, after)
		}
		t.Logf("%s: flood churned %.0f half-open entries/s (about two per spoofed SYN) through a 1024-entry half-open table",
			pl.name, (after-evicted)/time.Since(t0).Seconds())

		cancel()
		if err := <-floodDone; err != nil {
			t.Logf("hping3 stopped: %v", err)
		}
		floodDone <- nil // for the deferred receive
		if n, problems := surviving(kept); n != len(kept) {
			t.Errorf("after the flood: %d of %d keep-alive connections answered: %v", n, len(kept), problems)
		}
		est := metricValue(t, d.metrics(), "director_flow_table_entries", map[string]string{"state": "established"})
		if est < 40 {
			t.Errorf("after the flood: %v established entries, want at least the 20 kept connections' 40", est)
		}
	})
}
