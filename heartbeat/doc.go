// Package heartbeat is the directors' peer protocol: it decides which of the
// two directors of a pair holds the floating resource group (the public VIP
// and the real servers' gateway address, which move together), as Linux-HA
// Heartbeat did for the classic ipvsadm pair, and moves the group when a
// director dies, comes back, or stops.
//
// Its pieces:
//
//   - Machine (machine.go) is the protocol as a pure state machine: events
//     in (a tick, a message, the end of an acquisition or release, a
//     shutdown), actions out (send, acquire, release, announce, log). It
//     reads no clock and does no I/O, so every rule is unit-tested with
//     made-up times.
//   - Codec (message.go) is the wire format: a small binary message
//     authenticated with an HMAC of the pair's shared key (sha256; sha1
//     and md5 from an existing authkeys file, deprecated), with per-sender
//     generation and sequence numbers against replays. LoadAuthKeys reads
//     a raw key file or Heartbeat's authkeys.
//   - Node (node.go) runs a Machine on real time behind two interfaces:
//     Transport (the heartbeat links; UDP in udp.go) and Resources (the
//     addresses and their gratuitous ARPs; addresses.go).
//   - GroupTransports (groups.go) shares the links between several
//     resource groups (several haresources lines, each with its owner):
//     one Node per group, each heartbeat carrying its group's index.
//
// From Heartbeat's ha.cf and haresources to Config:
//
//	node lb1 / node lb2               Nodes: []string{"lb1", "lb2"}; Node: this one
//	lb1 IPaddr::192.168.56.10 ...     Owner: "lb1" (haresources' first field)
//	auto_failback on                  AutoFailback: true
//	keepalive 1                       Keepalive: time.Second
//	deadtime 5  / warntime 2          Deadtime, Warntime (default Deadtime/2)
//	initdead 10                       Initdead (default 2*Deadtime)
//	authkeys: auth 1 / 1 sha1 secret  LoadAuthKeys("/etc/ha.d/authkeys")
//
// Sub-second timings (keepalive 100ms, deadtime 500ms) are honoured: the
// runner wakes at the machine's next deadline rather than on a ticker.
//
// The rules (Machine's documentation has them in full): the peer silent
// for deadtime is declared dead and the standby takes over; warntime warns
// of a late peer; at start-up a node waits up to initdead for its peer,
// and if both are up the owner takes the group; with auto_failback the
// owner gets the group back when it returns, handed over at once rather
// than after a deadtime; a clean stop releases the group and tells the
// peer, which takes over at once; when a healed partition leaves both
// nodes holding the group, both apply the same rule to the same two claims
// and exactly one keeps it (the owner with auto_failback, else the one
// active for longer) and re-announces it.
//
// What it does not do: fence. A node that cannot hear its peer takes the
// group; if the peer is alive but cut off, both hold it until the link
// heals (split brain), which for floating addresses on one LAN means ARP
// confusion for at most that long. Use two links (the Transport counts
// liveness on any), as with Heartbeat's bcast on two interfaces.
package heartbeat
