// Package metrics is the director's Prometheus metrics.
package metrics

// Prometheus metrics of the director. The collector reads the data plane
// through its Source at every scrape, so a scrape sees the counters as
// the data plane has them at that moment; nothing is copied on a timer.
//
// The per-service and per-real-server metrics carry the labels of
// node_exporter's IPVS collector (local_address, local_port, proto,
// remote_address, remote_port; proto "TCP" or "UDP"), so that dashboards
// and alerts written for node_ipvs_* carry over by renaming the metrics.
// "incoming" is client to real server (model.Counters: PacketsIn, BytesIn),
// "outgoing" the replies (PacketsOut, BytesOut), as ipvsadm's InPkts and
// OutPkts.
//
// When the Source fails during a scrape, the part it could not read is
// replaced by an invalid metric carrying the error, and the rest is still
// collected: a handler with promhttp.ContinueOnError (see Handler)
// serves the rest and logs the error.

import (
	"fmt"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/director-lb/director/control/model"
)

// Label names, as node_exporter's IPVS collector has them.
var (
	serviceLabels = []string{"local_address", "local_port", "proto"}
	backendLabels = []string{"local_address", "local_port", "proto", "remote_address", "remote_port"}
)

// collector is the prometheus.Collector of NewCollector.
type collector struct {
	src  Source
	info func() model.Status

	backendActive, backendInactive, backendWeight *prometheus.Desc
	backendConns                                  *prometheus.Desc
	backendInPackets, backendOutPackets           *prometheus.Desc
	backendInBytes, backendOutBytes               *prometheus.Desc
	backendUp, backendChecks, backendCheckSeconds *prometheus.Desc
	backendUpper, backendLower                    *prometheus.Desc
	servicePersistence                            *prometheus.Desc
	serviceMHTableSize                            *prometheus.Desc

	serviceConns                        *prometheus.Desc
	serviceInPackets, serviceOutPackets *prometheus.Desc
	serviceInBytes, serviceOutBytes     *prometheus.Desc

	packets, verdicts, drops                              *prometheus.Desc
	flowEntries, flowCapacity, flowEvictions, flowRefused *prometheus.Desc
	flowCountAge, flowCountDur                            *prometheus.Desc
	redirectErrors                                        *prometheus.Desc
	dataplaneInfo                                         *prometheus.Desc
	dataplaneFallback                                     *prometheus.Desc
	sysctl, syncDaemon                                    *prometheus.Desc
	reloadOK, reloadTime                                  *prometheus.Desc
}

// Source is what the collector reads at every scrape: the services and
// counters of a data plane (dataplane.Observer has these methods).
type Source interface {
	// Status reads back services, real servers and counters.
	Status() ([]model.ServiceStatus, error)
	// Stats reads the data plane's own counters.
	Stats() (model.DataplaneStats, error)
}

// NewCollector returns a collector that reads src at every scrape (no
// copies on a timer). info gives the facts that are not counters: of the
// model.Status it returns only Node, Dataplane (the data plane's mode),
// DataplaneReason, DataplaneFallbacks and Reload are used, so it should be cheap and need not read the
// data plane; it may be nil, and then director_dataplane_info is not
// exported.
func NewCollector(src Source, info func() model.Status) prometheus.Collector {
	backend := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("director_backend_"+name, help, backendLabels, nil)
	}
	service := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("director_service_"+name, help, serviceLabels, nil)
	}
	return &collector{
		src:  src,
		info: info,

		backendActive: backend("connections_active",
			"Established TCP connections to the real server (ipvsadm's ActiveConn)."),
		backendInactive: backend("connections_inactive",
			"Tracked connections to the real server that are not established TCP: SYN, FIN and UDP flows (ipvsadm's InActConn)."),
		backendWeight: backend("weight",
			"Configured weight of the real server; 0 means quiesced (no new connections)."),
		backendConns: backend("connections_total",
			"New connections scheduled to the real server."),
		backendInPackets: backend("incoming_packets_total",
			"Packets forwarded from clients to the real server."),
		backendOutPackets: backend("outgoing_packets_total",
			"Reply packets forwarded from the real server to clients."),
		backendInBytes: backend("incoming_bytes_total",
			"Bytes of packets forwarded from clients to the real server."),
		backendOutBytes: backend("outgoing_bytes_total",
			"Bytes of reply packets forwarded from the real server to clients."),
		backendUp: backend("up",
			"1 if the real server passes its health check, 0 if it is out of the schedule for failing it (absent when not checked)."),
		backendChecks: prometheus.NewDesc("director_backend_health_checks_total",
			"Health checks of the real server, by result (success, failure, timeout).",
			append(append([]string{}, backendLabels...), "result"), nil),
		backendCheckSeconds: backend("health_check_duration_seconds",
			"Duration of the real server's last health check."),

		backendUpper: backend("upper_threshold",
			"Connections at which the real server stops taking new ones (ipvsadm -x; absent when not set)."),
		backendLower: backend("lower_threshold",
			"Connections below which an overloaded real server takes new ones again (ipvsadm -y; absent when not set)."),
		servicePersistence: service("persistence_timeout_seconds",
			"How long a client keeps its real server after its last connection (ipvsadm -p; absent when not persistent)."),
		serviceMHTableSize: service("mh_table_size",
			"Entries of the Maglev table of a service with scheduler mh (mh_table_size; absent for other schedulers)."),
		serviceConns: service("connections_total",
			"New connections scheduled by the virtual service, over all its real servers, including removed ones."),
		serviceInPackets: service("incoming_packets_total",
			"Packets forwarded from clients to the virtual service's real servers."),
		serviceOutPackets: service("outgoing_packets_total",
			"Reply packets forwarded from the virtual service's real servers to clients."),
		serviceInBytes: service("incoming_bytes_total",
			"Bytes of packets forwarded from clients to the virtual service's real servers."),
		serviceOutBytes: service("outgoing_bytes_total",
			"Bytes of reply packets forwarded from the virtual service's real servers to clients."),

		packets: prometheus.NewDesc("director_packets_total",
			"Packets seen by the data plane, by the path they took through its packet rules.",
			[]string{"path"}, nil),
		verdicts: prometheus.NewDesc("director_verdict_packets_total",
			"Packets seen by the data plane, by verdict (pass to the kernel, drop, forward).",
			[]string{"verdict"}, nil),
		drops: prometheus.NewDesc("director_drops_total",
			"Packets dropped by the data plane, by reason (the path that dropped them).",
			[]string{"reason"}, nil),
		flowEntries: prometheus.NewDesc("director_flow_table_entries",
			"Entries in the data plane's flow table (two per tracked connection), by state: established, half_open (TCP handshake not completed, UDP without a reply; recycled first), or all where the data plane does not tell them apart.",
			[]string{"state"}, nil),
		flowCapacity: prometheus.NewDesc("director_flow_table_capacity",
			"Size of the data plane's flow table, in entries (established and half-open tables together).",
			nil, nil),
		flowEvictions: prometheus.NewDesc("director_flow_table_evictions_total",
			"Half-open flow-table entries recycled to make room for new connections (a SYN flood shows here).",
			nil, nil),
		flowRefused: prometheus.NewDesc("director_flow_table_refused_total",
			"Connections refused because the established flow table was full when their handshake completed.",
			nil, nil),
		redirectErrors: prometheus.NewDesc("director_redirect_errors_total",
			"Packets the XDP program redirected that the kernel dropped after it returned (not counted as forwarded).",
			nil, nil),
		flowCountAge: prometheus.NewDesc("director_flow_table_count_age_seconds",
			"Age of the walk of the flow table behind the connection counts and director_flow_table_entries (large tables are walked in the background, see docs/monitoring.md).",
			nil, nil),
		flowCountDur: prometheus.NewDesc("director_flow_table_count_duration_seconds",
			"Duration of that walk of the flow table.",
			nil, nil),
		dataplaneInfo: prometheus.NewDesc("director_dataplane_info",
			"Always 1; the labels name the director's node and its data plane's mode.",
			[]string{"node", "mode"}, nil),
		dataplaneFallback: prometheus.NewDesc("director_dataplane_fallback",
			"Always 1, one per better data plane that failed on an interface, with the reason (modes auto passes over by rule, such as XDP on a veth, are not counted).",
			[]string{"node", "interface", "mode", "reason"}, nil),
		sysctl: prometheus.NewDesc("director_sysctl",
			"Value of a kernel setting the data plane set at start (IPVS: net.ipv4.ip_forward, net.ipv4.vs.*), read back.",
			[]string{"name"}, nil),
		reloadOK: prometheus.NewDesc("director_config_last_reload_successful",
			"1 if the last configuration reload (or the start) applied the file, 0 if it was refused and the previous configuration runs.",
			nil, nil),
		reloadTime: prometheus.NewDesc("director_config_last_reload_success_timestamp_seconds",
			"Unix time of the last configuration applied (the start or a successful reload).",
			nil, nil),
		syncDaemon: prometheus.NewDesc("director_ipvs_sync_daemon",
			"Always 1 for each running IPVS connection sync daemon; the labels say its state (master, backup), interface and sync id.",
			[]string{"state", "interface", "sync_id"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.backendActive, c.backendInactive, c.backendWeight, c.backendConns,
		c.backendInPackets, c.backendOutPackets, c.backendInBytes, c.backendOutBytes,
		c.backendUp, c.backendChecks, c.backendCheckSeconds, c.backendUpper, c.backendLower,
		c.servicePersistence, c.serviceMHTableSize, c.serviceConns, c.serviceInPackets, c.serviceOutPackets, c.serviceInBytes, c.serviceOutBytes,
		c.packets, c.verdicts, c.drops, c.flowEntries, c.flowCapacity, c.flowEvictions, c.flowRefused,
		c.flowCountAge, c.flowCountDur, c.redirectErrors, c.dataplaneInfo, c.dataplaneFallback,
		c.sysctl, c.syncDaemon, c.reloadOK, c.reloadTime,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the data plane now.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if services, err := c.src.Status(); err != nil {
		ch <- prometheus.NewInvalidMetric(c.serviceConns,
			fmt.Errorf("reading services from the data plane: %w", err))
	} else {
		c.collectServices(ch, services)
	}

	stats, statsErr := c.src.Stats()
	if statsErr != nil {
		ch <- prometheus.NewInvalidMetric(c.packets,
			fmt.Errorf("reading data plane counters: %w", statsErr))
	} else {
		c.collectStats(ch, stats)
	}

	if c.info != nil {
		st := c.info()
		mode := st.Dataplane
		if mode == "" && statsErr == nil {
			mode = stats.Mode
		}
		constMetric(ch, c.dataplaneInfo, prometheus.GaugeValue, 1, st.Node, mode)
		for _, f := range st.DataplaneFallbacks {
			if f.NotChosen {
				continue // auto's rule, not a failure: status says why
			}
			constMetric(ch, c.dataplaneFallback, prometheus.GaugeValue, 1, st.Node, f.Interface, f.Mode, f.Reason)
		}
		if st.DataplaneReason != "" { // auto fell back to IPVS: no BPF hook at all
			constMetric(ch, c.dataplaneFallback, prometheus.GaugeValue, 1, st.Node, "", "bpf", st.DataplaneReason)
		}
		if !st.Reload.LastSuccess.IsZero() {
			constMetric(ch, c.reloadOK, prometheus.GaugeValue, boolGauge(st.Reload.Successful))
			constMetric(ch, c.reloadTime, prometheus.GaugeValue, float64(st.Reload.LastSuccess.UnixNano())/1e9)
		}
	}
}

func (c *collector) collectServices(ch chan<- prometheus.Metric, services []model.ServiceStatus) {
	counter := prometheus.CounterValue
	for _, s := range services {
		vip, vport, proto := s.VIP.String(), strconv.Itoa(int(s.Port)), s.Proto.Upper()
		constMetric(ch, c.serviceConns, counter, float64(s.Connections), vip, vport, proto)
		constMetric(ch, c.serviceInPackets, counter, float64(s.PacketsIn), vip, vport, proto)
		constMetric(ch, c.serviceOutPackets, counter, float64(s.PacketsOut), vip, vport, proto)
		constMetric(ch, c.serviceInBytes, counter, float64(s.BytesIn), vip, vport, proto)
		constMetric(ch, c.serviceOutBytes, counter, float64(s.BytesOut), vip, vport, proto)
		if s.Persistence.Timeout > 0 {
			constMetric(ch, c.servicePersistence, prometheus.GaugeValue, s.Persistence.Timeout.Seconds(), vip, vport, proto)
		}
		if s.MHTableSize > 0 {
			constMetric(ch, c.serviceMHTableSize, prometheus.GaugeValue, float64(s.MHTableSize), vip, vport, proto)
		}
		for _, r := range s.Reals {
			l := []string{vip, vport, proto, r.Addr.String(), strconv.Itoa(int(r.Port))}
			gauge := prometheus.GaugeValue
			constMetric(ch, c.backendActive, gauge, float64(r.ActiveConns), l...)
			constMetric(ch, c.backendInactive, gauge, float64(r.InactiveConns), l...)
			constMetric(ch, c.backendWeight, gauge, float64(r.Weight), l...)
			if r.UpperThreshold > 0 {
				constMetric(ch, c.backendUpper, gauge, float64(r.UpperThreshold), l...)
			}
			if r.LowerThreshold > 0 {
				constMetric(ch, c.backendLower, gauge, float64(r.LowerThreshold), l...)
			}
			constMetric(ch, c.backendConns, counter, float64(r.Connections), l...)
			constMetric(ch, c.backendInPackets, counter, float64(r.PacketsIn), l...)
			constMetric(ch, c.backendOutPackets, counter, float64(r.PacketsOut), l...)
			constMetric(ch, c.backendInBytes, counter, float64(r.BytesIn), l...)
			constMetric(ch, c.backendOutBytes, counter, float64(r.BytesOut), l...)
			if r.Health != "" {
				up := 0.0
				if r.Health == "up" {
					up = 1
				}
				constMetric(ch, c.backendUp, gauge, up, l...)
				constMetric(ch, c.backendChecks, counter, float64(r.Checks.Success), append(l, "success")...)
				constMetric(ch, c.backendChecks, counter, float64(r.Checks.Failure), append(l, "failure")...)
				constMetric(ch, c.backendChecks, counter, float64(r.Checks.Timeout), append(l, "timeout")...)
				constMetric(ch, c.backendCheckSeconds, gauge, r.CheckDuration.Seconds(), l...)
			}
		}
	}
}

func (c *collector) collectStats(ch chan<- prometheus.Metric, s model.DataplaneStats) {
	for _, m := range []struct {
		desc   *prometheus.Desc
		counts map[string]uint64
	}{{c.packets, s.Packets}, {c.verdicts, s.Verdicts}, {c.drops, s.Drops}} {
		for _, name := range slices.Sorted(maps.Keys(m.counts)) {
			constMetric(ch, m.desc, prometheus.CounterValue, float64(m.counts[name]), name)
		}
	}
	if len(s.FlowEntriesByState) == 0 {
		constMetric(ch, c.flowEntries, prometheus.GaugeValue, float64(s.FlowEntries), "all")
	}
	for _, state := range slices.Sorted(maps.Keys(s.FlowEntriesByState)) {
		constMetric(ch, c.flowEntries, prometheus.GaugeValue, float64(s.FlowEntriesByState[state]), state)
	}
	constMetric(ch, c.flowCapacity, prometheus.GaugeValue, float64(s.FlowCapacity))
	constMetric(ch, c.flowEvictions, prometheus.CounterValue, float64(s.FlowEvictions))
	constMetric(ch, c.flowRefused, prometheus.CounterValue, float64(s.FlowRefused))
	constMetric(ch, c.redirectErrors, prometheus.CounterValue, float64(s.RedirectErrors))
	if s.FlowCountDuration > 0 {
		constMetric(ch, c.flowCountAge, prometheus.GaugeValue, s.FlowCountAge.Seconds())
		constMetric(ch, c.flowCountDur, prometheus.GaugeValue, s.FlowCountDuration.Seconds())
	}
	for _, sc := range s.Sysctls {
		if v, err := strconv.ParseFloat(sc.Value, 64); err == nil {
			constMetric(ch, c.sysctl, prometheus.GaugeValue, v, sc.Name)
		}
	}
	for _, d := range s.Sync {
		constMetric(ch, c.syncDaemon, prometheus.GaugeValue, 1, d.State, d.Interface, strconv.Itoa(int(d.SyncID)))
	}
}

// constMetric sends one value; a label value the client library refuses
// (not UTF-8) becomes an invalid metric instead of a panic.
func constMetric(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}

// NewRegistry returns a registry with the director's collector (see
// NewCollector), the Go runtime and process collectors, and
// director_build_info{version, goversion} 1.
func NewRegistry(src Source, info func() model.Status, version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "director_build_info",
		Help: "Always 1; the labels name the director's version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{
			"version":   version,
			"goversion": runtime.Version(),
		},
	})
	build.Set(1)
	reg.MustRegister(
		NewCollector(src, info),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
	)
	return reg
}

// Handler serves reg's metrics. A scrape during which part of the
// data plane could not be read still serves the rest (with the error
// logged through errorLog, which may be nil), instead of failing whole as
// promhttp's default does.
func Handler(reg *prometheus.Registry, errorLog promhttp.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      errorLog,
		Registry:      reg, // promhttp_metric_handler_errors_total
	})
}
