package daemon

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/director-lb/director/control/config"
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
