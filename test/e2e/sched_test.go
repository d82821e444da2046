package e2e

// The connection-aware schedulers through `director run` on each BPF data
// plane: wlc with a threshold on web1 over held client connections, the
// threshold removed by a reload, which takes effect live.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
)

// wlcConfig serves wlc on :80 over web1 (weight 3, upper threshold
// upper) and web2 (weight 1).
func wlcConfig(node, socket string, upper int, pl plane) string {
	return configHead(node, socket) + fmt.Sprintf(`services:
  - vip: 192.168.56.10
    port: 80
    scheduler: wlc
    real_servers:
      - {address: 192.168.200.11, port: 80, weight: 3, upper_threshold: %d}
      - {address: 192.168.200.12, port: 80, weight: 1}
`, upper) + runConfig{Dataplane: pl.dataplane, TCAttach: pl.tcAttachKey}.tail()
}

// holdConn opens a client connection to the VIP, asks which server
// answers, and keeps the connection open until the test ends.
func holdConn(t *testing.T, l *lab.Lab) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := l.Dialer(lab.Client)(ctx, "tcp", "192.168.56.10:80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
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
	return strings.TrimSpace(string(b))
}

func TestWLCThresholdReload(t *testing.T) {
	forEachPlane(t, func(t *testing.T, pl plane) {
		l := seedLabFor(t, pl)
		socket := filepath.Join(t.TempDir(), "director.sock")
		node := "wlc-" + l.Prefix()
		d := startDirectorIn(t, l, lab.LB1, wlcConfig(node, socket, 2, pl), socket)

		// IPVS list order is web2, web1. wlc: web2 (all idle, the first),
		// web1 (0/3 < 1/1), web1 (1/3 < 1/1); web1 now holds its upper
		// threshold of 2, so web2 takes the next one however heavier web1 is.
		var picks []string
		for range 4 {
			picks = append(picks, holdConn(t, l))
		}
		if got, want := strings.Join(picks, " "), "web2 web1 web1 web2"; got != want {
			t.Errorf("wlc with web1's threshold 2: %s, want %s", got, want)
		}
		// Without the threshold (reload), web1 takes new connections again:
		// 2/3 < 2/1.
		d.WriteConfig(wlcConfig(node, socket, 0, pl))
		if out, err := d.CLI("reload"); err != nil {
			t.Fatalf("reload: %v\n%s", err, out)
		}
		if got := holdConn(t, l); got != "web1" {
			t.Errorf("after the threshold's removal: %s, want web1", got)
		}
		st := d.MustStatus()
		if r := reals(st, 80); r["192.168.200.11"].ActiveConns != 3 || r["192.168.200.12"].ActiveConns != 2 ||
			r["192.168.200.11"].UpperThreshold != 0 {
			t.Errorf("status: %+v", r)
		}
	})
}
