package config

// The scheduler keys of a service (scheduler_flags, persistence) and the
// thresholds of a real server: parsed values and every problem.

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
)

func TestConfigSchedulerKeys(t *testing.T) {
	cfg, err := Parse("s.yaml", []byte(configHead+`dataplane: ipvs
services:
  - vip: 192.168.56.10
    port: 80
    scheduler: sh
    scheduler_flags: [sh-port, sh-fallback, sh-port]
    persistence: {timeout: 600s, netmask: 255.255.255.0}
    real_servers:
      - {address: 192.168.200.11, upper_threshold: 100, lower_threshold: 50}
  - vip: 192.168.56.10
    port: 81
    persistence: {}
  - vip: 192.168.56.10
    port: 82
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services[0]
	if s.SchedFlags != "sh-port,sh-fallback" || !s.HasSchedFlag(model.SchedFlagSHFallback) || s.HasSchedFlag(model.SchedFlagMHPort) {
		t.Errorf("scheduler_flags: got %q", s.SchedFlags)
	}
	if want := (model.Persistence{Timeout: 600 * time.Second, Netmask: netip.MustParseAddr("255.255.255.0")}); s.Persistence != want {
		t.Errorf("persistence: got %+v, want %+v", s.Persistence, want)
	}
	if r := s.Reals[0]; r.UpperThreshold != 100 || r.LowerThreshold != 50 {
		t.Errorf("thresholds: got %d/%d", r.UpperThreshold, r.LowerThreshold)
	}
	if want := (model.Persistence{Timeout: model.DefaultPersistenceTimeout, Netmask: model.HostNetmask}); cfg.Services[1].Persistence != want {
		t.Errorf("persistence {}: got %+v, want %+v", cfg.Services[1].Persistence, want)
	}
	if want := (model.Persistence{}); cfg.Services[2].Persistence != want || cfg.Services[2].Persistent() {
		t.Errorf("no persistence: got %+v", cfg.Services[2].Persistence)
	}
}

func TestConfigSchedulerKeyProblems(t *testing.T) {
	_, err := Parse("bad.yaml", []byte(configHead+`dataplane: ipvs
services:
  - vip: 192.168.56.10
    port: 80
    scheduler: wlc
    scheduler_flags: [sh-port, fast]
    persistence: {timeout: 0s, netmask: 255.0.255.0}
    real_servers:
      - {address: 192.168.200.11, upper_threshold: 10, lower_threshold: 10}
      - {address: 192.168.200.12, upper_threshold: -1}
  - vip: 192.168.56.10
    port: 81
    scheduler_flags: sh-port
    persistence: 300
`))
	want := []string{
		`bad.yaml:8: scheduler_flags: sh-port is only for scheduler sh, got scheduler wlc`,
		`bad.yaml:8: scheduler_flags: want sh-fallback, sh-port, mh-fallback or mh-port, got "fast"`,
		`bad.yaml:9: persistence.timeout: 0s is outside 1s..576h`,
		`bad.yaml:9: persistence.netmask: want an IPv4 netmask ("255.255.255.0"), got "255.0.255.0"`,
		`bad.yaml:11: lower_threshold: 10 must be below upper_threshold (10)`,
		`bad.yaml:12: upper_threshold: -1 is outside 0..2147483647`,
		`bad.yaml:15: scheduler_flags: want a list, got "sh-port"`,
		`bad.yaml:16: persistence: want a mapping, got "300"`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestConfigMHTableSize(t *testing.T) {
	cfg, err := Parse("s.yaml", []byte(configHead+`services:
  - vip: 192.168.56.10
    port: 80
    scheduler: mh
    mh_table_size: 65521
  - vip: 192.168.56.10
    port: 81
    scheduler: mh
  - vip: 192.168.56.10
    port: 82
    scheduler: mh
    mh_table_size: 4093
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{65521, model.MHTableSize, model.MHTableSize} {
		if got := cfg.Services[i].MHSize(); got != want {
			t.Errorf("service %d: table size %d, want %d", i, got, want)
		}
	}
	// The IPVS data plane takes the kernel's own size, written or not.
	if _, err := Parse("s.yaml", []byte(configHead+`dataplane: ipvs
services:
  - {vip: 192.168.56.10, port: 80, scheduler: mh, mh_table_size: 4093}
`)); err != nil {
		t.Errorf("dataplane ipvs, the default size: %v", err)
	}
}

func TestConfigMHTableSizeProblems(t *testing.T) {
	for _, c := range []struct{ dataplane, want string }{
		{"tc", `bad.yaml:8: mh_table_size: 4000 is not one of IPVS's table sizes (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521 or 131071)
bad.yaml:11: mh_table_size: only for scheduler mh, got scheduler wlc
bad.yaml:16: mh_table_size: 262139 is outside 251..131071
bad.yaml:20: mh_table_size: want an integer 251-131071, got "big"`},
		{"ipvs", `bad.yaml:8: mh_table_size: 4000 is not one of IPVS's table sizes (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521 or 131071)
bad.yaml:11: mh_table_size: only for scheduler mh, got scheduler wlc
bad.yaml:16: mh_table_size: 262139 is outside 251..131071
bad.yaml:20: mh_table_size: want an integer 251-131071, got "big"
bad.yaml:24: mh_table_size: 8191 needs dataplane xdp, xdp-generic, tc or auto: kernel IPVS's table size is its compile option CONFIG_IP_VS_MH_TAB_INDEX (4093 by default, index 12)`},
	} {
		_, err := Parse("bad.yaml", []byte(configHead+`dataplane: `+c.dataplane+`
services:
  - vip: 192.168.56.10
    port: 80
    scheduler: mh
    mh_table_size: 4000
  - vip: 192.168.56.10
    port: 81
    mh_table_size: 8191
    scheduler: wlc
  - vip: 192.168.56.10
    port: 82
    scheduler: mh
    mh_table_size: 262139
  - vip: 192.168.56.10
    port: 83
    scheduler: mh
    mh_table_size: big
  - vip: 192.168.56.10
    port: 84
    scheduler: mh
    mh_table_size: 8191
`))
		if err == nil {
			t.Fatalf("dataplane %s: no error", c.dataplane)
		}
		if got := err.Error(); got != c.want {
			t.Errorf("dataplane %s: got\n%s\nwant\n%s", c.dataplane, got, c.want)
		}
	}
}
