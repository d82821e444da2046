package e2e

// Two resource groups with two owners (ha.groups), as two haresources
// lines give: lb1 holds group "web" (the seed's VIP and gateway), lb2 group
// "api" (a second VIP and gateway, its service on the real servers' port
// 8080, whose replies the real servers route through the second gateway).

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/test/lab"
)

const (
	groupsVIP2     = "192.168.56.20"
	groupsGateway2 = "192.168.200.240"
	groupsPort2    = "8080"
)

// startGroupsPair starts lb1 and lb2 with the two groups, the real servers
// answering on 80 and 8080 too.
func startGroupsPair(t *testing.T, tm haTimers) *haPair {
	t.Helper()
	l := newLab(t, lab.Options{})
	p := &haPair{t: t, l: l, dirs: map[string]*runningDirector{}, timers: tm, failback: true}
	p.names = map[string]string{lab.LB1: l.Prefix() + "-lb1", lab.LB2: l.Prefix() + "-lb2"}
	p.keyFile = filepath.Join(t.TempDir(), "authkey")
	if err := os.WriteFile(p.keyFile, []byte("lab pair secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{lab.Web1, lab.Web2} {
		stop, err := l.ServeHTTP(n, ":"+groupsPort2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		// Replies of the api service leave through the api group's
		// gateway; the internal network itself stays on link.
		for _, args := range [][]string{
			{"rule", "add", "ipproto", "tcp", "sport", groupsPort2, "lookup", "100"},
			{"route", "add", lab.IntNet, "dev", lab.WebIf, "table", "100"},
			{"route", "add", "default", "via", groupsGateway2, "table", "100"},
		} {
			if out, err := l.Run(n, "ip", args...); err != nil {
				t.Fatalf("%s: ip %v: %v %s", n, args, err, out)
			}
		}
	}
	p.mod = func(c *lab.PairConfig) {
		c.Services = fmt.Sprintf(`  - vip: %s
    port: 80
    scheduler: rr
    real_servers:
      - {address: %s, port: %s}
      - {address: %s, port: %s}
`, groupsVIP2, lab.Web1Addr, groupsPort2, lab.Web2Addr, groupsPort2)
		c.Groups = fmt.Sprintf(`  groups:
    - name: web
      owner: %s
      addresses:
        - {address: %s/24, interface: %s}
        - {address: %s/24, interface: %s}
    - name: api
      owner: %s
      addresses:
        - {address: %s/24, interface: %s}
        - {address: %s/24, interface: %s}
`, p.names[lab.LB1], lab.VIP, lab.PubIf, lab.Gateway, lab.IntIf,
			p.names[lab.LB2], groupsVIP2, lab.PubIf, groupsGateway2, lab.IntIf)
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		p.start(n)
	}
	return p
}

// groupsHeld says which groups lab node n holds: "web", "api",
// "web+api", "" (a group half held shows as "web(partial)").
func (p *haPair) groupsHeld(n string) string {
	var out []string
	for _, g := range []struct{ name, vip, gw string }{{"web", lab.VIP, lab.Gateway}, {"api", groupsVIP2, groupsGateway2}} {
		vip, gw := p.holds(n, g.vip, lab.PubIf), p.holds(n, g.gw, lab.IntIf)
		switch {
		case vip && gw:
			out = append(out, g.name)
		case vip || gw:
			out = append(out, g.name+"(partial)")
		}
	}
	return strings.Join(out, "+")
}

// waitGroupsHeld polls until lb1 and lb2 hold exactly lb1 and lb2.
func (p *haPair) waitGroupsHeld(lb1, lb2 string, within time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	for {
		g1, g2 := p.groupsHeld(lab.LB1), p.groupsHeld(lab.LB2)
		if g1 == lb1 && g2 == lb2 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			p.t.Fatalf("lb1 holds %q and lb2 %q after %v, want %q and %q", g1, g2, within, lb1, lb2)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// groupStatus is director n's status of the group named name.
func (p *haPair) groupStatus(n, name string) model.HAGroupStatus {
	p.t.Helper()
	st := p.dirs[n].MustStatus()
	if st.HA != nil {
		for _, g := range st.HA.Groups {
			if g.Name == name {
				return g
			}
		}
	}
	p.t.Fatalf("%s reports no ha group %q: %+v", n, name, st.HA)
	return model.HAGroupStatus{}
}

// askVIP makes a request on a new connection to vip:80 and returns who
// answered.
func askVIP(l *lab.Lab, vip string) (string, error) {
	c := l.HTTPClient(lab.Client, false)
	c.Timeout = 2 * time.Second
	resp, err := c.Get("http://" + vip + "/")
	if err != nil {
		return "", err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.Header.Get(lab.ServedByHeader), nil
}

// bothServed checks that new connections to both VIPs are answered.
func bothServed(t *testing.T, l *lab.Lab, when string) {
	t.Helper()
	for _, vip := range []string{lab.VIP, groupsVIP2} {
		if who, err := askVIP(l, vip); err != nil || who == "" {
			t.Errorf("%s: a new connection to %s: %v (served by %q)", when, vip, err, who)
		}
	}
}

func TestHAGroupsTwoOwners(t *testing.T) {
	tm := haTimers{100 * time.Millisecond, 500 * time.Millisecond}
	p := startGroupsPair(t, tm)
	p.waitGroupsHeld("web", "api", 15*time.Second)
	// Held from acquiring on: the gratuitous ARPs take a little longer.
	for n, want := range map[string][2]string{lab.LB1: {"active", "standby"}, lab.LB2: {"standby", "active"}} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			w, a := p.groupStatus(n, "web").State, p.groupStatus(n, "api").State
			if w == want[0] && a == want[1] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: web %s, api %s 5s after the addresses were held; want %s, %s", n, w, a, want[0], want[1])
			}
			time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
		}
	}
	out, err := p.dirs[lab.LB2].CLI("status")
	if err != nil || !strings.Contains(out, "ha: web standby, api active") ||
		!strings.Contains(out, "group api: active (owner "+p.names[lab.LB2]+")") ||
		!strings.Contains(out, "address "+groupsVIP2+"/24 on enp0s3: held") {
		t.Errorf("lb2's status does not show the groups: %v\n%s", err, out)
	}
	m := p.dirs[lab.LB2].metricsIn(lab.LB2)
	if metricValue(t, m, "director_ha_state", map[string]string{"group": "api", "state": "active"}) != 1 ||
		metricValue(t, m, "director_ha_state", map[string]string{"group": "web", "state": "standby"}) != 1 ||
		metricValue(t, m, "director_ha_address_held", map[string]string{"group": "api", "address": groupsVIP2 + "/24"}) != 1 {
		t.Errorf("lb2's metrics do not show the groups:\n%s", grepLines(m, "director_ha_"))
	}
	for _, vip := range []string{lab.VIP, groupsVIP2} {
		waitServed(t, p.l, vip, 15*time.Second)
	}

	// Keep-alive connections of both groups; each node's table gets the
	// other's through sync (both are active for a group: both send).
	const conns = 10
	keptAPI := openKeptTo(t, p.l, conns, groupsVIP2)
	waitSynced(t, p.names[lab.LB1], conns, 5*time.Second)
	keptWeb := openKept(t, p.l, 2*conns)
	waitSynced(t, p.names[lab.LB2], 3*conns, 5*time.Second)
	keptOK := func(when string, kept []*keptConn) {
		t.Helper()
		ok, problems := surviving(kept)
		t.Logf("%s: %d of %d keep-alive connections to %s answered by their real server", when, ok, len(kept), kept[0].vip)
		if ok != len(kept) {
			t.Errorf("%s: %d of %d keep-alive connections to %s survived: %v", when, ok, len(kept), kept[0].vip, problems)
		}
	}
	loop := p.l.StartConcurrentClientLoop()
	defer loop.Stop()
	if err := loop.WaitSuccesses(time.Time{}, 5, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// lb1 fails: lb2 holds both groups.
	cut := time.Now()
	if err := p.l.SetLinks(lab.LB1, false); err != nil {
		t.Fatal(err)
	}
	took := p.waitGroupsHeld("web", "web+api", tm.deadtime+5*time.Second) // lb1 keeps its addresses on downed links
	if err := loop.WaitSuccesses(time.Now(), 5, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	outage, _, _ := loop.Outage(cut)
	t.Logf("failover: lb2 held both groups %v after lb1's links went down; longest gap between answered new connections to the web VIP with a failed one in it %v, %d failed; load %s",
		took, outage, loop.FailedBetween(cut, time.Now()), loadAverage())
	keptOK("after the failover", keptWeb)
	keptOK("after the failover", keptAPI)
	bothServed(t, p.l, "after the failover")
	apiMoves := p.groupStatus(lab.LB2, "api").Transitions
	for _, web := range []string{lab.Web1Addr, lab.Web2Addr} {
		waitHealth(t, p.dirs[lab.LB1], web, "down", 20*time.Second)
	}

	// lb1 comes back: it takes "web" back without a gap; lb2 keeps "api".
	before := map[string]model.Status{lab.LB1: p.dirs[lab.LB1].MustStatus(), lab.LB2: p.dirs[lab.LB2].MustStatus()}
	if err := p.l.SetLinks(lab.LB1, true); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	took = p.waitGroupsHeld("web", "api", 30*time.Second)
	if err := loop.WaitSuccesses(time.Now(), 10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	gap, stalled, ok := loop.Outage(back)
	_, failed := loop.Successes()
	t.Logf("failback: lb1 held web alone %v after its return; longest gap between answered connections with a failed one in it %v (without: %v); %d failed in the whole run; load %s",
		took, gap, stalled, failed, loadAverage())
	if !ok || gap > hitlessLimit() {
		var at []string
		for _, f := range loop.FailedSince(back) {
			at = append(at, f.Sub(back).Round(time.Millisecond).String())
		}
		t.Errorf("failback: longest gap between answered connections %v, want at most %v (failed attempts started at %v after lb1's return, lb1 active for web at %v, lb2 released it at %v)",
			gap, hitlessLimit(), at, p.groupStatus(lab.LB1, "web").LastTransition.Sub(back).Round(time.Millisecond),
			p.groupStatus(lab.LB2, "web").LastTransition.Sub(back).Round(time.Millisecond))
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		t.Logf("failback: %s's packets meanwhile %v", n, packetsDiff(before[n].Stats.Packets, p.dirs[n].MustStatus().Stats.Packets))
	}
	checkHandoverWindow(t, p, "failback", nil)
	if w, a := p.groupStatus(lab.LB1, "web").State, p.groupStatus(lab.LB2, "api").State; w != "active" || a != "active" {
		t.Errorf("after the failback: lb1's web %s, lb2's api %s; want both active", w, a)
	}
	if n := p.groupStatus(lab.LB2, "api").Transitions; n != apiMoves {
		t.Errorf("lb2's api group changed state %d times during lb1's return, want none", n-apiMoves)
	}
	keptOK("after the failback", keptWeb)
	keptOK("after the failback", keptAPI)
	bothServed(t, p.l, "after the failback")
}

// waitServed polls until a new connection to vip:80 is answered.
func waitServed(t *testing.T, l *lab.Lab, vip string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, err := askVIP(l, vip)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not served after %v: %v", vip, within, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}
