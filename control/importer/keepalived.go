package importer

// keepalived.conf: virtual_server and real_server blocks with their
// checks, and the first vrrp_instance as the pair's resource group.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/director-lb/director/control/model"
)

// kaNode is one statement of keepalived.conf: its words, its line, and
// the statements of its block (nil when it has none).
type kaNode struct {
	words []string
	line  int
	block []*kaNode
	// braces is whether it had a block, possibly empty.
	braces bool
}

func (k *kaNode) text() string { return strings.Join(k.words, " ") }

// kaParse splits keepalived.conf into statements and blocks: words
// separated by blanks, "!" and "#" starting comments, '"' quoting, "{"
// and "}" delimiting blocks (on the statement's line or the next).
func kaParse(data []byte) ([]*kaNode, []int) {
	root := &kaNode{braces: true}
	stack := []*kaNode{root}
	var unbalanced []int
	var last *kaNode
	lines(data, func(n int, line string) {
		var words []string
		for i := 0; i < len(line); {
			c := line[i]
			switch c {
			case ' ', '\t', '\r':
				i++
			case '!', '#':
				i = len(line)
			case '{', '}':
				words = append(words, string(c))
				i++
			case '"':
				j := strings.IndexByte(line[i+1:], '"')
				if j < 0 {
					j = len(line) - i - 1
				}
				words = append(words, line[i+1:i+1+j])
				i += j + 2
			default:
				j := i
				for j < len(line) && !strings.ContainsRune(" \t\r{}", rune(line[j])) {
					j++
				}
				words = append(words, line[i:j])
				i = j
			}
		}
		var cur *kaNode
		for _, w := range words {
			top := stack[len(stack)-1]
			switch w {
			case "{":
				target := cur
				if target == nil {
					target = last
				}
				if target == nil {
					unbalanced = append(unbalanced, n)
					continue
				}
				target.braces = true
				stack = append(stack, target)
				cur = nil
			case "}":
				if len(stack) == 1 {
					unbalanced = append(unbalanced, n)
					continue
				}
				stack = stack[:len(stack)-1]
				cur = nil
				last = nil
			default:
				if cur == nil {
					cur = &kaNode{line: n}
					top.block = append(top.block, cur)
					last = cur
				}
				cur.words = append(cur.words, w)
			}
		}
	})
	if len(stack) > 1 {
		unbalanced = append(unbalanced, stack[len(stack)-1].line)
	}
	return root.block, unbalanced
}

// keepalived reads keepalived.conf.
func (d *doc) keepalived(f File) {
	stmts, bad := kaParse(f.Data)
	for _, n := range bad {
		d.note(f.Name, n, "{ }", "unbalanced brace")
	}
	vrrp := 0
	for _, s := range stmts {
		switch s.words[0] {
		case "global_defs":
			d.kaGlobal(f.Name, s)
		case "virtual_server":
			d.kaVirtualServer(f.Name, s)
		case "vrrp_instance":
			vrrp++
			if vrrp > 1 {
				d.note(f.Name, s.line, s.text(), "a second resource group is not a configuration key in this version: not translated")
				continue
			}
			d.kaVRRP(f.Name, s)
		case "include":
			d.note(f.Name, s.line, s.text(), "give the included files to director import as well")
		default:
			d.note(f.Name, s.line, s.text(), "not translated: no counterpart in director")
		}
	}
}

func (d *doc) kaGlobal(file string, g *kaNode) {
	for _, s := range g.block {
		if s.words[0] == "router_id" && len(s.words) == 2 && d.opt.Node == "" {
			d.opt.Node = s.words[1]
			d.nodeWhy = src(file, s.line) + ": router_id"
			continue
		}
		d.note(file, s.line, s.text(), "not translated: no counterpart in director")
	}
}

func (d *doc) kaVirtualServer(file string, v *kaNode) {
	if len(v.words) != 3 || v.words[1] == "fwmark" || v.words[1] == "group" {
		d.note(file, v.line, v.text(), "firewall-mark and group virtual servers are not implemented: want virtual_server ADDRESS PORT")
		return
	}
	a, err := netip.ParseAddr(v.words[1])
	port, err2 := strconv.Atoi(v.words[2])
	if err != nil || !a.Is4() || err2 != nil || port < 1 || port > 65535 {
		d.note(file, v.line, v.text(), "want an IPv4 address and a port 1-65535")
		return
	}
	key := model.ServiceKey{VIP: a, Port: uint16(port), Proto: model.TCP}
	for _, s := range v.block {
		if s.words[0] == "protocol" && len(s.words) == 2 {
			switch strings.ToUpper(s.words[1]) {
			case "TCP":
			case "UDP":
				key.Proto = model.UDP
			default:
				d.note(file, s.line, s.text(), "only TCP and UDP are implemented: the virtual server is not imported")
				return
			}
		}
	}
	svc, added := d.service(key, src(file, v.line))
	if !added {
		d.note(file, v.line, v.text(), "the same service twice: merged")
	}
	algo := false
	interval, onFailure := "", "remove"
	var persist struct {
		timeout, line, maskLine int
		text, maskText          string
		mask                    netip.Addr
	}
	var flags []*kaNode
	for _, s := range v.block {
		arg := ""
		if len(s.words) > 1 {
			arg = s.words[1]
		}
		switch s.words[0] {
		case "protocol":
		case "lb_algo", "lvs_sched":
			d.scheduler(svc, arg, file, s.line, s.text())
			algo = true
		case "lb_kind", "lvs_method":
			if strings.ToUpper(arg) != "NAT" {
				d.note(file, s.line, s.text(), "forwarding by %s is not implemented: imported as NAT", arg)
			}
		case "delay_loop":
			if t, ok := heartbeatTime(arg); ok {
				interval = t
			} else {
				d.note(file, s.line, s.text(), "want a number of seconds")
			}
		case "persistence_timeout":
			// keepalived's default without a value: 6 minutes.
			persist.timeout, persist.line, persist.text = 360, s.line, s.text()
			if arg != "" {
				n, err := strconv.Atoi(arg)
				if err != nil || n < 1 || n > 86400*31 {
					d.note(file, s.line, s.text(), "want a number of seconds 1-2678400: not translated")
					persist.timeout = 0
					continue
				}
				persist.timeout = n
			}
		case "persistence_granularity":
			m, err := netip.ParseAddr(arg)
			if err != nil || !m.Is4() {
				d.note(file, s.line, s.text(), "want an IPv4 netmask: not translated")
				continue
			}
			persist.mask, persist.maskLine, persist.maskText = m, s.line, s.text()
		case "sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2", "flag-3":
			flags = append(flags, s)
		case "sorry_server":
			if len(s.words) != 3 {
				d.note(file, s.line, s.text(), "want sorry_server ADDRESS PORT")
				continue
			}
			ra, err := netip.ParseAddr(s.words[1])
			rp, err2 := strconv.Atoi(s.words[2])
			if err != nil || err2 != nil || !ra.Is4() || rp < 1 || rp > 65535 {
				d.note(file, s.line, s.text(), "want an IPv4 address and a port")
				continue
			}
			svc.sorry = &model.RealKey{Addr: ra, Port: uint16(rp)}
			svc.comments = append(svc.comments, "sorry_server from "+src(file, s.line))
		case "inhibit_on_failure":
			onFailure = "quiesce"
		case "real_server":
		default:
			d.note(file, s.line, s.text(), "not translated: no counterpart in director")
		}
	}
	if !algo {
		d.scheduler(svc, "wlc", file, v.line, v.text()) // keepalived's default lb_algo
	}
	svc.persistence, svc.flags = nil, nil
	switch {
	case persist.timeout > 0:
		line, text := persist.line, persist.text
		if persist.mask.IsValid() {
			line, text = persist.maskLine, persist.maskText
		}
		d.persistence(svc, persist.timeout, persist.mask, file, line, text)
	case persist.mask.IsValid():
		d.note(file, persist.maskLine, persist.maskText, "persistence_granularity without persistence_timeout: not translated")
	}
	for _, f := range flags {
		// flag-N are IPVS's bits, named after the scheduler (flag-1 of sh
		// is sh-fallback).
		name := f.words[0]
		if svc.sched == model.SchedSH || svc.sched == model.SchedMH {
			name = map[string]string{"flag-1": svc.sched + "-fallback", "flag-2": svc.sched + "-port"}[name]
			if name == "" {
				name = f.words[0]
			}
		}
		d.schedFlags(svc, []string{name}, file, f.line, f.text())
	}
	for _, s := range v.block {
		if s.words[0] == "real_server" {
			d.kaReal(file, svc, s, interval, onFailure)
		}
	}
	if svc.sorry != nil {
		if _, dup := svc.realIndex[*svc.sorry]; dup {
			d.note(file, v.line, "sorry_server", "the sorry server is also a real server: not imported")
			svc.sorry = nil
		}
	}
}

func (d *doc) kaReal(file string, svc *service, r *kaNode, interval, onFailure string) {
	if len(r.words) != 3 {
		d.note(file, r.line, r.text(), "want real_server ADDRESS PORT")
		return
	}
	a, err := netip.ParseAddr(r.words[1])
	port, err2 := strconv.Atoi(r.words[2])
	if err != nil || err2 != nil || !a.Is4() || port < 1 || port > 65535 {
		d.note(file, r.line, r.text(), "want an IPv4 address and a port 1-65535")
		return
	}
	rs := &real{key: model.RealKey{Addr: a, Port: uint16(port)}, weight: 1, src: src(file, r.line)}
	if _, dup := svc.realIndex[rs.key]; dup {
		d.note(file, r.line, r.text(), "the same real server twice: not imported")
		return
	}
	checks := 0
	thLine, thText := 0, ""
	for _, s := range r.block {
		arg := ""
		if len(s.words) > 1 {
			arg = s.words[1]
		}
		switch s.words[0] {
		case "weight":
			w, err := strconv.Atoi(arg)
			if err != nil || w < 0 || w > 65535 {
				d.note(file, s.line, s.text(), "want a weight 0-65535")
				continue
			}
			rs.weight = w
		case "inhibit_on_failure":
			onFailure = "quiesce"
		case "uthreshold", "lthreshold":
			n, err := strconv.ParseUint(arg, 10, 32)
			if err != nil || n > 1<<31-1 {
				d.note(file, s.line, s.text(), "want a number of connections 0-2147483647: not translated")
				continue
			}
			if s.words[0] == "uthreshold" {
				rs.upper = uint32(n)
			} else {
				rs.lower = uint32(n)
			}
			thLine, thText = s.line, s.text()
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK":
			checks++
			if checks > 1 {
				d.note(file, s.line, s.text(), "only one check per real server: not translated")
				continue
			}
			rs.health = d.kaCheck(file, s, interval, onFailure)
		default:
			d.note(file, s.line, s.text(), "not translated: no counterpart in director")
		}
	}
	if thLine != 0 {
		upper, lower, moved, ok := thresholds(rs.upper, rs.lower)
		switch {
		case !ok:
			d.note(file, thLine, thText, "a lower threshold (%d) above the upper one (%d): the kernel refuses it: thresholds not translated", rs.lower, rs.upper)
			upper, lower = 0, 0
		case moved:
			d.note(file, thLine, thText, "lower threshold %d equal to the upper one: imported as %d (lower_threshold must be below upper_threshold)", rs.lower, lower)
		}
		rs.upper, rs.lower = upper, lower
	}
	if checks == 0 {
		rs.health = &check{}
		rs.health.set("type", "none")
		rs.src += " (no check in keepalived.conf)"
	}
	svc.realIndex[rs.key] = len(svc.reals)
	svc.reals = append(svc.reals, rs)
}

// kaCheck translates one check block.
func (d *doc) kaCheck(file string, c *kaNode, interval, onFailure string) *check {
	hc := &check{}
	hc.set("type", map[string]string{"TCP_CHECK": "tcp", "HTTP_GET": "http", "SSL_GET": "https", "MISC_CHECK": "command"}[c.words[0]])
	iv := 6.0 // keepalived's delay_loop default
	if interval != "" {
		hc.set("interval", interval)
		iv, _ = strconv.ParseFloat(strings.TrimSuffix(interval, "s"), 64)
	} else {
		hc.set("interval", "6s")
	}
	timeout := 5.0 // keepalived's connect_timeout default
	fall := 1
	urls := 0
	for _, s := range c.block {
		arg := ""
		if len(s.words) > 1 {
			arg = s.words[1]
		}
		switch s.words[0] {
		case "connect_timeout", "misc_timeout":
			v, err := strconv.ParseFloat(arg, 64)
			if err != nil || v <= 0 {
				d.note(file, s.line, s.text(), "want a number of seconds")
				continue
			}
			timeout = v
		case "connect_port":
			p, err := strconv.Atoi(arg)
			if err != nil || p < 1 || p > 65535 {
				d.note(file, s.line, s.text(), "want a port")
				continue
			}
			hc.set("port", arg)
		case "retry", "nb_get_retry":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 || n > 99 {
				d.note(file, s.line, s.text(), "want a count 0-99")
				continue
			}
			fall = n + 1
		case "url":
			urls++
			if urls > 1 {
				d.note(file, s.line, s.text(), "only one url per check: not translated")
				continue
			}
			for _, u := range s.block {
				uarg := ""
				if len(u.words) > 1 {
					uarg = u.words[1]
				}
				switch u.words[0] {
				case "path":
					hc.set("path", yamlString(uarg))
				case "status_code":
					if _, err := strconv.Atoi(uarg); err != nil || len(u.words) != 2 {
						d.note(file, u.line, u.text(), "only one status code is implemented: not translated")
						continue
					}
					hc.set("expect_status", uarg)
				default:
					d.note(file, u.line, u.text(), "not translated: no counterpart in director (body digests are not implemented)")
				}
			}
		case "misc_path":
			args := strings.Fields(strings.Join(s.words[1:], " "))
			if len(args) == 0 || !strings.HasPrefix(args[0], "/") {
				d.note(file, s.line, s.text(), "want an absolute program path")
				continue
			}
			q := make([]string, len(args))
			for i, a := range args {
				q[i] = fmt.Sprintf("%q", a)
			}
			hc.set("command", "["+strings.Join(q, ", ")+"]")
		case "virtualhost":
			hc.set("host", yamlString(arg))
		default:
			d.note(file, s.line, s.text(), "not translated: no counterpart in director")
		}
	}
	if timeout > iv {
		d.note(file, c.line, c.text(), "a check timeout of %gs is longer than the interval: it is the interval", timeout)
		timeout = iv
	}
	hc.set("timeout", strconv.FormatFloat(timeout, 'f', -1, 64)+"s")
	hc.set("rise", "1")
	hc.set("fall", strconv.Itoa(fall))
	hc.set("on_failure", onFailure)
	return hc
}

// kaVRRP reads a vrrp_instance as the pair: its interface as the
// heartbeat link, its addresses as the group, MASTER or the higher
// priority as the owner.
func (d *doc) kaVRRP(file string, v *kaNode) {
	h := d.haSection()
	where := src(file, v.line)
	iface, state, prio, advert := "", "", 100, 1.0
	var peers []netip.Addr
	for _, s := range v.block {
		arg := ""
		if len(s.words) > 1 {
			arg = s.words[1]
		}
		switch s.words[0] {
		case "interface":
			iface = arg
		case "state":
			state = strings.ToUpper(arg)
		case "priority":
			if p, err := strconv.Atoi(arg); err == nil {
				prio = p
			}
		case "advert_int":
			if a, err := strconv.ParseFloat(arg, 64); err == nil && a > 0 {
				advert = a
			}
		case "nopreempt":
			b := false
			h.failback, h.fbSrc = &b, src(file, s.line)+": nopreempt"
		case "preempt":
		case "virtual_router_id":
		case "unicast_peer":
			for _, p := range s.block {
				if a, err := netip.ParseAddr(p.words[0]); err == nil && a.Is4() {
					peers = append(peers, a)
				} else {
					d.note(file, p.line, p.text(), "want an IPv4 address")
				}
			}
		case "authentication":
			d.note(file, s.line, s.text(), "VRRP's password is not a key director can use: create a key file (see the ha section)")
		case "virtual_ipaddress":
			for _, a := range s.block {
				d.kaAddress(file, a, iface)
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			d.note(file, s.line, s.text(), "%s", kaNotifyReason(s.words[0]))
		case "track_script", "track_interface", "track_file":
			d.note(file, s.line, s.text(), "tracked scripts and interfaces are not a configuration key in this version: not translated")
		default:
			d.note(file, s.line, s.text(), "not translated: no counterpart in director")
		}
	}
	node, _ := d.node()
	peer := d.opt.Peer
	if peer == "" {
		peer = "peer"
	}
	h.nodes, h.nodesSrc = []string{node, peer}, where+": VRRP names no nodes: this one (router_id or --node) and --peer"
	mine := state == "MASTER" || state == "" && prio >= 100
	if mine {
		h.owner, h.ownerSrc = node, fmt.Sprintf("%s: state %s, priority %d", where, state, prio)
	} else {
		h.owner, h.ownerSrc = peer, fmt.Sprintf("%s: state %s, priority %d: the peer is the master", where, state, prio)
	}
	if iface != "" {
		if len(peers) > 0 {
			for _, p := range peers {
				h.links = append(h.links, link{mode: "ucast", iface: iface, peer: p, src: where + ": unicast_peer"})
			}
		} else {
			h.links = append(h.links, link{mode: "bcast", iface: iface, src: where + ": interface (VRRP multicast; director broadcasts)"})
		}
	}
	h.timers = append(h.timers, [2]string{"keepalive", strconv.FormatFloat(advert, 'f', -1, 64) + "s"},
		[2]string{"deadtime", strconv.FormatFloat(3*advert+1, 'f', -1, 64) + "s"})
	h.timerSrc["keepalive"] = where + ": advert_int"
	h.timerSrc["deadtime"] = where + ": VRRP's master down interval, 3 x advert_int plus skew"
}

// kaAddress reads one line of virtual_ipaddress: ADDRESS[/BITS] [dev IF]
// [brd ...] [label ...]; keepalived's default prefix is /32.
func (d *doc) kaAddress(file string, a *kaNode, iface string) {
	h := d.ha
	p, err := netip.ParsePrefix(a.words[0])
	if err != nil {
		ad, err := netip.ParseAddr(a.words[0])
		if err != nil {
			d.note(file, a.line, a.text(), "want an address")
			return
		}
		p = netip.PrefixFrom(ad, 32)
	}
	if !p.Addr().Is4() {
		d.note(file, a.line, a.text(), "IPv6 is not supported yet")
		return
	}
	x := haAddress{prefix: p, iface: iface, src: src(file, a.line)}
	for i := 1; i+1 < len(a.words); i += 2 {
		switch a.words[i] {
		case "dev":
			x.iface = a.words[i+1]
		case "label":
			x.note = join(x.note, "label "+a.words[i+1]+" not kept: director labels addresses itself")
		default:
			d.note(file, a.line, a.text(), "%s %s not translated", a.words[i], a.words[i+1])
		}
	}
	if p.Bits() < 31 && (p.Addr() == p.Masked().Addr()) {
		d.note(file, a.line, a.text(), "a network address is not a floating address: not imported")
		return
	}
	for _, o := range h.addresses {
		if o.prefix.Addr() == p.Addr() {
			d.note(file, a.line, a.text(), "the same address twice: merged")
			return
		}
	}
	h.addresses = append(h.addresses, x)
}
