// Package control holds the director's control plane, one job per package
// below it; this package itself has no code, only the map and the test
// that keeps the imports running one way (imports_test.go).
//
//	model                 the desired state and the status types; the scheduler registry
//	config                the YAML file to model.Config, every problem as file:line: reason
//	dataplane             the port every data plane implements, and its capabilities
//	dataplane/bpfplane    the BPF (XDP, TC) adapter: reconcile into maps, reads, sync table
//	dataplane/ipvsplane   the kernel IPVS adapter: moby/ipvs, sync daemon, connection reads
//	health                real-server health checks: one Checker per kind, rise/fall
//	api                   the control socket: server, client, ipvsadm-style output
//	metrics               Prometheus collectors
//	daemon                `director run`: wiring, reload, HA glue, health loop
//	ipvsadm               ipvsadm's command line read as ipvsadm reads it; its listings
//	importer              `director import`: legacy files (ipvsadm.rules, ha.cf, ...) to director.yaml
//
// Imports run one way:
//
//	cmd/director → daemon → {api, metrics, bpfplane, ipvsplane, health, config} → dataplane → model
//
// and heartbeat, loader and bpf sit below every control package and
// import none of them. docs/ARCHITECTURE.md draws the whole and gives the
// recipes for adding a scheduler, a health-check kind, a data plane or a
// configuration key.
package control
