package dataplane

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/director-lb/director/control/model"
)

// Both data planes read their state back in map order; status shows it
// in the configuration's order, servers being removed last.
func TestSortStatus(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	web := model.ServiceKey{VIP: a("192.168.56.10"), Port: 80, Proto: model.TCP}
	dns := model.ServiceKey{VIP: a("192.168.56.10"), Port: 53, Proto: model.UDP}
	other := model.ServiceKey{VIP: a("10.0.0.1"), Port: 443, Proto: model.TCP}
	desired := map[model.ServiceKey]model.Service{web: {VIP: web.VIP, Port: 80, Proto: model.TCP, Reals: []model.RealServer{
		{Addr: a("192.168.200.12"), Port: 80}, {Addr: a("192.168.200.11"), Port: 80}}}}
	real := func(addr string, port uint16) model.RealStatus {
		return model.RealStatus{RealServer: model.RealServer{Addr: a(addr), Port: port}}
	}
	out := []model.ServiceStatus{
		{ServiceKey: web, Reals: []model.RealStatus{real("192.168.200.13", 80), real("192.168.200.11", 80),
			real("192.168.200.9", 81), real("192.168.200.12", 80), real("192.168.200.9", 80)}},
		{ServiceKey: dns},
		{ServiceKey: other},
	}
	SortStatus(out, desired)
	var got []string
	for _, s := range out {
		got = append(got, fmt.Sprintf("%s:%d", s.VIP, s.Port))
		for _, r := range s.Reals {
			got = append(got, fmt.Sprintf("  %s:%d", r.Addr, r.Port))
		}
	}
	want := []string{"10.0.0.1:443", "192.168.56.10:53", "192.168.56.10:80",
		"  192.168.200.12:80", "  192.168.200.11:80", // configuration order
		"  192.168.200.9:80", "  192.168.200.9:81", "  192.168.200.13:80"} // then by address and port
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
