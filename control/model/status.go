package model

// What the data planes, the daemon and the heartbeat pair report: the
// status that `director status` prints (as ipvsadm -Ln), the JSON of
// `director status --json`, and what the metrics export.

import (
	"net/netip"
	"time"
)

// Counters are traffic counters of a service or real server.
type Counters struct {
	PacketsIn   uint64 `json:"packets_in"`
	BytesIn     uint64 `json:"bytes_in"`
	PacketsOut  uint64 `json:"packets_out"`
	BytesOut    uint64 `json:"bytes_out"`
	Connections uint64 `json:"connections"` // new connections scheduled
}

// RealStatus is a real server as the data plane has it.
type RealStatus struct {
	RealServer
	Counters
	// ActiveConns are established TCP connections, InactiveConns the
	// others (as ipvsadm's ActiveConn / InActConn).
	ActiveConns   uint64 `json:"active_connections"`
	InactiveConns uint64 `json:"inactive_connections"`
	// PersistentConns are the persistence templates that send clients to
	// this server (ipvsadm's PersistConn); BPF data planes only.
	PersistentConns uint64 `json:"persistent_connections"`
	// Health is "up", "down" or "" (not checked); the weight above is the
	// one in force (0 while quiesced by a failed check), ConfiguredWeight
	// the file's.
	Health           string        `json:"health,omitempty"`
	HealthResult     string        `json:"health_last_result,omitempty"`
	HealthSince      time.Time     `json:"health_since,omitempty"`
	ConfiguredWeight uint32        `json:"configured_weight"`
	CheckDuration    time.Duration `json:"check_duration_ns,omitempty"`
	// Checks counts health checks by result.
	Checks CheckCounts `json:"checks"`
}

// CheckCounts counts a real server's health checks by result.
type CheckCounts struct {
	Success uint64 `json:"success"`
	Failure uint64 `json:"failure"`
	Timeout uint64 `json:"timeout"`
}

// ServiceStatus is a service as the data plane has it.
type ServiceStatus struct {
	ServiceKey
	Scheduler string `json:"scheduler"`
	// SchedFlags and Persistence are the service's (see Service).
	SchedFlags  string      `json:"scheduler_flags,omitempty"`
	Persistence Persistence `json:"persistence"`
	// MHTableSize is the size of the Maglev table of a service with
	// scheduler mh, when the data plane builds it; 0 otherwise.
	MHTableSize int `json:"mh_table_size,omitempty"`
	Counters
	Reals []RealStatus `json:"real_servers"`
}

// Flow is one tracked connection, as `ipvsadm -Lnc` shows it.
type Flow struct {
	Proto  Proto          `json:"protocol"`
	Client netip.AddrPort `json:"client"`
	VIP    netip.AddrPort `json:"virtual"`
	Real   netip.AddrPort `json:"real_server"`
	// State is "SYN", "ESTABLISHED", "FIN" (also after RST) or "UDP".
	State string `json:"state"`
	// KernelState is IPVS's own name of the state (TIME_WAIT, SYN_RECV,
	// ...) when the data plane is kernel IPVS; "" otherwise.
	KernelState string `json:"kernel_state,omitempty"`
	// Expires is the time left before the flow expires if idle.
	Expires time.Duration `json:"expires_ns"`
}

// DataplaneStats are the data plane's own counters.
type DataplaneStats struct {
	// Mode names the data plane ("xdp native", "xdp generic", ...).
	Mode string `json:"mode"`
	// Packets counts packets by what happened to them (path name, see
	// the packet rules of docs/datapath.md), Verdicts by verdict (pass,
	// drop, forward).
	Packets  map[string]uint64 `json:"packets"`
	Verdicts map[string]uint64 `json:"verdicts"`
	// Drops is the subset of Packets whose verdict is drop.
	Drops map[string]uint64 `json:"drops"`
	// FlowEntries is the number of flow-table entries (two per
	// connection), FlowCapacity the table's size.
	FlowEntries  int `json:"flow_entries"`
	FlowCapacity int `json:"flow_capacity"`
	// FlowCount says how the connection counts and FlowEntries were
	// taken: by a walk of the flow table that started FlowCountAge ago
	// and took FlowCountDuration (zero where the data plane counts
	// otherwise).
	FlowCountAge      time.Duration `json:"flow_count_age_ns,omitempty"`
	FlowCountDuration time.Duration `json:"flow_count_duration_ns,omitempty"`
	// FlowEntriesByState and FlowCapacityByState split both by the rank
	// of the entries (BPF planes): "established" (a table whose entries
	// are never recycled for new ones) and "half_open" (TCP handshake not
	// completed, UDP without a reply yet: recycled oldest first when
	// full).
	FlowEntriesByState  map[string]int `json:"flow_entries_by_state,omitempty"`
	FlowCapacityByState map[string]int `json:"flow_capacity_by_state,omitempty"`
	// FlowEvictions counts half-open entries recycled to make room for
	// new ones; FlowRefused counts connections refused because the
	// established table was full when their handshake completed.
	FlowEvictions uint64 `json:"flow_evictions"`
	FlowRefused   uint64 `json:"flow_refused"`
	// RedirectErrors counts packets the XDP program redirected that the
	// kernel dropped after it returned (a veth peer without NAPI, a target
	// down); they are in Verdicts as "redirect_error", not "forward".
	RedirectErrors uint64 `json:"redirect_errors"`
	// Sysctls are the kernel settings the data plane set at start, with
	// their values read back (IPVS).
	Sysctls []Sysctl `json:"sysctls,omitempty"`
	// Sync are the IPVS connection sync daemons running (IPVS).
	Sync []SyncDaemon `json:"sync_daemons,omitempty"`
}

// InterfaceStatus is one interface the data plane is attached to.
type InterfaceStatus struct {
	Name string `json:"name"`
	Role string `json:"role"` // "public", "internal" or "public+internal"
	Mode string `json:"mode"` // "xdp native", "xdp generic"
}

// Status is what `director status` shows: the node, its data plane and its
// services, as `ipvsadm -Ln` plus the director's own facts.
type Status struct {
	Node      string `json:"node"`
	Config    string `json:"config"`
	Dataplane string `json:"dataplane"`
	// DataplaneReason says why dataplane auto runs a fallback ("" when
	// it runs what was asked for).
	DataplaneReason string            `json:"dataplane_reason,omitempty"`
	Interfaces      []InterfaceStatus `json:"interfaces"`
	// DataplaneFallbacks says, per interface, which better BPF hooks were
	// tried before the one in use and why each failed.
	DataplaneFallbacks []DataplaneFallback `json:"dataplane_fallbacks,omitempty"`
	Version            string              `json:"version"`
	Started            time.Time           `json:"started"`
	// Uptime is how long this control plane has run.
	Uptime   time.Duration   `json:"uptime_ns"`
	Services []ServiceStatus `json:"services"`
	Stats    DataplaneStats  `json:"stats"`
	// HA is the heartbeat pair's state; nil without an ha section.
	HA *HAStatus `json:"ha,omitempty"`
	// Reload is the outcome of the last reload (or of the start).
	Reload ReloadStatus `json:"reload"`
}

// ReloadStatus is the outcome of the last configuration load: the start,
// then each reload.
type ReloadStatus struct {
	// Successful is false when the last reload was refused (the running
	// configuration is the previous one); Error says why.
	Successful bool   `json:"successful"`
	Error      string `json:"error,omitempty"`
	// LastSuccess is when a configuration was last applied.
	LastSuccess time.Time `json:"last_success"`
}

// DataplaneFallback is a data plane that could not be used on an interface.
type DataplaneFallback struct {
	Interface string `json:"interface"`
	Mode      string `json:"mode"` // "xdp native", "xdp generic", "tc (tcx)", ...
	Reason    string `json:"reason"`
	// NotChosen: auto passed over the mode by rule (it may lose packets
	// on this interface, see docs/dataplane-selection.md); nothing failed,
	// so it is not a fallback to alert on.
	NotChosen bool `json:"not_chosen,omitempty"`
}

// HAStatus is the heartbeat pair as this node sees it. State, Owner,
// Peers, Transitions, LastTransition, LastReason, Group, HeartbeatGaps and
// Score are those of the first resource group (the only one without
// ha.groups); Groups has each group's; Addresses lists every group's
// addresses; the message and script counters sum the groups'.
type HAStatus struct {
	State     string          `json:"state"` // init, standby, acquiring, active, releasing, stopped
	Owner     string          `json:"owner"`
	Peers     []HAPeer        `json:"peers"`
	Addresses []HAAddressHeld `json:"addresses"`
	// Groups are the resource groups, in the configuration's order.
	Groups []HAGroupStatus `json:"groups"`
	// Transitions counts state changes since start; LastTransition says
	// when and why the last one happened.
	Transitions    uint64    `json:"transitions"`
	LastTransition time.Time `json:"last_transition"`
	LastReason     string    `json:"last_reason"`
	// Message counters.
	HeartbeatsSent     uint64 `json:"heartbeats_sent"`
	HeartbeatsReceived uint64 `json:"heartbeats_received"`
	AuthFailures       uint64 `json:"auth_failures"`
	Replays            uint64 `json:"replays"`
	Malformed          uint64 `json:"malformed"`
	// HeartbeatGaps are the intervals between consecutive heartbeats
	// heard from the peer: the jitter deadtime must absorb.
	HeartbeatGaps HAGaps `json:"heartbeat_gaps"`
	// Group is the resource group's name.
	Group string `json:"group"`
	// Scripts counts the runs of the group's script resources (start and
	// stop), Notify those of the notify hook.
	Scripts HAScriptCounts `json:"scripts"`
	Notify  HAScriptCounts `json:"notify"`
	// Score is what this node's heartbeats say of its readiness to serve:
	// the real servers its checks find up and the ping nodes it reaches.
	Score HAScore `json:"score"`
	// Sync is the conntrack sync (nil when disabled).
	Sync *SyncStatus `json:"sync,omitempty"`
}

// HAGroupStatus is one resource group as this node sees it.
type HAGroupStatus struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
	// State is this node's state for the group; Peer the peer's as it
	// last said (with whether it is alive).
	State     string          `json:"state"`
	Peers     []HAPeer        `json:"peers"`
	Addresses []HAAddressHeld `json:"addresses"`
	// Transitions counts this group's state changes since start.
	Transitions    uint64    `json:"transitions"`
	LastTransition time.Time `json:"last_transition"`
	LastReason     string    `json:"last_reason"`
	// HeartbeatsSent and HeartbeatsReceived count this group's messages.
	HeartbeatsSent     uint64 `json:"heartbeats_sent"`
	HeartbeatsReceived uint64 `json:"heartbeats_received"`
	// Scripts counts the group's script resources' runs, Notify the
	// notify hook's for this group's transitions.
	Scripts HAScriptCounts `json:"scripts"`
	Notify  HAScriptCounts `json:"notify"`
}

// HAScriptCounts count a script's runs and failures (a non-zero exit, a
// timeout, a missing script); Dropped counts notifications not run because
// the queue was full.
type HAScriptCounts struct {
	Runs     uint64 `json:"runs"`
	Failures uint64 `json:"failures"`
	Dropped  uint64 `json:"dropped,omitempty"`
}

// HAScore is a node's readiness to serve, as its heartbeats carry it.
type HAScore struct {
	Healthy int `json:"healthy"`
	Reach   int `json:"reach"`
}

// HAGaps is a histogram of the intervals between the peer's heartbeats.
type HAGaps struct {
	// Bounds are the buckets' upper bounds; Counts[i] counts the gaps
	// at most Bounds[i] (and above the bound before), the last element
	// those above every bound.
	Bounds []time.Duration `json:"bounds"`
	Counts []uint64        `json:"counts"`
	Count  uint64          `json:"count"`
	Sum    time.Duration   `json:"sum"`
	Max    time.Duration   `json:"max"`
	// P99 is an upper bound of the 99th percentile (a bucket bound).
	P99 time.Duration `json:"p99"`
}

// SyncStatus is the conntrack sync of the pair, as this node sees it.
type SyncStatus struct {
	// Role is "sending" (this node holds the group) or "receiving".
	Role string `json:"role"`
	// Ready says the standby holds a complete copy of the active's table
	// (always true while sending).
	Ready bool `json:"ready"`
	// LastFullTable is when the last complete full table was received.
	LastFullTable time.Time `json:"last_full_table"`
	// Lag is the delay between the data plane reporting the last batch
	// of changes and its sending; MaxLag the largest since start.
	Lag    time.Duration `json:"lag_ns"`
	MaxLag time.Duration `json:"max_lag_ns"`
	// Told is how many connections the peer was told about.
	Told int `json:"told"`
	// What the syncer sent, received and refused.
	SyncCounters
}

// SyncCounters count what conntrack sync sent, received and refused. It
// has the fields of heartbeat.SyncCounters, so that the daemon converts
// one into the other with a type conversion: a field added to one and not
// the other fails to compile.
type SyncCounters struct {
	// RecordsSent and RecordsReceived count connection records; Messages
	// and Bytes the datagrams (one per send, whatever the number of links).
	RecordsSent      uint64 `json:"records_sent"`
	MessagesSent     uint64 `json:"messages_sent"`
	BytesSent        uint64 `json:"bytes_sent"`
	RecordsReceived  uint64 `json:"records_received"`
	MessagesReceived uint64 `json:"messages_received"`
	BytesReceived    uint64 `json:"bytes_received"`
	// Installed, Unknown (service or real server not configured here) and
	// Conflicts (a live local connection to another real server, kept)
	// sum the installed records' outcomes.
	Installed uint64 `json:"installed"`
	Unknown   uint64 `json:"unknown"`
	Conflicts uint64 `json:"conflicts"`
	// FullSent counts full tables sent (asked or not), FullReceived the
	// complete ones received, Requests the requests this node sent.
	FullSent     uint64 `json:"full_tables_sent"`
	FullReceived uint64 `json:"full_tables_received"`
	Requests     uint64 `json:"requests"`
	// Gaps counts lost messages noticed (each starts a resync).
	Gaps uint64 `json:"gaps"`
	// AuthFailures, Replays, Malformed count refused packets (Duplicates
	// are other links' copies); SendErrors failed sends.
	AuthFailures uint64 `json:"auth_failures"`
	Replays      uint64 `json:"replays"`
	Malformed    uint64 `json:"malformed"`
	Duplicates   uint64 `json:"duplicates"`
	SendErrors   uint64 `json:"send_errors"`
}

// HAPeer is the other node of the pair.
type HAPeer struct {
	Name  string `json:"name"`
	Alive bool   `json:"alive"`
	State string `json:"state"` // as the peer last reported it
	// LastHeard is how long ago the peer was last heard (-1 if never).
	LastHeard time.Duration `json:"last_heard_ns"`
}

// HAAddressHeld is one floating address and whether this node holds it.
type HAAddressHeld struct {
	Address   netip.Prefix `json:"address"`
	Interface string       `json:"interface"`
	Held      bool         `json:"held"`
}

// Sysctl is a kernel setting the data plane needs, with the value read
// back after setting it.
type Sysctl struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SyncDaemon is one IPVS connection sync daemon as the kernel reports it.
type SyncDaemon struct {
	// State is "master" or "backup".
	State     string `json:"state"`
	Interface string `json:"interface"`
	SyncID    uint32 `json:"sync_id"`
}
