package bpfplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// TestSyncInstallReplacesClosingConnection: a client that reuses a source
// port while its older connection through the same tuple is closing
// makes the active node's program forget the old entry and schedule the
// new connection anew, maybe to the other real server. The standby must
// take the peer's record of the newer connection in place of its closing
// copy (with the old reply entry gone), or a failover sends the new
// connection to the old real server. A live established entry is never
// traded for a record of another real server. (Records are of established
// and closing connections only: with the half-open table, a standby does
// not keep SYN records.)
func TestSyncInstallReplacesClosingConnection(t *testing.T) {
	p, m := newTestPlane(t)
	if err := p.Apply([]model.Service{seedService(3, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := m.SetTimeouts(bpf.DefaultTimeouts); err != nil {
		t.Fatal(err)
	}
	st, err := newSyncTable(m, p.applied.Load)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()

	client := netip.MustParseAddrPort("10.0.0.1:40000")
	vip := netip.AddrPortFrom(tVIP, 80)
	web1, web2 := netip.AddrPortFrom(tWeb1, 80), netip.AddrPortFrom(tWeb2, 80)
	rec := func(state uint8, real netip.AddrPort, left time.Duration) heartbeat.SyncRecord {
		return heartbeat.SyncRecord{Op: heartbeat.SyncUpsert, Proto: 6, State: state, Client: client, VIP: vip,
			Real: real, Left: left}
	}
	key := bpf.FlowKey{Saddr: bpf.Be32(client.Addr()), Daddr: bpf.Be32(tVIP), Sport: bpf.Be16(client.Port()),
		Dport: bpf.Be16(80), Proto: 6}
	reply := func(real netip.AddrPort) bpf.FlowKey {
		return bpf.FlowKey{Saddr: bpf.Be32(real.Addr()), Daddr: key.Saddr, Sport: bpf.Be16(real.Port()),
			Dport: key.Sport, Proto: 6}
	}
	install := func(step string, r heartbeat.SyncRecord, installed, conflicts int, want netip.AddrPort, state uint8) {
		t.Helper()
		res, err := st.Install([]heartbeat.SyncRecord{r})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if res.Installed != installed || res.Conflicts != conflicts {
			t.Errorf("%s: %+v, want installed %d, conflicts %d", step, res, installed, conflicts)
		}
		f, ok, err := m.LookupFlow(key)
		if err != nil || !ok {
			t.Fatalf("%s: no forward entry (%v)", step, err)
		}
		if got := addrPort(f.NatAddr, f.NatPort); got != want || f.State != state {
			t.Errorf("%s: the connection goes to %s in state %d, want %s in state %d", step, got, f.State, want, state)
		}
		other := web1
		if want == web1 {
			other = web2
		}
		if _, ok, _ := m.LookupFlow(reply(want)); !ok {
			t.Errorf("%s: no reply entry from %s", step, want)
		}
		if _, ok, _ := m.LookupFlow(reply(other)); ok {
			t.Errorf("%s: a reply entry from %s is left", step, other)
		}
	}

	install("a closing connection to web1", rec(bpf.StateFIN, web1, 100*time.Second), 1, 0, web1, bpf.StateFIN)
	install("a new connection reusing the tuple, to web2", rec(bpf.StateEstablished, web2, 15*time.Minute), 1, 0, web2, bpf.StateEstablished)
	install("a record of web1 against an established entry", rec(bpf.StateEstablished, web1, 10*time.Minute), 0, 1, web2, bpf.StateEstablished)
	install("a closing record of web1 against an established entry", rec(bpf.StateFIN, web1, time.Minute), 0, 1, web2, bpf.StateEstablished)
	install("the connection closing", rec(bpf.StateFIN, web2, 2*time.Minute), 1, 0, web2, bpf.StateFIN)
	install("the next one reusing the tuple, to web1", rec(bpf.StateEstablished, web1, 15*time.Minute), 1, 0, web1, bpf.StateEstablished)
}
