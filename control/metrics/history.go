package metrics

// The status page's memory: the counters of every service and real
// server sampled at a fixed pace for the last minutes, from which the
// page draws rates and sparklines. The daemon feeds it (Add) from its own
// status; nothing is read from the data plane here.

import (
	"sync"
	"time"

	"github.com/director-lb/director/control/model"
)

// HistoryLen is how many samples a History keeps: five minutes at the
// daemon's pace of one every HistoryPace.
const (
	HistoryPace = 2 * time.Second
	HistoryLen  = 150
)

// History keeps the last HistoryLen samples of each service's and real
// server's counters. It is safe for concurrent use.
type History struct {
	mu     sync.Mutex
	maxLen int
	series map[string][]point // by key (see seriesKey), oldest first
}

// point is one sample of a series.
type point struct {
	t time.Time
	c model.Counters
}

// NewHistory returns an empty history of n samples (HistoryLen if n <= 0).
func NewHistory(n int) *History {
	if n <= 0 {
		n = HistoryLen
	}
	return &History{series: map[string][]point{}, maxLen: n}
}

// seriesKey names a service ("tcp 192.168.56.10:80") or one of its real
// servers ("tcp 192.168.56.10:80 > 192.168.200.11:80").
func seriesKey(s model.ServiceKey, r *model.RealKey) string {
	if r == nil {
		return s.String()
	}
	return s.String() + " > " + r.String()
}

// Add records the counters of services at t. Series that are not in
// services are dropped; new ones start with this sample.
func (h *History) Add(t time.Time, services []model.ServiceStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	put := func(k string, c model.Counters) {
		seen[k] = true
		s := append(h.series[k], point{t, c})
		if len(s) > h.maxLen {
			s = s[len(s)-h.maxLen:]
		}
		h.series[k] = s
	}
	for _, svc := range services {
		put(seriesKey(svc.ServiceKey, nil), svc.Counters)
		for _, r := range svc.Reals {
			k := r.Key()
			put(seriesKey(svc.ServiceKey, &k), r.Counters)
		}
	}
	for k := range h.series {
		if !seen[k] {
			delete(h.series, k)
		}
	}
}

// Rates is a series of per-second rates between consecutive samples.
type Rates struct {
	Conns, PacketsIn, PacketsOut, BytesIn, BytesOut []float64
}

// Last returns the latest rate of each kind (0 if fewer than two samples).
func (r Rates) Last() (conns, pktsIn, pktsOut, bytesIn, bytesOut float64) {
	last := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		return v[len(v)-1]
	}
	return last(r.Conns), last(r.PacketsIn), last(r.PacketsOut), last(r.BytesIn), last(r.BytesOut)
}

// rates returns the rates of series k.
func (h *History) rates(k string) Rates {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.series[k]
	var r Rates
	for i := 1; i < len(s); i++ {
		dt := s[i].t.Sub(s[i-1].t).Seconds()
		if dt <= 0 {
			continue
		}
		d := func(a, b uint64) float64 {
			if b < a { // a counter reset (the data plane was replaced)
				return 0
			}
			return float64(b-a) / dt
		}
		a, b := s[i-1].c, s[i].c
		r.Conns = append(r.Conns, d(a.Connections, b.Connections))
		r.PacketsIn = append(r.PacketsIn, d(a.PacketsIn, b.PacketsIn))
		r.PacketsOut = append(r.PacketsOut, d(a.PacketsOut, b.PacketsOut))
		r.BytesIn = append(r.BytesIn, d(a.BytesIn, b.BytesIn))
		r.BytesOut = append(r.BytesOut, d(a.BytesOut, b.BytesOut))
	}
	return r
}

// Service returns the rates of a service.
func (h *History) Service(s model.ServiceKey) Rates { return h.rates(seriesKey(s, nil)) }

// Real returns the rates of a service's real server.
func (h *History) Real(s model.ServiceKey, r model.RealKey) Rates { return h.rates(seriesKey(s, &r)) }
