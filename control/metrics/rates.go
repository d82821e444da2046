package metrics

// The rates of IPVS's estimator (ipvsadm --rate) as gauges, per service
// and per real server, with node_exporter's IPVS labels.

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/director-lb/director/control/model"
)

type rateCollector struct {
	rates   func() []model.ServiceRates
	svc, rs [5]*prometheus.Desc
}

// rateNames name the five rates, in model.Rates' order.
var rateNames = [5][2]string{
	{"connection_rate", "New connections per second (ipvsadm --rate CPS), IPVS's 2 s estimator."},
	{"incoming_packet_rate", "Packets per second from clients (InPPS), IPVS's 2 s estimator."},
	{"outgoing_packet_rate", "Packets per second of the replies (OutPPS), IPVS's 2 s estimator."},
	{"incoming_byte_rate", "Bytes per second from clients (InBPS), IPVS's 2 s estimator."},
	{"outgoing_byte_rate", "Bytes per second of the replies (OutBPS), IPVS's 2 s estimator."},
}

// NewRateCollector exports the rates that rates returns (the daemon's
// estimator) as director_service_*_rate and director_backend_*_rate.
func NewRateCollector(rates func() []model.ServiceRates) prometheus.Collector {
	c := &rateCollector{rates: rates}
	for i, n := range rateNames {
		c.svc[i] = prometheus.NewDesc("director_service_"+n[0], n[1], serviceLabels, nil)
		c.rs[i] = prometheus.NewDesc("director_backend_"+n[0], n[1], backendLabels, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *rateCollector) Describe(ch chan<- *prometheus.Desc) {
	for i := range c.svc {
		ch <- c.svc[i]
		ch <- c.rs[i]
	}
}

// Collect implements prometheus.Collector.
func (c *rateCollector) Collect(ch chan<- prometheus.Metric) {
	values := func(r model.Rates) [5]float64 {
		return [5]float64{float64(r.CPS), float64(r.InPPS), float64(r.OutPPS), float64(r.InBPS), float64(r.OutBPS)}
	}
	for _, s := range c.rates() {
		l := []string{s.VIP.String(), strconv.Itoa(int(s.Port)), s.Proto.Upper()}
		for i, v := range values(s.Rates) {
			constMetric(ch, c.svc[i], prometheus.GaugeValue, v, l...)
		}
		for _, r := range s.Reals {
			rl := append(l[:3:3], r.Addr.String(), strconv.Itoa(int(r.Port)))
			for i, v := range values(r.Rates) {
				constMetric(ch, c.rs[i], prometheus.GaugeValue, v, rl...)
			}
		}
	}
}
