package importer

// Heartbeat's ha.cf, authkeys and haresources.

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func (d *doc) haSection() *ha {
	if d.ha == nil {
		d.ha = &ha{timerSrc: map[string]string{}}
	}
	return d.ha
}

// haCFIgnored are ha.cf directives that have no counterpart, with why.
var haCFIgnored = map[string]string{
	"logfile": "director logs to stderr (the journal under systemd)", "debugfile": "director logs to stderr",
	"logfacility": "director logs to stderr (the journal under systemd)", "use_logd": "director logs to stderr",
	"crm":       "there is no cluster resource manager: the ha section is the whole configuration",
	"pacemaker": "there is no cluster resource manager", "respawn": "run director under systemd (Restart=)",
	"apiauth": "director has no Heartbeat API", "compression": "director's messages are not compressed",
	"traditional_compression": "director's messages are not compressed", "baud": "serial links are not implemented",
	"serial": "serial links are not implemented", "watchdog": "no watchdog: run director under systemd",
	"stonith": "STONITH is not implemented", "stonith_host": "STONITH is not implemented",
	"autojoin": "the pair is always the two nodes listed", "debug": "director has no debug level",
	"realtime": "director does not change its scheduling class", "hopfudge": "only two nodes",
	"msgfmt": "director's own message format", "conn_logd_time": "director logs to stderr",
	"coredumps": "core dumps follow systemd's settings",
}

// haCF reads ha.cf.
func (d *doc) haCF(f File) {
	h := d.haSection()
	portLine := 0
	lines(f.Data, func(n int, line string) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		words := strings.Fields(line)
		if len(words) == 0 {
			return
		}
		key, args := words[0], words[1:]
		where := src(f.Name, n)
		switch key {
		case "node":
			h.nodes = append(h.nodes, args...)
			h.nodesSrc = where
		case "keepalive", "deadtime", "warntime", "initdead":
			if len(args) != 1 {
				d.note(f.Name, n, line, "want one time")
				return
			}
			v, ok := heartbeatTime(args[0])
			if !ok {
				d.note(f.Name, n, line, "want a number of seconds or a time in ms (500ms)")
				return
			}
			h.timers = append(h.timers, [2]string{key, v})
			h.timerSrc[key] = where
		case "udpport":
			p, err := strconv.Atoi(strings.Join(args, " "))
			if err != nil || p < 1 || p > 65535 {
				d.note(f.Name, n, line, "want a port 1-65535")
				return
			}
			h.port, portLine = p, n
		case "bcast":
			if len(args) == 0 {
				d.note(f.Name, n, line, "want an interface")
			}
			for _, i := range args {
				h.links = append(h.links, link{mode: "bcast", iface: i, src: where})
			}
		case "mcast":
			// mcast dev group port ttl loop
			if len(args) != 5 {
				d.note(f.Name, n, line, "want: mcast interface group port ttl loop")
				return
			}
			g, err := netip.ParseAddr(args[1])
			ttl, err2 := strconv.Atoi(args[3])
			if err != nil || err2 != nil || !g.Is4() || !g.IsMulticast() {
				d.note(f.Name, n, line, "want an IPv4 multicast group and a ttl")
				return
			}
			if args[2] != "694" && args[2] != strconv.Itoa(h.port) {
				d.note(f.Name, n, line, "the link's own port %s: director uses udpport (or 694) on every link", args[2])
			}
			if args[4] != "0" {
				d.note(f.Name, n, line, "multicast loop is not used (loop 0)")
			}
			h.links = append(h.links, link{mode: "mcast", iface: args[0], group: g, ttl: ttl, src: where})
		case "ucast":
			if len(args) != 2 {
				d.note(f.Name, n, line, "want: ucast interface peer-address")
				return
			}
			a, err := netip.ParseAddr(args[1])
			if err != nil || !a.Is4() {
				d.note(f.Name, n, line, "want an IPv4 peer address")
				return
			}
			if d.own(a) {
				d.note(f.Name, n, line, "%s is this node's own address: Heartbeat ignores it, so does the import", a)
				return
			}
			h.links = append(h.links, link{mode: "ucast", iface: args[0], peer: a, src: where})
		case "auto_failback":
			v := strings.Join(args, " ")
			var b bool
			switch v {
			case "on", "yes", "true":
				b = true
			case "off", "no", "false":
			case "legacy":
				b = true
				d.note(f.Name, n, line, "legacy: imported as on (nice_failback is not implemented)")
			default:
				d.note(f.Name, n, line, "want on or off")
				return
			}
			h.failback, h.fbSrc = &b, where
		case "ping", "ping_group":
			d.pingLine(f.Name, n, line, key, args)
		case "deadping":
			d.deadpingLine(f.Name, n, line, args)
		case "respawn":
			if len(args) == 2 && filepath.Base(args[1]) == "ipfail" {
				h.ipfail, h.ipfailLine = where, line
				return
			}
			d.note(f.Name, n, line, "not translated: %s", haCFIgnored[key])
		default:
			if why, ok := haCFIgnored[key]; ok {
				d.note(f.Name, n, line, "not translated: %s", why)
				return
			}
			d.note(f.Name, n, line, "unknown ha.cf directive")
		}
	})
	d.pingDone(f.Name)
	if h.failback == nil {
		b := true
		h.failback, h.fbSrc = &b, "ha.cf has no auto_failback: Heartbeat's default (legacy) behaves as on"
	}
	if h.nodesSrc == "" {
		h.nodesSrc = "no node line"
	}
	_ = portLine
}

// heartbeatTime reads one of ha.cf's times: seconds, or a number with
// "ms" (or "s", "us").
func heartbeatTime(s string) (string, bool) {
	for _, unit := range []string{"ms", "us", "s"} {
		if v, ok := strings.CutSuffix(s, unit); ok {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return "", false
			}
			if unit == "us" {
				unit = "µs"
			}
			return v + unit, true
		}
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return "", false
	}
	return s + "s", true
}

// own says whether a is one of this node's addresses.
func (d *doc) own(a netip.Addr) bool {
	for _, n := range d.opt.Networks {
		if n.Prefix.Addr() == a {
			return true
		}
	}
	return false
}

// authkeys reads Heartbeat's authkeys: the method of the key that its
// auth line selects.
func (d *doc) authkeys(f File) {
	h := d.haSection()
	sel, selLine := "", 0
	methods := map[string]string{}
	mline := map[string]int{}
	lines(f.Data, func(n int, line string) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			return
		}
		w := strings.Fields(t)
		if w[0] == "auth" && len(w) == 2 {
			sel, selLine = w[1], n
			return
		}
		if len(w) >= 2 {
			methods[w[0]] = strings.ToLower(w[1])
			mline[w[0]] = n
			return
		}
		d.note(f.Name, n, "(a line of authkeys)", "want auth N or N method key")
	})
	m, ok := methods[sel]
	switch {
	case sel == "" || !ok:
		d.note(f.Name, selLine, "auth "+sel, "selects no key: no key imported")
		return
	case m == "crc":
		d.note(f.Name, mline[sel], sel+" crc", "crc is no authentication: director needs a key, create one")
		return
	case m != "md5" && m != "sha1" && m != "sha256":
		d.note(f.Name, mline[sel], sel+" "+m, "unknown method: no key imported")
		return
	}
	path := f.Name
	if !filepath.IsAbs(path) {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	h.auth = [2]string{m, path}
	h.authSrc = src(f.Name, mline[sel])
}

// haResources reads haresources: the owner and its IPaddr addresses.
func (d *doc) haResources(f File) {
	d.haSection()
	var pending string
	start := 0
	lines(f.Data, func(n int, line string) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if pending == "" {
			start = n
		}
		if c, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			pending += c + " "
			return
		}
		full := pending + line
		pending = ""
		words := strings.Fields(full)
		if len(words) == 0 {
			return
		}
		d.resourceLine(f.Name, start, full, words)
	})
}

// resGroup is a resource group of another owner than the first line's:
// haresources lines with different owners become ha.groups.
type resGroup struct {
	owner     string
	src       string
	addresses []haAddress
	scripts   []scriptResource
}

func (d *doc) resourceLine(file string, n int, line string, words []string) {
	h := d.ha
	where := src(file, n)
	owner := words[0]
	if h.owner == "" {
		h.owner, h.ownerSrc = owner, where
	}
	// The line's group: the first owner's, or another owner's (lines of
	// one owner make one group, as the first owner's always did).
	src, addrs, scripts := &h.ownerSrc, &h.addresses, &h.scripts
	if owner != h.owner {
		i := slices.IndexFunc(h.more, func(g resGroup) bool { return g.owner == owner })
		if i < 0 {
			h.more = append(h.more, resGroup{owner: owner, src: where + ": a resource group of its own (owner " + owner + ")"})
			i = len(h.more) - 1
		}
		src, addrs, scripts = &h.more[i].src, &h.more[i].addresses, &h.more[i].scripts
	}
	for i, r := range words[1:] {
		name, args, _ := strings.Cut(r, "::")
		if _, err := netip.ParseAddr(strings.Split(r, "/")[0]); err == nil {
			name, args = "IPaddr", r
		}
		switch name {
		case "IPaddr", "IPaddr2":
			if a, ok := d.ipaddr(file, n, r, args); ok {
				*addrs = append(*addrs, a)
			}
		default:
			d.scriptResourceOf(file, n, r, name, args, addressAfter(words[i+2:]), src, scripts)
		}
	}
}

// writeGroups writes ha.groups: the first owner's group, then the others',
// each named after its owner (owner is the first group's, the first node
// if no line gave one).
func (d *doc) writeGroups(w func(string, ...any), owner, pub string) {
	h := d.ha
	w("  groups:   # haresources lines with different owners: each node holds its own group\n")
	groups := append([]resGroup{{owner: owner, src: h.ownerSrc, addresses: h.addresses, scripts: h.scripts}}, h.more...)
	for _, g := range groups {
		w("    - name: %s\n      owner: %s   # %s\n", yamlString(g.owner), yamlString(g.owner), g.src)
		writeResAddresses(w, g.addresses, pub, "      ")
		writeScripts(w, g.scripts, "      ")
	}
}

// writeResAddresses writes a group's addresses key at indent.
func writeResAddresses(w func(string, ...any), addrs []haAddress, pub, indent string) {
	if len(addrs) == 0 {
		w("%saddresses: []   # no floating address was imported: add the VIP and the gateway\n", indent)
		return
	}
	w("%saddresses:\n", indent)
	for _, a := range addrs {
		comment := a.src
		if a.note != "" {
			comment += "; " + a.note
		}
		iface := a.iface
		if iface == "" {
			iface = pub
		}
		w("%s  - {address: %s, interface: %s}   # %s\n", indent, a.prefix, yamlString(iface), comment)
	}
}

// ipaddr reads IPaddr's ip[/cidr[/iface[/broadcast]]]; false if it is
// not an address (noted).
func (d *doc) ipaddr(file string, n int, r, args string) (haAddress, bool) {
	parts := strings.Split(args, "/")
	a, err := netip.ParseAddr(parts[0])
	if err != nil || !a.Is4() {
		d.note(file, n, r, "want an IPv4 address")
		return haAddress{}, false
	}
	x := haAddress{src: src(file, n)}
	bits := -1
	if len(parts) > 1 && parts[1] != "" {
		b, err := strconv.Atoi(parts[1])
		if err != nil {
			// A dotted netmask.
			m, err := netip.ParseAddr(parts[1])
			if err != nil || !m.Is4() {
				d.note(file, n, r, "want a prefix length or a netmask")
				return haAddress{}, false
			}
			b = maskBits(m)
			if b < 0 {
				d.note(file, n, r, "want a contiguous netmask")
				return haAddress{}, false
			}
		}
		bits = b
	}
	if len(parts) > 2 {
		x.iface = parts[2]
	}
	if len(parts) > 3 && parts[3] != "" {
		x.note = "broadcast " + parts[3] + " not kept: director uses the prefix's broadcast"
	}
	found, p := d.iface(a)
	switch {
	case bits < 0 && found != "":
		bits = p.Bits()
		x.note = join(x.note, fmt.Sprintf("prefix from this host's %s, as IPaddr finds it", found))
	case bits < 0:
		bits = 24
		d.note(file, n, r, "no prefix length and no interface of this host holds %s: GUESSED /24, check it", a)
	}
	if x.iface == "" {
		if found != "" {
			x.iface = found
			x.note = join(x.note, "interface "+found+" holds its network")
		} else {
			d.note(file, n, r, "no interface given and none of this host holds %s: GUESSED the public interface, check it", a)
		}
	}
	x.prefix = netip.PrefixFrom(a, bits)
	return x, true
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// maskBits is the prefix length of a contiguous netmask, else -1.
func maskBits(m netip.Addr) int {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for v&(1<<31) != 0 {
		ones++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return ones
}
