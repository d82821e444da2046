package metrics

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
)

func pageStatus() model.Status {
	vip := netip.MustParseAddr("192.168.56.10")
	return model.Status{Node: "lb1", Version: "v1", Dataplane: "xdp native",
		DataplaneFallbacks: []model.DataplaneFallback{{Interface: "eth0", Mode: "xdp native", Reason: `<script>alert("x")</script>`}},
		Reload:             model.ReloadStatus{Successful: true},
		Stats:              model.DataplaneStats{FlowEntries: 50, FlowCapacity: 200},
		HA: &model.HAStatus{State: "active", Owner: "lb1",
			Peers:     []model.HAPeer{{Name: "lb2", Alive: false, LastHeard: 3 * time.Second}},
			Addresses: []model.HAAddressHeld{{Address: netip.MustParsePrefix("192.168.56.10/24"), Interface: "enp0s3", Held: true}},
			Groups: []model.HAGroupStatus{
				{Name: "web", Owner: "lb1", State: "active",
					Addresses: []model.HAAddressHeld{{Address: netip.MustParsePrefix("192.168.56.10/24"), Interface: "enp0s3", Held: true}}},
				{Name: "mail", Owner: "lb2", State: "standby",
					Addresses: []model.HAAddressHeld{{Address: netip.MustParsePrefix("192.168.56.20/24"), Interface: "enp0s3"}}}},
			Sync: &model.SyncStatus{Role: "sending", Ready: true}},
		Services: []model.ServiceStatus{{ServiceKey: model.ServiceKey{VIP: vip, Port: 80, Proto: model.TCP}, Scheduler: "wrr",
			Reals: []model.RealStatus{
				{RealServer: model.RealServer{Addr: netip.MustParseAddr("192.168.200.11"), Port: 80, Weight: 0},
					ConfiguredWeight: 3, Health: "down", HealthResult: "failure: timeout"},
				{RealServer: model.RealServer{Addr: netip.MustParseAddr("192.168.200.12"), Port: 80, Weight: 1},
					ConfiguredWeight: 1, Health: "up", ActiveConns: 7, InactiveConns: 2},
			}}},
	}
}

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// TestStatusPageShowsEverything: the page names the node, data plane,
// fallbacks, flow-table fill, HA state, peer, sync, and each real server
// with its weight, health and connections; its names are escaped; it
// refreshes itself and loads nothing from elsewhere.
func TestStatusPageShowsEverything(t *testing.T) {
	st := pageStatus()
	hist := NewHistory(10)
	t0 := time.Unix(1000, 0)
	for i := range 4 {
		s := pageStatus().Services
		s[0].Reals[1].Connections = uint64(10 * i) // 5 new connections/s at a 2 s pace
		hist.Add(t0.Add(time.Duration(i)*2*time.Second), s)
	}
	rec := get(t, StatusPage(func() model.Status { return st }, hist), "GET", "/")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<meta http-equiv="refresh" content="2">`,
		`director lb1`, `<span id="dataplane-mode">xdp native</span>`,
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`,
		`<span id="flowtable-fill">25.0 %</span>`,
		`<span id="ha-state" class="up">active</span>`,
		`<b>Group web (owner lb1)</b>`, `<b>Group mail (owner lb2)</b><span class="sub">standby</span>`,
		`192.168.56.20/24 on enp0s3: released`,
		`data-peer="lb2" data-alive="false"`, `<span class="down">dead</span>`,
		`id="sync" data-ready="true"`,
		`data-service="TCP 192.168.56.10:80"`,
		`data-real="192.168.200.11:80" data-health="down"`, `<td class="weight">0 <span class="sub">(of 3)</span></td>`,
		`data-real="192.168.200.12:80" data-health="up"`, `<td class="active">7</td><td class="inactive">2</td>`,
		`<td class="rate">5.0</td>`, `<polyline points="0.0,1.0 60.0,1.0 120.0,1.0"/>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script") {
		t.Error("page contains a script element")
	}
	for _, ext := range []string{`src="http`, `href="http`, `@import`, `url(`} {
		if strings.Contains(body, ext) {
			t.Errorf("page loads something from elsewhere: %s", ext)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

// TestStatusPageReadOnly: only GET and HEAD of / are served.
func TestStatusPageReadOnly(t *testing.T) {
	h := StatusPage(pageStatus, nil)
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if rec := get(t, h, m, "/"); rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s /: %d, want 405", m, rec.Code)
		}
	}
	if rec := get(t, h, "GET", "/other"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /other: %d, want 404", rec.Code)
	}
	if rec := get(t, h, "HEAD", "/"); rec.Code != 200 {
		t.Errorf("HEAD /: %d", rec.Code)
	}
}

// TestHistoryRates: rates between samples, a counter reset read as 0, a
// new series starting with its first sample, and the length bound.
func TestHistoryRates(t *testing.T) {
	h := NewHistory(3)
	key := model.ServiceKey{VIP: netip.MustParseAddr("10.0.0.1"), Port: 80, Proto: model.TCP}
	t0 := time.Unix(0, 0)
	for i, conns := range []uint64{0, 10, 30, 5} {
		h.Add(t0.Add(time.Duration(i)*2*time.Second), []model.ServiceStatus{{ServiceKey: key, Counters: model.Counters{Connections: conns}}})
	}
	got := h.Service(key).Conns
	if len(got) != 2 || got[0] != 10 || got[1] != 0 {
		t.Errorf("rates %v, want [10 0] (last 3 samples: 10, 30, 5 with a reset)", got)
	}
	other := model.ServiceKey{VIP: netip.MustParseAddr("10.0.0.2"), Port: 80, Proto: model.TCP}
	h.Add(t0.Add(8*time.Second), []model.ServiceStatus{{ServiceKey: other}})
	if r := h.Service(other).Conns; len(r) != 0 {
		t.Errorf("new series: rates %v, want none from one sample", r)
	}
	if r := h.Service(key).Conns; len(r) != 0 {
		t.Errorf("removed series still has rates %v", r)
	}
}
