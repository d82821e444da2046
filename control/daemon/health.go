package daemon

// Health checks inside the daemon: the checker's verdicts turn the
// configured services into the effective ones the data plane gets, and
// annotate status and metrics. The checker calls back from its own
// goroutines; the callback only kicks the daemon's loop, which re-applies
// under the daemon's lock, so a reload that reconfigures the checker never
// waits on a callback that waits on the reload.

import (
	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/health"
	"github.com/director-lb/director/control/model"
)

// kickHealth asks the daemon's loop to re-apply the effective services.
func (d *Daemon) kickHealth() {
	d.healthGen.Add(1)
	select {
	case d.healthKick <- struct{}{}:
	default: // a re-apply is already pending
	}
}

// effective returns cfg's services as health makes them. Call with d.mu held.
func (d *Daemon) effective(cfg *model.Config) []model.Service {
	return health.EffectiveServices(cfg.Services, cfg.Health, d.health.State)
}

// applyHealth re-applies the effective services after a health change.
func (d *Daemon) applyHealth() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed {
		return
	}
	gen := d.healthGen.Load()
	if err := d.plane.Apply(d.effective(d.cfg)); err != nil {
		d.log.Error("apply health change", "error", err)
		return
	}
	d.appliedGen = gen
}

// healthyReals counts the real servers the data plane may send new
// connections to with verdicts it has applied: those whose check has
// ended at least once with the server up, and those without a check. A
// verdict not applied yet (a change the loop has still to re-apply) makes
// it answer ok false: the heartbeat keeps the previous count, so that a
// node never says it can serve before its data plane can. This is the
// Healthy of the heartbeat's Score: a returning node does not take the
// group while its checks still read the servers down, or have not run.
func (d *Daemon) healthyReals() (n int, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed || d.appliedGen != d.healthGen.Load() {
		return 0, false
	}
	for _, s := range d.cfg.Services {
		for _, r := range s.Reals {
			st, checked := d.health.State(s.Key(), r.Key())
			if r.Weight > 0 && (!checked || st.Checked && st.Up) {
				n++
			}
		}
	}
	return n, true
}

// observer is the data plane as status and metrics show it: the
// BPF counters, plus each real server's configured weight and health, and
// the real servers that a failed check removed from the data plane.
type observer struct{ d *Daemon }

func (o observer) Flows() ([]model.Flow, error) { return o.d.plane.Flows() }

func (o observer) Stats() (model.DataplaneStats, error) { return o.d.plane.Stats() }

func (o observer) Status() ([]model.ServiceStatus, error) {
	d := o.d
	st, err := d.plane.Status()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	byKey := map[model.ServiceKey]int{}
	for i := range st {
		byKey[st[i].ServiceKey] = i
	}
	for _, s := range cfg.Services {
		i, ok := byKey[s.Key()]
		if !ok {
			continue
		}
		svc := &st[i]
		have := map[model.RealKey]int{}
		for j, r := range svc.Reals {
			have[r.Key()] = j
		}
		for _, r := range s.Reals {
			k := r.Key()
			j, ok := have[k]
			if !ok {
				// Left out of the data plane by a failed check (on_failure: remove).
				svc.Reals = append(svc.Reals, model.RealStatus{RealServer: model.RealServer{Addr: r.Addr, Port: r.Port}})
				j = len(svc.Reals) - 1
			}
			rs := &svc.Reals[j]
			rs.ConfiguredWeight = r.Weight
			if hs, ok := d.health.State(s.Key(), k); ok {
				rs.Health = "down"
				if hs.Up {
					rs.Health = "up"
				}
				rs.HealthResult = hs.LastResult
				rs.HealthSince = hs.Since
				rs.CheckDuration = hs.LastDuration
				rs.Checks = model.CheckCounts{Success: hs.Successes, Failure: hs.Failures, Timeout: hs.Timeouts}
			}
		}
	}
	return st, nil
}

var _ dataplane.Observer = observer{}
