// Parity of the connection-aware schedulers with kernel IPVS, inside the
// test VM: for lc, wlc, sed, nq and sh, `director run` with dataplane xdp,
// tc and ipvs in turn serves the same scripted sequence of connections
// (six opened and held, two of them closed, four more opened; sh from
// several client addresses; persistence: rr with -p and a /30 mask, two
// rounds over the client addresses), and every data plane must send each
// new connection to the same real server.

package vmtests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/test/lab"
)

// schedParityConfig serves one service per scheduler, each over web1
// (weight 3) and web2 (weight 1).
const schedParityConfig = `node: %s
interfaces: {public: enp0s3, internal: enp0s8}
dataplane: %s
control_socket: %%[1]s
services:
` + schedParityService + schedParityService + schedParityService + schedParityService + schedParityService +
	schedParityService + `    persistence: {timeout: 300s, netmask: 255.255.255.252}
`

const schedParityService = `  - vip: 192.168.56.10
    port: %d
    scheduler: %s
    real_servers:
      - {address: 192.168.200.11, port: 80, weight: 3}
      - {address: 192.168.200.12, port: 80, weight: 1}
`

// schedParityPorts are the services' ports, by scheduler.
var schedParityPorts = []struct {
	sched string
	port  int
}{{"lc", 8081}, {"wlc", 8082}, {"sed", 8083}, {"nq", 8084}, {"sh", 8085}, {"rr", 8086}}

// schedParityPersistent is the port of the persistent service (rr, -p 300
// -M 255.255.255.252: four client addresses share a template).
const schedParityPersistent = 8086

// heldConn is a connection kept open after its first request.
type heldConn struct {
	conn   net.Conn
	server string
}

// openHeld opens a connection from the client (from source address src if
// valid) to port of the VIP, asks which server answers, and keeps it open.
func openHeld(t *testing.T, l *lab.Lab, src string, port int) heldConn {
	t.Helper()
	var conn net.Conn
	err := l.Do(lab.Client, func() error {
		d := net.Dialer{Timeout: 20 * time.Second}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		var err error
		conn, err = d.Dial("tcp", fmt.Sprintf("192.168.56.10:%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("connect to :%d: %v", port, err)
	}
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = conn.Close() })
	return heldConn{conn: conn, server: strings.TrimSpace(string(b))}
}

// activeConns returns the active connections of the service on port, as
// director status --json reports them.
func activeConns(d interface {
	CLI(...string) (string, error)
}, port int) (uint64, string) {
	out, err := d.CLI("status", "--json")
	if err != nil {
		return 0, out
	}
	var st model.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return 0, err.Error()
	}
	var n uint64
	for _, s := range st.Services {
		if int(s.Port) == port {
			for _, r := range s.Reals {
				n += r.ActiveConns
			}
		}
	}
	return n, fmt.Sprint(n)
}

// TestSchedulerParity: lc, wlc, sed, nq, sh and a persistent rr service
// pick the same real servers on XDP, TC and kernel IPVS for the same
// scripted connections.
func TestSchedulerParity(t *testing.T) {
	ipvsVMOnly(t)
	l := vmLab(t, lab.Options{Nodes: []string{lab.Client, lab.LB1, lab.Web1, lab.Web2}, FloatingOn: lab.LB1})
	// More client addresses, for sh.
	var clients []string
	for i := 101; i <= 116; i++ {
		clients = append(clients, fmt.Sprintf("192.168.56.%d", i))
	}
	if err := l.Do(lab.Client, func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		for _, c := range clients {
			a, err := netlink.ParseAddr(c + "/24")
			if err != nil {
				return err
			}
			if err := netlink.AddrAdd(link, a); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	planes := []string{"xdp", "tc", "ipvs"}
	seqs := map[string][]string{}
	for _, dp := range planes {
		args := []any{"vm-sp-" + dp + "-" + l.Prefix(), dp}
		for _, sp := range schedParityPorts {
			args = append(args, sp.port, sp.sched)
		}
		cfg := fmt.Sprintf(schedParityConfig, args...)
		d := startVMDirector(t, l, lab.LB1, cfg)
		for _, sp := range schedParityPorts {
			var picks []string
			if sp.port == schedParityPersistent {
				// Two rounds over the clients: the second must repeat the
				// first (templates), and both are the same on every plane.
				for range 2 {
					for _, c := range clients {
						h := openHeld(t, l, c, sp.port)
						picks = append(picks, h.server)
						_ = h.conn.Close()
					}
				}
				if a, b := strings.Join(picks[:len(clients)], " "), strings.Join(picks[len(clients):], " "); a != b {
					t.Errorf("%s: persistence: the second round %s differs from the first %s", dp, b, a)
				}
				// (The IPVS plane's listing folds IPVS's NONE into SYN.)
				out, err := d.CLI("conntrack")
				if dp != "ipvs" && (err != nil || !strings.Contains(out, "NONE")) {
					t.Errorf("%s: conntrack lists no persistence template: %v\n%s", dp, err, out)
				}
			} else if sp.sched == "sh" {
				for _, c := range clients {
					h := openHeld(t, l, c, sp.port)
					picks = append(picks, h.server)
					_ = h.conn.Close()
				}
			} else {
				var held []heldConn
				for range 6 {
					h := openHeld(t, l, "", sp.port)
					held = append(held, h)
					picks = append(picks, h.server)
				}
				_ = held[0].conn.Close()
				_ = held[2].conn.Close()
				waitFor(t, fmt.Sprintf("%s: two connections closed", sp.sched), 30*time.Second, func() (bool, string) {
					n, s := activeConns(d, sp.port)
					return n == 4, s
				})
				picks = append(picks, "|")
				for range 4 {
					picks = append(picks, openHeld(t, l, "", sp.port).server)
				}
			}
			seqs[dp] = append(seqs[dp], sp.sched+": "+strings.Join(picks, " "))
		}
		t.Logf("%-4s %s", dp, strings.Join(seqs[dp], "; "))
		d.Stop(vmStopWithin)
	}
	for _, dp := range planes[:2] {
		for i := range seqs["ipvs"] {
			if i >= len(seqs[dp]) || seqs[dp][i] != seqs["ipvs"][i] {
				got := ""
				if i < len(seqs[dp]) {
					got = seqs[dp][i]
				}
				t.Errorf("%s: %s, ipvs: %s", dp, got, seqs["ipvs"][i])
			}
		}
	}
}
