package health

// From verdicts to the services the data plane gets.

import (
	"github.com/director-lb/director/control/model"
)

// EffectiveServices returns the services as the data plane must see them
// given health (health[i] that of services[i], as in model.Config) and the
// checks' states (state as Monitor.State; nil = nothing checked): a
// down real server gets weight 0 if its check's OnFailure is "quiesce" (no
// new connections, existing ones continue) or is left out if it is
// "remove" (as if removed from the configuration: its flows are dropped).
// When no real server is left with a weight above 0 (none up but those
// configured with weight 0, or none at all) and the service has a sorry
// server, the sorry server is added last with weight 1. Real servers not
// checked (or not yet: a new server is up) keep their configured weight,
// and the order of real servers is kept; services is not modified.
func EffectiveServices(services []model.Service, health []model.ServiceHealth, state func(model.ServiceKey, model.RealKey) (State, bool)) []model.Service {
	if services == nil {
		return nil
	}
	out := make([]model.Service, len(services))
	for i, s := range services {
		var sh model.ServiceHealth
		if i < len(health) {
			sh = health[i]
		}
		e := s
		e.Reals = nil
		available := false
		for _, r := range s.Reals {
			k := r.Key()
			if state != nil {
				if st, ok := state(s.Key(), k); ok && !st.Up {
					c, ok := sh.PerReal[k]
					if !ok {
						c = sh.Default
					}
					if c.OnFailure == "remove" {
						continue
					}
					r.Weight = 0
				}
			}
			available = available || r.Weight > 0
			e.Reals = append(e.Reals, r)
		}
		if !available && sh.Sorry != nil {
			sorry := *sh.Sorry
			sorry.Weight = 1
			e.Reals = append(e.Reals, sorry)
		}
		if e.Reals == nil && s.Reals != nil {
			e.Reals = []model.RealServer{}
		}
		out[i] = e
	}
	return out
}
