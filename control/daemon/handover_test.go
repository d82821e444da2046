package daemon

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/heartbeat"
)

// fakeForwarder records what the window writes (a unit corner: the real
// data plane is exercised by bpf's packet tables and the e2e failback).
type fakeForwarder struct {
	mu    sync.Mutex
	on    bool
	links map[int]dataplane.PeerLink
	sets  int
}

func (f *fakeForwarder) SetPeerForward(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on = on
	f.sets++
	return nil
}

func (f *fakeForwarder) SetPeerLinks(l map[int]dataplane.PeerLink) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links = l
	return nil
}

func (f *fakeForwarder) state() (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on, f.sets
}

func TestHandoverWindow(t *testing.T) {
	fw := &fakeForwarder{}
	own0 := net.HardwareAddr{2, 0, 0, 0, 0x56, 0x0b}
	w := &handoverWindow{fw: fw, settle: 50 * time.Millisecond, log: slog.New(slog.DiscardHandler),
		own: map[netip.Addr]ownLink{
			netip.MustParseAddr("192.168.56.10"):   {name: "pub", index: 3, mac: own0},
			netip.MustParseAddr("192.168.200.250"): {name: "int", index: 4, mac: net.HardwareAddr{2, 0, 0, 0, 0xc8, 0xfb}},
		},
		open: make([]bool, 2), peer: make([][]heartbeat.LinkAd, 2), heard: make([]bool, 2)}

	// Two groups: the window opens with the first move and closes settle
	// after the last one ended.
	w.set(0, true, true)
	w.set(1, true, true)
	w.set(0, false, true)
	if on, _ := fw.state(); !on {
		t.Fatal("window closed while group 1 still moves")
	}
	w.set(1, false, true)
	if on, _ := fw.state(); !on {
		t.Fatal("window closed before the settle time")
	}
	deadline := time.Now().Add(5 * time.Second)
	for on, _ := fw.state(); on; on, _ = fw.state() {
		if time.Now().After(deadline) {
			t.Fatal("window still open 5s after a 50ms settle")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A move that starts again within settle keeps it open.
	w.set(0, true, true)
	w.set(0, false, true)
	w.set(0, true, true)
	time.Sleep(100 * time.Millisecond)
	if on, _ := fw.state(); !on {
		t.Fatal("window closed by an earlier settle timer while a group moves")
	}
	// The peer dies: closed at once.
	w.set(0, false, false)
	if on, _ := fw.state(); on {
		t.Fatal("window open with a dead peer")
	}

	// Links: the peer's MAC per advertised address, on this node's
	// interface for that address; an unknown address is ignored.
	peerPub := [6]byte{2, 0, 0, 0, 0x56, 0x0c}
	w.setPeerLinks(0, []heartbeat.LinkAd{{Addr: netip.MustParseAddr("192.168.56.10"), MAC: peerPub},
		{Addr: netip.MustParseAddr("10.9.9.9"), MAC: [6]byte{2, 9, 9, 9, 9, 9}}})
	w.setPeerLinks(1, []heartbeat.LinkAd{{Addr: netip.MustParseAddr("192.168.200.250"), MAC: [6]byte{2, 0, 0, 0, 0xc8, 0xfc}}})
	fw.mu.Lock()
	got := fw.links
	fw.mu.Unlock()
	if len(got) != 2 || got[3].PeerMAC.String() != "02:00:00:00:56:0c" || got[3].OwnMAC.String() != own0.String() ||
		got[4].PeerMAC.String() != "02:00:00:00:c8:fc" {
		t.Fatalf("peer links %v", got)
	}

	w.set(0, true, true)
	w.stop()
	if on, _ := fw.state(); on {
		t.Fatal("window open after stop")
	}
	w.set(0, true, true)
	if on, _ := fw.state(); on {
		t.Fatal("window opened after stop")
	}
}
