package daemon

// Live changes: `director ipvsadm` commands applied to the running
// services at once, as ipvsadm changes the kernel's table. They are kept
// in <socket dir>/<node>.live.json, so that a restarted daemon serves the
// live table again; a reload replaces them with the file.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/director-lb/director/control/config"
	"github.com/director-lb/director/control/dataplane/ipvsplane"
	"github.com/director-lb/director/control/health"
	"github.com/director-lb/director/control/ipvsadm"
	"github.com/director-lb/director/control/model"
)

// liveTable is the file of live changes.
type liveTable struct {
	// ConfigModTime is the configuration file's when the table was
	// written: a file edited since (and a reload missed) wins.
	Services []model.Service       `json:"services"`
	Timeouts model.Timeouts        `json:"timeouts"`
	Health   []model.ServiceHealth `json:"-"`
}

func livePath(cfg *model.Config) string {
	return filepath.Join(filepath.Dir(cfg.ControlSocket), cfg.Node+".live.json")
}

// maxWeight is the largest weight of the configuration file.
const maxWeight = 65535

// Live applies one ipvsadm change command. A refused command (the
// kernel's errors, ipvsadm's messages) changes nothing.
func (d *Daemon) Live(c *ipvsadm.Command) error {
	if c.Cmd == ipvsadm.CmdZero {
		return d.zero(c)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	onIPVS := d.plane.Mode() == ipvsplane.ModeName
	if err := liveRefused(c); err != nil {
		return err
	}
	if c.Weight > maxWeight {
		return &ipvsadm.Error{Msg: fmt.Sprintf("illegal weight specified: director's weights are 0-%d\n", maxWeight), Code: 2}
	}
	known := func(name string) bool { _, ok := model.LookupScheduler(name); return ok }
	services, err := ipvsadm.Apply(d.cfg.Services, c, known)
	if err != nil {
		return err
	}
	if c.Cmd == ipvsadm.CmdAdd || c.Cmd == ipvsadm.CmdEdit {
		if sc, _ := model.LookupScheduler(c.Scheduler); !sc.BPF() && !onIPVS {
			return &ipvsadm.Error{Msg: fmt.Sprintf("scheduler %q needs dataplane: ipvs (the BPF data planes implement %s)\n",
				c.Scheduler, model.JoinNames(model.SchedulerNames(true), "and")), Code: 255}
		}
	}
	cfg := *d.cfg
	cfg.Services = services
	if c.Cmd == ipvsadm.CmdTimeout {
		for i, to := range []*time.Duration{&cfg.Timeouts.Established, &cfg.Timeouts.FIN, &cfg.Timeouts.UDP} {
			if c.Timeouts[i] > 0 {
				*to = time.Duration(c.Timeouts[i]) * time.Second
			}
		}
	}
	cfg.Health = liveHealth(d.cfg, services)
	if err := d.applyLive(&cfg); err != nil {
		return err
	}
	d.pruneZeroed(cfg.Services)
	if err := writeLive(&cfg); err != nil {
		d.log.Warn("live change applied but not saved: a restart will not keep it", "error", err)
	}
	d.log.Info("live change", "command", c.Cmd.String(), "services", len(cfg.Services))
	return nil
}

// liveRefused refuses what ipvsadm and the kernel take but director has
// no counterpart for (exit status 2, as ipvsadm's own refusals), and the
// kernel's own refusal of thresholds (a lower threshold above the upper
// one: ERANGE).
func liveRefused(c *ipvsadm.Command) error {
	switch c.Cmd {
	case ipvsadm.CmdAdd, ipvsadm.CmdEdit:
		if c.Service.Port == 0 && c.Fwmark == 0 {
			return &ipvsadm.Error{Msg: "director serves one port per service: a persistent service of port 0 (every port) is not implemented\n", Code: 2}
		}
		for f := range strings.SplitSeq(c.SchedFlags, ",") {
			if f != "" && model.SchedFlagOwner(f) == "" {
				return &ipvsadm.Error{Msg: fmt.Sprintf("scheduler flag %s means nothing to %s in director (its flags are %s)\n",
					f, c.Scheduler, model.JoinNames(model.SchedFlagNames(), "and")), Code: 2}
			}
		}
	case ipvsadm.CmdAddDest, ipvsadm.CmdEditDest:
		if c.LThreshold > c.UThreshold {
			return &ipvsadm.Error{Msg: "Numerical result out of range\n", Code: 255}
		}
	}
	return nil
}

// applyLive puts cfg's services and timeouts in force, or leaves the old
// ones. Call with d.mu held.
func (d *Daemon) applyLive(cfg *model.Config) error {
	old := d.cfg
	if cfg.Timeouts != old.Timeouts {
		if err := d.plane.SetTimeouts(cfg.Timeouts); err != nil {
			return &ipvsadm.Error{Msg: err.Error() + "\n", Code: 255}
		}
	}
	d.health.Set(health.Targets(cfg.Services, cfg.Health))
	if err := d.plane.Apply(d.effective(cfg)); err != nil {
		d.health.Set(health.Targets(old.Services, old.Health))
		if rerr := d.plane.Apply(d.effective(old)); rerr != nil {
			d.log.Error("live change failed and the previous services could not be restored", "error", rerr)
		}
		if rerr := d.plane.SetTimeouts(old.Timeouts); rerr != nil {
			d.log.Error("live change failed and the previous timeouts could not be restored", "error", rerr)
		}
		return &ipvsadm.Error{Msg: err.Error() + "\n", Code: 255}
	}
	d.cfg = cfg
	return nil
}

// liveHealth keeps the checks of services and real servers that stay;
// new ones get the defaults.
func liveHealth(old *model.Config, services []model.Service) []model.ServiceHealth {
	out := make([]model.ServiceHealth, len(services))
	for i, s := range services {
		j := slices.IndexFunc(old.Services, func(o model.Service) bool { return o.Key() == s.Key() })
		var h model.ServiceHealth
		if j >= 0 {
			h = old.Health[j]
		} else {
			h = model.ServiceHealth{Default: config.DefaultHealth(s.Proto)}
		}
		per := map[model.RealKey]model.HealthCheck{}
		for _, r := range s.Reals {
			if c, ok := h.PerReal[r.Key()]; ok {
				per[r.Key()] = c
			} else {
				per[r.Key()] = h.Default
			}
		}
		h.PerReal = per
		out[i] = h
	}
	return out
}

func writeLive(cfg *model.Config) error {
	data, err := json.Marshal(liveTable{Services: cfg.Services, Timeouts: cfg.Timeouts})
	if err != nil {
		return err
	}
	p := livePath(cfg)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// dropLive removes the live table (after a reload: the file wins).
func dropLive(cfg *model.Config) error {
	if err := os.Remove(livePath(cfg)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// readLive returns cfg with the live table of a previous run in place of
// its services and timeouts, if there is one; unchanged otherwise.
func readLive(cfg *model.Config) (*model.Config, bool, error) {
	data, err := os.ReadFile(livePath(cfg))
	if errors.Is(err, os.ErrNotExist) {
		return cfg, false, nil
	}
	if err != nil {
		return cfg, false, err
	}
	var t liveTable
	if err := json.Unmarshal(data, &t); err != nil {
		return cfg, false, fmt.Errorf("%s: %w", livePath(cfg), err)
	}
	for _, s := range t.Services {
		if s.VIP.Is6() || strings.TrimSpace(s.Scheduler) == "" {
			return cfg, false, fmt.Errorf("%s: a service %s without a scheduler", livePath(cfg), s.Key())
		}
	}
	out := *cfg
	out.Services, out.Timeouts = t.Services, t.Timeouts
	out.Health = liveHealth(cfg, t.Services)
	return &out, true, nil
}

// estimate runs IPVS's rate estimator over the data plane's counters
// every 2 s until ctx ends.
func (d *Daemon) estimate(ctx context.Context) {
	t := time.NewTicker(ipvsadm.EstimatorInterval)
	defer t.Stop()
	for {
		st, err := observer{d}.Status()
		if err == nil {
			d.estMu.Lock()
			d.est.Update(st)
			d.estMu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rates are the estimator's latest.
func (d *Daemon) rates() []model.ServiceRates {
	d.estMu.Lock()
	defer d.estMu.Unlock()
	return d.est.Rates()
}

// zero is ipvsadm -Z: the counters of every service (or of -t's) count
// again from zero in director ipvsadm's listings, and their rates restart.
// The data plane's counters, director status and the metrics (Prometheus
// counters never go back) are not reset.
func (d *Daemon) zero(c *ipvsadm.Command) error {
	st, err := observer{d}.Status()
	if err != nil {
		return &ipvsadm.Error{Msg: err.Error() + "\n", Code: 255}
	}
	one := c.Options&ipvsadm.OptService != 0
	found := false
	d.estMu.Lock()
	defer d.estMu.Unlock()
	if d.zeroed == nil {
		d.zeroed = map[model.ServiceKey]model.ServiceStatus{}
	}
	for _, s := range st {
		if one && s.ServiceKey != c.Service {
			continue
		}
		found = true
		d.zeroed[s.ServiceKey] = s
		d.est.Reset(s.ServiceKey)
	}
	if one && !found {
		return &ipvsadm.Error{Msg: "No such service\n", Code: 255}
	}
	return nil
}

// baselines are the counters at each service's last -Z.
func (d *Daemon) baselines() []model.ServiceStatus {
	d.estMu.Lock()
	defer d.estMu.Unlock()
	out := make([]model.ServiceStatus, 0, len(d.zeroed))
	for _, s := range d.zeroed {
		out = append(out, s)
	}
	return out
}

// pruneZeroed forgets the -Z baselines of services no longer served (a
// service added again counts from its own zero).
func (d *Daemon) pruneZeroed(services []model.Service) {
	d.estMu.Lock()
	defer d.estMu.Unlock()
	for k := range d.zeroed {
		if !slices.ContainsFunc(services, func(s model.Service) bool { return s.Key() == k }) {
			delete(d.zeroed, k)
		}
	}
}
