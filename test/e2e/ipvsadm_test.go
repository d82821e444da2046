package e2e

// director ipvsadm on a running director: live changes take effect at
// once (a drain with -w 0 keeps the open connection, a third real server
// added with -a takes new connections), a refused change leaves the table,
// the live table outlives a restart, and a reload puts the file back.

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/labrun"
	"github.com/director-lb/director/test/testenv"
)

// ipvsadm runs `director ipvsadm ARGS` against d, returning stdout,
// stderr and the exit status.
func ipvsadm(t *testing.T, d *runningDirector, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(d.Bin, append([]string{"ipvsadm", "--socket", d.Socket}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func TestIpvsadmLive(t *testing.T) {
	testenv.RequirePrivileged(t)
	pl := planes[0]
	l := seedLabFor(t, pl)
	// A third real server: web2's address on another port, answering
	// "web3".
	ln, err := l.Listen(lab.Web2, "tcp", "192.168.200.12:8081")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "web3\n")
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	d := startRun(t, l, runConfig{W1: 3, W2: 1, Dataplane: pl.dataplane})
	const fileTable = "-A -t 192.168.56.10:80 -s wrr\n" +
		"-a -t 192.168.56.10:80 -r 192.168.200.11:80 -m -w 3\n" +
		"-a -t 192.168.56.10:80 -r 192.168.200.12:80 -m -w 1\n" +
		"-A -t 192.168.56.10:8080 -s rr\n" +
		"-a -t 192.168.56.10:8080 -r 192.168.200.11:80 -m -w 1\n" +
		"-a -t 192.168.56.10:8080 -r 192.168.200.12:80 -m -w 1\n"
	if out, errOut, code := ipvsadm(t, d, "-Sn"); code != 0 || out != fileTable {
		t.Fatalf("-Sn: exit %d %s\n%s", code, errOut, out)
	}
	const ln0 = "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  192.168.56.10:80 wrr\n" +
		"  -> 192.168.200.11:80            Masq    3      0          0         \n" +
		"  -> 192.168.200.12:80            Masq    1      0          0         \n" +
		"TCP  192.168.56.10:8080 rr\n" +
		"  -> 192.168.200.11:80            Masq    1      0          0         \n" +
		"  -> 192.168.200.12:80            Masq    1      0          0         \n"
	if out, _, code := ipvsadm(t, d, "-Ln"); code != 0 || out != ln0 {
		t.Errorf("-Ln: exit %d\n%s\nwant\n%s", code, out, ln0)
	}

	ka := keepAlive{l.HTTPClient(lab.Client, true)}
	ka.c.Timeout = 5 * time.Second
	kaServer := ka.get(t)
	kaAddr := map[string]string{"web1": "192.168.200.11", "web2": "192.168.200.12"}[kaServer]
	other := map[string]string{"web1": "web2", "web2": "web1"}[kaServer]

	// Drain the keep-alive connection's server live.
	if _, errOut, code := ipvsadm(t, d, "-e", "-t", "192.168.56.10:80", "-r", kaAddr+":80", "-m", "-w", "0"); code != 0 {
		t.Fatalf("-e -w 0: exit %d: %s", code, errOut)
	}
	counts, _ := split(t, l, "http://192.168.56.10/", 20)
	if counts[other] != 20 {
		t.Errorf("%s drained live: %v, want all 20 on %s", kaServer, counts, other)
	}
	for range 5 {
		if who := ka.get(t); who != kaServer {
			t.Errorf("the drained server's open connection was answered by %s", who)
		}
	}

	// The 20 connections show in --rate and the metrics within a few of
	// the estimator's 2 s windows.
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _, _ := ipvsadm(t, d, "-Ln", "--rate")
		m := d.metrics()
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "TCP  192.168.56.10:80 ") {
				line = l
			}
		}
		f := strings.Fields(line)
		if len(f) == 7 && f[2] != "0" && strings.Contains(m, `director_service_connection_rate{local_address="192.168.56.10",local_port="80",proto="TCP"}`) {
			if !strings.HasPrefix(out, "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n") {
				t.Errorf("--rate header:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rate for :80 after 15s:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition with a deadline
	}

	// -Z: the listing's counters start again from zero.
	if _, errOut, code := ipvsadm(t, d, "-Z"); code != 0 {
		t.Fatalf("-Z: exit %d: %s", code, errOut)
	}
	if out, _, _ := ipvsadm(t, d, "-Ln", "--stats", "-t", "192.168.56.10:80"); !strings.Contains(out,
		"TCP  192.168.56.10:80                    0        0        0        0        0\n") {
		t.Errorf("--stats after -Z:\n%s", out)
	}
	split(t, l, "http://192.168.56.10/", 3)
	if out, _, _ := ipvsadm(t, d, "-Ln", "--stats", "-t", "192.168.56.10:80"); !strings.Contains(out,
		"TCP  192.168.56.10:80                    3 ") {
		t.Errorf("--stats 3 connections after -Z:\n%s", out)
	}

	// A refused change: ipvsadm's message and status, the table unchanged.
	before, _, _ := ipvsadm(t, d, "-Sn")
	_, errOut, code := ipvsadm(t, d, "-a", "-t", "192.168.56.10:80", "-r", "192.168.200.11:80", "-m")
	if code != 255 || errOut != "Destination already exists\n" {
		t.Errorf("-a of an existing server: exit %d %q", code, errOut)
	}
	_, errOut, code = ipvsadm(t, d, "-a", "-t", "192.168.56.10:80", "-r", "192.168.200.13:80", "-m", "-w", "65536")
	if code != 2 || errOut != "illegal weight specified: director's weights are 0-65535\n" {
		t.Errorf("-w 65536: exit %d %q", code, errOut)
	}
	if after, _, _ := ipvsadm(t, d, "-Sn"); after != before {
		t.Errorf("refused changes changed the table:\n%s\nwas\n%s", after, before)
	}

	// A third real server takes new connections at once.
	if _, errOut, code := ipvsadm(t, d, "-a", "-t", "192.168.56.10:80", "-r", "192.168.200.12:8081", "-m", "-w", "1"); code != 0 {
		t.Fatalf("-a: exit %d: %s", code, errOut)
	}
	counts, _ = split(t, l, "http://192.168.56.10/", 20)
	if counts["web3"] == 0 || counts[kaServer] != 0 || counts["web3"]+counts[other] != 20 {
		t.Errorf("after -a of web3: %v, want new connections on web3 and %s", counts, other)
	}
	live, _, _ := ipvsadm(t, d, "-Sn")
	if !strings.Contains(live, "-a -t 192.168.56.10:80 -r 192.168.200.12:8081 -m -w 1\n") ||
		!strings.Contains(live, "-r "+kaAddr+":80 -m -w 0\n") {
		t.Errorf("-Sn after the live changes:\n%s", live)
	}

	// The live table outlives a restart of the daemon.
	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.Done:
		if err != nil {
			t.Errorf("director run exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("director run still running 20s after SIGTERM")
	}
	cfgText, err := os.ReadFile(d.Config)
	if err != nil {
		t.Fatal(err)
	}
	d = &runningDirector{labrun.Start(t, l, lab.LB1, string(cfgText), labrun.Options{Bin: directorBin(t), Socket: d.Socket})}
	if got, _, _ := ipvsadm(t, d, "-Sn"); got != live {
		t.Errorf("-Sn after a restart:\n%s\nwant the live table\n%s", got, live)
	}
	counts, _ = split(t, l, "http://192.168.56.10/", 10)
	if counts["web3"] == 0 {
		t.Errorf("after the restart: %v, want web3 still in", counts)
	}

	// A reload puts the file back.
	if out, err := d.CLI("reload"); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	if got, _, _ := ipvsadm(t, d, "-Sn"); got != fileTable {
		t.Errorf("-Sn after reload:\n%s\nwant the file's\n%s", got, fileTable)
	}

	// Persistence live (-p): every new connection of the client goes to
	// one server, its template counted in --persistent-conn; -E without
	// -p ends it.
	if _, errOut, code := ipvsadm(t, d, "-E", "-t", "192.168.56.10:8080", "-s", "rr", "-p", "60", "-M", "255.255.255.0"); code != 0 {
		t.Fatalf("-E -p 60: exit %d: %s", code, errOut)
	}
	counts, _ = split(t, l, "http://192.168.56.10:8080/", 10)
	if counts["web1"] != 10 && counts["web2"] != 10 {
		t.Errorf("persistent rr: %v, want all 10 on one server", counts)
	}
	if out, _, _ := ipvsadm(t, d, "-Ln", "--persistent-conn", "-t", "192.168.56.10:8080"); !strings.Contains(out,
		"TCP  192.168.56.10:8080 rr persistent 60 mask 255.255.255.0\n") || !regexp.MustCompile(`(?m)^  -> 192\.168\.200\.1[12]:80 +1 +1 `).MatchString(out) {
		t.Errorf("--persistent-conn of the persistent service:\n%s", out)
	}
	if _, errOut, code := ipvsadm(t, d, "-E", "-t", "192.168.56.10:8080", "-s", "rr"); code != 0 {
		t.Fatalf("-E without -p: exit %d: %s", code, errOut)
	}
	if counts, _ = split(t, l, "http://192.168.56.10:8080/", 10); counts["web1"] != 5 || counts["web2"] != 5 {
		t.Errorf("rr after persistence ended: %v, want 5 and 5", counts)
	}
	_, errOut, code = ipvsadm(t, d, "-E", "-t", "192.168.56.10:8080", "-s", "rr", "-b", "flag-1")
	if code != 2 || !strings.HasPrefix(errOut, "scheduler flag flag-1 means nothing to rr in director") {
		t.Errorf("-b flag-1 on rr: exit %d %q", code, errOut)
	}

	// -R: ipvsadm-restore's input (what -S writes), line by line.
	restore := exec.Command(d.Bin, "ipvsadm", "--socket", d.Socket, "-R")
	restore.Stdin = strings.NewReader("# saved\n-D -t 192.168.56.10:8080\nipvsadm -A -t 192.168.56.10:81 -s rr\n" +
		"-a -t 192.168.56.10:81 -r 192.168.200.12:80 -m -w 2\n")
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("-R: %v\n%s", err, out)
	}
	want := strings.Replace(fileTable, "-A -t 192.168.56.10:8080 -s rr\n"+
		"-a -t 192.168.56.10:8080 -r 192.168.200.11:80 -m -w 1\n"+
		"-a -t 192.168.56.10:8080 -r 192.168.200.12:80 -m -w 1\n",
		"-A -t 192.168.56.10:81 -s rr\n-a -t 192.168.56.10:81 -r 192.168.200.12:80 -m -w 2\n", 1)
	if got, _, _ := ipvsadm(t, d, "-Sn"); got != want {
		t.Errorf("-Sn after -R:\n%s\nwant\n%s", got, want)
	}
}
