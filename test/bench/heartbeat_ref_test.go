// This file holds BenchmarkHeartbeatReferenceFailover, the reference arm
// for director's own heartbeat: it measures the client-visible blackout
// when the active director fails under the real Linux-HA Heartbeat 3.0.6
// (Debian package heartbeat), in the same namespace lab and scenario as
// the e2e failover test (test/e2e/ha_test.go). Each run builds a fresh lab
// (test/lab: client, lb1, lb2, web1, web2 behind the pub and int bridges)
// and starts one heartbeat per director, configured from the seed's
// /etc/ha.d (shared/seed/etc/ha.d beside the repository): `bcast enp0s3`,
// `node lb1 lb2`, md5 authkeys, lb1 owning IPaddr 192.168.56.10 (the VIP)
// and IPaddr 192.168.200.250 (the real servers' gateway); keepalive and
// deadtime are the timers under test. IPVS is not available here, so the
// seed's ipvsadm resource is replaced by a static nftables DNAT of VIP:80
// to web1/web2 (3:1) on both directors; it only matters on the one that
// holds the VIP, and heartbeat moves the two addresses only. A client loop
// then opens a new HTTP connection to the VIP every 20 ms (200 ms timeout)
// and records when each one succeeds; lb1's links go down; the blackout is
// the longest gap between two successes from the last one before the
// failure until lb1 comes back (a failing attempt costs its 200 ms timeout
// plus the 20 ms pace, so the end of a blackout is seen within about
// 220 ms, as in the e2e loop). Both timer sets (the seed's 1 s/5 s and
// 100 ms/500 ms) run hbRuns times, alternating, and a table gives every
// blackout and the medians, with the takeover time (failure until lb2
// holds both addresses) beside them.
//
// lb1 is failed only after heartbeat has left its start-up state
// (hbSettle): for 5 s after starting, heartbeat advertises its deadtime
// plus 2 s, and a failure then is detected 2 s late.
//
// Each heartbeat runs inside its director's network namespace (ip netns
// exec), in a UTS namespace of its own whose hostname is lb1 or lb2
// (heartbeat takes its node name from uname -n), and in a private mount
// namespace in which /etc/ha.d, /var/lib/heartbeat, /var/log and /run are
// bind mounts of a per-node temporary directory, so the two instances
// share no configuration, uuid, generation, FIFO, pid file or resource
// lock with each other or with the host. The copied ha.cf may only name
// the lab's interfaces. What the package needed to run this way:
//   - the seed's `IPaddr::ADDR` resources fail with the resource-agents
//     4.12 IPaddr agent, whose nic parameter defaults to eth0 ("Invalid
//     parameter value: nic [eth0] Calculated nic: [enp0s3]"), so the
//     netmask and interface are added: IPaddr::192.168.56.10/24/enp0s3;
//   - the private /run needs the directories the packages' tmpfiles.d
//     create: /run/heartbeat (and ccm, crm, dopd), /run/crm and
//     /run/resource-agents, the agents' lock and send_arp pid directory;
//   - the IPaddr agent adds the address with ifconfig (package net-tools,
//     only recommended by resource-agents) and announces it with the
//     packaged send_arp (/usr/libexec/heartbeat/send_arp).
//
// Heartbeat is installed with apt-get when missing; the benchmark skips if
// that fails. Cleanup, also on failure: every process left in lb1's and
// lb2's namespaces is killed (when lb1 returns, both nodes see a healed
// partition and restart by exec'ing heartbeat without -f, which forks
// into the background, so the pid started here is not enough), the lab is
// deleted and the temporary directories are removed. Nothing runs in, or
// is configured in, the host's namespaces. With HBREF_LOGS=<dir> each
// run's heartbeat logs are copied to dir first. Run it as root:
//
//	go test -run '^$' -bench HeartbeatReferenceFailover -benchtime 1x -count=1 -v -timeout 20m ./test/bench/

package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/testenv"

	"golang.org/x/sys/unix"

	"github.com/director-lb/director/test/lab"
)

// hbRuns is how many runs each timer set gets per benchmark iteration.
const hbRuns = 3

// Paths of the Debian packages (heartbeat, resource-agents, net-tools).
const (
	hbBinary    = "/usr/libexec/heartbeat/heartbeat"
	hbSendARP   = "/usr/libexec/heartbeat/send_arp"
	hbIPaddrRA  = "/usr/lib/ocf/resource.d/heartbeat/IPaddr"
	hbIfconfig  = "/usr/sbin/ifconfig"
	hbHostHAD   = "/etc/ha.d"
	hbHostState = "/var/lib/heartbeat"
)

// hbSeedDir is the seed's /etc/ha.d, relative to this package's directory
// (shared/ lies beside the repository).
const hbSeedDir = "../../../shared/seed/etc/ha.d"

// hbLaunch runs inside the director's network namespace, in new UTS and
// mount namespaces (unshare): it names the node, puts the node's own
// directories over the package's and execs heartbeat in the foreground
// (-f, Debian's addition, as its systemd unit runs it).
// Arguments: $1 node, $2 the node's directory, $3 the heartbeat binary.
const hbLaunch = `set -e
hostname "$1"
test "$(uname -n)" = "$1"
mount --bind "$2/ha.d" /etc/ha.d
mount --bind "$2/lib" /var/lib/heartbeat
mount --bind "$2/log" /var/log
mount --bind "$2/run" /run
exec "$3" -f
`

// hbNAT is the static stand-in for the seed's ipvsadm resource: VIP:80 to
// web1 and web2, 3:1, loaded on both directors.
const hbNAT = `table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 192.168.56.10 tcp dport 80 dnat to numgen inc mod 4 map { 0-2 : 192.168.200.11, 3 : 192.168.200.12 }
	}
}
`

// hbTimers are heartbeat's keepalive and deadtime.
type hbTimers struct{ keepalive, deadtime time.Duration }

func (t hbTimers) String() string { return fmt.Sprintf("%v/%v", t.keepalive, t.deadtime) }

// hbTime writes d in ha.cf's time syntax: whole seconds as a plain
// number, anything else in milliseconds ("100ms").
func hbTime(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// hbTimerSets are the timers measured: the seed's and the sub-second pair.
var hbTimerSets = []hbTimers{
	{time.Second, 5 * time.Second},
	{100 * time.Millisecond, 500 * time.Millisecond},
}

// hbSettle is how long after starting heartbeat a run waits before it
// fails lb1. For its first 5 s the master control process advertises its
// deadtime plus 2 s (master_control_process: hb_add_deadtime(2000), popped
// by a 5000 ms timer), and the peer declares a node dead after the
// deadtime that node last advertised in its status messages; a failure
// in that window would be detected 2 s late. The wait ends two keepalives
// and a second of margin after the pop, once lb2 has heard lb1's real
// deadtime.
func hbSettle(tm hbTimers) time.Duration { return 6*time.Second + 2*tm.keepalive }

// hbResult is one run's outcome.
type hbResult struct {
	blackout time.Duration // longest gap between client successes
	takeover time.Duration // failure until lb2 held both addresses
	failed   int           // client attempts that failed
}

// hbEnsureInstalled installs heartbeat (and net-tools, for the IPaddr
// agent's ifconfig) with apt-get when they are missing, and skips the
// benchmark when that fails. Nothing here starts heartbeat in the host's
// namespaces (the package's own start at installation fails without an
// /etc/ha.d/ha.cf); it checks that no heartbeat runs in the host's
// network namespace before going on.
func hbEnsureInstalled(b *testing.B) {
	b.Helper()
	missing := func() []string {
		var m []string
		for _, p := range []string{hbBinary, hbSendARP, hbIPaddrRA, hbIfconfig} {
			if _, err := os.Stat(p); err != nil {
				m = append(m, p)
			}
		}
		return m
	}
	if m := missing(); len(m) > 0 {
		if _, err := exec.LookPath("apt-get"); err != nil {
			b.Skipf("heartbeat is not installed (%v missing) and there is no apt-get", m)
		}
		b.Logf("installing heartbeat: %v missing", m)
		install := func() error {
			cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "heartbeat", "net-tools")
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("apt-get install: %w: %s", err, hbLastLines(string(out), 10))
			}
			return nil
		}
		if err := install(); err != nil {
			b.Logf("%v; running apt-get update", err)
			if out, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
				b.Skipf("heartbeat can not be installed: apt-get update: %v: %s", err, hbLastLines(string(out), 10))
			}
			if err := install(); err != nil {
				b.Skipf("heartbeat can not be installed: %v", err)
			}
		}
		if m := missing(); len(m) > 0 {
			b.Skipf("heartbeat installed but %v still missing", m)
		}
	}
	for _, tool := range []string{"nft", "unshare", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s is needed: %v", tool, err)
		}
	}
	root, err := hbNetnsID("/proc/self/ns/net")
	if err != nil {
		b.Fatal(err)
	}
	if pids := hbPidsIn(root, "heartbeat"); len(pids) > 0 {
		b.Fatalf("heartbeat processes %v run in the host's network namespace: refusing to go on", pids)
	}
}

// hbSeed is the seed's /etc/ha.d: ha.cf, authkeys and haresources.
type hbSeed struct{ haCF, authkeys, haresources string }

func hbReadSeed() (hbSeed, error) {
	var s hbSeed
	for _, f := range []struct {
		name string
		dst  *string
	}{{"ha.cf", &s.haCF}, {"authkeys", &s.authkeys}, {"haresources", &s.haresources}} {
		data, err := os.ReadFile(filepath.Join(hbSeedDir, f.name))
		if err != nil {
			return s, fmt.Errorf("read seed: %w", err)
		}
		*f.dst = string(data)
	}
	return s, nil
}

// hbLabIfs are the directors' interfaces: the only ones ha.cf may name.
var hbLabIfs = []string{lab.PubIf, lab.IntIf}

// hbHaCF adapts the seed's ha.cf: logging to /var/log/ha-log (the node's
// own log directory) without the logging daemon, keepalive and deadtime
// set to tm, everything else (bcast enp0s3, node lb1 lb2, no
// auto_failback, so heartbeat's default "legacy") kept. It refuses media
// that are not lab interfaces, and serial or ping media.
func hbHaCF(seed string, tm hbTimers) (string, error) {
	out := []string{"# seed's ha.cf adapted by BenchmarkHeartbeatReferenceFailover",
		"use_logd no", "logfile /var/log/ha-log"}
	var sawKeepalive, sawDeadtime bool
	for _, line := range strings.Split(seed, "\n") {
		f := strings.Fields(strings.SplitN(line, "#", 2)[0])
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "logfile", "debugfile", "logfacility", "use_logd":
			continue
		case "keepalive":
			line, sawKeepalive = "keepalive "+hbTime(tm.keepalive), true
		case "deadtime":
			line, sawDeadtime = "deadtime "+hbTime(tm.deadtime), true
		case "bcast":
			if len(f) < 2 {
				return "", fmt.Errorf("ha.cf: %q names no interface", line)
			}
			for _, ifname := range f[1:] {
				if !slices.Contains(hbLabIfs, ifname) {
					return "", fmt.Errorf("ha.cf: %q names %s, not a lab interface %v", line, ifname, hbLabIfs)
				}
			}
		case "mcast", "ucast", "mcast6", "ucast6":
			if len(f) < 2 || !slices.Contains(hbLabIfs, f[1]) {
				return "", fmt.Errorf("ha.cf: %q does not name a lab interface %v", line, hbLabIfs)
			}
		case "serial", "ping", "ping6", "ping_group", "respawn", "crm", "pacemaker":
			return "", fmt.Errorf("ha.cf: %q is not supported by this benchmark", line)
		}
		out = append(out, strings.TrimSpace(line))
	}
	if !sawKeepalive {
		out = append(out, "keepalive "+hbTime(tm.keepalive))
	}
	if !sawDeadtime {
		out = append(out, "deadtime "+hbTime(tm.deadtime))
	}
	return strings.Join(out, "\n") + "\n", nil
}

// hbHaresources adapts the seed's haresources: the ipvsadm resource is
// dropped (nftables stands in for it, statically), and every IPaddr::ADDR
// gets the prefix length and the lab interface of ADDR's network, which
// the resource-agents IPaddr needs (its nic defaults to eth0).
func hbHaresources(seed string) (string, error) {
	nets := []struct {
		prefix netip.Prefix
		ifname string
	}{{netip.MustParsePrefix(lab.PubNet), lab.PubIf}, {netip.MustParsePrefix(lab.IntNet), lab.IntIf}}
	var out []string
	for _, line := range strings.Split(seed, "\n") {
		f := strings.Fields(strings.SplitN(line, "#", 2)[0])
		if len(f) == 0 {
			continue
		}
		res := []string{f[0]}
		for _, r := range f[1:] {
			switch {
			case r == "ipvsadm":
				continue
			case strings.HasPrefix(r, "IPaddr::") && !strings.Contains(r, "/"):
				a, err := netip.ParseAddr(strings.TrimPrefix(r, "IPaddr::"))
				if err != nil {
					return "", fmt.Errorf("haresources: %q: %w", r, err)
				}
				ifname := ""
				for _, n := range nets {
					if n.prefix.Contains(a) {
						r, ifname = fmt.Sprintf("%s/%d/%s", r, n.prefix.Bits(), n.ifname), n.ifname
					}
				}
				if ifname == "" {
					return "", fmt.Errorf("haresources: %s is in no lab network", a)
				}
			case strings.HasPrefix(r, "IPaddr::"):
			default:
				return "", fmt.Errorf("haresources: resource %q is not supported by this benchmark", r)
			}
			res = append(res, r)
		}
		if len(res) > 1 {
			out = append(out, strings.Join(res, " "))
		}
	}
	if len(out) == 0 {
		return "", errors.New("haresources: no resources")
	}
	return strings.Join(out, "\n") + "\n", nil
}

// hbNode is one heartbeat instance.
type hbNode struct {
	name string
	dir  string // per-node directory: ha.d, lib, log, run, stdout
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd's exit, valid after done
}

// hbPrepare fills dir for node: a copy of the package's /etc/ha.d (scripts
// and resource wrappers) with the adapted ha.cf, haresources and authkeys
// (0600), the directories of /var/lib/heartbeat (no state files), an
// empty log directory and a /run with what tmpfiles.d would create.
func hbPrepare(dir string, seed hbSeed, tm hbTimers) error {
	haCF, err := hbHaCF(seed.haCF, tm)
	if err != nil {
		return err
	}
	res, err := hbHaresources(seed.haresources)
	if err != nil {
		return err
	}
	skip := map[string]bool{"ha.cf": true, "authkeys": true, "haresources": true, "nodeinfo": true}
	if err := hbCopyTree(hbHostHAD, filepath.Join(dir, "ha.d"), skip, true); err != nil {
		return err
	}
	for _, f := range []struct {
		name, data string
		mode       os.FileMode
	}{{"ha.cf", haCF, 0o644}, {"haresources", res, 0o644}, {"authkeys", seed.authkeys, 0o600}} {
		if err := os.WriteFile(filepath.Join(dir, "ha.d", f.name), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	if err := hbCopyTree(hbHostState, filepath.Join(dir, "lib"), nil, false); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "log"), 0o755); err != nil {
		return err
	}
	uid, gid := hbIDs("hacluster", "haclient")
	for _, d := range []struct {
		path     string
		mode     os.FileMode
		uid, gid int
	}{
		{"run", 0o755, 0, 0},
		{"run/heartbeat", 0o750, uid, gid},
		{"run/heartbeat/ccm", 0o750, uid, gid},
		{"run/heartbeat/crm", 0o750, uid, gid},
		{"run/heartbeat/dopd", 0o750, uid, gid},
		{"run/crm", 0o750, uid, gid},
		{"run/resource-agents", 0o755 | os.ModeSticky, 0, 0},
	} {
		p := filepath.Join(dir, d.path)
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			return err
		}
		// Chmod after Mkdir: the umask does not apply to it.
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
	}
	return nil
}

// hbIDs looks up a user's and a group's ids, root's when they are unknown.
func hbIDs(userName, groupName string) (int, int) {
	uid, gid := 0, 0
	if u, err := user.Lookup(userName); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
	}
	if g, err := user.LookupGroup(groupName); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid
}

// hbCopyTree copies the directory tree src to dst, keeping modes and
// owners; top-level names in skip are left out, and with files false
// only the directories are copied.
func hbCopyTree(src, dst string, skip map[string]bool, files bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if skip[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st, _ := info.Sys().(*unix.Stat_t) // nil only off Linux
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
		case !files:
			return nil
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, data, 0o600); err != nil {
				return err
			}
		default:
			return nil // sockets, FIFOs: runtime state, not copied
		}
		if st != nil {
			if err := os.Chown(target, int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
		}
		return os.Chmod(target, info.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid))
	})
}

// hbStart starts heartbeat for node (lb1 or lb2) inside its lab namespace,
// in new UTS and mount namespaces, with dir's contents mounted over the
// package's directories (hbLaunch). Its stdout and stderr go to
// dir/stdout.
func hbStart(l *lab.Lab, node, dir string) (*hbNode, error) {
	if node != lab.LB1 && node != lab.LB2 {
		return nil, fmt.Errorf("start heartbeat: %q is not a director", node)
	}
	// Never in the host's namespace: the lab node's is another one.
	self, err := hbNetnsID("/proc/self/ns/net")
	if err != nil {
		return nil, err
	}
	target, err := hbNetnsID(l.NetnsPath(node))
	if err != nil {
		return nil, err
	}
	if self == target {
		return nil, fmt.Errorf("start heartbeat: %s is the host's network namespace", l.NetnsPath(node))
	}
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = out.Close() }()
	cmd := l.Command(context.Background(), node, "unshare", "--uts", "--mount", "--propagation", "private",
		"sh", "-c", hbLaunch, "hbref-launch", node, dir, hbBinary)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start heartbeat on %s: %w", node, err)
	}
	n := &hbNode{name: node, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		n.err = cmd.Wait()
		close(n.done)
	}()
	return n, nil
}

// exited reports whether the process started by hbStart has ended. The
// master re-executes itself when a partition heals, so after lb1's return
// this is no sign of failure.
func (n *hbNode) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// logs returns the ends of the node's heartbeat log and stdout.
func (n *hbNode) logs() string {
	var s strings.Builder
	for _, f := range []string{"log/ha-log", "stdout"} {
		data, err := os.ReadFile(filepath.Join(n.dir, f))
		if err != nil {
			fmt.Fprintf(&s, "--- %s %s: %v\n", n.name, f, err)
			continue
		}
		fmt.Fprintf(&s, "--- %s %s (last lines):\n%s\n", n.name, f, hbLastLines(string(data), 25))
	}
	return s.String()
}

// keepLog copies the node's heartbeat log to dir (HBREF_LOGS) as
// run<run>-<keepalive>-<deadtime>-<node>.log.
func (n *hbNode) keepLog(dir string, run int, tm hbTimers) error {
	data, err := os.ReadFile(filepath.Join(n.dir, "log", "ha-log"))
	if err != nil {
		return err
	}
	name := fmt.Sprintf("run%d-%v-%v-%s.log", run, tm.keepalive, tm.deadtime, n.name)
	return os.WriteFile(filepath.Join(dir, name), data, 0o644)
}

func hbLastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// hbNetnsID identifies the network namespace at path (a bound namespace
// file or /proc/PID/ns/net).
func hbNetnsID(path string) ([2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return [2]uint64{}, fmt.Errorf("stat namespace %s: %w", path, err)
	}
	return [2]uint64{st.Dev, st.Ino}, nil
}

// hbPidsIn lists the processes (other than this one) in network namespace
// id, only those whose command name is comm unless comm is empty.
func hbPidsIn(id [2]uint64, comm string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		got, err := hbNetnsID(filepath.Join("/proc", e.Name(), "ns", "net"))
		if err != nil || got != id {
			continue
		}
		if comm != "" {
			c, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			if err != nil || strings.TrimSpace(string(c)) != comm {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// hbKillNode kills every process in node's namespace: heartbeat's master
// (whatever its pid by now), its children, resource scripts and send_arp.
// It retries while processes remain, since a script may fork meanwhile.
func hbKillNode(l *lab.Lab, node string) error {
	id, err := hbNetnsID(l.NetnsPath(node))
	if err != nil {
		return err
	}
	var pids []int
	for range 100 {
		if pids = hbPidsIn(id, ""); len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			if err := unix.Kill(p, unix.SIGKILL); err != nil && err != unix.ESRCH {
				return fmt.Errorf("kill %d in %s: %w", p, l.NetnsName(node), err)
			}
		}
		time.Sleep(20 * time.Millisecond) // let the kills land before looking again
	}
	return fmt.Errorf("processes %v still in %s", pids, l.NetnsName(node))
}

// hbHolds reports whether director node has the VIP on enp0s3 and the
// gateway on enp0s8.
func hbHolds(l *lab.Lab, node string) (vip, gw bool, err error) {
	err = l.Do(node, func() error {
		for _, c := range []struct {
			ifname string
			addr   net.IP
			has    *bool
		}{{lab.PubIf, net.ParseIP(lab.VIP), &vip}, {lab.IntIf, net.ParseIP(lab.Gateway), &gw}} {
			ifi, err := net.InterfaceByName(c.ifname)
			if err != nil {
				return err
			}
			addrs, err := ifi.Addrs()
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(c.addr) {
					*c.has = true
				}
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("read addresses of %s: %w", node, err)
	}
	return vip, gw, err
}

// hbWaitHolders polls until lb1 and lb2 hold exactly the floating
// addresses of want (both or none each), or fails after within; a
// heartbeat that exits meanwhile fails it at once. It returns how long it
// waited.
func hbWaitHolders(l *lab.Lab, nodes []*hbNode, want map[string]bool, within time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		ok := true
		var state []string
		for _, n := range []string{lab.LB1, lab.LB2} {
			vip, gw, err := hbHolds(l, n)
			if err != nil {
				return 0, err
			}
			state = append(state, fmt.Sprintf("%s vip=%t gw=%t", n, vip, gw))
			if vip != want[n] || gw != want[n] {
				ok = false
			}
		}
		if ok {
			return time.Since(start), nil
		}
		for _, n := range nodes {
			if n.exited() {
				return 0, fmt.Errorf("heartbeat on %s exited (%v) while waiting for %v", n.name, n.err, want)
			}
		}
		if time.Since(start) > within {
			return 0, fmt.Errorf("addresses not as wanted %v after %v: %s", want, within, strings.Join(state, ", "))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// hbRun is one failover measurement in a lab of its own; it cleans up
// everything it made before returning.
func hbRun(b *testing.B, seed hbSeed, tm hbTimers, run int) (res hbResult, err error) {
	root, err := os.MkdirTemp("", "hbref-")
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := os.RemoveAll(root); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	l, err := lab.New(lab.Options{})
	if err != nil {
		return res, err
	}
	var nodes []*hbNode
	defer func() {
		// Heartbeat first (every process in the directors' namespaces),
		// then the lab.
		var errs []error
		for _, n := range []string{lab.LB1, lab.LB2} {
			if kerr := hbKillNode(l, n); kerr != nil {
				errs = append(errs, kerr)
			}
		}
		for _, n := range nodes {
			select {
			case <-n.done:
			case <-time.After(5 * time.Second):
				errs = append(errs, fmt.Errorf("heartbeat launcher on %s did not exit", n.name))
			}
		}
		if err != nil {
			for _, n := range nodes {
				err = fmt.Errorf("%w\n%s", err, n.logs())
			}
		}
		if keep := os.Getenv("HBREF_LOGS"); keep != "" {
			for _, n := range nodes {
				if kerr := n.keepLog(keep, run, tm); kerr != nil {
					errs = append(errs, kerr)
				}
			}
		}
		errs = append(errs, l.Close())
		err = errors.Join(append([]error{err}, errs...)...)
	}()

	for _, n := range []string{lab.Web1, lab.Web2} {
		if _, err := l.ServeHTTP(n, ":80"); err != nil {
			return res, err
		}
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		cmd := l.Command(context.Background(), n, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(hbNAT)
		if out, err := cmd.CombinedOutput(); err != nil {
			return res, fmt.Errorf("nft on %s: %w: %s", n, err, strings.TrimSpace(string(out)))
		}
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		dir := filepath.Join(root, n)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return res, err
		}
		if err := hbPrepare(dir, seed, tm); err != nil {
			return res, fmt.Errorf("prepare %s: %w", n, err)
		}
	}
	started := time.Now()
	for _, n := range []string{lab.LB1, lab.LB2} {
		node, err := hbStart(l, n, filepath.Join(root, n))
		if err != nil {
			return res, err
		}
		nodes = append(nodes, node)
	}
	// lb1 owns both resources, lb2 stands by.
	if _, err := hbWaitHolders(l, nodes, map[string]bool{lab.LB1: true}, 30*time.Second+3*tm.deadtime); err != nil {
		return res, fmt.Errorf("initial acquisition: %w", err)
	}
	// Let heartbeat leave its start-up state, so that the failure is
	// judged with the configured deadtime (see hbSettle).
	time.Sleep(time.Until(started.Add(hbSettle(tm))))

	loop := l.StartClientLoop()
	defer loop.Stop()
	if err := loop.WaitSuccesses(time.Time{}, 5, 10*time.Second); err != nil {
		return res, fmt.Errorf("before the failure: %w", err)
	}

	t0 := time.Now()
	if err := l.SetLinks(lab.LB1, false); err != nil {
		return res, err
	}
	// lb1 keeps its addresses (its links are down), so only lb2 is
	// watched: it must get both.
	for {
		vip, gw, err := hbHolds(l, lab.LB2)
		if err != nil {
			return res, err
		}
		if vip && gw {
			res.takeover = time.Since(t0)
			break
		}
		if time.Since(t0) > tm.deadtime+20*time.Second {
			return res, fmt.Errorf("lb2 has vip=%t gw=%t %v after lb1 failed", vip, gw, time.Since(t0))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	if err := loop.WaitSuccesses(t0, 5, 10*time.Second); err != nil {
		return res, fmt.Errorf("after takeover: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // watch a little longer for a second gap
	_, failed := loop.Successes()
	res.failed = failed
	var ok bool
	if res.blackout, ok = loop.Blackout(t0); !ok {
		return res, errors.New("no client success before or after the failure")
	}

	// lb1 comes back; the measurement is over.
	if err := l.SetLinks(lab.LB1, true); err != nil {
		return res, err
	}
	b.Logf("run %d, %v: lb1 failed at %s; lb2 held both addresses %v later; client blackout %v (%d failed attempts)",
		run, tm, t0.Format("15:04:05.000"), res.takeover.Round(time.Millisecond), res.blackout.Round(time.Millisecond), res.failed)
	return res, nil
}

// hbMedian is the median of d (the mean of the middle two for an even
// count).
func hbMedian(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkHeartbeatReferenceFailover measures the client blackout of a
// failover under the real Heartbeat 3.0.6 for the seed's timers (1 s/5 s)
// and for 100 ms/500 ms, hbRuns runs each, alternating, and prints every
// blackout and the medians (see the file comment).
func BenchmarkHeartbeatReferenceFailover(b *testing.B) {
	testenv.RequirePrivileged(b)
	hbEnsureInstalled(b)
	seed, err := hbReadSeed()
	if err != nil {
		b.Skipf("no seed configuration: %v", err)
	}
	blackouts := map[hbTimers][]time.Duration{}
	takeovers := map[hbTimers][]time.Duration{}

	b.ResetTimer()
	for range b.N {
		for r := range hbRuns {
			for _, tm := range hbTimerSets {
				res, err := hbRun(b, seed, tm, r+1)
				if err != nil {
					b.Fatalf("run %d, timers %v: %v", r+1, tm, err)
				}
				blackouts[tm] = append(blackouts[tm], res.blackout)
				takeovers[tm] = append(takeovers[tm], res.takeover)
			}
		}
	}
	b.StopTimer()

	ms := func(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond)) }
	fmt.Printf("\nHeartbeat 3.0.6 failover (bcast enp0s3, IPaddr VIP + gateway, nftables DNAT); client: new connection every %v, timeout %v\n",
		lab.LoopPace, lab.LoopTimeout)
	fmt.Printf("%-22s %4s  %-28s %9s  %-28s %9s\n",
		"keepalive/deadtime", "runs", "blackouts", "median", "takeovers", "median")
	for _, tm := range hbTimerSets {
		var bs, ts []string
		for i := range blackouts[tm] {
			bs = append(bs, ms(blackouts[tm][i]))
			ts = append(ts, ms(takeovers[tm][i]))
		}
		fmt.Printf("%-22s %4d  %-28s %9s  %-28s %9s\n", tm, len(blackouts[tm]),
			strings.Join(bs, " "), ms(hbMedian(blackouts[tm])), strings.Join(ts, " "), ms(hbMedian(takeovers[tm])))
		b.ReportMetric(float64(hbMedian(blackouts[tm]))/float64(time.Millisecond),
			"blackout-ms-"+strings.ReplaceAll(tm.String(), "/", "-"))
	}
	fmt.Printf("blackout: longest gap between client successes from the last before lb1's links went down (resolution ~%v)\n",
		lab.LoopTimeout+lab.LoopPace)
	fmt.Printf("takeover: lb1's links down until lb2 held both the VIP and the gateway (polled every 10 ms)\n")
	b.ReportMetric(0, "ns/op")
}
