package ipvsadm

// The rate estimator of IPVS (net/netfilter/ipvs/ip_vs_est.c), for
// --rate: every 2 s the counters' growth, scaled, is averaged into the
// previous estimate with a weight of 1/4; rates are read back rounded.
// The same fixed-point steps give the same figures as the kernel's.

import (
	"time"

	"github.com/director-lb/director/control/model"
)

// EstimatorInterval is how often Estimator.Update must be called.
const EstimatorInterval = 2 * time.Second

// Estimator estimates the rates of one service or real server.
type Estimator struct {
	started                            bool
	lastConns, lastInPkts, lastOutPkts uint64
	lastInBytes, lastOutBytes          uint64
	cps, inpps, outpps, inbps, outbps  int64 // scaled: <<10 for cps and pps, <<5 for bps
}

// Update folds in the counters read now, 2 s after the previous ones.
// The first call only records them.
func (e *Estimator) Update(c model.Counters) {
	if !e.started {
		e.started = true
		e.lastConns, e.lastInPkts, e.lastOutPkts = c.Connections, c.PacketsIn, c.PacketsOut
		e.lastInBytes, e.lastOutBytes = c.BytesIn, c.BytesOut
		return
	}
	// Over 2 s, <<9 is the per-second rate <<10; <<4 is <<5 for bytes.
	step := func(avg *int64, now uint64, last *uint64, shift uint) {
		rate := int64((now - *last) << shift)
		*last = now
		*avg += (rate - *avg) >> 2
	}
	step(&e.cps, c.Connections, &e.lastConns, 9)
	step(&e.inpps, c.PacketsIn, &e.lastInPkts, 9)
	step(&e.outpps, c.PacketsOut, &e.lastOutPkts, 9)
	step(&e.inbps, c.BytesIn, &e.lastInBytes, 4)
	step(&e.outbps, c.BytesOut, &e.lastOutBytes, 4)
}

// Rates reads the estimate as the kernel does (rounded).
func (e *Estimator) Rates() Rates {
	r := func(v int64, round int64, shift uint) uint64 {
		if v <= 0 {
			return 0
		}
		return uint64((v + round) >> shift)
	}
	return Rates{CPS: r(e.cps, 0x1FF, 10), InPPS: r(e.inpps, 0x1FF, 10), OutPPS: r(e.outpps, 0x1FF, 10),
		InBPS: r(e.inbps, 0xF, 5), OutBPS: r(e.outbps, 0xF, 5)}
}

// Estimators keeps an Estimator per service and real server of a status.
type Estimators struct {
	svc  map[model.ServiceKey]*Estimator
	real map[model.ServiceKey]map[model.RealKey]*Estimator
}

// Update folds in a status's counters; services and real servers no
// longer in it are forgotten, new ones start.
func (es *Estimators) Update(services []model.ServiceStatus) {
	svc := map[model.ServiceKey]*Estimator{}
	real := map[model.ServiceKey]map[model.RealKey]*Estimator{}
	for _, s := range services {
		e := es.svc[s.ServiceKey]
		if e == nil {
			e = &Estimator{}
		}
		e.Update(s.Counters)
		svc[s.ServiceKey] = e
		real[s.ServiceKey] = map[model.RealKey]*Estimator{}
		for _, r := range s.Reals {
			re := es.real[s.ServiceKey][r.Key()]
			if re == nil {
				re = &Estimator{}
			}
			re.Update(r.Counters)
			real[s.ServiceKey][r.Key()] = re
		}
	}
	es.svc, es.real = svc, real
}

// Reset restarts the estimates of a service and its real servers (ipvsadm
// -Z): the next Update only records the counters.
func (es *Estimators) Reset(k model.ServiceKey) {
	delete(es.svc, k)
	delete(es.real, k)
}

// Rates returns the current rates of every service and real server.
func (es *Estimators) Rates() []model.ServiceRates {
	var out []model.ServiceRates
	for k, e := range es.svc {
		sr := model.ServiceRates{ServiceKey: k, Rates: e.Rates()}
		for rk, re := range es.real[k] {
			sr.Reals = append(sr.Reals, model.RealRates{RealKey: rk, Rates: re.Rates()})
		}
		out = append(out, sr)
	}
	return out
}

// RatesTable indexes rates as a Table wants them.
func RatesTable(rates []model.ServiceRates) (map[model.ServiceKey]Rates, map[model.ServiceKey]map[model.RealKey]Rates) {
	svc := map[model.ServiceKey]Rates{}
	real := map[model.ServiceKey]map[model.RealKey]Rates{}
	for _, s := range rates {
		svc[s.ServiceKey] = s.Rates
		real[s.ServiceKey] = map[model.RealKey]Rates{}
		for _, r := range s.Reals {
			real[s.ServiceKey][r.RealKey] = r.Rates
		}
	}
	return svc, real
}
