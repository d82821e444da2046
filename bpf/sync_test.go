package bpf

import (
	"errors"
	"testing"
	"time"
)

// With sync on, the program reports the forward key of a connection when
// it becomes established and each time it changes state after that
// (whichever direction the change came from), and nothing for packets that
// change nothing nor for half-open connections (a SYN flood must not reach
// the peer); with sync off it reports nothing.
func TestSyncEvents(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		r, err := e.maps.OpenSyncReader()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.Close() }()
		next := func() (FlowKey, bool) {
			r.SetDeadline(time.Now().Add(50 * time.Millisecond))
			k, err := r.Read()
			if errors.Is(err, ErrSyncDeadline) {
				return k, false
			}
			if err != nil {
				t.Fatal(err)
			}
			return k, true
		}

		off := clientSYN(42000)
		e.check(t, "syn, sync off", e.pub, off.frame(), xdpRedirect, PathNewFlow, toReal(off, "192.168.200.11", macRip1, 80).frame())
		if k, ok := next(); ok {
			t.Fatalf("event %+v with sync off", k)
		}

		if err := e.maps.SetSyncEvents(true); err != nil {
			t.Fatal(err)
		}
		fk := FlowKey{Saddr: Be32(client), Daddr: Be32(vip), Sport: Be16(42001), Dport: Be16(80), Proto: ProtoTCP}
		syn := clientSYN(42001)
		e.check(t, "syn", e.pub, syn.frame(), xdpRedirect, PathNewFlow, toReal(syn, "192.168.200.11", macRip1, 80).frame())
		synack := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: rip1, dst: client, ttl: 64, proto: ProtoTCP,
			sport: 80, dport: 42001, tcpFlags: tcpSYN | tcpACK, seq: 5000}
		e.run(t, e.inter, synack.frame())
		ack := clientSYN(42001)
		ack.tcpFlags = tcpACK
		e.run(t, e.pub, ack.frame())
		e.run(t, e.pub, ack.frame()) // no change
		rst := synack
		rst.tcpFlags = tcpRST
		e.run(t, e.inter, rst.frame()) // from the real server: the forward key all the same

		// A half-open connection reset before its handshake completed:
		// never established, never reported.
		half := clientSYN(42002)
		e.check(t, "half-open syn", e.pub, half.frame(), xdpRedirect, PathNewFlow, toReal(half, "192.168.200.11", macRip1, 80).frame())
		halfRST := synack
		halfRST.dport, halfRST.tcpFlags = 42002, tcpRST
		e.run(t, e.inter, halfRST.frame())

		for _, what := range []string{"established", "fin"} {
			k, ok := next()
			if !ok {
				t.Fatalf("no event for %s", what)
			}
			if k != fk {
				t.Errorf("%s: event %+v, want the forward key %+v", what, k, fk)
			}
		}
		if k, ok := next(); ok {
			t.Errorf("extra event %+v", k)
		}
	})
}
