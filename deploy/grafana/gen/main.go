// Command gen writes the director's Grafana dashboard,
// deploy/grafana/director.json, from the panels defined here with the
// Grafana Foundation SDK:
//
//	go run ./deploy/grafana/gen -o deploy/grafana/director.json
//
// The test next to it fails when the committed JSON differs from what
// gen writes, and the monitoring test (make test-monitoring) runs every
// panel's query against a Prometheus scraping the namespace lab.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func main() {
	out := flag.String("o", "", "write the dashboard to this file (default: standard output)")
	flag.Parse()
	b, err := Dashboard()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if *out == "" {
		_, err = os.Stdout.Write(b)
	} else {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// Selectors of the template variables: a node-level metric, a service's,
// a real server's. $service is the VIP (local_address), $real the real
// server's address (remote_address), as node_exporter's IPVS labels name
// them.
const (
	node = `instance=~"$instance"`
	// ha selects a node's HA metrics by group: several HA groups per node
	// label them with group; a metric without the label matches All.
	ha      = `instance=~"$instance",group=~"$group"`
	service = `instance=~"$instance",local_address=~"$service"`
	backend = `instance=~"$instance",local_address=~"$service",remote_address=~"$real"`
)

// Legends.
const (
	svcLegend  = `{{instance}} {{proto}} {{local_address}}:{{local_port}}`
	realLegend = `{{instance}} {{local_address}}:{{local_port}} → {{remote_address}}:{{remote_port}}`
)

var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// query is one Prometheus target.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend).Datasource(ds)
}

// series is a time-series panel of queries.
func series(title, desc, unit string, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Description(desc).Unit(unit).Datasource(ds).
		Height(8).Span(12).FillOpacity(10)
	p.Id(nextID())
	for i, q := range qs {
		p.WithTarget(q.RefId(string(rune('A' + i))))
	}
	return p
}

// stackedSeries is series with the lines stacked (parts of a whole).
func stackedSeries(title, desc, unit string, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	return series(title, desc, unit, qs...).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

// states is a state-timeline panel of 0/1 gauges named by texts.
func states(title, desc string, zero, one string, qs ...*prometheus.DataqueryBuilder) *statetimeline.PanelBuilder {
	p := statetimeline.NewPanelBuilder().Title(title).Description(desc).Datasource(ds).Height(8).Span(12).
		Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText,
			Options: map[string]dashboard.ValueMappingResult{
				"0": {Text: cog.ToPtr(zero), Color: cog.ToPtr("red")},
				"1": {Text: cog.ToPtr(one), Color: cog.ToPtr("green")},
			}}}})
	p.Id(nextID())
	for i, q := range qs {
		p.WithTarget(q.RefId(string(rune('A' + i))))
	}
	return p
}

// single is a stat panel.
func single(title, desc, unit string, span uint32, qs ...*prometheus.DataqueryBuilder) *stat.PanelBuilder {
	p := stat.NewPanelBuilder().Title(title).Description(desc).Unit(unit).Datasource(ds).Height(5).Span(span)
	p.Id(nextID())
	for i, q := range qs {
		p.WithTarget(q.RefId(string(rune('A' + i))))
	}
	return p
}

// variable is a query variable over a label's values.
func variable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(ds).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue(".*").
		Current(dashboard.VariableOption{Text: dashboard.StringOrArrayOfString{String: cog.ToPtr("All")},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")}})
}

// lastID numbers the panels and rows in order.
var lastID uint32

func nextID() uint32 { lastID++; return lastID }

// row starts a row of panels.
func row(title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title).Id(nextID())
}

// Dashboard returns the dashboard as indented JSON.
func Dashboard() ([]byte, error) {
	lastID = 0
	rate := func(metric, sel string) string {
		return fmt.Sprintf(`rate(%s{%s}[$__rate_interval])`, metric, sel)
	}
	// The classic (v1) dashboard JSON, which every Grafana imports; the
	// SDK prefers its v2 schema, which only Grafana 12's resource API reads.
	//nolint:staticcheck // v1 on purpose, see above
	b := dashboard.NewDashboardBuilder("director").
		Uid("director-lb").
		Description("A director pair: services and real servers (the panels of node_exporter's IPVS dashboards), health checks, the heartbeat pair and its connection sync, the data plane.").
		Tags([]string{"director", "load balancer", "ipvs"}).
		Refresh("10s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(variable("instance", "Director", `label_values(director_build_info, instance)`)).
		WithVariable(variable("service", "Service (VIP)", `label_values(director_service_connections_total{instance=~"$instance"}, local_address)`)).
		WithVariable(variable("real", "Real server", `label_values(director_backend_weight{instance=~"$instance",local_address=~"$service"}, remote_address)`)).
		WithVariable(variable("group", "HA group", `label_values(director_ha_state{instance=~"$instance"}, group)`)).

		// At a glance.
		WithRow(row("Overview")).
		WithPanel(single("Data plane", "The data plane each director runs (director_dataplane_info).", "none", 6,
			query(`director_dataplane_info{`+node+`}`, `{{instance}} {{mode}}`).Instant())).
		WithPanel(single("Data plane fallbacks", "Better data planes a director could not use (director_dataplane_fallback; the alert DirectorDataplaneFallback gives the reasons).", "none", 6,
			query(`sum by (instance) (director_dataplane_fallback{`+node+`}) or sum by (instance) (0 * director_dataplane_info{`+node+`})`, `{{instance}}`).Instant())).
		WithPanel(single("Last reload", "1: the last reload (or the start) applied the file; 0: it was refused and the previous configuration runs.", "none", 6,
			query(`director_config_last_reload_successful{`+node+`}`, `{{instance}}`).Instant())).
		WithPanel(single("Flow table fill", "Entries in the flow table over its size.", "percentunit", 6,
			query(`sum by (instance) (director_flow_table_entries{`+node+`}) / max by (instance) (director_flow_table_capacity{`+node+`})`, `{{instance}}`).Instant())).

		// Per service: node_exporter's IPVS panels.
		WithRow(row("Services")).
		WithPanel(series("New connections per service", "New connections scheduled by each virtual service, per second.", "cps",
			query(`sum by (instance, local_address, local_port, proto) (`+rate("director_service_connections_total", service)+`)`, svcLegend))).
		WithPanel(stackedSeries("Active and inactive connections per service", "Established TCP connections (active) and the other tracked ones (inactive: SYN, FIN, UDP), over the service's real servers.", "short",
			query(`sum by (instance, local_address, local_port, proto) (director_backend_connections_active{`+service+`})`, svcLegend+` active`),
			query(`sum by (instance, local_address, local_port, proto) (director_backend_connections_inactive{`+service+`})`, svcLegend+` inactive`))).
		WithPanel(series("Packets per service", "Packets per second, incoming (client to real server) and outgoing (replies).", "pps",
			query(`sum by (instance, local_address, local_port, proto) (`+rate("director_service_incoming_packets_total", service)+`)`, svcLegend+` in`),
			query(`sum by (instance, local_address, local_port, proto) (`+rate("director_service_outgoing_packets_total", service)+`)`, svcLegend+` out`))).
		WithPanel(series("Bytes per service", "Bytes per second, incoming (client to real server) and outgoing (replies).", "Bps",
			query(`sum by (instance, local_address, local_port, proto) (`+rate("director_service_incoming_bytes_total", service)+`)`, svcLegend+` in`),
			query(`sum by (instance, local_address, local_port, proto) (`+rate("director_service_outgoing_bytes_total", service)+`)`, svcLegend+` out`))).

		// Per real server.
		WithRow(row("Real servers")).
		WithPanel(series("New connections per real server", "New connections scheduled to each real server, per second.", "cps",
			query(rate("director_backend_connections_total", backend), realLegend))).
		WithPanel(series("Weight", "Weight in the schedule; 0 is quiesced (no new connections), as a failed health check leaves it.", "short",
			query(`director_backend_weight{`+backend+`}`, realLegend))).
		WithPanel(stackedSeries("Active connections per real server", "Established TCP connections (ipvsadm's ActiveConn).", "short",
			query(`director_backend_connections_active{`+backend+`}`, realLegend))).
		WithPanel(stackedSeries("Inactive connections per real server", "Tracked connections that are not established TCP: SYN, FIN, UDP (ipvsadm's InActConn).", "short",
			query(`director_backend_connections_inactive{`+backend+`}`, realLegend))).
		WithPanel(series("Packets per real server", "Packets per second, incoming (to the real server) and outgoing (its replies).", "pps",
			query(rate("director_backend_incoming_packets_total", backend), realLegend+` in`),
			query(rate("director_backend_outgoing_packets_total", backend), realLegend+` out`))).
		WithPanel(series("Bytes per real server", "Bytes per second, incoming (to the real server) and outgoing (its replies).", "Bps",
			query(rate("director_backend_incoming_bytes_total", backend), realLegend+` in`),
			query(rate("director_backend_outgoing_bytes_total", backend), realLegend+` out`))).

		// Health checks.
		WithRow(row("Health checks")).
		WithPanel(states("Health", "Each real server's health-check verdict (director_backend_up).", "down", "up",
			query(`director_backend_up{`+backend+`}`, realLegend))).
		WithPanel(series("Check latency", "Duration of each real server's last health check.", "s",
			query(`director_backend_health_check_duration_seconds{`+backend+`}`, realLegend))).
		WithPanel(series("Check results", "Health checks per second, by result (success, failure, timeout).", "ops",
			query(`sum by (instance, remote_address, remote_port, result) (`+rate("director_backend_health_checks_total", backend)+`)`, `{{instance}} {{remote_address}}:{{remote_port}} {{result}}`))).

		// The heartbeat pair. With several HA groups per node the metrics
		// carry a group label, which the legends show.
		WithRow(row("HA pair")).
		WithPanel(series("HA state", "The heartbeat state of each node (and group): the series of the state it is in.", "none",
			query(`director_ha_state{`+ha+`} == 1`, `{{instance}} {{group}} {{state}}`))).
		WithPanel(states("Floating addresses held", "1 where the node holds the floating address. Both at once is a split brain (alert DirectorSplitBrain).", "released", "held",
			query(`director_ha_address_held{`+ha+`}`, `{{instance}} {{group}} {{address}}`))).
		WithPanel(states("Peer liveness", "1 while the peer is heard within deadtime.", "dead", "alive",
			query(`director_ha_peer_alive{`+ha+`}`, `{{instance}} hears {{peer}}`))).
		WithPanel(series("Peer last heard", "Seconds since the peer's last valid heartbeat.", "s",
			query(`director_ha_peer_last_heard_seconds{`+ha+`}`, `{{instance}} hears {{peer}}`))).
		WithPanel(series("HA transitions", "Heartbeat state changes in each interval.", "short",
			query(`increase(director_ha_transitions_total{`+ha+`}[$__rate_interval])`, `{{instance}} {{group}}`))).
		WithPanel(series("Heartbeat messages", "Heartbeats sent and received per second, and messages rejected by reason (auth, replay, malformed).", "ops",
			query(rate("director_ha_heartbeats_sent_total", ha), `{{instance}} sent`),
			query(rate("director_ha_heartbeats_received_total", ha), `{{instance}} received`),
			query(`sum by (instance, reason) (`+rate("director_ha_messages_rejected_total", ha)+`)`, `{{instance}} rejected {{reason}}`))).

		// Connection sync.
		WithRow(row("Connection sync")).
		WithPanel(states("Sync readiness", "1 when the node holds a complete copy of the active node's connections (always on the active node).", "not ready", "ready",
			query(`director_sync_ready{`+ha+`}`, `{{instance}}`))).
		WithPanel(series("Sync lag", "Delay between the data plane reporting changes and their sending; the largest since start.", "s",
			query(`director_sync_lag_seconds{`+ha+`}`, `{{instance}} lag`),
			query(`director_sync_lag_max_seconds{`+ha+`}`, `{{instance}} max`))).
		WithPanel(series("Sync records", "Connection records sent and received per second.", "ops",
			query(`sum by (instance, direction) (`+rate("director_sync_records_total", ha)+`)`, `{{instance}} {{direction}}`))).
		WithPanel(series("Sync outcomes and losses", "Received records by outcome, and messages noticed lost (each starts a full resync).", "ops",
			query(`sum by (instance, outcome) (`+rate("director_sync_records_applied_total", ha)+`)`, `{{instance}} {{outcome}}`),
			query(rate("director_sync_gaps_total", ha), `{{instance}} gaps`))).

		// The data plane.
		WithRow(row("Data plane")).
		WithPanel(stackedSeries("Flow table by state", "Entries of the flow table (two per connection), by state where the data plane counts them.", "short",
			query(`sum by (instance, state) (director_flow_table_entries{`+node+`})`, `{{instance}} {{state}}`))).
		WithPanel(series("Flow table use", "Entries over the table's size.", "percentunit",
			query(`sum by (instance) (director_flow_table_entries{`+node+`}) / max by (instance) (director_flow_table_capacity{`+node+`})`, `{{instance}}`))).
		WithPanel(series("Drops by reason", "Packets the data plane dropped per second, by reason (the packet rules of docs/datapath.md).", "pps",
			query(`sum by (instance, reason) (`+rate("director_drops_total", node)+`)`, `{{instance}} {{reason}}`))).
		WithPanel(series("Packets by verdict", "Packets per second the data plane passed to the kernel, forwarded or dropped.", "pps",
			query(`sum by (instance, verdict) (`+rate("director_verdict_packets_total", node)+`)`, `{{instance}} {{verdict}}`))).
		WithPanel(series("Data plane mode and fallbacks", "The mode in use (1 per node), and 1 per better mode that could not be used on an interface.", "none",
			query(`director_dataplane_info{`+node+`}`, `{{instance}} runs {{mode}}`),
			query(`director_dataplane_fallback{`+node+`}`, `{{instance}} {{interface}} not {{mode}}: {{reason}}`)))

	d, err := b.Build()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
