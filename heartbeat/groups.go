package heartbeat

// Several resource groups over one set of links. Each group runs a Node of
// its own (its own Machine, owner, addresses and scripts: one holds lb1's
// VIP, the other lb2's, as several haresources lines do), and the groups
// share the pair's sockets: every heartbeat carries its group's index
// (byte 11 of the header, under the MAC), and GroupTransports hands each
// received packet to its group's node. Each group's node has its own
// generation and sequence numbers, so the replay checks of one group do
// not see the others' messages. With one group the index is 0 and the
// messages are those of a single-group pair, byte for byte.
//
// Why not a port per group: one set of sockets keeps the links'
// configuration (bcast, mcast, ucast, firewalls) that of today's pair, and
// a link cut cuts every group alike, so the groups cannot disagree about
// the peer being alive.

import (
	"errors"
	"sync"
	"sync/atomic"
)

// MaxGroups bounds the resource groups of a pair (the index is a byte; each
// group sends a heartbeat every keepalive).
const MaxGroups = 16

// groupQueue is each group's queue of received packets: a node that does
// not keep up loses its packets, as a full socket buffer would, without
// holding up the other groups.
const groupQueue = 256

// GroupDispatch is what GroupTransports returns besides the transports.
type GroupDispatch struct {
	// Dropped counts packets not delivered: their group's queue was full,
	// or its node had stopped.
	Dropped atomic.Uint64
}

// GroupTransports shares tr between n resource groups (1..MaxGroups): the
// i-th transport sends on tr and receives the packets of group i. A packet
// that names no configured group (or is too short to name one) goes to
// group 0, whose node refuses and counts it as malformed. tr is closed once
// every group's transport is. One group uses tr itself.
func GroupTransports(tr Transport, n int) ([]Transport, *GroupDispatch, error) {
	if n < 1 || n > MaxGroups {
		return nil, nil, errors.New("group transports: want 1..16 groups")
	}
	if n == 1 {
		return []Transport{tr}, &GroupDispatch{}, nil
	}
	m := &groupMux{tr: tr, open: n}
	out := make([]Transport, n)
	for i := range out {
		l := &groupLink{mux: m, ch: make(chan Packet, groupQueue)}
		m.links = append(m.links, l)
		out[i] = l
	}
	go m.dispatch()
	return out, &m.stats, nil
}

type groupMux struct {
	tr    Transport
	links []*groupLink
	stats GroupDispatch

	mu   sync.Mutex // guards open and each link's closed
	open int
}

type groupLink struct {
	mux    *groupMux
	ch     chan Packet
	closed bool // guarded by mux.mu; ch is closed by dispatch
}

// dispatch hands each packet to its group until tr's packets end, then
// ends every group's.
func (m *groupMux) dispatch() {
	for p := range m.tr.Packets() {
		i := 0
		if len(p.Data) >= headerSize && [4]byte(p.Data[0:4]) == magic && int(p.Data[11]) < len(m.links) {
			i = int(p.Data[11])
		}
		l := m.links[i]
		m.mu.Lock()
		closed := l.closed
		m.mu.Unlock()
		if closed {
			m.stats.Dropped.Add(1)
			continue
		}
		select {
		case l.ch <- p:
		default:
			m.stats.Dropped.Add(1)
		}
	}
	for _, l := range m.links {
		close(l.ch)
	}
}

func (l *groupLink) Send(b []byte) error { return l.mux.tr.Send(b) }

func (l *groupLink) Packets() <-chan Packet { return l.ch }

// Close stops this group's share; the last one closes the transport.
func (l *groupLink) Close() error {
	m := l.mux
	m.mu.Lock()
	if l.closed {
		m.mu.Unlock()
		return nil
	}
	l.closed = true
	m.open--
	last := m.open == 0
	m.mu.Unlock()
	if last {
		return m.tr.Close()
	}
	return nil
}
