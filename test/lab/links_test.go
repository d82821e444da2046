package lab

// The lab's gratuitous ARP, as its neighbours receive it.

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/director-lb/director/heartbeat"
	"github.com/director-lb/director/test/testenv"
)

// GratuitousARP from lb1's enp0s3 reaches the client, on the same switch,
// as exactly the frame the director's heartbeat sends.
func TestGratuitousARPReachesNeighbour(t *testing.T) {
	testenv.RequirePrivileged(t)
	l := newLab(t, Options{Nodes: []string{Client, LB1}})
	var mac net.HardwareAddr
	if err := l.Do(LB1, func() error {
		ifi, err := net.InterfaceByName(PubIf)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr(VIP)
	want := heartbeat.GratuitousARP(mac, vip.As4(), heartbeat.ARPRequest)

	fd := -1
	if err := l.Do(Client, func() error {
		ifi, err := net.InterfaceByName(ClientIf)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index})
	}); err != nil {
		t.Fatalf("capture on the client: %v", err)
	}
	defer func() { _ = unix.Close(fd) }()
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000}); err != nil {
		t.Fatal(err)
	}

	if err := l.GratuitousARP(LB1, PubIf, vip); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	var got [][]byte // the ARP frames seen, for the failure message
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // receive timeout: look at the deadline again
		}
		f := bytes.Clone(buf[:n])
		if bytes.Equal(f, want) {
			return
		}
		got = append(got, f)
	}
	t.Errorf("the client did not receive the gratuitous ARP for %s from lb1 (%s):\nwant %x\ngot  %x", vip, mac, want, got)
}
