package api

// Golden tests of the human output of `director status` and `director
// conntrack`: exact strings, with ipvsadm's column widths.

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
)

// testStatus is a director with two services: tcp wrr with two real
// servers, udp rr with two.
func testStatus() model.Status {
	a := netip.MustParseAddr
	return model.Status{
		Node:      "lb1",
		Config:    "/etc/director/director.yaml",
		Dataplane: "xdp native",
		Interfaces: []model.InterfaceStatus{
			{Name: "enp0s3", Role: "public", Mode: "xdp native"},
			{Name: "enp0s8", Role: "internal", Mode: "xdp native"},
		},
		Version: "v0.1.0",
		Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Uptime:  time.Hour + 2*time.Minute + 3*time.Second + 400*time.Millisecond,
		Services: []model.ServiceStatus{
			{
				ServiceKey: model.ServiceKey{VIP: a("192.168.56.10"), Port: 80, Proto: model.TCP},
				Scheduler:  "wrr",
				Reals: []model.RealStatus{
					{RealServer: model.RealServer{Addr: a("192.168.200.11"), Port: 80, Weight: 3},
						ActiveConns: 12, InactiveConns: 345},
					{RealServer: model.RealServer{Addr: a("192.168.200.12"), Port: 8080, Weight: 1},
						ActiveConns: 4, InactiveConns: 0},
				},
			},
			{
				ServiceKey: model.ServiceKey{VIP: a("192.168.56.10"), Port: 53, Proto: model.UDP},
				Scheduler:  "rr",
				Reals: []model.RealStatus{
					{RealServer: model.RealServer{Addr: a("192.168.200.11"), Port: 53, Weight: 1},
						InactiveConns: 7},
					{RealServer: model.RealServer{Addr: a("192.168.200.12"), Port: 53, Weight: 0}},
				},
			},
		},
		Stats: model.DataplaneStats{Mode: "xdp native", FlowEntries: 12, FlowCapacity: 262144},
	}
}

func TestFormatStatus(t *testing.T) {
	want := `director lb1 (config /etc/director/director.yaml), version v0.1.0
data plane: xdp native (enp0s3 public, enp0s8 internal), up 1h2m3s
flows: 12 entries of 262144
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.56.10:80 wrr
  -> 192.168.200.11:80            Masq    3      12         345
  -> 192.168.200.12:8080          Masq    1      4          0
UDP  192.168.56.10:53 rr
  -> 192.168.200.11:53            Masq    1      0          7
  -> 192.168.200.12:53            Masq    0      0          0
`
	var b strings.Builder
	if err := WriteStatus(&b, testStatus()); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("WriteStatus:\n%s\nwant:\n%s", got, want)
	}
}

// TestFormatStatusSparse: a director without services, interfaces or
// known capacity, one interface in another mode, an unset version.
func TestFormatStatusSparse(t *testing.T) {
	s := model.Status{
		Node:      "lb2",
		Dataplane: "xdp native",
		Interfaces: []model.InterfaceStatus{
			{Name: "eth0", Role: "public+internal", Mode: "xdp generic"},
		},
		Uptime: 59*time.Second + 600*time.Millisecond,
	}
	want := `director lb2, version unknown
data plane: xdp native (eth0 public+internal: xdp generic), up 1m0s
flows: 0 entries
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
`
	var b strings.Builder
	if err := WriteStatus(&b, s); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("WriteStatus:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatFlows(t *testing.T) {
	ap := netip.MustParseAddrPort
	flows := []model.Flow{
		{Proto: model.TCP, Client: ap("192.168.56.100:40000"), VIP: ap("192.168.56.10:80"),
			Real: ap("192.168.200.11:80"), State: "ESTABLISHED", Expires: 14*time.Minute + 59*time.Second + 900*time.Millisecond},
		{Proto: model.TCP, Client: ap("10.0.0.1:1234"), VIP: ap("192.168.56.10:80"),
			Real: ap("192.168.200.12:8080"), State: "SYN", Expires: 5 * time.Second},
		{Proto: model.TCP, Client: ap("255.255.255.254:65535"), VIP: ap("192.168.56.10:80"),
			Real: ap("192.168.200.11:80"), State: "FIN", Expires: 0},
		{Proto: model.UDP, Client: ap("192.168.56.100:5353"), VIP: ap("192.168.56.10:53"),
			Real: ap("192.168.200.11:53"), State: "UDP", Expires: 5 * time.Minute},
		{Proto: model.TCP, Client: ap("[2001:db8::1]:40000"), VIP: ap("[2001:db8::10]:80"),
			Real: ap("[fd00::11]:80"), State: "ESTABLISHED", Expires: 2 * time.Hour},
		// A flow read just after it expired.
		{Proto: model.UDP, Client: ap("192.168.56.100:5354"), VIP: ap("192.168.56.10:53"),
			Real: ap("192.168.200.12:53"), State: "UDP", Expires: -time.Second},
	}
	want := `pro expire state       source                 virtual                destination
TCP 14:59  ESTABLISHED 192.168.56.100:40000   192.168.56.10:80       192.168.200.11:80
TCP 00:05  SYN         10.0.0.1:1234          192.168.56.10:80       192.168.200.12:8080
TCP 00:00  FIN         255.255.255.254:65535  192.168.56.10:80       192.168.200.11:80
UDP 05:00  UDP         192.168.56.100:5353    192.168.56.10:53       192.168.200.11:53
TCP 120:00 ESTABLISHED [2001:db8::1]:40000    [2001:db8::10]:80      [fd00::11]:80
UDP 00:00  UDP         192.168.56.100:5354    192.168.56.10:53       192.168.200.12:53
`
	var b strings.Builder
	if err := WriteFlows(&b, flows); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("WriteFlows:\n%s\nwant:\n%s", got, want)
	}

	b.Reset()
	if err := WriteFlows(&b, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "pro expire state       source                 virtual                destination\n"; got != want {
		t.Errorf("WriteFlows(nil) = %q, want %q", got, want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestFormatStatusWriteError(t *testing.T) {
	if err := WriteStatus(failWriter{}, testStatus()); err == nil {
		t.Error("WriteStatus to a failing writer: no error")
	}
	if err := WriteFlows(failWriter{}, nil); err == nil {
		t.Error("WriteFlows to a failing writer: no error")
	}
}

// TestFormatStatusFallbacks: the better data planes that could not be used
// are listed under the data plane line, with the kernel's reasons.
func TestFormatStatusFallbacks(t *testing.T) {
	s := model.Status{
		Node:       "lb1",
		Dataplane:  "tc (tcx)",
		Interfaces: []model.InterfaceStatus{{Name: "eth0", Role: "public+internal", Mode: "tc (tcx)"}},
		DataplaneFallbacks: []model.DataplaneFallback{
			{Interface: "eth0", Mode: "xdp native", Reason: "attach XDP to eth0: operation not supported"},
			{Interface: "eth0", Mode: "xdp generic", Reason: "attach XDP to eth0: device busy"},
		},
	}
	want := `director lb1, version unknown
data plane: tc (tcx) (eth0 public+internal), up 0s
  eth0: xdp native not used: attach XDP to eth0: operation not supported
  eth0: xdp generic not used: attach XDP to eth0: device busy
flows: 0 entries
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
`
	var b strings.Builder
	if err := WriteStatus(&b, s); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("WriteStatus:\n%s\nwant:\n%s", got, want)
	}
}

// TestFormatStatusFlowPressure: a BPF plane under a flood shows its entries
// by table, evictions and refusals, and lost redirects.
func TestFormatStatusFlowPressure(t *testing.T) {
	st := testStatus()
	st.Stats.FlowEntries, st.Stats.FlowCapacity = 1064, 2048
	st.Stats.FlowEntriesByState = map[string]int{"established": 40, "half_open": 1024}
	st.Stats.FlowCapacityByState = map[string]int{"established": 1024, "half_open": 1024}
	st.Stats.FlowEvictions, st.Stats.FlowRefused, st.Stats.RedirectErrors = 9169, 2, 7
	var b strings.Builder
	if err := WriteStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"flows: 1064 entries of 2048 (established 40 of 1024, half-open 1024 of 1024); 9169 half-open evicted, 2 refused\n",
		"redirect errors: 7 packets lost after the XDP program redirected them (see docs/dataplane-selection.md)\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("status lacks %q:\n%s", line, b.String())
		}
	}
}

// TestFormatStatusHA: the pair's lines with one group (as before groups
// existed) and with two (a line per group, its addresses under it).
func TestFormatStatusHA(t *testing.T) {
	held := func(p string, h bool) model.HAAddressHeld {
		return model.HAAddressHeld{Address: netip.MustParsePrefix(p), Interface: "enp0s3", Held: h}
	}
	peer := []model.HAPeer{{Name: "lb2", Alive: true, State: "standby", LastHeard: 20 * time.Millisecond}}
	web := model.HAGroupStatus{Name: "web", Owner: "lb1", State: "active", Transitions: 2, LastReason: "peer dead",
		Peers: peer, Addresses: []model.HAAddressHeld{held("192.168.56.10/24", true)}}
	api := model.HAGroupStatus{Name: "api", Owner: "lb2", State: "standby", Transitions: 1,
		Peers: peer, Addresses: []model.HAAddressHeld{held("192.168.56.20/24", false)}}
	for _, c := range []struct {
		name string
		ha   model.HAStatus
		want string
	}{
		{"one group", model.HAStatus{State: "active", Owner: "lb1", Transitions: 2, LastReason: "peer dead", Peers: peer,
			Addresses: web.Addresses, Groups: []model.HAGroupStatus{web}}, `ha: active (owner lb1), 2 transitions, last: peer dead
  peer lb2: alive, standby, heard 20ms ago
  address 192.168.56.10/24 on enp0s3: held
`},
		{"two groups", model.HAStatus{State: "active", Owner: "lb1", Peers: peer,
			Addresses: append(slices.Clone(web.Addresses), api.Addresses...), Groups: []model.HAGroupStatus{web, api}},
			`ha: web active, api standby
  group web: active (owner lb1), 2 transitions, last: peer dead
    address 192.168.56.10/24 on enp0s3: held
  group api: standby (owner lb2), 1 transitions
    address 192.168.56.20/24 on enp0s3: not held
  peer lb2: alive, standby, heard 20ms ago
`},
	} {
		s := model.Status{Node: "lb1", HA: &c.ha}
		var b strings.Builder
		if err := WriteStatus(&b, s); err != nil {
			t.Fatal(err)
		}
		got := b.String()
		if i := strings.Index(got, "ha: "); i < 0 || !strings.HasPrefix(got[i:], c.want) {
			t.Errorf("%s: WriteStatus:\n%s\nwant the lines:\n%s", c.name, got, c.want)
		}
	}
}
