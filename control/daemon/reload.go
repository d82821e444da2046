package daemon

// Reloading: what may change while the daemon runs, and what needs a
// restart.

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/director-lb/director/control/config"
	"github.com/director-lb/director/control/health"
	"github.com/director-lb/director/control/model"
)

// interfaces lists the distinct interfaces of cfg, public first.
func interfaces(cfg *model.Config) []string {
	if cfg.Public == cfg.Internal {
		return []string{cfg.Public}
	}
	return []string{cfg.Public, cfg.Internal}
}

// Reload reads the configuration file again and applies it. An invalid
// file, or a change that only a restart can apply, is rejected and the
// running configuration stays in force. The outcome is kept for status
// and metrics (director_config_last_reload_successful).
func (d *Daemon) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.reloadLocked()
	if err != nil {
		d.reload.Successful, d.reload.Error = false, err.Error()
	} else {
		d.reload = model.ReloadStatus{Successful: true, LastSuccess: time.Now()}
	}
	return err
}

// reloadLocked is Reload with d.mu held.
func (d *Daemon) reloadLocked() error {
	cfg, err := config.Load(d.opts.ConfigPath)
	if err != nil {
		return err
	}
	old := d.cfg
	var fixed []string
	if cfg.Node != old.Node {
		fixed = append(fixed, "node")
	}
	if !slices.Equal(interfaces(cfg), interfaces(old)) {
		fixed = append(fixed, "interfaces")
	}
	if cfg.Dataplane != old.Dataplane || cfg.TCAttach != old.TCAttach {
		fixed = append(fixed, "dataplane")
	}
	// The IPVS data plane sets its sysctls and sync daemon at start.
	if cfg.IPVS != old.IPVS {
		fixed = append(fixed, "ipvs")
	}
	if cfg.FlowTableSize != old.FlowTableSize {
		fixed = append(fixed, "flow_table")
	}
	if cfg.ControlSocket != old.ControlSocket {
		fixed = append(fixed, "control_socket")
	}
	if cfg.MetricsListen != old.MetricsListen {
		fixed = append(fixed, "metrics")
	}
	if !sameHA(cfg.HA, old.HA) {
		fixed = append(fixed, "ha")
	}
	if len(fixed) > 0 {
		return fmt.Errorf("%s: changing %v %w of director run", d.opts.ConfigPath, fixed, ErrRestartNeeded)
	}
	if err := d.plane.SetTimeouts(cfg.Timeouts); err != nil {
		return err
	}
	// Checks of unchanged real servers keep their verdicts.
	d.health.Set(health.Targets(cfg.Services, cfg.Health))
	if err := d.plane.Apply(d.effective(cfg)); err != nil {
		// Put the data plane back as it was.
		d.health.Set(health.Targets(old.Services, old.Health))
		if rerr := d.plane.Apply(d.effective(old)); rerr != nil {
			d.log.Error("reload failed and the previous services could not be restored", "error", rerr)
		}
		if rerr := d.plane.SetTimeouts(old.Timeouts); rerr != nil {
			d.log.Error("reload failed and the previous timeouts could not be restored", "error", rerr)
		}
		return fmt.Errorf("%s: %w", d.opts.ConfigPath, err)
	}
	d.cfg = cfg
	d.pruneZeroed(cfg.Services)
	if err := dropLive(cfg); err != nil {
		d.log.Warn("live changes replaced by the file but their copy not removed", "error", err)
	}
	d.log.Info("configuration reloaded", "services", len(cfg.Services))
	return nil
}

// sameHA compares two ha sections, ignoring where they sit in the file.
func sameHA(a, b *model.HAConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Line, y.Line = 0, 0
	return reflect.DeepEqual(x, y)
}
