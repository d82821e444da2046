package importer

// The pair's ping nodes (ha.cf's ping, ping_group, deadping), script
// resources (haresources' NAME[::ARG...]) and keepalived's notify
// scripts, which have no counterpart that runs them the same way.

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pingNode is one ha.ping node: one address (ping), or several that
// count as one (ping_group NAME ADDRESS...).
type pingNode struct {
	addrs []netip.Addr
	group string // the ping_group's name; "" for ping
	src   string
	line  string // ha.cf's line
}

// scriptResource is one script resource of haresources, found where
// Heartbeat looks for it.
type scriptResource struct {
	path string
	args []string
	src  string
	note string // how the path was chosen
}

// Where Heartbeat's ResourceManager looks for a resource's script, in
// this order: the first executable file wins.
const (
	heartbeatResourceDir = "/etc/ha.d/resource.d"
	initDir              = "/etc/init.d"
)

// heartbeatResourceScripts are the scripts Heartbeat 3.0.6's package
// installs in /etc/ha.d/resource.d, and drbd-utils' drbddisk: a resource
// of one of these names is guessed there when the node has neither
// candidate (an import made away from the director).
var heartbeatResourceScripts = []string{"AudibleAlarm", "Delay", "Filesystem", "ICP", "IPaddr", "IPaddr2",
	"IPsrcaddr", "IPv6addr", "LVM", "LinuxSCSI", "MailTo", "OCF", "Raid1", "SendArp", "ServeRAID", "WAS",
	"WinPopup", "Xinetd", "apache", "db2", "ids", "portblock", "drbddisk"}

// notNeeded are the resources director does itself, with why: their
// scripts would fight it.
var notNeeded = map[string]string{
	"ipvsadm":           "director's services run on both nodes",
	"ldirectord":        "director's services and health checks run on both nodes",
	"LVSSyncDaemonSwap": "director moves connection sync with the group (ha.sync; with dataplane ipvs, the sync daemon is master while active, backup otherwise)",
}

// pingLine reads ha.cf's `ping ADDRESS...` and `ping_group NAME
// ADDRESS...`.
func (d *doc) pingLine(file string, n int, line, key string, args []string) {
	h := d.ha
	node := pingNode{src: src(file, n), line: line}
	if key == "ping_group" {
		if len(args) < 2 {
			d.note(file, n, line, "want: ping_group NAME ADDRESS...")
			return
		}
		node.group, args = args[0], args[1:]
	} else if len(args) == 0 {
		d.note(file, n, line, "want: ping ADDRESS...")
		return
	}
	for _, s := range args {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			d.note(file, n, line, "%s: want an IPv4 address: the line is not translated", s)
			return
		}
		if at := d.pinged(a); at != "" {
			d.note(file, n, line, "%s is already a ping node (%s): the line is not translated", a, at)
			return
		}
		if slices.Contains(node.addrs, a) {
			d.note(file, n, line, "%s twice: the line is not translated", a)
			return
		}
		node.addrs = append(node.addrs, a)
	}
	if key == "ping_group" {
		h.ping = append(h.ping, node)
		return
	}
	// Each address of a ping line is a ping node of its own.
	for _, a := range node.addrs {
		h.ping = append(h.ping, pingNode{addrs: []netip.Addr{a}, src: node.src, line: line})
	}
}

// defaultKeepalive is director's keepalive when ha.cf has none
// (heartbeat.DefaultKeepalive, which the importer may not import; a test
// keeps them equal): ha.ping's default interval.
const defaultKeepalive = time.Second

// deadpingLine reads ha.cf's `deadping TIME`.
func (d *doc) deadpingLine(file string, n int, line string, args []string) {
	if len(args) != 1 {
		d.note(file, n, line, "want one time")
		return
	}
	v, ok := heartbeatTime(args[0])
	if !ok {
		d.note(file, n, line, "want a number of seconds or a time in ms (500ms)")
		return
	}
	d.ha.deadping, d.ha.deadpingSrc, d.ha.deadpingLine = v, src(file, n), line
}

// pingDone checks ha.cf's ping keys once the file is read: a deadping
// needs ping nodes, and must be longer than the ping interval
// (keepalive), as ha.ping.deadping must.
func (d *doc) pingDone(file string) {
	h := d.ha
	if len(h.ping) == 0 && h.ipfail != "" {
		d.note(file, lineOf(h.ipfail), h.ipfailLine, "not translated: ipfail acts on ping nodes, and there are none")
	}
	if len(h.ping) > 0 && h.ipfail == "" {
		n := lineOf(h.ping[0].src)
		d.note(file, n, h.ping[0].line, "Heartbeat acts on ping nodes only through ipfail (respawn hacluster .../ipfail), and this ha.cf has none: "+
			"director moves the group to the node that reaches more of them, check that this is wanted")
	}
	if h.deadping == "" {
		return
	}
	n := lineOf(h.deadpingSrc)
	if len(h.ping) == 0 {
		d.note(file, n, h.deadpingLine, "no ping or ping_group line: not translated")
		h.deadping = ""
		return
	}
	interval, keepalive := defaultKeepalive, "director's default keepalive"
	for _, t := range h.timers {
		if t[0] == "keepalive" {
			if v, err := time.ParseDuration(t[1]); err == nil {
				interval, keepalive = v, "keepalive"
			}
		}
	}
	if v, err := time.ParseDuration(h.deadping); err == nil && v <= interval {
		d.note(file, n, h.deadpingLine, "not longer than %s %v, the ping interval: not translated (deadtime applies)", keepalive, interval)
		h.deadping = ""
	}
}

// lineOf is the line of a file:line.
func lineOf(where string) int {
	n, _ := strconv.Atoi(where[strings.LastIndexByte(where, ':')+1:])
	return n
}

// pinged says where a is already a ping node; "" if it is not.
func (d *doc) pinged(a netip.Addr) string {
	for _, p := range d.ha.ping {
		if slices.Contains(p.addrs, a) {
			return p.src
		}
	}
	return ""
}

// writePing writes ha.ping. The interval is left to its default,
// keepalive: Heartbeat pings its ping nodes with every heartbeat.
func (d *doc) writePing(b *bytes.Buffer) {
	h := d.ha
	if len(h.ping) == 0 {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("  ping:   # interval: keepalive, as Heartbeat pings with every heartbeat\n")
	if h.ipfail != "" {
		w("    # %s: ipfail is not needed: director moves the group to the node that reaches more ping nodes\n", h.ipfail)
	}
	w("    nodes:\n")
	for _, p := range h.ping {
		if p.group == "" {
			w("      - %s   # %s\n", p.addrs[0], p.src)
			continue
		}
		as := make([]string, len(p.addrs))
		for i, a := range p.addrs {
			as[i] = a.String()
		}
		w("      - [%s]   # %s: ping_group %s, one node reached while any answers\n", strings.Join(as, ", "), p.src, p.group)
	}
	if h.deadping != "" {
		w("    deadping: %s   # %s\n", h.deadping, h.deadpingSrc)
	}
}

// scriptResourceOf translates one script resource r (NAME or
// NAME::ARG::...) of haresources' line n into the scripts of the line's
// group (groupSrc is the group's comment). addressesAfter says whether an
// address is listed after it on the line: Heartbeat would start the script
// first, director adds the addresses first.
func (d *doc) scriptResourceOf(file string, n int, r, name, rest string, addressesAfter bool,
	groupSrc *string, scripts *[]scriptResource) {
	if why, ok := notNeeded[name]; ok {
		*groupSrc += fmt.Sprintf("; the %s resource is not needed: %s", name, why)
		return
	}
	if name == "" || strings.ContainsAny(name, "/") || name == "." || name == ".." {
		d.note(file, n, r, "want a resource name, a script of %s or %s", heartbeatResourceDir, initDir)
		return
	}
	// As ResourceManager does: "::" separate the arguments, passed
	// unquoted (so split at blanks, empty ones dropped) before the action.
	args := strings.Fields(strings.ReplaceAll(rest, "::", " "))
	s := scriptResource{args: args, src: src(file, n)}
	for _, dir := range []string{heartbeatResourceDir, initDir} {
		if p := dir + "/" + name; d.opt.ScriptExists != nil && d.opt.ScriptExists(p) {
			s.path, s.note = p, "found on this node, as Heartbeat finds it"
			break
		}
	}
	if s.path == "" {
		dir := initDir
		if slices.Contains(heartbeatResourceScripts, name) {
			dir = heartbeatResourceDir
		}
		s.path = dir + "/" + name
		d.note(file, n, r, "neither %s/%s nor %s/%s is an executable file on this node: GUESSED %s, check it (director run refuses a missing script)",
			heartbeatResourceDir, name, initDir, name, s.path)
	}
	if strings.HasPrefix(s.path, heartbeatResourceDir+"/") {
		s.note = join(s.note, "keep the package that installed it (heartbeat, with resource-agents; drbd-utils) when Heartbeat goes")
	}
	if addressesAfter {
		d.note(file, n, r, "started after the addresses (director adds a group's addresses first), not before the addresses listed after it")
	}
	*scripts = append(*scripts, s)
}

// addressAfter says whether one of the resources rest is an address.
func addressAfter(rest []string) bool {
	for _, r := range rest {
		name, _, _ := strings.Cut(r, "::")
		if _, err := netip.ParseAddr(strings.Split(r, "/")[0]); err == nil || name == "IPaddr" || name == "IPaddr2" {
			return true
		}
	}
	return false
}

// writeScripts writes a group's scripts key at indent.
func writeScripts(w func(string, ...any), scripts []scriptResource, indent string) {
	if len(scripts) == 0 {
		return
	}
	w("%sscripts:   # run as PATH ARGS... start, in order, after the addresses are added; stop in reverse\n", indent)
	for _, s := range scripts {
		comment := s.src
		if s.note != "" {
			comment += "; " + s.note
		}
		if len(s.args) == 0 {
			w("%s  - %s   # %s\n", indent, yamlString(s.path), comment)
			continue
		}
		q := make([]string, len(s.args))
		for i, a := range s.args {
			q[i] = yamlString(a)
		}
		w("%s  - {path: %s, args: [%s]}   # %s\n", indent, yamlString(s.path), strings.Join(q, ", "), comment)
	}
}

// kaNotifyReason says why keepalived's notify scripts are not
// translated: director's ha.notify is one hook run at every transition
// with three arguments of its own, and neither form maps onto it.
func kaNotifyReason(key string) string {
	if key == "notify" {
		return "not translated: keepalived appends INSTANCE|GROUP, the instance's name, MASTER|BACKUP|FAULT|STOP and the priority; " +
			"director's ha.notify appends the state (acquiring, active, releasing, standby, stopped), the group and the reason: " +
			"the script would find the reason where it reads the state ($3), and a state name of its own. Rewrite it for ha.notify (docs/ha.md)"
	}
	state := map[string]string{"notify_master": "MASTER", "notify_backup": "BACKUP", "notify_fault": "FAULT", "notify_stop": "STOP"}[key]
	return fmt.Sprintf("not translated: keepalived runs it only on entering %s, with its own arguments alone; "+
		"director's ha.notify runs one hook at every transition, with the state, group and reason appended: "+
		"it would run this script at every transition. Call it from an ha.notify hook that tests DIRECTOR_HA_STATE (docs/ha.md)", state)
}
