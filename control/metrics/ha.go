package metrics

// Prometheus metrics of the heartbeat pair, read at scrape time from the
// running heartbeat node's status.

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/director-lb/director/control/model"
)

var haStates = []string{"init", "standby", "acquiring", "active", "releasing", "stopped"}

var (
	haStateDesc = prometheus.NewDesc("director_ha_state",
		"1 for the heartbeat state this node is in for the resource group (init, standby, acquiring, active, releasing, stopped), 0 for the others.",
		[]string{"group", "state"}, nil)
	haPeerAliveDesc = prometheus.NewDesc("director_ha_peer_alive",
		"1 if the peer was heard within deadtime (by the group's heartbeat).", []string{"group", "peer"}, nil)
	haPeerHeardDesc = prometheus.NewDesc("director_ha_peer_last_heard_seconds",
		"Seconds since the peer's last valid heartbeat of the group (absent if never heard).", []string{"group", "peer"}, nil)
	haAddressDesc = prometheus.NewDesc("director_ha_address_held",
		"1 if this node holds the floating address.", []string{"group", "address", "interface"}, nil)
	haTransitionsDesc = prometheus.NewDesc("director_ha_transitions_total",
		"Heartbeat state changes of the group since the daemon started.", []string{"group"}, nil)
	haSentDesc = prometheus.NewDesc("director_ha_heartbeats_sent_total",
		"Heartbeat messages of the group sent (each counted once, whatever the number of links).", []string{"group"}, nil)
	haReceivedDesc = prometheus.NewDesc("director_ha_heartbeats_received_total",
		"Valid heartbeat messages of the group received from the peer.", []string{"group"}, nil)
	haRejectedDesc = prometheus.NewDesc("director_ha_messages_rejected_total",
		"Heartbeat messages dropped, by reason: auth (bad or forged MAC), replay, malformed.",
		[]string{"reason"}, nil)

	haGapsDesc = prometheus.NewDesc("director_ha_heartbeat_interval_seconds",
		"Intervals between consecutive heartbeats heard from the peer (the jitter deadtime must absorb).", nil, nil)
	haGapMaxDesc = prometheus.NewDesc("director_ha_heartbeat_interval_max_seconds",
		"Longest interval between consecutive heartbeats heard from the peer since the daemon started.", nil, nil)
	haScoreDesc = prometheus.NewDesc("director_ha_score",
		"What this node's heartbeats say of its readiness to serve: healthy (real servers its checks find up) and reach (ping nodes it reaches).",
		[]string{"kind"}, nil)

	haScriptRunsDesc = prometheus.NewDesc("director_ha_script_runs_total",
		"Runs of the group's script resources (start and stop) and of the notify hook.", []string{"group", "kind"}, nil)
	haScriptFailuresDesc = prometheus.NewDesc("director_ha_script_failures_total",
		"Failed runs (non-zero exit, timeout, missing script) of the script resources and of the notify hook.", []string{"group", "kind"}, nil)

	syncReadyDesc = prometheus.NewDesc("director_sync_ready",
		"1 if this node holds a complete copy of the active node's connections (always 1 on the active node).", nil, nil)
	syncSendingDesc = prometheus.NewDesc("director_sync_sending",
		"1 if this node sends its connections to the peer (it holds the group).", nil, nil)
	syncRecordsDesc = prometheus.NewDesc("director_sync_records_total",
		"Connection records sent or received.", []string{"direction"}, nil)
	syncBytesDesc = prometheus.NewDesc("director_sync_bytes_total",
		"Bytes of sync messages sent or received (once per message, whatever the number of links).", []string{"direction"}, nil)
	syncInstalledDesc = prometheus.NewDesc("director_sync_records_applied_total",
		"Received records by outcome: installed, unknown (service or real server not configured here), conflict (a live local connection to another real server, not closing, is kept).",
		[]string{"outcome"}, nil)
	syncFullDesc = prometheus.NewDesc("director_sync_full_tables_total",
		"Full tables sent (asked for by the peer, or pushed when releasing the group) or completely received.", []string{"direction"}, nil)
	syncGapsDesc = prometheus.NewDesc("director_sync_gaps_total",
		"Sync messages from the peer noticed lost (each starts a full resync).", nil, nil)
	syncRejectedDesc = prometheus.NewDesc("director_sync_messages_rejected_total",
		"Sync messages dropped, by reason: auth, replay, malformed.", []string{"reason"}, nil)
	syncLagDesc = prometheus.NewDesc("director_sync_lag_seconds",
		"Delay between the data plane reporting the last batch of changes and its sending.", nil, nil)
	syncMaxLagDesc = prometheus.NewDesc("director_sync_lag_max_seconds",
		"Largest sync lag since the daemon started.", nil, nil)
)

// NewHACollector returns a collector of the heartbeat pair's metrics,
// reading status at each scrape (nil: no metrics).
func NewHACollector(status func() *model.HAStatus) prometheus.Collector {
	return haCollector{status}
}

// haCollector is the collector of NewHACollector.
type haCollector struct {
	status func() *model.HAStatus
}

func (c haCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{haStateDesc, haPeerAliveDesc, haPeerHeardDesc, haAddressDesc,
		haTransitionsDesc, haSentDesc, haReceivedDesc, haRejectedDesc, haGapsDesc, haGapMaxDesc, haScoreDesc, haScriptRunsDesc, haScriptFailuresDesc, syncReadyDesc, syncSendingDesc,
		syncRecordsDesc, syncBytesDesc, syncInstalledDesc, syncFullDesc, syncGapsDesc, syncRejectedDesc,
		syncLagDesc, syncMaxLagDesc} {
		ch <- d
	}
}

func (c haCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.status()
	if h == nil {
		return
	}
	for _, g := range h.Groups {
		for _, s := range haStates {
			v := 0.0
			if s == g.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(haStateDesc, prometheus.GaugeValue, v, g.Name, s)
		}
		for _, p := range g.Peers {
			ch <- prometheus.MustNewConstMetric(haPeerAliveDesc, prometheus.GaugeValue, boolGauge(p.Alive), g.Name, p.Name)
			if p.LastHeard >= 0 {
				ch <- prometheus.MustNewConstMetric(haPeerHeardDesc, prometheus.GaugeValue, p.LastHeard.Seconds(), g.Name, p.Name)
			}
		}
		for _, a := range g.Addresses {
			ch <- prometheus.MustNewConstMetric(haAddressDesc, prometheus.GaugeValue, boolGauge(a.Held), g.Name, a.Address.String(), a.Interface)
		}
		ch <- prometheus.MustNewConstMetric(haTransitionsDesc, prometheus.CounterValue, float64(g.Transitions), g.Name)
		ch <- prometheus.MustNewConstMetric(haSentDesc, prometheus.CounterValue, float64(g.HeartbeatsSent), g.Name)
		ch <- prometheus.MustNewConstMetric(haReceivedDesc, prometheus.CounterValue, float64(g.HeartbeatsReceived), g.Name)
		notify := g.Notify
		if len(h.Groups) == 1 {
			notify.Dropped = h.Notify.Dropped
		}
		for kind, c := range map[string]model.HAScriptCounts{"resource": g.Scripts, "notify": notify} {
			ch <- prometheus.MustNewConstMetric(haScriptRunsDesc, prometheus.CounterValue, float64(c.Runs), g.Name, kind)
			ch <- prometheus.MustNewConstMetric(haScriptFailuresDesc, prometheus.CounterValue, float64(c.Failures+c.Dropped), g.Name, kind)
		}
	}
	ch <- prometheus.MustNewConstMetric(haRejectedDesc, prometheus.CounterValue, float64(h.AuthFailures), "auth")
	ch <- prometheus.MustNewConstMetric(haRejectedDesc, prometheus.CounterValue, float64(h.Replays), "replay")
	ch <- prometheus.MustNewConstMetric(haRejectedDesc, prometheus.CounterValue, float64(h.Malformed), "malformed")
	g := h.HeartbeatGaps
	buckets := map[float64]uint64{}
	var cum uint64
	for i, b := range g.Bounds {
		if i < len(g.Counts) {
			cum += g.Counts[i]
		}
		buckets[b.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(haGapsDesc, g.Count, g.Sum.Seconds(), buckets)
	ch <- prometheus.MustNewConstMetric(haGapMaxDesc, prometheus.GaugeValue, g.Max.Seconds())
	ch <- prometheus.MustNewConstMetric(haScoreDesc, prometheus.GaugeValue, float64(h.Score.Healthy), "healthy")
	ch <- prometheus.MustNewConstMetric(haScoreDesc, prometheus.GaugeValue, float64(h.Score.Reach), "reach")
	if y := h.Sync; y != nil {
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
		}
		gauge(syncReadyDesc, boolGauge(y.Ready))
		gauge(syncSendingDesc, boolGauge(y.Role == "sending"))
		counter(syncRecordsDesc, y.RecordsSent, "sent")
		counter(syncRecordsDesc, y.RecordsReceived, "received")
		counter(syncBytesDesc, y.BytesSent, "sent")
		counter(syncBytesDesc, y.BytesReceived, "received")
		counter(syncInstalledDesc, y.Installed, "installed")
		counter(syncInstalledDesc, y.Unknown, "unknown")
		counter(syncInstalledDesc, y.Conflicts, "conflict")
		counter(syncFullDesc, y.FullSent, "sent")
		counter(syncFullDesc, y.FullReceived, "received")
		counter(syncGapsDesc, y.Gaps)
		counter(syncRejectedDesc, y.AuthFailures, "auth")
		counter(syncRejectedDesc, y.Replays, "replay")
		counter(syncRejectedDesc, y.Malformed, "malformed")
		gauge(syncLagDesc, y.Lag.Seconds())
		gauge(syncMaxLagDesc, y.MaxLag.Seconds())
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
