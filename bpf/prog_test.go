package bpf

// Packet tables through BPF_PROG_TEST_RUN. The program runs in a private
// network namespace holding the routes and static neighbours that
// bpf_fib_lookup needs (a public and an internal veth, as on lb1), so the
// redirect path is exercised for real. Each case states the input frame, the
// verdict, the path counter and the exact output frame, built independently.
// Every table runs through both entry points, XDP and TC (an skb test run),
// so that both are proven to emit the same bytes on every path.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The test network: lb1's two interfaces, a client, two real servers with
// static neighbours and one (rip3) without.
var (
	macPub    = mac("02:00:00:00:56:0b")
	macInt    = mac("02:00:00:00:c8:fb")
	macClient = mac("02:00:00:00:56:64")
	macRip1   = mac("02:00:00:00:c8:0b")
	macRip2   = mac("02:00:00:00:c8:0c")
	macOther  = mac("02:00:00:00:56:99")

	vip     = ip4("192.168.56.10")
	lbPub   = ip4("192.168.56.11")
	client  = ip4("192.168.56.100")
	rip1    = ip4("192.168.200.11")
	rip2    = ip4("192.168.200.12")
	rip3    = ip4("192.168.200.13")
	router  = ip4("192.168.200.254")
	outside = ip4("192.168.56.200")
)

var (
	hzOnce   sync.Once
	hzProbed uint64
	hzErr    error
)

// entry names the program under test.
type entry string

const (
	entryXDP entry = "xdp"
	entryTC  entry = "tc"
)

// forEachEntry runs fn as one subtest per entry point.
func forEachEntry(t *testing.T, fn func(t *testing.T, ent entry)) {
	for _, ent := range []entry{entryXDP, entryTC} {
		t.Run(string(ent), func(t *testing.T) { fn(t, ent) })
	}
}

// TC return codes (linux/pkt_cls.h).
const (
	tcOK       = 0
	tcShot     = 2
	tcRedirect = 7
)

const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpTX       = 3
	xdpRedirect = 4
)

// The seed's service: VIP:80/tcp, wrr 3:1 over rip1 (id 1) and rip2 (id 2),
// and a UDP service VIP:53 -> rip1:5353 / rip2:5353 by rr, which also shows
// port translation.
var (
	webKey = NewSvcKey(vip, 80, ProtoTCP)
	dnsKey = NewSvcKey(vip, 53, ProtoUDP)
)

func seedEnv(t *testing.T, ent entry) *fibEnv {
	return seedEnvSized(t, ent, 4096, uint32(HalfOpenSize(4096)))
}

// seedEnvSized is seedEnv with flow tables of the given sizes.
func seedEnvSized(t *testing.T, ent entry, flows, half uint32) *fibEnv {
	e := newFibEnvSized(t, ent, flows, half)
	e.real(t, 1, 1, "192.168.200.11", 80)
	e.real(t, 2, 2, "192.168.200.12", 80)
	e.real(t, 3, 3, "192.168.200.11", 5353)
	e.real(t, 4, 4, "192.168.200.12", 5353)
	e.real(t, 5, 5, "192.168.200.13", 80)
	e.service(t, 0, webKey, 0, []uint32{1, 1, 1, 2})
	e.service(t, 1, dnsKey, 16, []uint32{3, 4})
	return e
}

func clientSYN(sport uint16) pktSpec {
	return pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, id: 7,
		proto: ProtoTCP, sport: sport, dport: 80, tcpFlags: tcpSYN, seq: 1000}
}

// toReal is what the director must emit for s sent to real (addr, port).
func toReal(s pktSpec, addr string, rmac []byte, port uint16) pktSpec {
	s.dst = ip4(addr)
	s.dport = port
	s.ttl--
	s.srcMAC, s.dstMAC = macInt, rmac
	return s
}

func TestWRRSequenceAndDNAT(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		wantReal := []string{"192.168.200.11", "192.168.200.11", "192.168.200.11", "192.168.200.12",
			"192.168.200.11", "192.168.200.11", "192.168.200.11", "192.168.200.12"}
		for i, addr := range wantReal {
			in := clientSYN(uint16(40000 + i))
			in.payload = []byte("hello")
			rmac := macRip1
			if addr == "192.168.200.12" {
				rmac = macRip2
			}
			want := toReal(in, addr, rmac, 80).frame()
			e.check(t, fmt.Sprintf("syn %d", i), e.pub, in.frame(), xdpRedirect, PathNewFlow, want)
		}
		r1, _ := e.maps.RealStats(1)
		r2, _ := e.maps.RealStats(2)
		if r1.Conns != 6 || r2.Conns != 2 || r1.PktsIn != 6 || r2.BytesIn != 2*uint64(len(toReal(clientSYN(1), "192.168.200.12", macRip2, 80).ipPacket())+5) {
			t.Errorf("real stats %+v / %+v, want 6 and 2 connections, one packet each", r1, r2)
		}
	})
}

func TestEstablishedReplyAndState(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		syn := clientSYN(41000)
		e.check(t, "syn", e.pub, syn.frame(), xdpRedirect, PathNewFlow, toReal(syn, "192.168.200.11", macRip1, 80).frame())

		// The real server's SYN-ACK comes back SNATed to the VIP, towards the client.
		synack := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: rip1, dst: client, ttl: 64, proto: ProtoTCP,
			sport: 80, dport: 41000, tcpFlags: tcpSYN | tcpACK, seq: 5000}
		want := synack
		want.src, want.sport, want.ttl = vip, 80, 63
		want.srcMAC, want.dstMAC = macPub, macClient
		e.check(t, "syn-ack", e.inter, synack.frame(), xdpRedirect, PathReply, want.frame())

		ack := clientSYN(41000)
		ack.tcpFlags = tcpACK
		ack.payload = []byte("GET / HTTP/1.0\r\n\r\n")
		e.check(t, "ack", e.pub, ack.frame(), xdpRedirect, PathForward, toReal(ack, "192.168.200.11", macRip1, 80).frame())

		fk := FlowKey{Saddr: Be32(client), Daddr: Be32(vip), Sport: Be16(41000), Dport: Be16(80), Proto: ProtoTCP}
		f, ok, err := e.maps.LookupFlow(fk)
		if err != nil || !ok {
			t.Fatalf("forward flow missing: %v", err)
		}
		if f.State != StateEstablished || f.Dir != DirForward || AddrFromBe32(f.NatAddr) != rip1 {
			t.Errorf("forward flow %+v, want established to %s", f, rip1)
		}
		rk := FlowKey{Saddr: Be32(rip1), Daddr: Be32(client), Sport: Be16(80), Dport: Be16(41000), Proto: ProtoTCP}
		r, ok, _ := e.maps.LookupFlow(rk)
		if !ok || r.State != StateEstablished || r.Dir != DirReply || AddrFromBe32(r.NatAddr) != vip {
			t.Errorf("reply flow %+v (present %v), want established from %s", r, ok, vip)
		}

		// A FIN moves both entries to FIN; a new SYN on the same tuple is then
		// scheduled afresh (next in the wrr order: rip1, then rip1, rip2).
		fin := ack
		fin.tcpFlags = tcpFIN | tcpACK
		fin.payload = nil
		e.check(t, "fin", e.pub, fin.frame(), xdpRedirect, PathForward, toReal(fin, "192.168.200.11", macRip1, 80).frame())
		if f, _, _ := e.maps.LookupFlow(rk); f.State != StateFIN {
			t.Errorf("reply entry state %d after FIN, want %d", f.State, StateFIN)
		}
		e.check(t, "reuse syn", e.pub, syn.frame(), xdpRedirect, PathNewFlow, toReal(syn, "192.168.200.11", macRip1, 80).frame())
		syn2 := clientSYN(41001)
		e.check(t, "next syn", e.pub, syn2.frame(), xdpRedirect, PathNewFlow, toReal(syn2, "192.168.200.11", macRip1, 80).frame())
		syn3 := clientSYN(41002)
		e.check(t, "third syn", e.pub, syn3.frame(), xdpRedirect, PathNewFlow, toReal(syn3, "192.168.200.12", macRip2, 80).frame())
	})
}

func TestUDPPortTranslationAndExpiry(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		q := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, proto: ProtoUDP,
			sport: 5000, dport: 53, payload: []byte("query")}
		e.check(t, "query", e.pub, q.frame(), xdpRedirect, PathNewFlow, toReal(q, "192.168.200.11", macRip1, 5353).frame())

		ans := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: rip1, dst: client, ttl: 64, proto: ProtoUDP,
			sport: 5353, dport: 5000, payload: []byte("answer")}
		want := ans
		want.src, want.sport, want.ttl, want.srcMAC, want.dstMAC = vip, 53, 63, macPub, macClient
		e.check(t, "answer", e.inter, ans.frame(), xdpRedirect, PathReply, want.frame())

		// A datagram without checksum keeps checksum 0.
		nq := q
		nq.noUDPCsum = true
		e.check(t, "no checksum", e.pub, nq.frame(), xdpRedirect, PathForward, toReal(nq, "192.168.200.11", macRip1, 5353).frame())

		// Expiry: with a 1 ns UDP timeout both entries are idle at the next
		// packet, so the same tuple is scheduled anew, on the next real server.
		if err := e.maps.SetTimeouts(Timeouts{SYN: time.Minute, Established: time.Minute, FIN: time.Minute, UDP: 1}); err != nil {
			t.Fatal(err)
		}
		q2 := q
		q2.sport = 5001
		e.check(t, "short-lived", e.pub, q2.frame(), xdpRedirect, PathNewFlow, toReal(q2, "192.168.200.12", macRip2, 5353).frame())
		// Flow times are jiffies: wait until they have moved past the flow's
		// expiry.
		fk := FlowKey{Saddr: Be32(client), Daddr: Be32(vip), Sport: Be16(5001), Dport: Be16(53), Proto: ProtoUDP}
		f, ok, err := e.maps.LookupFlow(fk)
		if err != nil || !ok {
			t.Fatalf("flow missing: %v", err)
		}
		waitJiffiesPast(t, f.LastSeen+f.Timeout)
		e.check(t, "after expiry", e.pub, q2.frame(), xdpRedirect, PathNewFlow, toReal(q2, "192.168.200.11", macRip1, 5353).frame())
	})
}

func TestPassThroughUnmodified(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		arp := make([]byte, 42)
		copy(arp, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(arp[6:], macClient)
		binary.BigEndian.PutUint16(arp[12:], 0x0806)
		ssh := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: lbPub, ttl: 64, proto: ProtoTCP,
			sport: 50000, dport: 22, tcpFlags: tcpSYN}
		https := clientSYN(50001)
		https.dport = 443
		hb := pktSpec{srcMAC: macOther, dstMAC: macPub, src: ip4("192.168.56.12"), dst: ip4("192.168.56.255"),
			ttl: 64, proto: ProtoUDP, sport: 694, dport: 694, payload: []byte("heartbeat")}
		ping := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: lbPub, ttl: 64, proto: 1,
			icmpType: 8, inner: []byte("ping")}
		ackNoFlow := clientSYN(50002)
		ackNoFlow.tcpFlags = tcpACK
		fromReal := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: rip1, dst: ip4("192.168.200.251"), ttl: 64,
			proto: ProtoTCP, sport: 33000, dport: 22, tcpFlags: tcpSYN}
		gre := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, proto: 47, payload: []byte("gre")}
		for _, c := range []struct {
			name  string
			ifidx int
			in    []byte
			path  PktPath
		}{
			{"arp", e.pub, arp, PathNotIPv4},
			{"ssh to director", e.pub, ssh.frame(), PathNoService},
			{"port without service", e.pub, https.frame(), PathNoService},
			{"heartbeat broadcast", e.pub, hb.frame(), PathNoService},
			{"ping director", e.pub, ping.frame(), PathICMPOther},
			{"ack without flow", e.pub, ackNoFlow.frame(), PathTCPNotSYN},
			{"real server own traffic", e.inter, fromReal.frame(), PathNoService},
			{"other protocol", e.pub, gre.frame(), PathNotTCPUDP},
		} {
			e.check(t, c.name, c.ifidx, c.in, xdpPass, c.path, c.in)
		}
	})
}

func TestMalformedAndSpecialPackets(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		syn := clientSYN(42000)
		good := syn.frame()

		ttl1 := syn
		ttl1.ttl = 1
		opts := syn
		opts.options = []byte{1, 1, 1, 0} // NOP NOP NOP EOL
		optsOther := opts
		optsOther.dst = lbPub
		frag := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, proto: ProtoUDP,
			fragOff: 0x2000, sport: 5000, dport: 53, payload: make([]byte, 64)}
		fragTail := frag
		fragTail.fragOff = 8
		fragOther := fragTail
		fragOther.dst = lbPub
		fragReal := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: rip1, dst: client, ttl: 64, proto: ProtoUDP,
			fragOff: 16, payload: make([]byte, 32)}

		badVersion := append([]byte(nil), good...)
		badVersion[14] = 0x65
		shortIHL := append([]byte(nil), good...)
		shortIHL[14] = 0x44
		longTotLen := append([]byte(nil), good...)
		binary.BigEndian.PutUint16(longTotLen[16:], 1500)

		for _, c := range []struct {
			name    string
			ifidx   int
			in      []byte
			verdict uint32
			path    PktPath
		}{
			{"ttl 1", e.pub, ttl1.frame(), xdpDrop, PathTTLExceeded},
			{"ip options to service", e.pub, opts.frame(), xdpDrop, PathIPOptions},
			{"ip options elsewhere", e.pub, optsOther.frame(), xdpPass, PathNoService},
			{"later fragment to vip before its first", e.pub, fragTail.frame(), xdpDrop, PathFragment},
			{"fragment elsewhere", e.pub, fragOther.frame(), xdpPass, PathFragmentPass},
			{"fragment from real server", e.inter, fragReal.frame(), xdpDrop, PathFragment},
			{"ethernet only", e.pub, good[:14], xdpPass, PathL3Malformed},
			{"ip header cut", e.pub, good[:14+12], xdpPass, PathL3Malformed},
			{"tcp header cut", e.pub, fixTotLen(good[:14+20+10]), xdpPass, PathL4Truncated},
			{"ip version 6 in ipv4 frame", e.pub, badVersion, xdpPass, PathL3Malformed},
			{"ihl below 5", e.pub, shortIHL, xdpPass, PathL3Malformed},
			{"total length beyond frame", e.pub, longTotLen, xdpPass, PathL3Malformed},
		} {
			if ent == entryTC && len(c.in) < 14+20 {
				continue // an skb test run refuses an IPv4 frame shorter than its header
			}
			var want []byte
			if c.verdict == xdpPass {
				want = c.in
			}
			e.check(t, c.name, c.ifidx, c.in, c.verdict, c.path, want)
		}
	})
}

// fixTotLen sets the IPv4 total length to the frame's length (keeping the
// header checksum valid) so that a truncation shows at the next layer.
func fixTotLen(f []byte) []byte {
	f = append([]byte(nil), f...)
	binary.BigEndian.PutUint16(f[16:], uint16(len(f)-14))
	f[24], f[25] = 0, 0
	binary.BigEndian.PutUint16(f[24:], csum(f[14:34]))
	return f
}

func TestRealServerRemovedAndNoReal(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		for i := 0; i < 4; i++ { // the 4th goes to rip2
			e.run(t, e.pub, clientSYN(uint16(43000+i)).frame())
		}
		if err := e.maps.DeleteReal(2); err != nil {
			t.Fatal(err)
		}
		ack := clientSYN(43003)
		ack.tcpFlags = tcpACK
		e.check(t, "flow of removed real", e.pub, ack.frame(), xdpDrop, PathRealRemoved, nil)
		// Its replies are dropped too, not leaked with the real address.
		rep := pktSpec{srcMAC: macRip2, dstMAC: macInt, src: rip2, dst: client, ttl: 64, proto: ProtoTCP,
			sport: 80, dport: 43003, tcpFlags: tcpACK}
		e.check(t, "reply of removed real", e.inter, rep.frame(), xdpDrop, PathRealRemoved, nil)

		// Weight 0 everywhere: an empty schedule takes no new connection, but
		// existing flows continue.
		if err := e.maps.PutService(webKey, SvcValue{Id: 0, SchedOff: 0, SchedLen: 0}); err != nil {
			t.Fatal(err)
		}
		e.check(t, "no real server", e.pub, clientSYN(43100).frame(), xdpDrop, PathNoReal, nil)
		ack0 := clientSYN(43000)
		ack0.tcpFlags = tcpACK
		e.check(t, "drained flow continues", e.pub, ack0.frame(), xdpRedirect, PathForward,
			toReal(ack0, "192.168.200.11", macRip1, 80).frame())
	})
}

func TestNoNeighbourPassesRewritten(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		e.service(t, 2, NewSvcKey(vip, 8080, ProtoTCP), 32, []uint32{5})
		syn := clientSYN(44000)
		syn.dport = 8080
		want := syn
		want.dst, want.dport = rip3, 80 // not forwarded yet: TTL and MACs untouched
		e.check(t, "unresolved real", e.pub, syn.frame(), xdpPass, PathNoNeigh, want.frame())
	})
}

func TestICMPTranslation(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		syn := clientSYN(45000)
		e.run(t, e.pub, syn.frame())

		// Toward the real server: a router on the client's path says our reply
		// (VIP:80 -> client) was too big. The real server must see it about its
		// own packet (rip1:80 -> client), sent to rip1.
		reply := pktSpec{src: vip, dst: client, ttl: 63, id: 99, proto: ProtoTCP, sport: 80, dport: 45000,
			tcpFlags: tcpACK, seq: 1, payload: []byte("response body")}
		icmp := pktSpec{srcMAC: macOther, dstMAC: macPub, src: outside, dst: vip, ttl: 64, proto: 1,
			icmpType: 3, icmpCode: 4, icmpRest: 1400, inner: reply.ipPacket()}
		innerWant := reply
		innerWant.src = rip1
		want := icmp
		want.dst, want.ttl, want.srcMAC, want.dstMAC, want.inner = rip1, 63, macInt, macRip1, innerWant.ipPacket()
		e.check(t, "frag needed to real", e.pub, icmp.frame(), xdpRedirect, PathICMPToReal, want.frame())

		// Toward the client: the real server says the client's datagram
		// (client -> rip1:5353, DNATed) hit a closed port. The client must see
		// it from the VIP, about its own datagram to VIP:53.
		q := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, proto: ProtoUDP,
			sport: 5002, dport: 53, payload: []byte("query")}
		e.run(t, e.pub, q.frame())
		sent := q
		sent.dst, sent.dport, sent.ttl = rip1, 5353, 63
		unreach := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: rip1, dst: client, ttl: 64, proto: 1,
			icmpType: 3, icmpCode: 3, inner: sent.ipPacket()}
		innerWant2 := sent
		innerWant2.dst, innerWant2.dport = vip, 53
		want2 := unreach
		want2.src, want2.ttl, want2.srcMAC, want2.dstMAC, want2.inner = vip, 63, macPub, macClient, innerWant2.ipPacket()
		e.check(t, "port unreachable to client", e.inter, unreach.frame(), xdpRedirect, PathICMPToClient, want2.frame())

		// Time exceeded quoting only the first 8 bytes of TCP (no checksum
		// quoted) from a router on the internal side.
		fwd := syn
		fwd.dst, fwd.ttl = rip1, 63
		short := fwd.ipPacket()[:28]
		te := pktSpec{srcMAC: macOther, dstMAC: macInt, src: router, dst: client, ttl: 64, proto: 1,
			icmpType: 11, inner: short}
		shortWant := append([]byte(nil), short...)
		copy(shortWant[16:20], vip.AsSlice())
		shortWant[10], shortWant[11] = 0, 0
		binary.BigEndian.PutUint16(shortWant[10:], csum(shortWant[:20]))
		want3 := te
		want3.src, want3.ttl, want3.srcMAC, want3.dstMAC, want3.inner = vip, 63, macPub, macClient, shortWant
		e.check(t, "time exceeded, short quote", e.inter, te.frame(), xdpRedirect, PathICMPToClient, want3.frame())

		// An error about nothing we track passes untouched; so does a
		// truncated one.
		other := icmp
		other.inner = clientSYN(1).ipPacket()
		e.check(t, "untracked error", e.pub, other.frame(), xdpPass, PathICMPOther, other.frame())
		cut := icmp
		cut.inner = reply.ipPacket()[:24]
		e.check(t, "truncated quote", e.pub, cut.frame(), xdpPass, PathICMPMalformed, cut.frame())
	})
}

// waitJiffiesPast polls the kernel's jiffies (the program's clock) until
// they are past j.
func waitJiffiesPast(t *testing.T, j uint64) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		now, err := Jiffies()
		if err != nil {
			t.Fatal(err)
		}
		if now > j {
			return
		}
		runtime.Gosched()
	}
	t.Fatal("jiffies did not advance within 2s")
}

// FuzzProgram feeds arbitrary frames to both programs: each must return a
// valid verdict, both must emit the same bytes, and a passed frame must
// leave unmodified unless it is service traffic rewritten for the stack (no
// neighbour).
func FuzzProgram(f *testing.F) {
	f.Add(clientSYN(1).frame())
	f.Add(fixTotLen(clientSYN(2).frame()[:40]))
	f.Add(make([]byte, 14))
	q := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, proto: ProtoUDP, sport: 1, dport: 53}
	f.Add(q.frame())
	var envs []*fibEnv
	for _, ent := range []entry{entryXDP, entryTC} {
		e := newFibEnv(f, ent)
		e.real(f, 1, 1, "192.168.200.11", 80)
		e.real(f, 3, 3, "192.168.200.11", 5353)
		e.service(f, 0, webKey, 0, []uint32{1})
		e.service(f, 1, dnsKey, 16, []uint32{3})
		envs = append(envs, e)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 14 || len(in) > 1500 {
			return // BPF_PROG_TEST_RUN refuses frames shorter than Ethernet
		}
		var outs [][]byte
		for _, e := range envs {
			if e.entry == entryTC && len(in) < 14+20 {
				break // an skb test run refuses an IPv4 frame shorter than its header
			}
			before := e.paths(t)
			v, out := e.run(t, e.pub, in)
			after := e.paths(t)
			if v < xdpDrop || v > xdpRedirect {
				t.Fatalf("%s: verdict %d", e.entry, v)
			}
			if v == xdpPass && after[PathNoNeigh] == before[PathNoNeigh] && !bytes.Equal(in, out) {
				t.Fatalf("%s: passed frame modified", e.entry)
			}
			outs = append(outs, out)
		}
		// Both entry points see the same maps' content: same bytes out.
		if len(outs) == 2 && !bytes.Equal(outs[0], outs[1]) {
			t.Fatalf("xdp and tc outputs differ\n%s", diffFrames(outs[1], outs[0]))
		}
	})
}
