// Tests of the lab itself: they build real namespaces, so they need root;
// with DIRECTOR_PRIVILEGED_TESTS=1 a non-root run fails instead of skipping.

package lab

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/testenv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

func rootLinks(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return names
}

func netnsList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(ipPath(), "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func newLab(t *testing.T, opts Options) *Lab {
	t.Helper()
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

func get(t *testing.T, c *http.Client, url string) (string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(body), resp.Header
}

func TestFullLab(t *testing.T) {
	testenv.RequirePrivileged(t)
	before := rootLinks(t)
	start := time.Now()
	l := newLab(t, Options{FloatingOn: LB1})
	t.Logf("built lab %s in %v", l.Prefix(), time.Since(start))

	if after := rootLinks(t); !slices.Equal(before, after) {
		t.Errorf("root namespace interfaces changed: before %v, after %v", before, after)
	}
	list := netnsList(t)
	for _, n := range append(AllNodes(), Pub, Int) {
		if !strings.Contains(list, l.NetnsName(n)) {
			t.Errorf("namespace %s missing from ip netns list:\n%s", l.NetnsName(n), list)
		}
	}

	// Topology as configured.
	out, err := l.Run(LB1, "ip", "-4", "-o", "addr", "show")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"inet 192.168.56.11/24 brd 192.168.56.255", "inet 192.168.200.251/24 brd 192.168.200.255",
		"inet 192.168.56.10/24 brd 192.168.56.255 scope global secondary enp0s3:0",
		"inet 192.168.200.250/24 brd 192.168.200.255 scope global secondary enp0s8:0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lb1 addresses lack %q:\n%s", want, out)
		}
	}
	if out, err := l.Run(Web1, "ip", "route", "show", "default"); err != nil || !strings.Contains(out, "via 192.168.200.250 dev enp0s3") {
		t.Errorf("web1 default route: %q %v", out, err)
	}
	if out, err := l.Run(Client, "ip", "route", "show", "default"); err != nil || !strings.Contains(out, "via 192.168.56.10 dev eth0") {
		t.Errorf("client default route: %q %v", out, err)
	}
	for n, want := range map[string]string{LB1: "1", LB2: "1", Web1: "0", Client: "0"} {
		if out, err := l.Run(n, "cat", "/proc/sys/net/ipv4/ip_forward"); err != nil || strings.TrimSpace(out) != want {
			t.Errorf("%s ip_forward = %q (%v), want %s", n, out, err, want)
		}
	}
	for _, c := range []struct{ ns, dev string }{{Pub, "lb1-e3"}, {Int, "lb2-e8"}, {Pub, "client-e0"}, {Int, "web1-e3"}, {LB1, PubIf}, {Web2, WebIf}} {
		if on, err := l.GRO(c.ns, c.dev); err != nil || !on {
			t.Errorf("gro on %s/%s = %t, %v", c.ns, c.dev, on, err)
		}
	}

	// HTTP lb1 -> web1 over int.
	stop, err := l.ServeHTTP(Web1, ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	body, hdr := get(t, l.HTTPClient(LB1, false), "http://192.168.200.11:80/")
	if body != "web1\n" || hdr.Get("X-Served-By") != "web1" {
		t.Errorf("web1 answered %q, X-Served-By %q", body, hdr.Get("X-Served-By"))
	}
	// Bulk data matches DataReader, also rate-limited.
	for _, url := range []string{"http://192.168.200.11/bytes?n=100003", "http://192.168.200.11/bytes?n=20000&rate=100000"} {
		body, _ := get(t, l.HTTPClient(LB2, true), url)
		want := make([]byte, len(body))
		if _, err := io.ReadFull(DataReader(), want); err != nil {
			t.Fatal(err)
		}
		if len(body) < 20000 || sha256.Sum256([]byte(body)) != sha256.Sum256(want) {
			t.Errorf("%s: %d bytes not DataReader's", url, len(body))
		}
	}

	// TCP client -> lb1 over pub.
	ln, err := l.Listen(LB1, "tcp4", "192.168.56.11:2222")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		_, _ = c.Write([]byte("hello " + c.RemoteAddr().String() + "\n")) // the client checks what it got
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := l.Dialer(Client)(ctx, "tcp4", "192.168.56.11:2222")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	_ = conn.Close()
	if err != nil || !strings.HasPrefix(line, "hello 192.168.56.100:") {
		t.Errorf("client -> lb1: %q %v", line, err)
	}

	// UDP echo web2 from lb2.
	stopU, err := l.ServeUDPEcho(Web2, ":5353")
	if err != nil {
		t.Fatal(err)
	}
	defer stopU()
	pc, err := l.ListenPacket(LB2, "udp4", "192.168.200.252:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	if err := pc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.ParseIP(Web2Addr), Port: 5353}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "web2:ping" || from.String() != "192.168.200.12:5353" {
		t.Errorf("udp echo: %q from %v, %v", buf[:n], from, err)
	}

	// Failing the client's links: it can no longer reach lb1; back up, it
	// has its default route again.
	if err := l.SetLinks(Client, false); err != nil {
		t.Fatal(err)
	}
	if c, err := l.Dialer(Client)(ctx, "tcp4", "192.168.56.11:2222"); err == nil {
		_ = c.Close()
		t.Error("client with links down reached lb1")
	}
	if err := l.SetLinks(Client, true); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Run(Client, "ip", "route", "show", "default"); err != nil || !strings.Contains(out, "via 192.168.56.10") {
		t.Errorf("client default route after links down/up: %q %v", out, err)
	}

	// Floating move lb1 -> lb2.
	if err := l.RemoveFloating(LB1); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveFloating(LB1); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if err := l.AddFloating(LB2); err != nil {
		t.Fatal(err)
	}
	if has, err := l.HasFloating(LB2); err != nil || !has {
		t.Errorf("lb2 lacks the VIP after AddFloating: %v", err)
	}
	if has, err := l.HasFloating(LB1); err != nil || has {
		t.Errorf("lb1 keeps the VIP after RemoveFloating: %v", err)
	}
	lnV, err := l.Listen(LB2, "tcp4", "192.168.56.10:2223")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lnV.Close() }()
	go func() {
		c, err := lnV.Accept()
		if err == nil {
			_ = c.Close()
		}
	}()
	conn, err = l.Dialer(Client)(ctx, "tcp4", "192.168.56.10:2223")
	if err != nil {
		t.Fatalf("client -> VIP on lb2: %v", err)
	}
	_ = conn.Close()

	// Host names are refused rather than resolved outside the lab.
	if _, err := l.Dialer(Client)(ctx, "tcp", "localhost:80"); err == nil {
		t.Error("dialer resolved a host name")
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if list := netnsList(t); strings.Contains(list, l.Prefix()+"-") {
		t.Errorf("namespaces left after Close:\n%s", list)
	}
	if after := rootLinks(t); !slices.Equal(before, after) {
		t.Errorf("root namespace interfaces changed: before %v, after %v", before, after)
	}
	if err := l.Do(LB1, func() error { return nil }); err == nil {
		t.Error("Do works after Close")
	}
}

func TestSubsetLab(t *testing.T) {
	testenv.RequirePrivileged(t)
	before := rootLinks(t)
	l := newLab(t, Options{Nodes: []string{LB1, Client}})
	if got := l.Nodes(); !slices.Equal(got, []string{Client, LB1}) {
		t.Errorf("Nodes() = %v", got)
	}
	list := netnsList(t)
	for _, n := range []string{Client, LB1, Pub, Int} {
		if !strings.Contains(list, l.NetnsName(n)) {
			t.Errorf("namespace %s missing", l.NetnsName(n))
		}
	}
	for _, n := range []string{LB2, Web1, Web2} {
		if strings.Contains(list, l.NetnsName(n)) {
			t.Errorf("namespace %s built though not asked for", l.NetnsName(n))
		}
		if _, err := l.Run(n, "true"); err == nil {
			t.Errorf("Run on absent node %s worked", n)
		}
	}
	if has, err := l.HasFloating(LB1); err != nil || has {
		t.Errorf("lb1 has the VIP without FloatingOn: %v", err)
	}
	stop, err := l.ServeHTTP(LB1, "192.168.56.11:8080")
	if err != nil {
		t.Fatal(err)
	}
	_ = stop // Close stops it.
	if body, _ := get(t, l.HTTPClient(Client, true), "http://192.168.56.11:8080/x"); body != "lb1\n" {
		t.Errorf("lb1 answered %q", body)
	}
	if after := rootLinks(t); !slices.Equal(before, after) {
		t.Errorf("root namespace interfaces changed: before %v, after %v", before, after)
	}

	// Deleting a node removes its namespace; the switch stays.
	if err := l.DeleteNode(Client); err != nil {
		t.Fatal(err)
	}
	if l.Has(Client) || strings.Contains(netnsList(t), l.NetnsName(Client)) {
		t.Error("client still there after DeleteNode")
	}
	if _, err := l.Run(Pub, "ip", "link", "show", BridgeName); err != nil {
		t.Errorf("pub switch gone with the client: %v", err)
	}
}

func TestPartialFailureAndCleanupPrefix(t *testing.T) {
	testenv.RequirePrivileged(t)
	prefix := UniquePrefix()
	// A leftover namespace makes New fail; it must remove what it built
	// but not the namespace it did not create.
	if out, err := exec.Command(ipPath(), "netns", "add", prefix+"-web2").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { // also when the test fails half way; it ends with CleanupPrefix itself
		if err := CleanupPrefix(prefix); err != nil {
			t.Error(err)
		}
	})
	cmd := exec.Command(ipPath(), "netns", "exec", prefix+"-web2", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if _, err := New(Options{Prefix: prefix}); err == nil {
		t.Fatal("New succeeded over a leftover namespace")
	}
	list := netnsList(t)
	if !strings.Contains(list, prefix+"-web2") {
		t.Error("failed New removed a namespace it did not create")
	}
	if strings.Contains(list, prefix+"-lb1") || strings.Contains(list, prefix+"-pub") {
		t.Errorf("failed New left namespaces:\n%s", list)
	}
	if err := CleanupPrefix(prefix); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(netnsList(t), prefix+"-") {
		t.Error("CleanupPrefix left namespaces")
	}
	select {
	case err := <-done:
		t.Logf("process inside the namespace: %v", err)
	case <-time.After(5 * time.Second):
		t.Error("CleanupPrefix did not kill the process inside the namespace")
	}
	if _, err := New(Options{Prefix: "bad-prefix"}); err == nil {
		t.Error("New accepted a prefix with '-'")
	}
	if _, err := New(Options{Nodes: []string{Client}, FloatingOn: LB1}); err == nil {
		t.Error("New accepted FloatingOn outside Nodes")
	}
}

func TestDataReaderDeterministic(t *testing.T) {
	a, b := make([]byte, 1000), make([]byte, 1000)
	if _, err := io.ReadFull(DataReader(), a); err != nil {
		t.Fatal(err)
	}
	r := DataReader()
	for i := 0; i < 1000; i += 7 { // odd read sizes give the same stream
		if _, err := io.ReadFull(r, b[i:min(i+7, 1000)]); err != nil {
			t.Fatal(err)
		}
	}
	if string(a) != string(b) {
		t.Error("DataReader depends on read sizes")
	}
}

// TestXDPRedirectIntoVeth checks the promise the directors rely on: a frame
// that an XDP program on lb1's enp0s3 redirects out of enp0s8 reaches the
// int switch, because the switch-side veth end has GRO (so NAPI) on. With
// GRO off there, the same frame is dropped, which shows the test sees it.
func TestXDPRedirectIntoVeth(t *testing.T) {
	testenv.RequirePrivileged(t)
	l := newLab(t, Options{Nodes: []string{Client, LB1}})

	var lnk link.Link
	err := l.Do(LB1, func() error {
		in, err := net.InterfaceByName(PubIf)
		if err != nil {
			return err
		}
		out, err := net.InterfaceByName(IntIf)
		if err != nil {
			return err
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R1, int32(out.Index)),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRedirect.Call(),
			asm.Return(),
		}})
		if err != nil {
			return err
		}
		defer func() { _ = prog.Close() }()
		lnk, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: in.Index, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		t.Fatalf("attach xdp: %v", err)
	}
	defer func() { _ = lnk.Close() }()

	// A frame of the local experimental ethertype, sent by the client.
	const etherType = 0x88b5
	send := func(marker string) {
		t.Helper()
		err := l.Do(Client, func() error {
			ifi, err := net.InterfaceByName(ClientIf)
			if err != nil {
				return err
			}
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer func() { _ = unix.Close(fd) }()
			frame := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ifi.HardwareAddr...)
			frame = append(frame, etherType>>8, etherType&0xff)
			frame = append(frame, []byte(marker+strings.Repeat(".", 50))...)
			return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6,
				Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
		})
		if err != nil {
			t.Fatalf("send frame: %v", err)
		}
	}
	// seen reports whether marker arrives at lb1-e8 (the int switch port).
	seen := func(marker string, tries int) bool {
		t.Helper()
		var fd int
		err := l.Do(Int, func() error {
			ifi, err := net.InterfaceByName("lb1-e8")
			if err != nil {
				return err
			}
			// ETH_P_ALL: taps for one protocol come after the bridge,
			// which consumes the frame.
			fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
			if err != nil {
				return err
			}
			return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
		})
		if err != nil {
			t.Fatalf("capture: %v", err)
		}
		defer func() { _ = unix.Close(fd) }()
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		for range tries {
			send(marker)
			deadline := time.Now().Add(300 * time.Millisecond)
			for time.Now().Before(deadline) {
				n, _, err := unix.Recvfrom(fd, buf, 0)
				if err == nil && strings.Contains(string(buf[:n]), marker) {
					return true
				}
			}
		}
		return false
	}
	if !seen("with-gro", 3) {
		t.Fatal("redirected frame did not reach the int switch with GRO on")
	}
	if err := l.Do(Int, func() error { return SetGRO("lb1-e8", false) }); err != nil {
		t.Fatal(err)
	}
	if seen("without-gro", 1) {
		t.Log("redirected frame reached the int switch with GRO off too (kernel gives veths NAPI anyway)")
	}
}

// Every veth end, node and switch side, sends complete checksums: XDP
// programs that rewrite and redirect frames depend on it.
func TestTxChecksumOffloadOff(t *testing.T) {
	testenv.RequirePrivileged(t)
	l := newLab(t, Options{Nodes: []string{Client, LB1, Web1}})
	for _, node := range []string{Client, LB1, Web1} {
		for _, ifc := range Interfaces(node) {
			for _, side := range []struct{ ns, dev string }{{node, ifc.Name}, {ifc.Switch, ifc.Port}} {
				on, err := l.TxChecksum(side.ns, side.dev)
				if err != nil {
					t.Fatal(err)
				}
				if on {
					t.Errorf("%s/%s: tx checksum offload on", side.ns, side.dev)
				}
			}
		}
	}
}
