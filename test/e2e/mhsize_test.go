package e2e

// mh at a configured table size through `director run` on each BPF data
// plane: new connections go where the Go model's table of that size sends
// them, status shows the size, and a reload to another size swaps the
// table while held connections keep their real server.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/test/lab"
)

// mhConfig serves mh with mh-port on :80 over web1 and web2 with a table
// of size entries.
func mhConfig(node, socket string, size int, pl plane) string {
	return configHead(node, socket) + fmt.Sprintf(`services:
  - vip: 192.168.56.10
    port: 80
    scheduler: mh
    scheduler_flags: [mh-port]
    mh_table_size: %d
    real_servers:
      - {address: 192.168.200.11, port: 80}
      - {address: 192.168.200.12, port: 80}
`, size) + runConfig{Dataplane: pl.dataplane, TCAttach: pl.tcAttachKey}.tail()
}

// mhConn is a held client connection.
type mhConn struct {
	conn net.Conn
	r    *bufio.Reader
}

// ask sends a request on the connection and returns who answers.
func (c mhConn) ask(t *testing.T) string {
	t.Helper()
	if _, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return strings.TrimSpace(string(b))
}

// mhWant is the server the model's table of size entries picks for a
// client address and port: "web1" or "web2".
func mhWant(size int, client netip.AddrPort) string {
	cfg := []model.RealKey{
		{Addr: netip.MustParseAddr("192.168.200.11"), Port: 80},
		{Addr: netip.MustParseAddr("192.168.200.12"), Port: 80},
	}
	order := model.ListOrder(len(cfg))
	keys := make([]model.RealKey, len(order))
	for i, ci := range order {
		keys[i] = cfg[ci]
	}
	table := model.MaglevTable(keys, []uint32{1, 1}, size)
	li := model.PickMH(table, func(int) bool { return true }, client.Addr().As4(), client.Port(), false)
	return fmt.Sprintf("web%d", order[li]+1)
}

func TestMHTableSizeReload(t *testing.T) {
	forEachPlane(t, func(t *testing.T, pl plane) { testMHTableSizeReload(t, seedLabFor(t, pl), pl) })
}

// TestMHTableSizeReloadUntuned: the same on veths as the kernel makes them,
// with dataplane auto (which chooses TC there).
func TestMHTableSizeReloadUntuned(t *testing.T) {
	testMHTableSizeReload(t, seedLabWith(t, lab.Options{KernelDefaults: true}), plane{dataplane: "auto"})
}

func testMHTableSizeReload(t *testing.T, l *lab.Lab, pl plane) {
	socket := filepath.Join(t.TempDir(), "director.sock")
	node := "mh-" + l.Prefix()
	d := startDirectorIn(t, l, lab.LB1, mhConfig(node, socket, 251, pl), socket)

	open := func(size int) (mhConn, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := l.Dialer(lab.Client)(ctx, "tcp", "192.168.56.10:80")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if err := conn.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
			t.Fatal(err)
		}
		c := mhConn{conn: conn, r: bufio.NewReader(conn)}
		client := conn.LocalAddr().(*net.TCPAddr).AddrPort()
		client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
		if got, want := c.ask(t), mhWant(size, client); got != want {
			t.Errorf("table of %d, client %s: %s answers, want %s (the model's pick)", size, client, got, want)
		}
		return c, mhWant(size, client)
	}
	size := func() int {
		t.Helper()
		for _, s := range d.MustStatus().Services {
			if s.Port == 80 {
				return s.MHTableSize
			}
		}
		t.Fatal("no service :80 in status")
		return 0
	}

	// Held connections, until at least two of them would go to the
	// other server under the new table (so that keeping theirs shows).
	var held []mhConn
	var servers []string
	moved := 0
	for len(held) < 32 && (len(held) < 8 || moved < 2) {
		c, s := open(251)
		held, servers = append(held, c), append(servers, s)
		client := c.conn.LocalAddr().(*net.TCPAddr).AddrPort()
		if mhWant(131071, netip.AddrPortFrom(client.Addr().Unmap(), client.Port())) != s {
			moved++
		}
	}
	if moved < 2 {
		t.Fatalf("%d connections, %d of them moved by the new table: too few to test", len(held), moved)
	}
	if got := size(); got != 251 {
		t.Errorf("status: mh_table_size %d, want 251", got)
	}
	d.WriteConfig(mhConfig(node, socket, 131071, pl))
	if out, err := d.CLI("reload"); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	if got := size(); got != 131071 {
		t.Errorf("status after the reload: mh_table_size %d, want 131071", got)
	}
	for i, c := range held {
		if got := c.ask(t); got != servers[i] {
			t.Errorf("held connection %d: %s answers after the reload, want %s as before", i, got, servers[i])
		}
	}
	for range 8 {
		open(131071)
	}
}
