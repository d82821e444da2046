// Package e2e holds the end-to-end tests of director: the seed's lab as
// network namespaces (test/lab), a director control process on lb1 with the
// XDP or TC program attached to its real interfaces (planes_test.go), Go
// net/http servers on web1 and web2, and real TCP/UDP clients on the client
// node.
package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/director-lb/director/test/testenv"

	"github.com/cilium/ebpf"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/loader"
	"github.com/director-lb/director/test/lab"
)

var (
	vip  = netip.MustParseAddr("192.168.56.10")
	web1 = netip.MustParseAddr("192.168.200.11")
	web2 = netip.MustParseAddr("192.168.200.12")
)

// seedServices: the seed's wrr 3:1 on :80, the same servers by rr on
// :8080, and a UDP echo service :53 -> :5353 by rr.
func seedServices() []model.Service {
	return []model.Service{
		{VIP: vip, Port: 80, Proto: model.TCP, Scheduler: "wrr", Reals: []model.RealServer{
			{Addr: web1, Port: 80, Weight: 3}, {Addr: web2, Port: 80, Weight: 1}}},
		{VIP: vip, Port: 8080, Proto: model.TCP, Scheduler: "rr", Reals: []model.RealServer{
			{Addr: web1, Port: 80, Weight: 1}, {Addr: web2, Port: 80, Weight: 1}}},
		{VIP: vip, Port: 53, Proto: model.UDP, Scheduler: "rr", Reals: []model.RealServer{
			{Addr: web1, Port: 5353, Weight: 1}, {Addr: web2, Port: 5353, Weight: 1}}},
	}
}

// seedLabWith builds client, lb1, web1, web2 with lb1 owning the floating
// addresses, HTTP servers on :80 and UDP echo servers on :5353, and opts'
// other settings.
func seedLabWith(t *testing.T, opts lab.Options) *lab.Lab {
	t.Helper()
	opts.Nodes = []string{lab.Client, lab.LB1, lab.Web1, lab.Web2}
	opts.FloatingOn = lab.LB1
	l := newLab(t, opts)
	for _, n := range []string{lab.Web1, lab.Web2} {
		stopU, err := l.ServeUDPEcho(n, ":5353")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stopU)
	}
	return l
}

// newLab builds a lab (removed at the test's end) with HTTP servers on
// web1 and web2, answering with their name.
func newLab(t *testing.T, opts lab.Options) *lab.Lab {
	t.Helper()
	testenv.RequirePrivileged(t)
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
		if !l.Has(n) {
			continue
		}
		stop, err := l.ServeHTTP(n, ":80")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}
	return l
}

// startDirectorSpec runs the control process on lb1 with a data plane mode
// and registers removal.
func startDirectorSpec(t *testing.T, l *lab.Lab, node string, mode loader.Mode, tcAttach string) *controlProc {
	t.Helper()
	spec := controlSpec{Netns: l.NetnsPath(lab.LB1), Node: node, Mode: mode, TCAttach: tcAttach,
		Interfaces: []string{"enp0s3", "enp0s8"}, Flows: 65536, Services: seedServices()}
	p := startControl(t, spec)
	t.Cleanup(func() {
		p.stop(t, syscall.SIGINT)
		if err := loader.Remove("", node); err != nil { // if the process died first
			t.Error(err)
		}
	})
	return p
}

// get does one request and returns the body (the server's name).
func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// split makes n new connections to url and counts answers per server.
func split(t *testing.T, l *lab.Lab, url string, n int) (map[string]int, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := l.HTTPClient(lab.Client, false)
	c.Timeout = 5 * time.Second
	counts := map[string]int{}
	var seq []string
	for i := 0; i < n; i++ {
		who, err := get(ctx, c, url)
		if err != nil {
			t.Fatalf("request %d to %s: %v", i, url, err)
		}
		counts[who]++
		seq = append(seq, who)
	}
	return counts, seq
}

func uniqueNode(t *testing.T, l *lab.Lab) string {
	return "e2e-" + l.Prefix()
}

func TestSeedSplitsAndKeepAlive(t *testing.T) {
	forEachPlane(t, func(t *testing.T, pl plane) {
		l := seedLabFor(t, pl)
		p := startDirectorOn(t, l, pl, uniqueNode(t, l)) // checks the mode and the hooks

		paths := pinnedPaths(t, p.ready.Dir) // a wrong split reports the paths taken
		counts, seq := split(t, l, "http://192.168.56.10/", 40)
		if counts["web1"] != 30 || counts["web2"] != 10 {
			t.Errorf("wrr 3:1 over 40 connections: %v, want web1 30, web2 10 (packet paths: %v)",
				counts, movedPaths(paths, pinnedPaths(t, p.ready.Dir)))
		}
		// IPVS's order for the seed (control/model/scheduler.go): ipvsadm added web1
		// (3) then web2 (1), so the list is [web2, web1], and a service filled
		// by ipvsadm -a starts wrr's sweep at its last pass.
		if got := strings.Join(seq[:8], " "); got != "web2 web1 web1 web1 web2 web1 web1 web1" {
			t.Errorf("wrr order %q, want IPVS's web2 web1 web1 web1, twice", got)
		}

		paths = pinnedPaths(t, p.ready.Dir)
		counts, _ = split(t, l, "http://192.168.56.10:8080/", 40)
		if counts["web1"] != 20 || counts["web2"] != 20 {
			t.Errorf("rr over 40 connections: %v, want 20/20 (packet paths: %v)",
				counts, movedPaths(paths, pinnedPaths(t, p.ready.Dir)))
		}

		// One keep-alive connection, 100 requests: one TCP connection, one
		// server.
		ka := l.HTTPClient(lab.Client, true)
		ka.Timeout = 5 * time.Second
		var conns int
		var remote string
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				conns++
				remote = i.Conn.RemoteAddr().String()
			}
		}}
		ctx := httptrace.WithClientTrace(context.Background(), trace)
		servers := map[string]int{}
		for i := 0; i < 100; i++ {
			who, err := get(ctx, ka, "http://192.168.56.10/")
			if err != nil {
				t.Fatalf("keep-alive request %d: %v", i, err)
			}
			servers[who]++
		}
		if conns != 1 || len(servers) != 1 {
			t.Errorf("keep-alive: %d connections, servers %v; want 1 connection on 1 server", conns, servers)
		}
		if remote != "192.168.56.10:80" {
			t.Errorf("keep-alive peer %s, want the VIP", remote)
		}

		// Removal takes the program off its hook and leaves nothing
		// there (filter, qdisc the director added, link).
		p.stop(t, syscall.SIGINT)
		expectNoHooks(t, l)
	})
}

func TestUDPServiceRepliesFromVIP(t *testing.T) {
	forEachPlane(t, func(t *testing.T, pl plane) {
		l := seedLabFor(t, pl)
		startDirectorOn(t, l, pl, uniqueNode(t, l))
		pc, err := l.ListenPacket(lab.Client, "udp4", "192.168.56.100:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pc.Close() }()
		seen := map[string]int{}
		buf := make([]byte, 1500)
		for i := 0; i < 4; i++ {
			msg := fmt.Sprintf("ping-%d", i)
			if _, err := pc.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, 53))); err != nil {
				t.Fatal(err)
			}
			if err := pc.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
				t.Fatal(err)
			}
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
			// An unconnected socket shows the real source: it must be the VIP.
			if from.String() != "192.168.56.10:53" {
				t.Errorf("reply from %s, want 192.168.56.10:53", from)
			}
			who, payload, _ := strings.Cut(string(buf[:n]), ":")
			if payload != msg {
				t.Errorf("reply %q, want echo of %q", buf[:n], msg)
			}
			seen[who]++
		}
		// One flow (same client port): every datagram to the same server.
		if len(seen) != 1 {
			t.Errorf("one UDP flow answered by %v, want a single server", seen)
		}
	})
}

func TestDirectorOwnTrafficUnaffected(t *testing.T) {
	forEachPlane(t, func(t *testing.T, pl plane) {
		l := seedLabFor(t, pl)
		startDirectorOn(t, l, pl, uniqueNode(t, l))
		ln, err := l.Listen(lab.LB1, "tcp4", "192.168.56.11:2222")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = ln.Close() }()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("lb1 itself\n")) // the client checks what it got
				_ = c.Close()
			}
		}()
		for _, addr := range []string{"192.168.56.11:2222", "192.168.56.10:2222"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			conn, err := l.Dialer(lab.Client)(ctx, "tcp4", addr)
			cancel()
			if addr == "192.168.56.10:2222" {
				// The VIP is the director's own address on ports without
				// a service: the packet is passed unmodified and the stack
				// answers, here with a refusal (nothing listens there).
				// A timeout would mean the program swallowed it.
				if err == nil {
					_ = conn.Close()
					t.Error("VIP:2222 accepted a connection; nothing listens there")
				} else if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("VIP:2222: %v, want connection refused by the director's stack", err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("tcp to the director's own address: %v", err)
			}
			b, _ := io.ReadAll(conn)
			_ = conn.Close()
			if string(b) != "lb1 itself\n" {
				t.Errorf("director's own service answered %q", b)
			}
		}
		for _, dst := range []string{"192.168.56.11", "192.168.56.10"} {
			if out, err := l.Run(lab.Client, "ping", "-c", "2", "-W", "2", dst); err != nil {
				t.Errorf("ping %s through the %s program: %v\n%s", dst, pl.want, err, out)
			}
		}
		// The internal side: web1 reaches its gateway and lb1's own address.
		for _, dst := range []string{"192.168.200.250", "192.168.200.251"} {
			if out, err := l.Run(lab.Web1, "ping", "-c", "1", "-W", "2", dst); err != nil {
				t.Errorf("ping %s from web1: %v\n%s", dst, err, out)
			}
		}
	})
}

// TestReplyWithUnresolvedNeighbour: when lb1 has forgotten the client's MAC
// address, the SNATed reply goes to the kernel, which resolves it and
// forwards it (accept_local lets a packet with the VIP as source through),
// and the connection goes on.
func TestReplyWithUnresolvedNeighbour(t *testing.T) {
	forEachPlane(t, func(t *testing.T, pl plane) {
		l := seedLabFor(t, pl)
		p := startDirectorOn(t, l, pl, uniqueNode(t, l))
		c := l.HTTPClient(lab.Client, true)
		c.Timeout = 5 * time.Second
		first, err := get(context.Background(), c, "http://192.168.56.10/")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := l.Run(lab.LB1, "ip", "neigh", "flush", "dev", "enp0s3"); err != nil {
			t.Fatalf("flush neighbours: %v %s", err, out)
		}
		before := pinnedPaths(t, p.ready.Dir)
		// The cached next hop lives one second: poll until a reply has taken
		// the unresolved path, each request checked on the way.
		deadline := time.Now().Add(5 * time.Second)
		for pinnedPaths(t, p.ready.Dir)[bpf.PathNoNeigh] == before[bpf.PathNoNeigh] {
			if time.Now().After(deadline) {
				t.Fatal("no reply took the unresolved-neighbour path within 5s")
			}
			who, err := get(context.Background(), c, "http://192.168.56.10/")
			if err != nil {
				t.Fatalf("request after the neighbour flush: %v (paths: %v)", err, movedPaths(before, pinnedPaths(t, p.ready.Dir)))
			}
			if who != first {
				t.Fatalf("keep-alive connection moved from %s to %s", first, who)
			}
		}
	})
}

// pinnedPaths reads the path counters of a node's pinned state.
func pinnedPaths(t *testing.T, dir string) []uint64 {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, "path_stats"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close() }()
	out := make([]uint64, bpf.NumPaths)
	for i := range out {
		var per []uint64
		if err := m.Lookup(uint32(i), &per); err != nil {
			t.Fatal(err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out
}

// movedPaths names the path counters that changed between two readings.
func movedPaths(before, after []uint64) map[string]uint64 {
	out := map[string]uint64{}
	for i := range after {
		if after[i] != before[i] {
			out[bpf.PktPath(i).String()] = after[i] - before[i]
		}
	}
	return out
}

func drops(paths []uint64) map[string]uint64 {
	out := map[string]uint64{}
	for i, v := range paths {
		if info := bpf.Paths[bpf.PktPath(i)]; info.Verdict == "drop" && v > 0 {
			out[info.Name] = v
		}
	}
	return out
}

// TestKillDuringDownloadAndAdopt: a kill -9 of the control plane during a
// long download does not interrupt it; a restart adopts the pinned state
// (same flows, no drop); removal leaves nothing behind.
func TestKillDuringDownloadAndAdopt(t *testing.T) {
	forEachPlane(t, func(t *testing.T, pl plane) {
		l := seedLabFor(t, pl)
		node := uniqueNode(t, l)
		p := startDirectorOn(t, l, pl, node)
		if p.ready.Adopted {
			t.Fatal("first start adopted state that should not exist")
		}
		dir := p.ready.Dir

		// 3 MB at 1 MB/s through the VIP, started before the kill.
		const size = 3 << 20
		dl := startDownload(t, l, size, 1<<20)

		flowsBefore := countFlows(t, dir)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		t.Logf("control plane killed: %v", <-p.done)
		expectPlane(t, l, pl) // still attached after the control plane's death
		pathsBeforeRestart := pinnedPaths(t, dir)

		p2 := startDirectorOn(t, l, pl, node)
		if !p2.ready.Adopted {
			t.Error("restart did not adopt the pinned state")
		}
		if got := countFlows(t, dir); got < flowsBefore {
			t.Errorf("restart forgot flows: %d before, %d after", flowsBefore, got)
		}

		r := <-dl.done
		if r.err != nil {
			t.Fatalf("download across kill -9 and restart: %v (path counters since the kill: %v)",
				r.err, movedPaths(pathsBeforeRestart, pinnedPaths(t, dir)))
		}
		if r.n != size || r.sum != expectedSum(size) {
			t.Errorf("download: %d bytes sha256 %s, want %d bytes %s", r.n, r.sum, size, expectedSum(size))
		}
		after := pinnedPaths(t, dir)
		if d := drops(after); len(d) != 0 {
			t.Errorf("packets dropped: %v (before restart: %v)", d, drops(pathsBeforeRestart))
		}
		if after[bpf.PathForward] <= pathsBeforeRestart[bpf.PathForward] {
			t.Error("no packet forwarded after the restart: the download did not go through the adopted program")
		}

		// Removal: links detached, pins gone.
		p2.stop(t, syscall.SIGINT)
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("pinned state %s still there after removal (%v)", dir, err)
		}
		expectNoHooks(t, l)
	})
}

func countFlows(t *testing.T, dir string) int {
	t.Helper()
	flows, err := pinnedFlows(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(flows)
}

// pinnedFlows reads the flow table pinned in dir.
func pinnedFlows(dir string) (map[bpf.FlowKey]bpf.Flow, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, "flows"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = m.Close() }()
	var k bpf.FlowKey
	var v bpf.Flow
	out := map[bpf.FlowKey]bpf.Flow{}
	it := m.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	return out, it.Err()
}

// download is a rate-limited download through the VIP (startDownload).
type download struct{ done chan downloadResult }

type downloadResult struct {
	n   int64
	sum string
	err error
}

// startDownload starts downloading size bytes at rate bytes/s from the
// client and returns once the first 64 KiB arrived.
func startDownload(t *testing.T, l *lab.Lab, size, rate int) *download {
	t.Helper()
	d := &download{done: make(chan downloadResult, 1)}
	started := make(chan struct{})
	go func() {
		c := l.HTTPClient(lab.Client, false)
		c.Timeout = 60 * time.Second
		resp, err := c.Get(fmt.Sprintf("http://%s/bytes?n=%d&rate=%d", lab.VIP, size, rate))
		if err != nil {
			close(started)
			d.done <- downloadResult{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		h := sha256.New()
		n, err := io.CopyN(h, resp.Body, 64<<10)
		close(started)
		if err == nil {
			var m int64
			m, err = io.Copy(h, resp.Body)
			n += m
		}
		d.done <- downloadResult{n: n, sum: hex.EncodeToString(h.Sum(nil)), err: err}
	}()
	<-started
	return d
}

// expectedSum is the sha256 of lab's /bytes?n=size body.
func expectedSum(size int) string {
	h := sha256.New()
	_, _ = io.CopyN(h, lab.DataReader(), int64(size)) // an endless generator: it cannot fail
	return hex.EncodeToString(h.Sum(nil))
}
