package heartbeat

// Ping nodes, Heartbeat's ping and ping_group: reference addresses (the
// upstream router) that each node of the pair pings with ICMP echo. How
// many it reaches is the Reach of its Score: a node cut off from the
// router neither takes nor keeps the group while its peer reaches more,
// so a lost uplink moves the group instead of leaving it where no client
// gets through, and a partition between the two nodes alone is not
// mistaken for a reason to serve from the side that cannot be reached.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// PingConfig is what the Pinger pings.
type PingConfig struct {
	// Groups are the ping nodes: each one address, or several (a
	// ping_group) counted as one reached while any answers.
	Groups [][]netip.Addr
	// Interval is the time between echo requests to each address.
	Interval time.Duration
	// Deadping is the silence after which an address counts as lost.
	Deadping time.Duration
}

// Pinger sends ICMP echo requests to the ping nodes and counts those that
// answer. It needs a raw ICMP socket (root, or CAP_NET_RAW).
type Pinger struct {
	cfg  PingConfig
	conn net.PacketConn
	id   uint16

	mu    sync.Mutex
	heard map[netip.Addr]time.Time // last echo reply from each address
	sent  uint64
	recv  uint64
}

// NewPinger opens the ICMP socket in the calling thread's network
// namespace.
func NewPinger(cfg PingConfig) (*Pinger, error) {
	if len(cfg.Groups) == 0 || cfg.Interval <= 0 || cfg.Deadping <= cfg.Interval {
		return nil, errors.New("ping: want at least one node and 0 < interval < deadping")
	}
	conn, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("ping: open ICMP socket: %w", err)
	}
	return &Pinger{cfg: cfg, conn: conn, id: uint16(rand.Uint32()), heard: map[netip.Addr]time.Time{}}, nil
}

// Close closes the socket, for a Pinger never Run.
func (p *Pinger) Close() error { return p.conn.Close() }

// Run pings every Interval until ctx is done, then closes the socket.
func (p *Pinger) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		_ = p.conn.Close() // ends the reader; nothing to report at a stop
	}()
	go p.read()
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	var seq uint16
	for {
		seq++
		for _, g := range p.cfg.Groups {
			for _, a := range g {
				// A send error (no route while a link is down) is the
				// node being unreachable: no reply will count it.
				if _, err := p.conn.WriteTo(echoRequest(p.id, seq), &net.IPAddr{IP: a.AsSlice()}); err == nil {
					p.mu.Lock()
					p.sent++
					p.mu.Unlock()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// read records the echo replies to this pinger's requests.
func (p *Pinger) read() {
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ip, ok := from.(*net.IPAddr)
		if !ok || n < 8 || buf[0] != 0 || buf[1] != 0 || binary.BigEndian.Uint16(buf[4:]) != p.id {
			continue // not an echo reply to us
		}
		a, ok := netip.AddrFromSlice(ip.IP)
		if !ok || !p.isNode(a.Unmap()) {
			continue
		}
		p.mu.Lock()
		p.heard[a.Unmap()] = time.Now()
		p.recv++
		p.mu.Unlock()
	}
}

func (p *Pinger) isNode(a netip.Addr) bool {
	for _, g := range p.cfg.Groups {
		for _, b := range g {
			if a == b {
				return true
			}
		}
	}
	return false
}

// Reach counts the ping nodes reached now: a group counts once if any of
// its addresses answered within Deadping.
func (p *Pinger) Reach() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	n := 0
	for _, g := range p.cfg.Groups {
		for _, a := range g {
			if t, ok := p.heard[a]; ok && now.Sub(t) < p.cfg.Deadping {
				n++
				break
			}
		}
	}
	return n
}

// echoRequest builds an ICMP echo request with an 8-byte payload.
func echoRequest(id, seq uint16) []byte {
	b := make([]byte, 16)
	b[0] = 8 // echo request, code 0
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "director")
	binary.BigEndian.PutUint16(b[2:], icmpChecksum(b))
	return b
}

// icmpChecksum is the Internet checksum of b (RFC 1071).
func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
