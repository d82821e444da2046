package e2e

// Fragmented datagrams through the VIP, both ways, on every data plane: a
// UDP datagram larger than the MTU leaves the client in fragments, which
// must all reach the same real server (it reassembles them), and the echo
// comes back in fragments, all SNATed to the VIP. And a fragmented ICMP echo,
// to the VIP (the director answers) and through the director to a real
// server.

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
)

func TestFragmentedUDPThroughVIP(t *testing.T) {
	forEachPlane(t, func(t *testing.T, pl plane) {
		l := seedLabFor(t, pl)
		p := startDirectorOn(t, l, pl, uniqueNode(t, l))
		pc, err := l.ListenPacket(lab.Client, "udp4", "192.168.56.100:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pc.Close() }()
		buf := make([]byte, 64<<10)
		before := pinnedPaths(t, p.ready.Dir)
		servers := map[string]int{}
		for _, size := range []int{3000, 9000, 3000, 9000} {
			msg := bytes.Repeat([]byte{byte(size / 1000)}, size)
			copy(msg, fmt.Sprintf("datagram of %d bytes;", size))
			if _, err := pc.WriteTo(msg, net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, 53))); err != nil {
				t.Fatal(err)
			}
			if err := pc.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
				t.Fatal(err)
			}
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatalf("%d-byte datagram: no echo: %v (packet paths: %v)", size, err,
					movedPaths(before, pinnedPaths(t, p.ready.Dir)))
			}
			if from.String() != "192.168.56.10:53" {
				t.Errorf("echo from %s, want 192.168.56.10:53", from)
			}
			who, payload, _ := strings.Cut(string(buf[:n]), ":")
			if payload != string(msg) {
				t.Errorf("%d-byte datagram: echo of %d bytes differs", size, len(payload))
			}
			servers[who]++
		}
		moved := movedPaths(before, pinnedPaths(t, p.ready.Dir))
		if len(servers) != 1 {
			t.Errorf("one UDP flow answered by %v, want one server", servers)
		}
		// 3000 bytes: 3 fragments, 9000: 7; each way.
		if moved["fragment_forward"] < 2*(2*2+2*6) || moved["fragment"] != 0 {
			t.Errorf("packet paths %v: want every later fragment forwarded, none dropped", moved)
		}
		t.Logf("%s: paths %v", pl.name, moved)

		for _, dst := range []string{lab.VIP, "192.168.200.11"} {
			out, err := l.Run(lab.Client, "ping", "-c", "2", "-W", "2", "-s", "3000", dst)
			if err != nil {
				t.Errorf("fragmented ping to %s: %v", dst, err)
			} else if !strings.Contains(out, " 0% packet loss") {
				t.Errorf("fragmented ping to %s:\n%s", dst, out)
			}
		}
	})
}
