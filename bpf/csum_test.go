package bpf

import (
	"bytes"
	"math/rand"
	"testing"
)

// TestChecksumsRandom DNATs and SNATs many packets with random payloads,
// ports and checksums and compares each output with the packet built from
// scratch: the incremental updates must agree with a full computation for
// every value, including the 0x0000 / 0xffff corner.
func TestChecksumsRandom(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		r := rand.New(rand.NewSource(7))
		for i := 0; i < 3000; i++ {
			payload := make([]byte, r.Intn(64))
			r.Read(payload)
			sport := uint16(1024 + r.Intn(60000))
			proto := uint8(ProtoTCP)
			dport, rport := uint16(80), uint16(80)
			if i%2 == 1 {
				proto, dport, rport = ProtoUDP, 53, 5353
			}
			in := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, id: uint16(r.Intn(65536)),
				proto: proto, sport: sport, dport: dport, tcpFlags: tcpSYN, seq: r.Uint32(), payload: payload}
			ret, out := e.run(t, e.pub, in.frame())
			if ret != xdpRedirect {
				t.Fatalf("packet %d: verdict %d", i, ret)
			}
			real := out[30:34]
			rmac := macRip1
			if real[3] == 12 {
				rmac = macRip2
			}
			want := toReal(in, "192.168.200."+map[byte]string{11: "11", 12: "12"}[real[3]], rmac, rport)
			if !bytes.Equal(out, want.frame()) {
				t.Fatalf("packet %d (%s): DNAT output differs\n%s", i, map[uint8]string{6: "tcp", 17: "udp"}[proto], diffFrames(out, want.frame()))
			}
			// The reply from that real server.
			rep := pktSpec{srcMAC: rmac, dstMAC: macInt, src: want.dst, dst: client, ttl: 64, id: uint16(r.Intn(65536)),
				proto: proto, sport: rport, dport: sport, tcpFlags: tcpSYN | tcpACK, seq: r.Uint32(), payload: payload}
			ret, out = e.run(t, e.inter, rep.frame())
			wantRep := rep
			wantRep.src, wantRep.sport, wantRep.ttl, wantRep.srcMAC, wantRep.dstMAC = vip, dport, 63, macPub, macClient
			if ret != xdpRedirect || !bytes.Equal(out, wantRep.frame()) {
				t.Fatalf("packet %d: SNAT verdict %d, output differs\n%s", i, ret, diffFrames(out, wantRep.frame()))
			}
		}
	})
}
