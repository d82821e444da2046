package e2e

// The world outside the lab: veths as the kernel makes them (GRO off,
// transmit checksum offload on). There XDP loses packets (a redirect into a
// veth whose peer has no NAPI is dropped; a CHECKSUM_PARTIAL packet leaves
// with a wrong checksum), so `dataplane: auto` must choose TC and say why.

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
)

func TestAutoOnUntunedVethsSplitsExactly(t *testing.T) {
	l := seedLabWith(t, lab.Options{KernelDefaults: true})
	socket := filepath.Join(t.TempDir(), "director.sock")
	d := startDirectorIn(t, l, lab.LB1, runConfig{Node: "untuned-" + l.Prefix(), Socket: socket, W1: 3, W2: 1,
		Dataplane: "auto"}.yaml(), socket)
	st := d.MustStatus()
	if !strings.HasPrefix(st.Dataplane, "tc") {
		t.Errorf("auto on untuned veths chose %q, want tc", st.Dataplane)
	}
	reasons := map[string]string{}
	for _, f := range st.DataplaneFallbacks {
		reasons[f.Interface+" "+f.Mode] = f.Reason
	}
	for _, ifc := range []string{"enp0s3", "enp0s8"} {
		for _, mode := range []string{"xdp native", "xdp generic"} {
			if r := reasons[ifc+" "+mode]; !strings.Contains(r, "not chosen by auto: veth") {
				t.Errorf("status gives %s on %s the reason %q, want why auto did not choose it", mode, ifc, r)
			}
		}
	}
	text, err := d.CLI("status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "not chosen by auto: veth") {
		t.Errorf("status text does not say why XDP was not chosen:\n%s", text)
	}
	counts, _ := split(t, l, "http://192.168.56.10/", 40)
	if counts["web1"] != 30 || counts["web2"] != 10 {
		t.Errorf("wrr 3:1 over 40 connections on untuned veths: %v, want web1 30, web2 10", counts)
	}
}

// Forced XDP on the same untuned veths: the redirects into veths whose
// peer has no NAPI are lost after the program returned, and counted as such
// (director_redirect_errors_total, verdict redirect_error), not as
// forwarded.
func TestForcedXDPOnUntunedVethsCountsLostRedirects(t *testing.T) {
	l := seedLabWith(t, lab.Options{KernelDefaults: true})
	socket := filepath.Join(t.TempDir(), "director.sock")
	d := startDirectorIn(t, l, lab.LB1, runConfig{Node: "forced-" + l.Prefix(), Socket: socket, W1: 3, W2: 1,
		Dataplane: "xdp"}.yaml(), socket)
	if st := d.MustStatus(); st.Dataplane != "xdp native" {
		t.Fatalf("forced xdp runs as %q", st.Dataplane)
	}
	c := l.HTTPClient(lab.Client, false)
	c.Timeout = 300 * time.Millisecond
	ok := 0
	for range 5 {
		if _, err := askKept(c, lab.VIP); err == nil {
			ok++
		}
	}
	lost := metricValue(t, d.metrics(), "director_redirect_errors_total", nil)
	st := d.MustStatus()
	t.Logf("forced xdp on untuned veths: %d of 5 requests answered; %v redirects lost; verdicts %v", ok, lost, st.Stats.Verdicts)
	if lost == 0 || st.Stats.Verdicts["redirect_error"] == 0 {
		t.Errorf("no lost redirect counted (metric %v, verdicts %v)", lost, st.Stats.Verdicts)
	}
	if ok == 5 {
		t.Errorf("every request was answered: the untuned lab does not show what auto avoids")
	}
}
