package daemon

// Reload against a fake data plane: what it applies, and what it refuses
// (a change only a restart can apply, an invalid file) leaving the
// running configuration in force.

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/director-lb/director/control/config"
	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/health"
	"github.com/director-lb/director/control/model"
)

// fakePlane records what the daemon applies.
type fakePlane struct {
	dataplane.Observer
	applied  [][]model.Service
	timeouts []model.Timeouts
}

func (f *fakePlane) Apply(s []model.Service) error { f.applied = append(f.applied, s); return nil }
func (f *fakePlane) SetTimeouts(t model.Timeouts) error {
	f.timeouts = append(f.timeouts, t)
	return nil
}
func (f *fakePlane) Mode() string    { return "fake" }
func (f *fakePlane) Describe() []any { return nil }
func (f *fakePlane) Remove() error   { return nil }
func (f *fakePlane) Close() error    { return nil }

const reloadBase = `node: lb1
interfaces: {public: enp0s3, internal: enp0s8}
dataplane: ipvs
ipvs: {sync_id: 1}
services:
  - vip: 192.168.56.10
    port: 80
    health_check: {type: none}
    real_servers:
      - {address: 192.168.200.11, weight: 3}
`

// reloadDaemon returns a daemon running reloadBase from a file, and the
// file.
func reloadDaemon(t *testing.T) (*Daemon, *fakePlane, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "director.yaml")
	if err := os.WriteFile(path, []byte(reloadBase), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePlane{}
	d := &Daemon{opts: Options{ConfigPath: path}, log: slog.New(slog.DiscardHandler), cfg: cfg, plane: p,
		health: health.NewMonitor(nil, nil)}
	t.Cleanup(d.health.Close)
	return d, p, path
}

func TestReloadAppliesWeights(t *testing.T) {
	d, p, path := reloadDaemon(t)
	if err := os.WriteFile(path, []byte(strings.Replace(reloadBase, "weight: 3", "weight: 1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(p.applied) != 1 || p.applied[0][0].Reals[0].Weight != 1 {
		t.Errorf("applied %+v, want the new weight 1", p.applied)
	}
	if d.cfg.Services[0].Reals[0].Weight != 1 {
		t.Errorf("running configuration %+v, want the new one", d.cfg.Services)
	}
}

func TestReloadRefuses(t *testing.T) {
	for _, c := range []struct {
		name, from, to, want string
		restart              bool
	}{
		{"ipvs section", "ipvs: {sync_id: 1}", "ipvs: {sync_id: 2}", "changing [ipvs] needs a restart", true},
		{"node", "node: lb1", "node: lb2", "changing [node control_socket] needs a restart", true},
		{"data plane", "dataplane: ipvs", "dataplane: auto", "changing [dataplane] needs a restart", true},
		{"invalid file", "port: 80", "port: 0", "port: 0 is outside 1..65535", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, p, path := reloadDaemon(t)
			before := d.cfg
			if err := os.WriteFile(path, []byte(strings.Replace(reloadBase, c.from, c.to, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			err := d.Reload()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			if errors.Is(err, ErrRestartNeeded) != c.restart {
				t.Errorf("errors.Is(%v, ErrRestartNeeded) = %v", err, !c.restart)
			}
			var ce *config.Error
			if errors.As(err, &ce) == c.restart {
				t.Errorf("%v: a *config.Error only for an invalid file", err)
			}
			if d.cfg != before || len(p.applied) != 0 || len(p.timeouts) != 0 {
				t.Errorf("refused reload changed something: config replaced %v, applied %v, timeouts %v",
					d.cfg != before, p.applied, p.timeouts)
			}
		})
	}
}

// TestReloadOutcomeReported: a refused reload shows as not successful
// with the time of the last success kept; the next good one clears it.
func TestReloadOutcomeReported(t *testing.T) {
	d, _, path := reloadDaemon(t)
	if err := os.WriteFile(path, []byte(strings.Replace(reloadBase, "port: 80", "port: 0", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err == nil {
		t.Fatal("invalid file accepted")
	}
	f := d.facts()
	if f.Reload.Successful || !strings.Contains(f.Reload.Error, "port: 0") || !f.Reload.LastSuccess.IsZero() {
		t.Fatalf("after a refused reload: %+v", f.Reload)
	}
	if err := os.WriteFile(path, []byte(reloadBase), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if f := d.facts(); !f.Reload.Successful || f.Reload.Error != "" || f.Reload.LastSuccess.IsZero() {
		t.Fatalf("after a good reload: %+v", f.Reload)
	}
}
