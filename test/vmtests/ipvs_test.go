// The IPVS data plane against a real kernel IPVS, inside the test VM
// (Debian's 6.1 kernel with its IPVS modules): `director run` with
// `dataplane: ipvs` in the namespace lab serves the seed's wrr split, a
// weight change by reload, and the IPVS table read back through moby/ipvs
// equals the configuration; the connection sync daemon follows the
// heartbeat state (master on the active node, backup on the standby) and
// the standby's kernel learns the active node's connections; and XDP, TC
// and IPVS send the same sequence of new connections to the same real
// servers (parity).
//
// These tests run only in the VM (DIRECTOR_VM=1): `make test-vm`.

package vmtests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/director-lb/director/control/dataplane/ipvsplane"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/labrun"
	"github.com/director-lb/director/test/testenv"
)

// ipvsVMOnly skips outside the VM, where the kernel may have no IPVS.
func ipvsVMOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("DIRECTOR_VM") != "1" {
		t.Skip("runs in the test VM (make test-vm)")
	}
	testenv.RequirePrivileged(t)
}

// directorBinary is the built bin/director (make test-vm builds it), or
// $DIRECTOR_BIN.
func directorBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DIRECTOR_BIN"); p != "" {
		return p
	}
	p, err := filepath.Abs("../../bin/director")
	if err == nil {
		_, err = os.Stat(p)
	}
	if err != nil {
		t.Fatalf("director binary: %v (make build, or set DIRECTOR_BIN)", err)
	}
	return p
}

// startVMDirector runs director run in node's namespace with cfg, whose
// %[1]s stands for the control socket, until the test ends.
func startVMDirector(t *testing.T, l *lab.Lab, node, cfg string) *labrun.Director {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "d.sock")
	return labrun.Start(t, l, node, fmt.Sprintf(cfg, socket), labrun.Options{Bin: directorBinary(t), Socket: socket,
		Ready: 120 * time.Second, Grace: 30 * time.Second}) // the VM is slow
}

// vmStopWithin bounds `director stop` in the VM.
const vmStopWithin = 60 * time.Second

// vmLab builds a lab with HTTP servers on web1 and web2 answering with
// their name.
func vmLab(t *testing.T, opts lab.Options) *lab.Lab {
	t.Helper()
	l, err := lab.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, n := range []string{lab.Web1, lab.Web2} {
		stop, err := l.ServeHTTP(n, ":80")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}
	return l
}

// newConnections makes n new HTTP connections from the client to url and
// returns which server answered each.
func newConnections(t *testing.T, l *lab.Lab, url string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	c := l.HTTPClient(lab.Client, false)
	c.Timeout = 20 * time.Second
	var seq []string
	for i := range n {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("connection %d to %s: %v", i, url, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		seq = append(seq, strings.TrimSpace(string(b)))
	}
	return seq
}

func count(seq []string) map[string]int {
	m := map[string]int{}
	for _, s := range seq {
		m[s]++
	}
	return m
}

// ipvsTable reads node's IPVS table: "tcp 192.168.56.10:80 wrr" ->
// "192.168.200.11:80 masq w3", sorted.
func ipvsTable(t *testing.T, l *lab.Lab, node string) map[string][]string {
	t.Helper()
	h, err := ipvs.New(l.NetnsPath(node))
	if err != nil {
		t.Fatalf("ipvs handle in %s: %v", node, err)
	}
	defer h.Close()
	svcs, err := h.GetServices()
	if err != nil {
		t.Fatalf("ipvs services: %v", err)
	}
	out := map[string][]string{}
	for _, s := range svcs {
		proto := map[uint16]string{6: "tcp", 17: "udp"}[s.Protocol]
		key := fmt.Sprintf("%s %s %s", proto, net.JoinHostPort(s.Address.String(), fmt.Sprint(s.Port)), s.SchedName)
		dsts, err := h.GetDestinations(s)
		if err != nil {
			t.Fatalf("ipvs destinations: %v", err)
		}
		reals := []string{}
		for _, d := range dsts {
			fwd := "other"
			if d.ConnectionFlags&ipvs.ConnectionFlagFwdMask == ipvs.ConnectionFlagMasq {
				fwd = "masq"
			}
			reals = append(reals, fmt.Sprintf("%s %s w%d", net.JoinHostPort(d.Address.String(), fmt.Sprint(d.Port)), fwd, d.Weight))
		}
		slices.Sort(reals)
		out[key] = reals
	}
	return out
}

const ipvsSeedConfig = `node: %s
interfaces: {public: enp0s3, internal: enp0s8}
dataplane: ipvs
control_socket: %%[1]s
services:
  - vip: 192.168.56.10
    port: 80
    scheduler: wrr
    real_servers:
      - {address: 192.168.200.11, port: 80, weight: %d}
      - {address: 192.168.200.12, port: 80, weight: %d}
`

// TestIPVSDirector: the seed's lb1 on kernel IPVS.
func TestIPVSDirector(t *testing.T) {
	ipvsVMOnly(t)
	l := vmLab(t, lab.Options{Nodes: []string{lab.Client, lab.LB1, lab.Web1, lab.Web2}, FloatingOn: lab.LB1})
	node := "vm-ipvs-" + l.Prefix()
	d := startVMDirector(t, l, lab.LB1, fmt.Sprintf(ipvsSeedConfig, node, 3, 1))

	st, err := d.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Dataplane != "ipvs" {
		t.Errorf("data plane %q, want ipvs", st.Dataplane)
	}
	sysctls := map[string]string{}
	for _, s := range st.Stats.Sysctls {
		sysctls[s.Name] = s.Value
	}
	for k, v := range map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.vs.expire_nodest_conn": "1", "net.ipv4.vs.conntrack": "0"} {
		if sysctls[k] != v {
			t.Errorf("status: sysctl %s = %q, want %q (all: %v)", k, sysctls[k], v, st.Stats.Sysctls)
		}
	}
	want := map[string][]string{"tcp 192.168.56.10:80 wrr": {"192.168.200.11:80 masq w3", "192.168.200.12:80 masq w1"}}
	if got := ipvsTable(t, l, lab.LB1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("IPVS table %v, want %v", got, want)
	}

	seq := newConnections(t, l, "http://192.168.56.10/", 40)
	if c := count(seq); c["web1"] != 30 || c["web2"] != 10 {
		t.Errorf("wrr 3:1 over 40 connections: %v, want web1 30, web2 10", c)
	}
	if got := strings.Join(seq[:4], " "); got != "web2 web1 web1 web1" {
		t.Errorf("wrr order %q, want web2 web1 web1 web1 (control/model/sched_wrr.go)", got)
	}
	// The kernel folds its per-CPU counters every 2 s (its rate
	// estimator): poll.
	waitFor(t, "status counts 40 connections", 20*time.Second, func() (bool, string) {
		st, err := d.Status()
		if err != nil || len(st.Services) != 1 {
			return false, fmt.Sprint(err, st.Services)
		}
		return st.Services[0].Connections == 40, fmt.Sprintf("%+v", st.Services[0])
	})
	if out, err := d.CLI("conntrack"); err != nil || !strings.Contains(out, "192.168.56.10:80") {
		t.Errorf("conntrack: %v\n%s", err, out)
	}

	// Weights 1:3 by reload.
	d.WriteConfig(fmt.Sprintf(fmt.Sprintf(ipvsSeedConfig, node, 1, 3), d.Socket))
	if out, err := d.CLI("reload"); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	want = map[string][]string{"tcp 192.168.56.10:80 wrr": {"192.168.200.11:80 masq w1", "192.168.200.12:80 masq w3"}}
	if got := ipvsTable(t, l, lab.LB1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("IPVS table after reload %v, want %v", got, want)
	}
	if c := count(newConnections(t, l, "http://192.168.56.10/", 40)); c["web1"] != 10 || c["web2"] != 30 {
		t.Errorf("wrr 1:3 over 40 connections: %v, want web1 10, web2 30", c)
	}

	// A service of someone else's on another address is left alone.
	h, err := ipvs.New(l.NetnsPath(lab.LB1))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	foreign := &ipvs.Service{Address: net.ParseIP("10.9.9.9").To4(), Port: 80, Protocol: syscall.IPPROTO_TCP,
		AddressFamily: syscall.AF_INET, SchedName: "rr", Netmask: 0xffffffff}
	if err := h.NewService(foreign); err != nil {
		t.Fatal(err)
	}
	if out, err := d.CLI("reload"); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	d.Stop(vmStopWithin)
	want = map[string][]string{"tcp 10.9.9.9:80 rr": {}}
	if got := ipvsTable(t, l, lab.LB1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("IPVS table after director stop %v, want only the foreign service %v", got, want)
	}
}

// syncDaemonsIn reads node's IPVS sync daemons.
func syncDaemonsIn(t *testing.T, l *lab.Lab, node string) []model.SyncDaemon {
	t.Helper()
	var ds []model.SyncDaemon
	err := l.Do(node, func() (err error) {
		ds, err = ipvsplane.GetSyncDaemons()
		return err
	})
	if err != nil {
		t.Fatalf("sync daemons of %s: %v", node, err)
	}
	return ds
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, within, state)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestIPVSSyncDaemon: the pair on IPVS; the active node runs the master
// sync daemon, the standby the backup one, and the standby's kernel
// learns the connections the active node serves.
func TestIPVSSyncDaemon(t *testing.T) {
	ipvsVMOnly(t)
	l := vmLab(t, lab.Options{})
	key := filepath.Join(t.TempDir(), "authkey")
	if err := os.WriteFile(key, []byte("vm-sync-test-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]*labrun.Director{}
	for _, n := range []string{lab.LB1, lab.LB2} {
		peer := map[string]string{lab.LB1: lab.LB2, lab.LB2: lab.LB1}[n]
		cfg := lab.PairConfig{Node: "vms-" + n + "-" + l.Prefix(), Peer: "vms-" + peer + "-" + l.Prefix(),
			Owner: "vms-lb1-" + l.Prefix(), Socket: "%[1]s", KeyFile: key,
			Keepalive: 200 * time.Millisecond, Deadtime: 2 * time.Second, AutoFailback: true}.YAML()
		cfg = strings.Replace(cfg, "\nservices:", "\ndataplane: ipvs\nservices:", 1)
		dirs[n] = startVMDirector(t, l, n, cfg)
	}
	waitFor(t, "lb1 active, lb2 standby", 60*time.Second, func() (bool, string) {
		s1, err1 := dirs[lab.LB1].Status()
		s2, err2 := dirs[lab.LB2].Status()
		if err1 != nil || err2 != nil || s1.HA == nil || s2.HA == nil {
			return false, fmt.Sprint(err1, err2)
		}
		return s1.HA.State == "active" && s2.HA.State == "standby", s1.HA.State + "/" + s2.HA.State
	})
	want := map[string]string{lab.LB1: "master", lab.LB2: "backup"}
	for n, state := range want {
		waitFor(t, n+" sync daemon "+state, 30*time.Second, func() (bool, string) {
			ds := syncDaemonsIn(t, l, n)
			return len(ds) == 1 && ds[0] == model.SyncDaemon{State: state, Interface: lab.IntIf, SyncID: 0}, fmt.Sprint(ds)
		})
	}
	if st, _ := dirs[lab.LB1].Status(); len(st.Stats.Sync) != 1 || st.Stats.Sync[0].State != "master" {
		t.Errorf("lb1 status sync daemons: %+v", st.Stats.Sync)
	}

	// An established connection through lb1 reaches lb2's table.
	conn, err := l.Dialer(lab.Client)(context.Background(), "tcp", lab.VIP+":80")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	// A few requests on it: IPVS syncs a connection when it becomes
	// established and every sync_period packets after sync_threshold.
	br := bufio.NewReader(conn)
	for range 3 {
		if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	local := conn.LocalAddr().String()
	waitFor(t, "lb2 learns "+local+" by connection sync", 60*time.Second, func() (bool, string) {
		out, err := dirs[lab.LB2].CLI("conntrack")
		return err == nil && strings.Contains(out, local), out
	})
}

// parityConfig serves wrr 3:1 on :80 and rr on :8080 with the data plane
// dp.
const parityConfig = `node: %s
interfaces: {public: enp0s3, internal: enp0s8}
dataplane: %s
control_socket: %%[1]s
services:
  - vip: 192.168.56.10
    port: 80
    scheduler: wrr
    real_servers:
      - {address: 192.168.200.11, port: 80, weight: 3}
      - {address: 192.168.200.12, port: 80, weight: 1}
  - vip: 192.168.56.10
    port: 8080
    scheduler: rr
    real_servers:
      - {address: 192.168.200.11, port: 80}
      - {address: 192.168.200.12, port: 80}
`

// TestDataplaneParity: for the same configuration and the same sequence
// of new connections, XDP, TC and IPVS choose the same real servers.
func TestDataplaneParity(t *testing.T) {
	ipvsVMOnly(t)
	l := vmLab(t, lab.Options{Nodes: []string{lab.Client, lab.LB1, lab.Web1, lab.Web2}, FloatingOn: lab.LB1})
	planes := []string{"xdp", "tc", "ipvs"}
	seqs := map[string]string{}
	for _, dp := range planes {
		cfg := fmt.Sprintf(parityConfig, "vm-par-"+dp+"-"+l.Prefix(), dp)
		d := startVMDirector(t, l, lab.LB1, cfg)
		wrr := newConnections(t, l, "http://192.168.56.10/", 8)
		rr := newConnections(t, l, "http://192.168.56.10:8080/", 4)
		seqs[dp] = "wrr " + strings.Join(wrr, " ") + "; rr " + strings.Join(rr, " ")
		t.Logf("%-4s %s", dp, seqs[dp])
		d.Stop(vmStopWithin)
	}
	want := "wrr web2 web1 web1 web1 web2 web1 web1 web1; rr web2 web1 web2 web1"
	for _, dp := range planes {
		if s := seqs[dp]; s != want {
			t.Errorf("%s: %s, want %s", dp, s, want)
		}
	}
}
