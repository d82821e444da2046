// Parity of `director ipvsadm` with Debian's ipvsadm on kernel IPVS,
// inside the test VM: the same sequence of commands goes to the real
// ipvsadm (in a namespace of its own, whose IPVS table starts empty) and
// to `director ipvsadm` against a director on lb1 (the IPVS data plane,
// then the XDP one); every listing (-Ln, -Sn, --stats, --rate,
// --thresholds, --persistent-conn, -Lnc, --timeout) must be the same bytes
// and every command the same exit status and message. No traffic crosses
// either table, so the counters and rates are zero on both sides. With
// --nosort the order of the lines is the only difference allowed.

package vmtests

import (
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
)

// ipvsadmSequence is what both sides are sent, in order.
var ipvsadmSequence = []string{
	"-Ln",
	"-A -t 192.168.56.10:80 -s wrr",
	"-a -t 192.168.56.10:80 -r 192.168.200.11:80 -m -w 3",
	"-a -t 192.168.56.10:80 -r 192.168.200.12:80 -m -w 1",
	"-A -u 192.168.56.10:53 -s rr",
	"-a -u 192.168.56.10:53 -r 192.168.200.11 -m",
	"-a -u 192.168.56.10:53 -r 192.168.200.12:5353 -m -w 2",
	"-A -t 192.168.56.11:8080 -s rr",
	"-a -t 192.168.56.11:8080 -r 192.168.200.12:80 -m -w 5",
	"-a -t 192.168.56.11:8080 -r 192.168.200.11:80 -m",
	"-Ln",
	"-Sn",
	"-S -n",
	"--save --numeric",
	"-L -n --stats",
	"-Ln --stats --exact",
	"-Ln --rate",
	"-Ln --thresholds",
	"-Ln --persistent-conn",
	"-Lnc",
	"-L --timeout",
	"-L --daemon",
	"-L",
	"-S",
	"-Ln -t 192.168.56.10:80",
	"-Ln --nosort",
	"-e -t 192.168.56.10:80 -r 192.168.200.11:80 -m -w 0",
	"-E -t 192.168.56.10:80 -s rr",
	"-Ln",
	// Persistence, scheduler flags, thresholds (real servers on port 80,
	// which the director's health checks find up).
	"-A -t 192.168.56.10:443 -s sh -b sh-port,sh-fallback",
	"-a -t 192.168.56.10:443 -r 192.168.200.11:80 -m -x 100 -y 50",
	"-a -t 192.168.56.10:443 -r 192.168.200.12:80 -m -w 2 -x 10",
	"-A -t 192.168.56.12:80 -s rr -p",
	"-a -t 192.168.56.12:80 -r 192.168.200.11:80 -m",
	"-A -t 192.168.56.12:81 -s wrr -p 600 -M 255.255.255.0",
	"-a -t 192.168.56.12:81 -r 192.168.200.12:80 -m -w 2 -y 0",
	"-A -u 192.168.56.12:53 -s mh -b mh-port -p 60 -M 255.255.0.0",
	"-a -u 192.168.56.12:53 -r 192.168.200.11:53 -m",
	"-A -t 192.168.56.12:82 -s sh -b flag-2,flag-1",
	"-A -t 192.168.56.12:83 --scheduler mh --sched-flags mh-fallback --persistent=30 --netmask 255.255.255.128",
	"-Ln",
	"-Sn",
	"-Ln --thresholds",
	"-Ln --persistent-conn",
	"-Ln -t 192.168.56.12:81",
	"-L",
	"-S",
	"-E -t 192.168.56.12:81 -s wrr",
	"-E -t 192.168.56.12:80 -s rr -p 120 -M 255.255.255.255",
	"-E -t 192.168.56.10:443 -s sh -b sh-port",
	"-e -t 192.168.56.10:443 -r 192.168.200.11:80 -m -x 200 -y 20",
	"-e -t 192.168.56.10:443 -r 192.168.200.12:80 -m",
	"-Ln",
	"-Sn",
	"-Ln --thresholds",
	"-A -t 192.168.56.10:444 -s rr -b sh-port",
	"-A -t 192.168.56.10:444 -s sh -b bogus",
	"-A -t 192.168.56.10:444 -b mh-port",
	"-A -t 192.168.56.10:444 -p 0",
	"-A -t 192.168.56.10:444 -p x",
	"-A -t 192.168.56.10:444 -p 2678401",
	"-A -t 192.168.56.10:444 -p 10 -M 255.255.255.300",
	"-A -t 192.168.56.10:444 -M 255.255.255.0 -p 10 -p 20",
	"-a -t 192.168.56.10:443 -r 192.168.200.13:80 -m -x 5 -y 10",
	"-a -t 192.168.56.10:443 -r 192.168.200.13:80 -m -y 5",
	"-a -t 192.168.56.10:443 -r 192.168.200.13:80 -m -x -1",
	"-a -t 192.168.56.10:443 -r 192.168.200.13:80 -m -y x",
	"-e -t 192.168.56.10:443 -r 192.168.200.11:80 -m -x 3 -y 4",
	"-Ln --thresholds",
	"-D -t 192.168.56.12:80",
	"-D -t 192.168.56.12:81",
	"-D -u 192.168.56.12:53",
	"-D -t 192.168.56.12:82",
	"-D -t 192.168.56.12:83",
	"-D -t 192.168.56.10:443",
	// Refused: the kernel's answers.
	"-A -t 192.168.56.10:80 -s rr",
	"-E -t 192.168.56.10:81 -s rr",
	"-D -t 192.168.56.10:81",
	"-a -t 192.168.56.10:81 -r 192.168.200.11 -m",
	"-a -t 192.168.56.10:80 -r 192.168.200.11:80 -m",
	"-e -t 192.168.56.10:80 -r 192.168.200.13:80 -m",
	"-d -t 192.168.56.10:80 -r 192.168.200.13:80",
	"-Ln -t 192.168.56.10:81",
	// Refused: ipvsadm's own checks.
	"-A -t 192.168.56.10:80 --bogus",
	"--bogus",
	"-A -t 192.168.56.300:80",
	"-A -t 192.168.56.10:0",
	"-a -t 192.168.56.10:80 -r 192.168.200.13 -m -w -1",
	"-a -t 192.168.56.10:80 -r 192.168.200.13 -m -w x",
	"-a -t 192.168.56.10:80",
	"-A -t 192.168.56.10:82 -w 3",
	"-A -L",
	"-A -t 192.168.56.10:82 -s rr -s wrr",
	"-L -c -t 192.168.56.10:80",
	"-L -c --stats",
	"--set 900 120",
	"-C extra",
	"-Ln",
	"-d -t 192.168.56.10:80 -r 192.168.200.12:80",
	"-D -u 192.168.56.10:53",
	"-Sn",
	"-C",
	"-Ln",
	"-Sn",
}

// ipvsadmRun runs one command line and returns "exit N\nstdout\nstderr".
func ipvsadmRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, out.String(), errOut.String())
}

func sortedLines(s string) string {
	l := strings.Split(s, "\n")
	slices.Sort(l)
	return strings.Join(l, "\n")
}

func TestIpvsadmParity(t *testing.T) {
	ipvsVMOnly(t)
	// Run by name, as users do: its messages name argv[0].
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		t.Fatalf("Debian's ipvsadm: %v (make test-vm installs it)", err)
	}
	for _, pl := range []struct{ name, dataplane string }{{"ipvs", "ipvs"}, {"xdp", "xdp"}} {
		t.Run(pl.name, func(t *testing.T) {
			l := vmLab(t, lab.Options{Nodes: []string{lab.Client, lab.LB1, lab.LB2, lab.Web1, lab.Web2}})
			node := "vm-ipvsadm-" + pl.name + "-" + l.Prefix()
			d := startVMDirector(t, l, lab.LB1, fmt.Sprintf("node: %s\ninterfaces: {public: enp0s3, internal: enp0s8}\n"+
				"dataplane: %s\ncontrol_socket: %%[1]s\n", node, pl.dataplane))
			for i, line := range ipvsadmSequence {
				args := strings.Fields(line)
				want := ipvsadmRun(t, "nsenter", append([]string{"--net=" + l.NetnsPath(lab.LB2), "ipvsadm"}, args...)...)
				got := ipvsadmRun(t, d.Bin, append([]string{"ipvsadm", "--socket", d.Socket}, args...)...)
				if strings.Contains(line, "--nosort") {
					// The kernel lists in its hash tables' order, director
					// in its table's: the same lines, in another order.
					got, want = sortedLines(got), sortedLines(want)
				}
				if got != want {
					t.Errorf("%d: ipvsadm %s\n=== director ipvsadm:\n%s=== Debian's ipvsadm:\n%s", i, line, got, want)
				}
			}
		})
	}
}

// TestIpvsadmSameKernel: director on the IPVS data plane programs lb1's
// kernel; Debian's ipvsadm in lb1 and `director ipvsadm` then list the
// same table, after real traffic (connections closed, one kept open), with
// the same bytes: connection counts, counters, the connection table. The
// connections' remaining time may tick between the two reads and the
// rates come from two estimators of different phase: both are masked.
// The kernel lists connections in its hash order: lines are compared
// sorted.
func TestIpvsadmSameKernel(t *testing.T) {
	ipvsVMOnly(t)
	l := vmLab(t, lab.Options{Nodes: []string{lab.Client, lab.LB1, lab.Web1, lab.Web2}, FloatingOn: lab.LB1})
	node := "vm-ipvsadm-kernel-" + l.Prefix()
	d := startVMDirector(t, l, lab.LB1, fmt.Sprintf(ipvsSeedConfig, node, 3, 1))
	if c := count(newConnections(t, l, "http://192.168.56.10/", 8)); c["web1"] != 6 || c["web2"] != 2 {
		t.Fatalf("wrr 3:1 over 8 connections: %v", c)
	}
	ka := l.HTTPClient(lab.Client, true)
	ka.Timeout = 20 * time.Second
	resp, err := ka.Get("http://192.168.56.10/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	// The kernel folds its per-CPU counters into what it reports every 2 s.
	nine := regexp.MustCompile(`TCP  192\.168\.56\.10:80 +9 `)
	waitFor(t, "the kernel reports 9 connections", 20*time.Second, func() (bool, string) {
		out := ipvsadmRun(t, "nsenter", "--net="+l.NetnsPath(lab.LB1), "ipvsadm", "-Ln", "--stats")
		return nine.MatchString(out), out
	})
	// Persistence and thresholds changed live on the kernel's table; two
	// more connections make the client's persistence template (both go
	// to its server): PersistConn and -Lnc's template line on both sides.
	for _, line := range []string{"-E -t 192.168.56.10:80 -s wrr -p 300 -M 255.255.255.0",
		"-e -t 192.168.56.10:80 -r 192.168.200.11:80 -m -w 3 -x 100 -y 50"} {
		if out := ipvsadmRun(t, d.Bin, append([]string{"ipvsadm", "--socket", d.Socket}, strings.Fields(line)...)...); !strings.HasPrefix(out, "exit 0\n") {
			t.Fatalf("director ipvsadm %s: %s", line, out)
		}
	}
	if c := count(newConnections(t, l, "http://192.168.56.10/", 2)); c["web1"] != 2 && c["web2"] != 2 {
		t.Errorf("persistent wrr: 2 connections of one client on two servers: %v", c)
	}
	if out := ipvsadmRun(t, "nsenter", "--net="+l.NetnsPath(lab.LB1), "ipvsadm", "-Lnc"); !strings.Contains(out, " 192.168.56.0:0 ") {
		t.Errorf("the kernel lists no persistence template of 192.168.56.0/24:\n%s", out)
	}
	expire := regexp.MustCompile(`(?m)^(TCP|UDP) (\d\d:\d\d)`)
	digits := regexp.MustCompile(` *\d+`)
	for _, line := range []string{"-Ln", "-Sn", "-Ln --stats", "-Ln --stats --exact", "-Ln --thresholds",
		"-Ln --persistent-conn", "-Lnc", "-Ln --rate", "-L --timeout", "-Ln -t 192.168.56.10:80"} {
		args := strings.Fields(line)
		var got, want string
		// The kernel folds its per-CPU counters into what it reports every
		// 2 s, so the last packets may show in one read and not the other:
		// read both again until they agree, within a deadline.
		deadline := time.Now().Add(20 * time.Second)
		for {
			want = ipvsadmRun(t, "nsenter", append([]string{"--net=" + l.NetnsPath(lab.LB1), "ipvsadm"}, args...)...)
			got = ipvsadmRun(t, d.Bin, append([]string{"ipvsadm", "--socket", d.Socket}, args...)...)
			switch line {
			case "-Lnc":
				got, want = sortedLines(expire.ReplaceAllString(got, "$1 mm:ss")), sortedLines(expire.ReplaceAllString(want, "$1 mm:ss"))
			case "-Ln --rate":
				// Two estimators of different phase: the layout is compared
				// with zeros by TestIpvsadmParity; here the lines and fields.
				got, want = digits.ReplaceAllString(got, " N"), digits.ReplaceAllString(want, " N")
			}
			if got == want || time.Now().After(deadline) || !strings.Contains(line, "--stats") {
				break
			}
		}
		if got != want {
			t.Errorf("ipvsadm %s\n=== director ipvsadm:\n%s=== Debian's ipvsadm:\n%s", line, got, want)
		}
	}
}
