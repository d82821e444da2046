package bench

// Running Heartbeat 3.0.6 in a lab node: its files from the seed's, its
// processes, its logs, and whether it holds the addresses.

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

	"golang.org/x/sys/unix"

	"github.com/director-lb/director/test/lab"
)

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
