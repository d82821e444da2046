package metrics

// Unit tests of the Prometheus collector against a fake Observer: values
// and labels, reading at scrape time, Observer errors, and the metric
// naming lint.

import (
	"errors"
	"io"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/director-lb/director/control/model"
)

// fakeObserver is an Observer whose answers the test sets.
type fakeObserver struct {
	mu        sync.Mutex
	services  []model.ServiceStatus
	stats     model.DataplaneStats
	statusErr error
	statsErr  error
	reads     int // Status calls
}

func (f *fakeObserver) Status() ([]model.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.statusErr != nil {
		return nil, f.statusErr
	}
	return f.services, nil
}

func (f *fakeObserver) Flows() ([]model.Flow, error) { return nil, nil }

func (f *fakeObserver) Stats() (model.DataplaneStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statsErr != nil {
		return model.DataplaneStats{}, f.statsErr
	}
	return f.stats, nil
}

// set changes the fake's state under its lock.
func (f *fakeObserver) set(change func(*fakeObserver)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func newFakeObserver() *fakeObserver {
	a := netip.MustParseAddr
	return &fakeObserver{
		services: []model.ServiceStatus{
			{
				ServiceKey: model.ServiceKey{VIP: a("192.168.56.10"), Port: 80, Proto: model.TCP},
				Scheduler:  "wrr",
				Counters:   model.Counters{PacketsIn: 1000, BytesIn: 64000, PacketsOut: 900, BytesOut: 1200000, Connections: 50},
				Reals: []model.RealStatus{
					{
						RealServer:  model.RealServer{Addr: a("192.168.200.11"), Port: 80, Weight: 3},
						Counters:    model.Counters{PacketsIn: 700, BytesIn: 44800, PacketsOut: 600, BytesOut: 800000, Connections: 37},
						ActiveConns: 5, InactiveConns: 2,
					},
					{
						RealServer:  model.RealServer{Addr: a("192.168.200.12"), Port: 8080, Weight: 1},
						Counters:    model.Counters{PacketsIn: 300, BytesIn: 19200, PacketsOut: 300, BytesOut: 400000, Connections: 13},
						ActiveConns: 1, InactiveConns: 0,
					},
				},
			},
			{
				ServiceKey: model.ServiceKey{VIP: a("192.168.56.10"), Port: 53, Proto: model.UDP},
				Scheduler:  "rr",
				Counters:   model.Counters{PacketsIn: 20, BytesIn: 1400, PacketsOut: 20, BytesOut: 3000, Connections: 10},
				Reals: []model.RealStatus{
					{
						RealServer:    model.RealServer{Addr: a("192.168.200.11"), Port: 53, Weight: 0},
						Counters:      model.Counters{PacketsIn: 20, BytesIn: 1400, PacketsOut: 20, BytesOut: 3000, Connections: 10},
						InactiveConns: 4,
					},
				},
			},
		},
		stats: model.DataplaneStats{
			Mode:                "xdp native",
			Packets:             map[string]uint64{"to_real": 1020, "from_real": 920, "not_vip": 77, "no_real": 3},
			Verdicts:            map[string]uint64{"forward": 1940, "pass": 77, "drop": 3},
			Drops:               map[string]uint64{"no_real": 3},
			FlowEntries:         24,
			FlowCapacity:        327680,
			FlowEntriesByState:  map[string]int{"established": 20, "half_open": 4},
			FlowCapacityByState: map[string]int{"established": 262144, "half_open": 65536},
			FlowEvictions:       7,
			FlowRefused:         1,
			RedirectErrors:      2,
		},
	}
}

func testInfo() model.Status {
	return model.Status{Node: "lb1", Dataplane: "xdp native", Version: "v0.1.0"}
}

const wantBackend = `
# HELP director_backend_connections_active Established TCP connections to the real server (ipvsadm's ActiveConn).
# TYPE director_backend_connections_active gauge
director_backend_connections_active{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 0
director_backend_connections_active{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 5
director_backend_connections_active{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 1
# HELP director_backend_connections_inactive Tracked connections to the real server that are not established TCP: SYN, FIN and UDP flows (ipvsadm's InActConn).
# TYPE director_backend_connections_inactive gauge
director_backend_connections_inactive{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 4
director_backend_connections_inactive{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 2
director_backend_connections_inactive{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 0
# HELP director_backend_weight Configured weight of the real server; 0 means quiesced (no new connections).
# TYPE director_backend_weight gauge
director_backend_weight{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 0
director_backend_weight{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 3
director_backend_weight{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 1
# HELP director_backend_connections_total New connections scheduled to the real server.
# TYPE director_backend_connections_total counter
director_backend_connections_total{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 10
director_backend_connections_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 37
director_backend_connections_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 13
# HELP director_backend_incoming_packets_total Packets forwarded from clients to the real server.
# TYPE director_backend_incoming_packets_total counter
director_backend_incoming_packets_total{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 20
director_backend_incoming_packets_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 700
director_backend_incoming_packets_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 300
# HELP director_backend_outgoing_packets_total Reply packets forwarded from the real server to clients.
# TYPE director_backend_outgoing_packets_total counter
director_backend_outgoing_packets_total{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 20
director_backend_outgoing_packets_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 600
director_backend_outgoing_packets_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 300
# HELP director_backend_incoming_bytes_total Bytes of packets forwarded from clients to the real server.
# TYPE director_backend_incoming_bytes_total counter
director_backend_incoming_bytes_total{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 1400
director_backend_incoming_bytes_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 44800
director_backend_incoming_bytes_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 19200
# HELP director_backend_outgoing_bytes_total Bytes of reply packets forwarded from the real server to clients.
# TYPE director_backend_outgoing_bytes_total counter
director_backend_outgoing_bytes_total{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 3000
director_backend_outgoing_bytes_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 800000
director_backend_outgoing_bytes_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 400000
`

const wantService = `
# HELP director_service_connections_total New connections scheduled by the virtual service, over all its real servers, including removed ones.
# TYPE director_service_connections_total counter
director_service_connections_total{local_address="192.168.56.10",local_port="53",proto="UDP"} 10
director_service_connections_total{local_address="192.168.56.10",local_port="80",proto="TCP"} 50
# HELP director_service_incoming_packets_total Packets forwarded from clients to the virtual service's real servers.
# TYPE director_service_incoming_packets_total counter
director_service_incoming_packets_total{local_address="192.168.56.10",local_port="53",proto="UDP"} 20
director_service_incoming_packets_total{local_address="192.168.56.10",local_port="80",proto="TCP"} 1000
# HELP director_service_outgoing_packets_total Reply packets forwarded from the virtual service's real servers to clients.
# TYPE director_service_outgoing_packets_total counter
director_service_outgoing_packets_total{local_address="192.168.56.10",local_port="53",proto="UDP"} 20
director_service_outgoing_packets_total{local_address="192.168.56.10",local_port="80",proto="TCP"} 900
# HELP director_service_incoming_bytes_total Bytes of packets forwarded from clients to the virtual service's real servers.
# TYPE director_service_incoming_bytes_total counter
director_service_incoming_bytes_total{local_address="192.168.56.10",local_port="53",proto="UDP"} 1400
director_service_incoming_bytes_total{local_address="192.168.56.10",local_port="80",proto="TCP"} 64000
# HELP director_service_outgoing_bytes_total Bytes of reply packets forwarded from the virtual service's real servers to clients.
# TYPE director_service_outgoing_bytes_total counter
director_service_outgoing_bytes_total{local_address="192.168.56.10",local_port="53",proto="UDP"} 3000
director_service_outgoing_bytes_total{local_address="192.168.56.10",local_port="80",proto="TCP"} 1.2e+06
`

const wantDataplane = `
# HELP director_packets_total Packets seen by the data plane, by the path they took through its packet rules.
# TYPE director_packets_total counter
director_packets_total{path="from_real"} 920
director_packets_total{path="no_real"} 3
director_packets_total{path="not_vip"} 77
director_packets_total{path="to_real"} 1020
# HELP director_verdict_packets_total Packets seen by the data plane, by verdict (pass to the kernel, drop, forward).
# TYPE director_verdict_packets_total counter
director_verdict_packets_total{verdict="drop"} 3
director_verdict_packets_total{verdict="forward"} 1940
director_verdict_packets_total{verdict="pass"} 77
# HELP director_drops_total Packets dropped by the data plane, by reason (the path that dropped them).
# TYPE director_drops_total counter
director_drops_total{reason="no_real"} 3
# HELP director_flow_table_entries Entries in the data plane's flow table (two per tracked connection), by state: established, half_open (TCP handshake not completed, UDP without a reply; recycled first), or all where the data plane does not tell them apart.
# TYPE director_flow_table_entries gauge
director_flow_table_entries{state="established"} 20
director_flow_table_entries{state="half_open"} 4
# HELP director_flow_table_capacity Size of the data plane's flow table, in entries (established and half-open tables together).
# TYPE director_flow_table_capacity gauge
director_flow_table_capacity 327680
# HELP director_flow_table_evictions_total Half-open flow-table entries recycled to make room for new connections (a SYN flood shows here).
# TYPE director_flow_table_evictions_total counter
director_flow_table_evictions_total 7
# HELP director_flow_table_refused_total Connections refused because the established flow table was full when their handshake completed.
# TYPE director_flow_table_refused_total counter
director_flow_table_refused_total 1
# HELP director_redirect_errors_total Packets the XDP program redirected that the kernel dropped after it returned (not counted as forwarded).
# TYPE director_redirect_errors_total counter
director_redirect_errors_total 2
# HELP director_dataplane_info Always 1; the labels name the director's node and its data plane's mode.
# TYPE director_dataplane_info gauge
director_dataplane_info{mode="xdp native",node="lb1"} 1
`

func TestMetricsValues(t *testing.T) {
	c := NewCollector(newFakeObserver(), testInfo)
	// No metric names: every metric the collector gives is compared, so
	// an unexpected one fails too.
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantBackend+wantService+wantDataplane)); err != nil {
		t.Error(err)
	}
}

// TestMetricsReadAtScrape: a second scrape after the data plane's counters
// changed shows the new values, with nothing in between but the scrape.
func TestMetricsReadAtScrape(t *testing.T) {
	obs := newFakeObserver()
	c := NewCollector(obs, testInfo)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	const before = `
# HELP director_service_connections_total New connections scheduled by the virtual service, over all its real servers, including removed ones.
# TYPE director_service_connections_total counter
director_service_connections_total{local_address="192.168.56.10",local_port="53",proto="UDP"} 10
director_service_connections_total{local_address="192.168.56.10",local_port="80",proto="TCP"} 50
# HELP director_flow_table_entries Entries in the data plane's flow table (two per tracked connection), by state: established, half_open (TCP handshake not completed, UDP without a reply; recycled first), or all where the data plane does not tell them apart.
# TYPE director_flow_table_entries gauge
director_flow_table_entries{state="established"} 20
director_flow_table_entries{state="half_open"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(before),
		"director_service_connections_total", "director_flow_table_entries", "director_service_mh_table_size"); err != nil {
		t.Fatal(err)
	}

	obs.set(func(f *fakeObserver) {
		f.services[0].Persistence = model.Persistence{Timeout: 300 * time.Second, Netmask: model.HostNetmask}
		f.services[1].Scheduler, f.services[1].MHTableSize = model.SchedMH, 8191
		f.services[0].Reals[1].UpperThreshold, f.services[0].Reals[1].LowerThreshold = 100, 50
		f.services[0].Connections = 51
		f.services[0].Reals[1].Connections = 14
		f.services[0].Reals[1].ActiveConns = 2
		f.stats.FlowEntries = 26
		f.stats.FlowEntriesByState = map[string]int{"established": 22, "half_open": 4}
		f.stats.Packets = map[string]uint64{"to_real": 1021}
	})
	const after = `
# HELP director_service_connections_total New connections scheduled by the virtual service, over all its real servers, including removed ones.
# TYPE director_service_connections_total counter
director_service_connections_total{local_address="192.168.56.10",local_port="53",proto="UDP"} 10
director_service_connections_total{local_address="192.168.56.10",local_port="80",proto="TCP"} 51
# HELP director_backend_connections_total New connections scheduled to the real server.
# TYPE director_backend_connections_total counter
director_backend_connections_total{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 10
director_backend_connections_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 37
director_backend_connections_total{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 14
# HELP director_backend_connections_active Established TCP connections to the real server (ipvsadm's ActiveConn).
# TYPE director_backend_connections_active gauge
director_backend_connections_active{local_address="192.168.56.10",local_port="53",proto="UDP",remote_address="192.168.200.11",remote_port="53"} 0
director_backend_connections_active{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.11",remote_port="80"} 5
director_backend_connections_active{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 2
# HELP director_backend_upper_threshold Connections at which the real server stops taking new ones (ipvsadm -x; absent when not set).
# TYPE director_backend_upper_threshold gauge
director_backend_upper_threshold{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 100
# HELP director_backend_lower_threshold Connections below which an overloaded real server takes new ones again (ipvsadm -y; absent when not set).
# TYPE director_backend_lower_threshold gauge
director_backend_lower_threshold{local_address="192.168.56.10",local_port="80",proto="TCP",remote_address="192.168.200.12",remote_port="8080"} 50
# HELP director_service_persistence_timeout_seconds How long a client keeps its real server after its last connection (ipvsadm -p; absent when not persistent).
# TYPE director_service_persistence_timeout_seconds gauge
director_service_persistence_timeout_seconds{local_address="192.168.56.10",local_port="80",proto="TCP"} 300
# HELP director_service_mh_table_size Entries of the Maglev table of a service with scheduler mh (mh_table_size; absent for other schedulers).
# TYPE director_service_mh_table_size gauge
director_service_mh_table_size{local_address="192.168.56.10",local_port="53",proto="UDP"} 8191
# HELP director_flow_table_entries Entries in the data plane's flow table (two per tracked connection), by state: established, half_open (TCP handshake not completed, UDP without a reply; recycled first), or all where the data plane does not tell them apart.
# TYPE director_flow_table_entries gauge
director_flow_table_entries{state="established"} 22
director_flow_table_entries{state="half_open"} 4
# HELP director_packets_total Packets seen by the data plane, by the path they took through its packet rules.
# TYPE director_packets_total counter
director_packets_total{path="to_real"} 1021
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(after),
		"director_service_connections_total", "director_backend_connections_total",
		"director_backend_connections_active", "director_flow_table_entries",
		"director_packets_total", "director_backend_upper_threshold", "director_backend_lower_threshold",
		"director_service_persistence_timeout_seconds", "director_service_mh_table_size"); err != nil {
		t.Error(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.reads != 2 {
		t.Errorf("Observer.Status read %d times for 2 scrapes", obs.reads)
	}
}

// TestMetricsObserverError: a failing Observer gives an error in the
// scrape, not a panic, and the part that could be read is still there.
func TestMetricsObserverError(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fail       func(*fakeObserver)
		wantErr    string
		keep, lose string // a metric still there, one gone
	}{
		{
			name:    "status",
			fail:    func(f *fakeObserver) { f.statusErr = errors.New("services map: bad fd") },
			wantErr: "reading services from the data plane: services map: bad fd",
			keep:    "director_packets_total", lose: "director_backend_weight",
		},
		{
			name:    "stats",
			fail:    func(f *fakeObserver) { f.statsErr = errors.New("stats map: bad fd") },
			wantErr: "reading data plane counters: stats map: bad fd",
			keep:    "director_backend_weight", lose: "director_flow_table_entries",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := newFakeObserver()
			obs.set(tc.fail)
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(NewCollector(obs, testInfo))

			mfs, err := reg.Gather()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Gather error = %v, want one containing %q", err, tc.wantErr)
			}
			names := map[string]bool{}
			for _, mf := range mfs {
				names[mf.GetName()] = true
			}
			if !names[tc.keep] || !names["director_dataplane_info"] {
				t.Errorf("gathered %v: %s or director_dataplane_info missing", names, tc.keep)
			}
			if names[tc.lose] {
				t.Errorf("gathered %s although it could not be read", tc.lose)
			}

			// Through Handler the scrape succeeds with the rest.
			var log strings.Builder
			h := Handler(reg, logger{&log})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != 200 || !strings.Contains(string(body), tc.keep+"{") {
				t.Errorf("scrape: status %d, body without %s:\n%s", rec.Code, tc.keep, body)
			}
			if !strings.Contains(log.String(), tc.wantErr) {
				t.Errorf("scrape logged %q, want %q", log.String(), tc.wantErr)
			}
		})
	}

	// Both parts failing, and no info: still no panic.
	obs := &fakeObserver{statusErr: errors.New("a"), statsErr: errors.New("b")}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(obs, nil))
	if _, err := reg.Gather(); err == nil {
		t.Error("collecting a failing Observer: no error")
	}
}

// logger is a promhttp.Logger writing to a strings.Builder.
type logger struct{ b *strings.Builder }

func (l logger) Println(v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok {
			l.b.WriteString(err.Error())
		} else if s, ok := x.(string); ok {
			l.b.WriteString(s)
		}
	}
	l.b.WriteString("\n")
}

func TestMetricsLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewCollector(newFakeObserver(), testInfo))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	reg := NewRegistry(newFakeObserver(), testInfo, "v0.1.0")
	problems, err = testutil.GatherAndLint(reg, "director_build_info")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsRegistry(t *testing.T) {
	reg := NewRegistry(newFakeObserver(), testInfo, "v0.1.0")
	want := `
# HELP director_build_info Always 1; the labels name the director's version and the Go version it was built with.
# TYPE director_build_info gauge
director_build_info{goversion="` + runtime.Version() + `",version="v0.1.0"} 1
# HELP director_dataplane_info Always 1; the labels name the director's node and its data plane's mode.
# TYPE director_dataplane_info gauge
director_dataplane_info{mode="xdp native",node="lb1"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"director_build_info", "director_dataplane_info"); err != nil {
		t.Error(err)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "director_backend_weight"} {
		n, err := testutil.GatherAndCount(reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("registry has no %s", name)
		}
	}
}

// TestMetricsDataplaneFallbacks: the mode in use and one series per better
// mode that failed, with its reason; a mode auto passed over by rule (XDP on
// a veth) is no series.
func TestMetricsDataplaneFallbacks(t *testing.T) {
	c := NewCollector(newFakeObserver(), func() model.Status {
		return model.Status{Node: "lb1", Dataplane: "tc (clsact)", DataplaneFallbacks: []model.DataplaneFallback{
			{Interface: "eth0", Mode: "xdp native", Reason: "no driver support"},
			{Interface: "eth0", Mode: "tc (tcx)", Reason: "not supported (requires >= v6.6)"},
			{Interface: "veth0", Mode: "xdp native", Reason: "not chosen by auto: veth", NotChosen: true},
		}}
	})
	want := `
# HELP director_dataplane_info Always 1; the labels name the director's node and its data plane's mode.
# TYPE director_dataplane_info gauge
director_dataplane_info{mode="tc (clsact)",node="lb1"} 1
# HELP director_dataplane_fallback Always 1, one per better data plane that failed on an interface, with the reason (modes auto passes over by rule, such as XDP on a veth, are not counted).
# TYPE director_dataplane_fallback gauge
director_dataplane_fallback{interface="eth0",mode="tc (tcx)",node="lb1",reason="not supported (requires >= v6.6)"} 1
director_dataplane_fallback{interface="eth0",mode="xdp native",node="lb1",reason="no driver support"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "director_dataplane_info", "director_dataplane_fallback"); err != nil {
		t.Error(err)
	}
}

// TestMetricsReloadAndIPVSFallback: the last reload's outcome, and auto's
// fall back to IPVS as a fallback series of its own.
func TestMetricsReloadAndIPVSFallback(t *testing.T) {
	c := NewCollector(newFakeObserver(), func() model.Status {
		return model.Status{Node: "lb1", Dataplane: "ipvs", DataplaneReason: "no BPF: permission denied",
			Reload: model.ReloadStatus{Successful: false, Error: "bad", LastSuccess: time.Unix(1700000000, 500e6)}}
	})
	want := `
# HELP director_config_last_reload_successful 1 if the last configuration reload (or the start) applied the file, 0 if it was refused and the previous configuration runs.
# TYPE director_config_last_reload_successful gauge
director_config_last_reload_successful 0
# HELP director_config_last_reload_success_timestamp_seconds Unix time of the last configuration applied (the start or a successful reload).
# TYPE director_config_last_reload_success_timestamp_seconds gauge
director_config_last_reload_success_timestamp_seconds 1.7000000005e+09
# HELP director_dataplane_fallback Always 1, one per better data plane that failed on an interface, with the reason (modes auto passes over by rule, such as XDP on a veth, are not counted).
# TYPE director_dataplane_fallback gauge
director_dataplane_fallback{interface="",mode="bpf",node="lb1",reason="no BPF: permission denied"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "director_config_last_reload_successful",
		"director_config_last_reload_success_timestamp_seconds", "director_dataplane_fallback"); err != nil {
		t.Error(err)
	}
}

// TestMetricsFlowCount: the age and duration of the walk behind the
// connection counts, when the data plane walked its table.
func TestMetricsFlowCount(t *testing.T) {
	o := newFakeObserver()
	o.set(func(f *fakeObserver) {
		f.stats.FlowCountAge, f.stats.FlowCountDuration = 3*time.Second, 400*time.Millisecond
	})
	want := `
# HELP director_flow_table_count_age_seconds Age of the walk of the flow table behind the connection counts and director_flow_table_entries (large tables are walked in the background, see docs/monitoring.md).
# TYPE director_flow_table_count_age_seconds gauge
director_flow_table_count_age_seconds 3
# HELP director_flow_table_count_duration_seconds Duration of that walk of the flow table.
# TYPE director_flow_table_count_duration_seconds gauge
director_flow_table_count_duration_seconds 0.4
`
	if err := testutil.CollectAndCompare(NewCollector(o, nil), strings.NewReader(want),
		"director_flow_table_count_age_seconds", "director_flow_table_count_duration_seconds"); err != nil {
		t.Error(err)
	}
}
