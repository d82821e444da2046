package bpf

// Names of the counters that say what the program did with each packet,
// for metrics, status output and the packet rules of docs/datapath.md. The
// numeric values come from the generated enum; paths_test.go checks that every one is named.

// PathInfo names a PktPath and the verdict it always gets.
type PathInfo struct {
	Name    string
	Verdict string // "pass", "drop" or "forward" (XDP_TX or XDP_REDIRECT)
}

// Paths describes every PktPath, indexed by value.
var Paths = map[PktPath]PathInfo{
	directorPktPathPATH_NOT_IPV4:         {"not_ipv4", "pass"},
	directorPktPathPATH_L3MALFORMED:      {"l3_malformed", "pass"},
	directorPktPathPATH_NOT_TCP_UDP:      {"not_tcp_udp", "pass"},
	directorPktPathPATH_L4TRUNCATED:      {"l4_truncated", "pass"},
	directorPktPathPATH_NO_SERVICE:       {"no_service", "pass"},
	directorPktPathPATH_TCP_NOT_SYN:      {"tcp_not_syn", "pass"},
	directorPktPathPATH_FRAGMENT:         {"fragment", "drop"},
	directorPktPathPATH_FRAGMENT_PASS:    {"fragment_other", "pass"},
	directorPktPathPATH_IP_OPTIONS:       {"ip_options", "drop"},
	directorPktPathPATH_NO_REAL:          {"no_real_server", "drop"},
	directorPktPathPATH_REAL_REMOVED:     {"real_server_removed", "drop"},
	directorPktPathPATH_FLOW_INSERT:      {"flow_insert_failed", "drop"},
	directorPktPathPATH_TTL_EXCEEDED:     {"ttl_exceeded", "drop"},
	directorPktPathPATH_NO_ROUTE:         {"no_route", "drop"},
	directorPktPathPATH_FWD_DISABLED:     {"forwarding_disabled", "drop"},
	directorPktPathPATH_FRAG_NEEDED:      {"frag_needed", "drop"},
	directorPktPathPATH_NO_NEIGH:         {"no_neighbour", "pass"},
	directorPktPathPATH_NEW_FLOW:         {"new_flow", "forward"},
	directorPktPathPATH_FORWARD:          {"forward", "forward"},
	directorPktPathPATH_REPLY:            {"reply", "forward"},
	directorPktPathPATH_ICMP_TO_REAL:     {"icmp_to_real", "forward"},
	directorPktPathPATH_ICMP_TO_CLIENT:   {"icmp_to_client", "forward"},
	directorPktPathPATH_ICMP_OTHER:       {"icmp_other", "pass"},
	directorPktPathPATH_ICMP_MALFORMED:   {"icmp_malformed", "pass"},
	directorPktPathPATH_TABLE_FULL:       {"flow_table_full", "drop"},
	directorPktPathPATH_FRAGMENT_FORWARD: {"fragment_forward", "forward"},
	directorPktPathPATH_PEER_FORWARD:     {"peer_forward", "forward"},
}

// Exported path values used by tests and the control plane.
const (
	PathNotIPv4         = directorPktPathPATH_NOT_IPV4
	PathL3Malformed     = directorPktPathPATH_L3MALFORMED
	PathNotTCPUDP       = directorPktPathPATH_NOT_TCP_UDP
	PathL4Truncated     = directorPktPathPATH_L4TRUNCATED
	PathNoService       = directorPktPathPATH_NO_SERVICE
	PathTCPNotSYN       = directorPktPathPATH_TCP_NOT_SYN
	PathFragment        = directorPktPathPATH_FRAGMENT
	PathFragmentPass    = directorPktPathPATH_FRAGMENT_PASS
	PathIPOptions       = directorPktPathPATH_IP_OPTIONS
	PathNoReal          = directorPktPathPATH_NO_REAL
	PathRealRemoved     = directorPktPathPATH_REAL_REMOVED
	PathFlowInsert      = directorPktPathPATH_FLOW_INSERT
	PathTTLExceeded     = directorPktPathPATH_TTL_EXCEEDED
	PathNoRoute         = directorPktPathPATH_NO_ROUTE
	PathFwdDisabled     = directorPktPathPATH_FWD_DISABLED
	PathFragNeeded      = directorPktPathPATH_FRAG_NEEDED
	PathNoNeigh         = directorPktPathPATH_NO_NEIGH
	PathNewFlow         = directorPktPathPATH_NEW_FLOW
	PathForward         = directorPktPathPATH_FORWARD
	PathReply           = directorPktPathPATH_REPLY
	PathICMPToReal      = directorPktPathPATH_ICMP_TO_REAL
	PathICMPToClient    = directorPktPathPATH_ICMP_TO_CLIENT
	PathICMPOther       = directorPktPathPATH_ICMP_OTHER
	PathICMPMalformed   = directorPktPathPATH_ICMP_MALFORMED
	PathTableFull       = directorPktPathPATH_TABLE_FULL
	PathFragmentForward = directorPktPathPATH_FRAGMENT_FORWARD
)

// String returns the path's name.
func (p PktPath) String() string {
	if i, ok := Paths[p]; ok {
		return i.Name
	}
	return "unknown"
}
