package bpf

// Packet tables of the two-table flow store (conntrack.h): a SYN flood
// churns only the half-open table, established connections keep working
// through it, a connection completing its handshake while the established
// table is full is refused and counted, and UDP flows are promoted by their
// first reply.

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
)

// floodSYN is a spoofed SYN from a source no host owns.
func floodSYN(i int) pktSpec {
	s := clientSYN(uint16(1024 + i%60000))
	s.src = ip4(fmt.Sprintf("192.168.56.%d", 150+i/60000))
	return s
}

// handshake opens a connection from client:sport and returns the real
// server it went to; every step must be forwarded.
func handshake(t *testing.T, e *fibEnv, sport uint16) (string, net.HardwareAddr) {
	t.Helper()
	syn := clientSYN(sport)
	verdict, out := e.run(t, e.pub, syn.frame())
	if verdict != xdpRedirect {
		t.Fatalf("syn %d: verdict %d", sport, verdict)
	}
	addr, rmac := "192.168.200.11", macRip1
	if string(out[30:34]) == string(rip2.AsSlice()) {
		addr, rmac = "192.168.200.12", macRip2
	}
	synack := pktSpec{srcMAC: rmac, dstMAC: macInt, src: ip4(addr), dst: client, ttl: 64, proto: ProtoTCP,
		sport: 80, dport: sport, tcpFlags: tcpSYN | tcpACK, seq: 5000}
	want := synack
	want.src, want.ttl, want.srcMAC, want.dstMAC = vip, 63, macPub, macClient
	e.check(t, fmt.Sprintf("syn-ack %d", sport), e.inter, synack.frame(), xdpRedirect, PathReply, want.frame())
	return addr, rmac
}

func TestFloodKeepsEstablished(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		// Room for 4 established connections (8 entries) and 1024
		// half-open entries (the loader's minimum), split between the
		// CPUs' LRU lists; every run is on one CPU (fibEnv.inNS).
		e := seedEnvSized(t, ent, 8, 1024)
		type conn struct {
			sport uint16
			addr  string
			rmac  net.HardwareAddr
		}
		var conns []conn
		for i := range 3 {
			sport := uint16(43000 + i)
			addr, rmac := handshake(t, e, sport)
			ack := clientSYN(sport)
			ack.tcpFlags = tcpACK
			e.check(t, fmt.Sprintf("ack %d", sport), e.pub, ack.frame(), xdpRedirect, PathForward, toReal(ack, addr, rmac, 80).frame())
			conns = append(conns, conn{sport, addr, rmac})
		}

		// Flood: 4000 spoofed SYNs, 8000 entries through a 1024-entry table.
		for i := range 4000 {
			if v, _ := e.run(t, e.pub, floodSYN(i).frame()); v != xdpRedirect {
				t.Fatalf("flood syn %d: verdict %d", i, v)
			}
		}
		st, err := e.maps.ReadFlowTableStats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Established != 6 || st.HalfOpen > 1024 || st.Evicted < 8000-1024 || st.Promoted != 3 {
			t.Errorf("after the flood: %+v, want 6 established entries, at most 1024 half-open, >= %d evicted, 3 promoted", st, 8000-1024)
		}

		// Every established connection still works, both ways.
		for _, c := range conns {
			data := clientSYN(c.sport)
			data.tcpFlags = tcpACK
			data.payload = []byte("after the flood")
			e.check(t, fmt.Sprintf("data %d", c.sport), e.pub, data.frame(), xdpRedirect, PathForward, toReal(data, c.addr, c.rmac, 80).frame())
			ans := pktSpec{srcMAC: c.rmac, dstMAC: macInt, src: ip4(c.addr), dst: client, ttl: 64, proto: ProtoTCP,
				sport: 80, dport: c.sport, tcpFlags: tcpACK, payload: []byte("answer")}
			want := ans
			want.src, want.ttl, want.srcMAC, want.dstMAC = vip, 63, macPub, macClient
			e.check(t, fmt.Sprintf("answer %d", c.sport), e.inter, ans.frame(), xdpRedirect, PathReply, want.frame())
		}

		// A legitimate connection whose handshake completes while the
		// flood goes on (fewer flood SYNs in between than the half-open
		// table holds) is established.
		addr, rmac := handshake(t, e, 43100)
		for i := range 20 {
			e.run(t, e.pub, floodSYN(5000+i).frame())
		}
		ack := clientSYN(43100)
		ack.tcpFlags = tcpACK
		e.check(t, "ack during the flood", e.pub, ack.frame(), xdpRedirect, PathForward, toReal(ack, addr, rmac, 80).frame())

		// The established table is now full (8 entries): the next
		// handshake completes on the half-open side but the connection
		// is refused at its ACK, counted, and forgotten (a retransmitted
		// ACK finds no flow: the kernel answers it with a reset).
		handshake(t, e, 43101)
		ack = clientSYN(43101)
		ack.tcpFlags = tcpACK
		e.check(t, "ack, table full", e.pub, ack.frame(), xdpDrop, PathTableFull, nil)
		e.check(t, "ack again", e.pub, ack.frame(), xdpPass, PathTCPNotSYN, ack.frame())
		for _, c := range conns {
			data := clientSYN(c.sport)
			data.tcpFlags = tcpACK
			e.check(t, fmt.Sprintf("data %d, table full", c.sport), e.pub, data.frame(), xdpRedirect, PathForward, toReal(data, c.addr, c.rmac, 80).frame())
		}
	})
}

// A handshake that the flood outruns (more flood SYNs, each answered by the
// real server as a real one would, between SYN and ACK than the half-open
// table holds) loses its half-open entries: the ACK finds no flow and is
// passed (the kernel resets it). That is the bound a flood of rate R puts on
// a table of N half-open entries: a handshake must complete within about
// N / (2R) seconds.
func TestFloodOutrunsSlowHandshake(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnvSized(t, ent, 64, 64)
		handshake(t, e, 43200)
		for i := range 2000 {
			syn := floodSYN(i)
			_, out := e.run(t, e.pub, syn.frame())
			synack := pktSpec{srcMAC: macRip1, dstMAC: macInt, dst: syn.src, ttl: 64, proto: ProtoTCP,
				sport: 80, dport: syn.sport, tcpFlags: tcpSYN | tcpACK, seq: 5000}
			synack.src = AddrFromBe32(binary.NativeEndian.Uint32(out[30:34]))
			e.run(t, e.inter, synack.frame())
		}
		ack := clientSYN(43200)
		ack.tcpFlags = tcpACK
		e.check(t, "late ack", e.pub, ack.frame(), xdpPass, PathTCPNotSYN, ack.frame())
	})
}

func TestUDPPromotedByReply(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		q := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, proto: ProtoUDP,
			sport: 6000, dport: 53, payload: []byte("query")}
		e.check(t, "query", e.pub, q.frame(), xdpRedirect, PathNewFlow, toReal(q, "192.168.200.11", macRip1, 5353).frame())
		e.check(t, "query again", e.pub, q.frame(), xdpRedirect, PathForward, toReal(q, "192.168.200.11", macRip1, 5353).frame())
		where := func() (est, half int) {
			err := e.maps.Flows(func(f FlowEntry) bool {
				if f.Key.Proto == ProtoUDP {
					if f.HalfOpen {
						half++
					} else {
						est++
					}
				}
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			return est, half
		}
		if est, half := where(); est != 0 || half != 2 {
			t.Errorf("before the reply: %d established, %d half-open entries, want 0 and 2", est, half)
		}
		ans := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: rip1, dst: client, ttl: 64, proto: ProtoUDP,
			sport: 5353, dport: 6000, payload: []byte("answer")}
		want := ans
		want.src, want.sport, want.ttl, want.srcMAC, want.dstMAC = vip, 53, 63, macPub, macClient
		e.check(t, "answer", e.inter, ans.frame(), xdpRedirect, PathReply, want.frame())
		if est, half := where(); est != 2 || half != 0 {
			t.Errorf("after the reply: %d established, %d half-open entries, want 2 and 0", est, half)
		}
		e.check(t, "query after", e.pub, q.frame(), xdpRedirect, PathForward, toReal(q, "192.168.200.11", macRip1, 5353).frame())
		e.check(t, "answer after", e.inter, ans.frame(), xdpRedirect, PathReply, want.frame())
	})
}

// Sweep deletes the entries of established connections whose both entries
// are idle past their timeout, and nothing else: not a live connection, not
// one whose other direction is still active.
func TestSweepDeletesDeadConnectionsOnly(t *testing.T) {
	e := seedEnv(t, entryXDP)
	now, err := Jiffies()
	if err != nil {
		t.Fatal(err)
	}
	put := func(cport uint16, fwdSeen, replySeen uint64) {
		t.Helper()
		fk := FlowKey{Saddr: Be32(client), Daddr: Be32(vip), Sport: Be16(cport), Dport: Be16(80), Proto: ProtoTCP}
		f := Flow{NatAddr: Be32(rip1), NatPort: Be16(80), Dir: DirForward, State: StateEstablished, RealId: 1, RealGen: 1,
			LastSeen: fwdSeen, Timeout: 1000}
		r := f
		r.NatAddr, r.NatPort, r.Dir, r.LastSeen = Be32(vip), Be16(80), DirReply, replySeen
		if err := e.maps.PutFlow(fk, f); err != nil {
			t.Fatal(err)
		}
		if err := e.maps.PutFlow(twinKey(fk, f), r); err != nil {
			t.Fatal(err)
		}
	}
	put(1, now, now)           // live
	put(2, now-5000, now)      // the reply side is live
	put(3, now-5000, now-5000) // dead
	put(4, now-5000, now-4000) // dead
	put(5, now+2, now+2)       // refreshed by a packet after the sweep read its clock
	n, err := e.maps.Sweep(now)
	if err != nil {
		t.Fatal(err)
	}
	left := map[uint16]int{}
	if err := e.maps.Flows(func(f FlowEntry) bool {
		port := f.Key.Sport
		if f.Value.Dir == DirReply {
			port = f.Key.Dport
		}
		left[PortFromBe16(port)]++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4 || left[1] != 2 || left[2] != 2 || left[3] != 0 || left[4] != 0 || left[5] != 2 {
		t.Errorf("swept %d entries, left %v; want 4 swept, connections 1, 2 and 5 whole", n, left)
	}
	st, err := e.maps.ReadFlowTableStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Swept != 4 || st.Established != 6 {
		t.Errorf("stats after the sweep %+v, want 4 swept, 6 established entries", st)
	}
}

// A new connection whose reply tuple is still held by an older, closed
// connection of the same client port to the same real server through
// another virtual service: the SYN-ACK must come back from the new
// connection's VIP:port, not the old one's.
func TestNewConnectionTakesReplyTupleOver(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		alt := NewSvcKey(vip, 8080, ProtoTCP)
		e.service(t, 2, alt, 32, []uint32{1}) // VIP:8080 -> rip1:80
		old := clientSYN(45000)
		old.dport = 8080
		e.check(t, "old syn", e.pub, old.frame(), xdpRedirect, PathNewFlow, toReal(old, "192.168.200.11", macRip1, 80).frame())
		synack := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: rip1, dst: client, ttl: 64, proto: ProtoTCP,
			sport: 80, dport: 45000, tcpFlags: tcpSYN | tcpACK, seq: 5000}
		e.run(t, e.inter, synack.frame())
		ack := old
		ack.tcpFlags = tcpACK
		e.check(t, "old ack", e.pub, ack.frame(), xdpRedirect, PathForward, toReal(ack, "192.168.200.11", macRip1, 80).frame())
		fin := ack
		fin.tcpFlags = tcpFIN | tcpACK
		e.run(t, e.pub, fin.frame())

		// The same client port to VIP:80; wrr sends it to rip1.
		syn := clientSYN(45000)
		e.check(t, "new syn", e.pub, syn.frame(), xdpRedirect, PathNewFlow, toReal(syn, "192.168.200.11", macRip1, 80).frame())
		want := synack
		want.src, want.ttl, want.srcMAC, want.dstMAC = vip, 63, macPub, macClient // from VIP:80
		e.check(t, "new syn-ack", e.inter, synack.frame(), xdpRedirect, PathReply, want.frame())

		// The handshake completes; a SYN-ACK the real server sends
		// again finds the new connection's established entry, with no
		// half-open one left, and still goes out from VIP:80.
		ack = syn
		ack.tcpFlags = tcpACK
		e.check(t, "new ack", e.pub, ack.frame(), xdpRedirect, PathForward, toReal(ack, "192.168.200.11", macRip1, 80).frame())
		e.check(t, "syn-ack again", e.inter, synack.frame(), xdpRedirect, PathReply, want.frame())
		// The moment of a promotion on another CPU: the connection's
		// reply entry is in both tables. A SYN-ACK then must not take
		// the connection for an older one and forget it.
		rk := FlowKey{Saddr: Be32(rip1), Daddr: Be32(client), Sport: Be16(80), Dport: Be16(45000), Proto: ProtoTCP}
		var cur Flow
		if err := e.objs.Flows.Lookup(rk, &cur); err != nil {
			t.Fatal(err)
		}
		if err := e.objs.HalfOpen.Put(rk, cur); err != nil {
			t.Fatal(err)
		}
		e.check(t, "syn-ack mid-promotion", e.inter, synack.frame(), xdpRedirect, PathReply, want.frame())
		e.check(t, "ack after it", e.pub, ack.frame(), xdpRedirect, PathForward, toReal(ack, "192.168.200.11", macRip1, 80).frame())
		if err := e.objs.HalfOpen.Delete(rk); err != nil {
			t.Fatal(err)
		}
		// The old connection was forgotten with its tuple: its client's
		// packets to VIP:8080 are no longer forwarded.
		oldAck := old
		oldAck.tcpFlags = tcpACK
		e.check(t, "old ack after", e.pub, oldAck.frame(), xdpPass, PathTCPNotSYN, oldAck.frame())
	})
}

// ReadFlowTableStats reads the events, then counts the entries of both
// tables with a walk: what the control plane's census (bpfplane) does, for
// the packet tables here.
func (m *Maps) ReadFlowTableStats() (FlowTableStats, error) {
	st, err := m.FlowTableEvents()
	if err != nil {
		return st, err
	}
	var est, half int
	err = m.Flows(func(e FlowEntry) bool {
		if e.HalfOpen {
			half++
		} else {
			est++
		}
		return true
	})
	if err != nil {
		return st, err
	}
	st.Count(est, half)
	return st, nil
}
