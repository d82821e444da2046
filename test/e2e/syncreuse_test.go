package e2e

// A client that reuses a source port while its older connection through
// the same tuple is still closing on the directors (tcp_fin, 120 s):
// lb1's program forgets the closing entry and schedules the new
// connection anew, often to the other real server. lb2 must take lb1's
// record of the new connection instead of keeping its copy of the old
// one (which it used to count as a sync "conflict"), or a failover sends
// the new connection to the old real server.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/loader"
	"github.com/director-lb/director/test/lab"
)

// portConn is one HTTP/1.1 connection from a fixed client port.
type portConn struct {
	c net.Conn
	r *bufio.Reader
}

// dialFrom opens a connection from the client's port to the VIP, the
// port reusable at once (the real server closes first: the client keeps
// no TIME_WAIT).
func dialFrom(l *lab.Lab, port int) (*portConn, error) {
	var c net.Conn
	err := l.Do(lab.Client, func() error {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(lab.ClientAddr), Port: port},
			Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
				}); err != nil {
					return err
				}
				return serr
			}}
		var err error
		c, err = d.Dial("tcp", net.JoinHostPort(lab.VIP, "80"))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &portConn{c: c, r: bufio.NewReader(c)}, nil
}

// ask makes one request and returns the real server that answered; with
// last, the server closes the connection after answering.
func (p *portConn) ask(last bool) (string, error) {
	_ = p.c.SetDeadline(time.Now().Add(3 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: " + lab.VIP + "\r\n"
	if last {
		req += "Connection: close\r\n"
	}
	if _, err := io.WriteString(p.c, req+"\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(p.r, nil)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.Header.Get(lab.ServedByHeader), nil
}

// closeAfterServer waits for the server's FIN, then closes.
func (p *portConn) closeAfterServer() error {
	_ = p.c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := p.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("want the server's close, got %v", err)
	}
	return p.c.Close()
}

// flowOfPort gives node's forward entry of the client's port.
func flowOfPort(node string, port int) (bpf.Flow, bool, error) {
	flows, err := pinnedFlows(loader.PinDir(loader.DefaultPinRoot, node))
	for k, v := range flows {
		if v.Dir == bpf.DirForward && bpf.PortFromBe16(k.Sport) == uint16(port) {
			return v, true, err
		}
	}
	return bpf.Flow{}, false, err
}

// waitFlow polls node's entry of port until ok says yes.
func waitFlow(t *testing.T, node string, port int, within time.Duration, what string, ok func(bpf.Flow) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		f, have, err := flowOfPort(node, port)
		if err == nil && have && ok(f) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's entry of client port %d after %v: %+v (present %v, %v); want %s", node, port, within, f, have, err, what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

func TestSyncPortReuseReplacesClosingConnection(t *testing.T) {
	tm := haTimers{100 * time.Millisecond, 500 * time.Millisecond}
	p := startPair(t, tm, true)
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	waitReady(t, p, lab.LB2, 10*time.Second)
	lb2 := p.names[lab.LB2]
	const port = 45123

	// The first connection from the port: one request, closed by the
	// server. Both directors keep it, closing, for tcp_fin.
	c, err := dialFrom(p.l, port)
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.ask(true)
	if err == nil {
		err = c.closeAfterServer()
	}
	if err != nil {
		t.Fatal(err)
	}
	waitFlow(t, lb2, port, 3*time.Second, "closing", func(f bpf.Flow) bool { return f.State == bpf.StateFIN })

	// New connections from the same port until one goes to the other
	// real server (wrr: within a round of the schedule); it stays open.
	var kept *portConn
	second := ""
	for i := 0; i < 8 && kept == nil; i++ {
		c, err := dialFrom(p.l, port)
		if err != nil {
			t.Fatalf("connection %d from port %d: %v", i+2, port, err)
		}
		server, err := c.ask(false)
		if err != nil {
			t.Fatalf("connection %d from port %d: %v", i+2, port, err)
		}
		if server != first {
			kept, second = c, server
			break
		}
		if _, err := c.ask(true); err != nil {
			t.Fatal(err)
		}
		if err := c.closeAfterServer(); err != nil {
			t.Fatal(err)
		}
	}
	if kept == nil {
		t.Fatalf("8 connections from port %d all went to %s", port, first)
	}
	defer func() { _ = kept.c.Close() }()
	t.Logf("port %d: first connection to %s (closed), then one to %s (kept open)", port, first, second)

	// lb2 has the new connection, not its copy of the closed one.
	want := map[string]string{lab.Web1: lab.Web1Addr, lab.Web2: lab.Web2Addr}[second]
	waitFlow(t, lb2, port, 3*time.Second, "the open connection to "+want, func(f bpf.Flow) bool {
		return bpf.AddrFromBe32(f.NatAddr).String() == want && f.State == bpf.StateEstablished
	})
	if st := p.dirs[lab.LB2].MustStatus(); st.HA == nil || st.HA.Sync == nil || st.HA.Sync.Conflicts != 0 {
		t.Errorf("lb2's sync counted conflicts: %+v", st.HA.Sync)
	}

	// After a failover the open connection is answered by its server.
	p.crash(lab.LB1)
	p.waitHolds(lab.LB2, tm.deadtime+5*time.Second)
	p.waitState(lab.LB2, "active", 5*time.Second)
	got, err := kept.ask(false)
	if err != nil || got != second {
		t.Errorf("the open connection after the failover: answered by %q (%v), want %s", got, err, second)
	}
}
