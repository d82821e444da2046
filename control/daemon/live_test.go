package daemon

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/config"
	"github.com/director-lb/director/control/ipvsadm"
	"github.com/director-lb/director/control/model"
)

// TestLiveFile: the live table written after a change is what a restart
// reads in place of the file's services and timeouts, new services get
// the default check, and dropping it (reload, stop) leaves the file.
func TestLiveFile(t *testing.T) {
	dir := t.TempDir()
	cfg := &model.Config{Node: "lb1", ControlSocket: filepath.Join(dir, "lb1.sock"), Timeouts: model.DefaultTimeouts,
		Services: []model.Service{{VIP: netip.MustParseAddr("192.168.56.10"), Port: 80, Proto: model.TCP, Scheduler: "wrr"}},
		Health:   []model.ServiceHealth{{Default: model.HealthCheck{Type: "none"}}}}
	if got, ok, err := readLive(cfg); err != nil || ok || got != cfg {
		t.Fatalf("no live file: %v %v", ok, err)
	}
	live := *cfg
	live.Services = append(live.Services, model.Service{VIP: netip.MustParseAddr("192.168.56.10"), Port: 81,
		Proto: model.TCP, Scheduler: "rr", Reals: []model.RealServer{{Addr: netip.MustParseAddr("192.168.200.11"), Port: 80, Weight: 2}}})
	live.Timeouts.Established = 600 * time.Second
	if err := writeLive(&live); err != nil {
		t.Fatal(err)
	}
	got, ok, err := readLive(cfg)
	if err != nil || !ok {
		t.Fatalf("live file not read: %v %v", ok, err)
	}
	if len(got.Services) != 2 || got.Services[1].Reals[0].Weight != 2 || got.Timeouts.Established != 600*time.Second ||
		len(got.Health) != 2 || got.Health[0].Default.Type != "none" ||
		got.Health[1].PerReal[got.Services[1].Reals[0].Key()] != config.DefaultHealth(model.TCP) {
		t.Errorf("read back %+v", got)
	}
	if err := dropLive(cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := readLive(cfg); ok || err != nil {
		t.Errorf("after drop: %v %v", ok, err)
	}
	if err := dropLive(cfg); err != nil {
		t.Errorf("a second drop: %v", err)
	}
}

// TestLiveRefused: what ipvsadm and the kernel take but director cannot
// hold (flag-N without a name, a port-0 service), and the kernel's own
// refusal of a lower threshold above the upper one.
func TestLiveRefused(t *testing.T) {
	for _, c := range []struct {
		line, msg string
		code      int
	}{
		{"-A -t 192.168.56.10:80 -s rr -b flag-1", "scheduler flag flag-1 means nothing to rr in director (its flags are sh-fallback, sh-port, mh-fallback and mh-port)\n", 2},
		{"-A -t 192.168.56.10:0 -s rr -p 60", "director serves one port per service: a persistent service of port 0 (every port) is not implemented\n", 2},
		{"-a -t 192.168.56.10:80 -r 192.168.200.11 -m -y 5", "Numerical result out of range\n", 255},
		{"-e -t 192.168.56.10:80 -r 192.168.200.11 -m -x 3 -y 4", "Numerical result out of range\n", 255},
		{"-A -t 192.168.56.10:80 -s sh -b flag-1,flag-2 -p 60 -M 255.255.255.0", "", 0},
		{"-a -t 192.168.56.10:80 -r 192.168.200.11 -m -x 4 -y 4", "", 0},
	} {
		cmd, err := ipvsadm.Parse(append([]string{"ipvsadm"}, strings.Fields(c.line)...))
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		err = liveRefused(cmd)
		if c.code == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.line, err)
			}
			continue
		}
		if e, ok := err.(*ipvsadm.Error); !ok || e.Msg != c.msg || e.Code != c.code {
			t.Errorf("%s: %v, want exit %d %q", c.line, err, c.code, c.msg)
		}
	}
}
