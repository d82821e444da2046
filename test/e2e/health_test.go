package e2e

// End-to-end test of real-server health checks through `director run`:
// web1's HTTP server stops listening (its open connections live on, as
// when a server is stopped gracefully) and comes back; a wrong expected
// HTTP status marks a server down although TCP connects.

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/testenv"

	"github.com/director-lb/director/test/lab"
)

const (
	hcInterval = 200 * time.Millisecond
	hcRise     = 2
	hcFall     = 3
)

// healthConfig is the seed's service with fast TCP checks, and web2's
// check optionally replaced by an HTTP one expecting status want.
func healthConfig(node, socket string, web2Status int) string {
	web2 := "{address: 192.168.200.12, port: 80, weight: 1}"
	if web2Status != 0 {
		web2 = fmt.Sprintf("{address: 192.168.200.12, port: 80, weight: 1, health_check: {type: http, path: /, expect_status: %d}}", web2Status)
	}
	return configHead(node, socket) + fmt.Sprintf(`services:
  - vip: 192.168.56.10
    port: 80
    scheduler: wrr
    health_check: {type: tcp, interval: %s, timeout: 100ms, rise: %d, fall: %d}
    real_servers:
      - {address: 192.168.200.11, port: 80, weight: 3}
      - %s
metrics:
  listen: 127.0.0.1:9917
`, hcInterval, hcRise, hcFall, web2)
}

// stoppableServer is web1's HTTP server whose listener can be closed and
// reopened while its established connections go on being served.
type stoppableServer struct {
	l   *lab.Lab
	srv *http.Server
	ln  net.Listener
}

func (s *stoppableServer) start(t *testing.T) {
	t.Helper()
	ln, err := s.l.Listen(lab.Web1, "tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	go func() { _ = s.srv.Serve(ln) }() // returns when the listener or the server is closed
}

// stopListening closes the listener only: new connections are refused,
// open ones stay.
func (s *stoppableServer) stopListening() { _ = s.ln.Close() }

func TestHealthChecksTakeServersOutAndBack(t *testing.T) {
	testenv.RequirePrivileged(t)
	l, err := lab.New(lab.Options{Nodes: []string{lab.Client, lab.LB1, lab.Web1, lab.Web2}, FloatingOn: lab.LB1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	web1 := &stoppableServer{l: l, srv: &http.Server{Handler: lab.Handler(lab.Web1)}}
	web1.start(t)
	t.Cleanup(func() { _ = web1.srv.Close() })
	stop2, err := l.ServeHTTP(lab.Web2, ":80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop2)

	socket := filepath.Join(t.TempDir(), "director.sock")
	node := "hc-" + l.Prefix()
	d := startDirectorIn(t, l, lab.LB1, healthConfig(node, socket, 0), socket)

	counts, _ := split(t, l, "http://192.168.56.10/", 40)
	if counts["web1"] != 30 || counts["web2"] != 10 {
		t.Fatalf("with both up: %v, want 30/10", counts)
	}
	// An open connection to web1.
	ka := keepAlive{l.HTTPClient(lab.Client, true)}
	ka.c.Timeout = 5 * time.Second
	for ka.get(t) != "web1" {
		ka.c.CloseIdleConnections() // until the wrr order hands us web1
	}

	// web1 stops listening: within fall × interval (+ margin) it is
	// down, and from then on every new connection goes to web2, none fails.
	web1.stopListening()
	t0 := time.Now()
	waitHealth(t, d, "192.168.200.11", "down", hcFall*hcInterval+2*time.Second)
	t.Logf("web1 down %v after its listener closed (fall %d x interval %v)", time.Since(t0), hcFall, hcInterval)
	counts, _ = split(t, l, "http://192.168.56.10/", 20)
	if counts["web2"] != 20 {
		t.Errorf("with web1 down: %v, want every new connection on web2", counts)
	}
	for i := 0; i < 3; i++ {
		if who := ka.get(t); who != "web1" {
			t.Errorf("open connection to web1 moved to %s", who)
		}
	}
	st := d.MustStatus()
	if r := reals(st, 80)["192.168.200.11"]; r.Weight != 0 || r.ConfiguredWeight != 3 || r.Checks.Failure < hcFall {
		t.Errorf("status of web1 while down: weight %d (configured %d), checks %+v", r.Weight, r.ConfiguredWeight, r.Checks)
	}
	m := d.metricsIn(lab.LB1)
	if v := metricValue(t, m, "director_backend_up", map[string]string{"remote_address": "192.168.200.11"}); v != 0 {
		t.Errorf("director_backend_up for web1 = %v while down", v)
	}
	if out, _ := d.CLI("status"); !strings.Contains(out, "down") {
		t.Errorf("status does not show web1 down:\n%s", out)
	}

	// web1 listens again: after rise × interval the 3:1 split returns.
	web1.start(t)
	t1 := time.Now()
	waitHealth(t, d, "192.168.200.11", "up", hcRise*hcInterval+2*time.Second)
	t.Logf("web1 up %v after it listened again (rise %d x interval %v)", time.Since(t1), hcRise, hcInterval)
	counts, _ = split(t, l, "http://192.168.56.10/", 40)
	if counts["web1"] != 30 || counts["web2"] != 10 {
		t.Errorf("after web1 came back: %v, want 30/10", counts)
	}

	// An HTTP check expecting 204 marks web2 down although TCP connects.
	d.WriteConfig(healthConfig(node, socket, 204))
	if out, err := d.CLI("reload"); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	waitHealth(t, d, "192.168.200.12", "down", hcFall*hcInterval+2*time.Second)
	r := reals(d.MustStatus(), 80)["192.168.200.12"]
	if !strings.Contains(r.HealthResult, "200") {
		t.Errorf("web2's check result %q does not name the status it got", r.HealthResult)
	}
	counts, _ = split(t, l, "http://192.168.56.10/", 12)
	if counts["web1"] != 12 {
		t.Errorf("with web2 failing its HTTP check: %v, want all on web1", counts)
	}
}

// waitHealth polls status until real server addr of :80 has health want.
func waitHealth(t *testing.T, d *runningDirector, addr, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := d.Status()
		if err == nil && reals(st, 80)[addr].Health == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not %s within %v (status: %+v, %v)", addr, want, within, reals(st, 80)[addr], err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}
