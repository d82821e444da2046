package daemon

// What the daemon reports (status, the control API's backend) and how it
// stops.

import (
	"time"

	"github.com/director-lb/director/control/api"
	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/ipvsadm"
	"github.com/director-lb/director/control/model"
)

// facts is the part of Status that reads nothing from the data plane.
func (d *Daemon) facts() model.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return model.Status{Node: d.cfg.Node, Dataplane: d.plane.Mode(), DataplaneReason: d.fallback,
		DataplaneFallbacks: fallbacks(d.plane), Version: d.opts.Version, Reload: d.reload}
}

// Status gathers what `director status` shows.
func (d *Daemon) Status() model.Status {
	d.mu.Lock()
	cfg, reload := d.cfg, d.reload
	d.mu.Unlock()
	st := model.Status{Node: cfg.Node, Config: d.opts.ConfigPath, Dataplane: d.plane.Mode(), DataplaneReason: d.fallback,
		DataplaneFallbacks: fallbacks(d.plane), Version: d.opts.Version, Started: d.started,
		Uptime: time.Since(d.started).Round(time.Second), Reload: reload}
	for _, a := range attachments(d.plane) {
		a.Role = "internal"
		switch {
		case a.Name == cfg.Public && a.Name == cfg.Internal:
			a.Role = "public+internal"
		case a.Name == cfg.Public:
			a.Role = "public"
		}
		st.Interfaces = append(st.Interfaces, a)
	}
	if d.ha != nil {
		st.HA = d.ha.status()
	}
	var err error
	if st.Services, err = (observer{d}).Status(); err != nil {
		d.log.Error("read services", "error", err)
	}
	if st.Stats, err = d.plane.Stats(); err != nil {
		d.log.Error("read data plane counters", "error", err)
	}
	return st
}

// removeDataplane removes the data plane (the BPF program is detached and
// its pinned state deleted; IPVS services are deleted); the API handler
// then closes d.stop, which makes Run return.
func (d *Daemon) removeDataplane() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed {
		return nil
	}
	if d.ha != nil {
		// Hand the addresses to the peer at once, not after deadtime.
		if err := d.ha.handOver(); err != nil {
			d.log.Error("ha: hand over", "error", err)
		}
	}
	if err := d.plane.Remove(); err != nil {
		return err
	}
	d.removed = true
	// The table is gone, live changes with it: the next start serves the
	// file.
	if err := dropLive(d.cfg); err != nil {
		d.log.Warn("live changes: remove their copy", "error", err)
	}
	return nil
}

// fallbacks lists the better hooks p could not use, if it has hooks.
func fallbacks(p dataplane.Dataplane) []model.DataplaneFallback {
	if h, ok := p.(dataplane.Hooks); ok {
		return h.Fallbacks()
	}
	return nil
}

// attachments lists the interfaces p is attached to, if it has hooks.
func attachments(p dataplane.Dataplane) []model.InterfaceStatus {
	if h, ok := p.(dataplane.Hooks); ok {
		return h.Attachments()
	}
	return nil
}

// backend is the daemon as the control API serves it.
type backend struct{ d *Daemon }

var _ api.Backend = backend{}

func (b backend) Status() model.Status         { return b.d.Status() }
func (b backend) Flows() ([]model.Flow, error) { return b.d.plane.Flows() }

func (b backend) Live(c *ipvsadm.Command) error { return b.d.Live(c) }

// Services is the running table: the file's services with the live
// changes.
func (b backend) Services() ([]model.Service, model.Timeouts) {
	b.d.mu.Lock()
	defer b.d.mu.Unlock()
	return b.d.cfg.Services, b.d.cfg.Timeouts
}

// Rates are the estimator's latest rates.
func (b backend) Rates() []model.ServiceRates { return b.d.rates() }

// Zeroed are the counters at each service's last ipvsadm -Z.
func (b backend) Zeroed() []model.ServiceStatus { return b.d.baselines() }

func (b backend) Reload() error {
	err := b.d.reloadNotified()
	if err != nil {
		b.d.log.Error("reload rejected; the running configuration stays", "error", err)
	}
	return err
}

func (b backend) Stop() error {
	if b.d.ha != nil {
		// Hand the group over first, while this node still forwards:
		// the peer takes it (make before break), then the data plane goes.
		if err := b.d.ha.handOver(); err != nil {
			b.d.log.Error("ha: hand over before removing the data plane", "error", err)
		}
	}
	if err := b.d.removeDataplane(); err != nil {
		return err
	}
	b.d.log.Info("data plane removed by director stop")
	return nil
}

func (b backend) Stopped() { b.d.stopOnce.Do(func() { close(b.d.stop) }) }
