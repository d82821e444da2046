package config

// The ha section: the pair, its heartbeat links, timers, key, gratuitous
// ARPs, resources and connection sync.

import (
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// configHATimer is one of the ha section's timers while it is checked.
type configHATimer struct {
	name string
	d    time.Duration
	// text is the value as written ("<v>s" for a number of seconds), or
	// "<d>, the default".
	text string
	// key is the timer's key; nil for a default.
	key *yaml.Node
	ok  bool
}

// ha checks the ha section, whose key is field.key; node is the top-level
// node, "" if it is not valid.
func (p *parser) ha(field configField, node string) *model.HAConfig {
	h := &model.HAConfig{
		AutoFailback: true,
		AuthMethod:   configDefaultAuthMethod,
		ARPCount:     heartbeat.DefaultARPCount,
		ARPInterval:  heartbeat.DefaultARPInterval,
		Line:         field.key.Line,
	}
	line := field.key.Line
	m, ok := p.mapping(field.value, "ha", line)
	if !ok {
		return h
	}
	f := p.fields(m, "in ha", "nodes", "transport", "keepalive", "deadtime", "warntime", "initdead", "auth",
		"auto_failback", "arp", "resources", "groups", "sync", "ping", "notify", "nice")

	nodesOK := false
	if v, ok := f["nodes"]; ok {
		h.Nodes, nodesOK = p.haNodes(v, node)
	} else {
		p.add(line, `ha: missing key "nodes"`)
	}

	if v, ok := f["transport"]; ok {
		h.Links = p.haTransport(v, "ha.transport", heartbeat.DefaultPort)
	} else {
		p.add(line, `ha: missing key "transport"`)
	}

	p.haTimers(h, f)

	if v, ok := f["auth"]; ok {
		p.haAuth(h, v)
	} else {
		p.add(line, `ha: missing key "auth"`)
	}

	if v, ok := f["auto_failback"]; ok {
		b := configResolve(v.value)
		if b.Kind != yaml.ScalarNode || b.ShortTag() != "!!bool" || b.Decode(&h.AutoFailback) != nil {
			p.add(b.Line, "ha.auto_failback: want true or false, got %s", configDescribe(b))
		}
	}

	if v, ok := f["arp"]; ok {
		if m, ok := p.mapping(v.value, "ha.arp", v.key.Line); ok {
			af := p.fields(m, "in ha.arp", "count", "interval")
			if v, ok := af["count"]; ok {
				if n, ok := p.integer(v.value, "ha.arp.count", 1, configMaxARPCount); ok {
					h.ARPCount = int(n)
				}
			}
			if v, ok := af["interval"]; ok {
				if d, _, ok := p.duration(v.value, "ha.arp.interval", configMinARPInterval, configMaxARPInterval); ok {
					h.ARPInterval = d
				}
			}
		}
	}

	p.haGroups(h, f, nodesOK)
	h.Sync = p.haSync(f, h.Links)
	if v, ok := f["ping"]; ok {
		h.Ping = p.haPing(v, h)
	}
	h.Nice = configDefaultHANice
	if v, ok := f["nice"]; ok {
		if n, ok := p.integer(v.value, "ha.nice", -20, 19); ok {
			h.Nice = int(n)
		}
	}
	if v, ok := f["notify"]; ok {
		if sc, ok := p.haScript(v.value, v.key.Line, "ha.notify", configDefaultNotifyTimeout); ok {
			h.Notify = &sc
		}
	}
	return h
}

// configDefaultHANice is the daemon's nice value with a pair: ahead of
// ordinary work, as keepalived's vrrp_priority.
const configDefaultHANice = -10

// Script timeouts: a notify hook should be quick; an init script may take
// a while to start a service.
const (
	configDefaultScriptTimeout = 30 * time.Second
	configDefaultNotifyTimeout = 10 * time.Second
	configMaxScriptTimeout     = 10 * time.Minute
)

// haScript checks a script: a mapping of path (absolute), args (a list of
// strings) and timeout, or a path alone.
func (p *parser) haScript(v *yaml.Node, line int, where string, timeout time.Duration) (model.HAScript, bool) {
	sc := model.HAScript{Timeout: timeout, Line: line}
	n := configResolve(v)
	if n.Kind == yaml.ScalarNode {
		n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "path", Line: n.Line, Tag: "!!str"}, n}}
	}
	m, ok := p.mapping(n, where, line)
	if !ok {
		return sc, false
	}
	sc.Line = m.Line
	f := p.fields(m, "in "+where, "path", "args", "timeout")
	valid := true
	if v, ok := f["path"]; ok {
		s, l, ok := p.scalar(v.value, where+".path", "an absolute path")
		switch {
		case !ok:
			valid = false
		case !filepath.IsAbs(s):
			p.add(l, "%s.path: want an absolute path, got %q", where, s)
			valid = false
		default:
			sc.Path = s
		}
	} else {
		p.add(m.Line, "%s: missing key \"path\"", where)
		valid = false
	}
	if v, ok := f["args"]; ok {
		items, ok := p.list(v.value, where+".args")
		for _, it := range items {
			if s, _, ok := p.scalar(it, where+".args", "a string"); ok {
				sc.Args = append(sc.Args, s)
			} else {
				valid = false
			}
		}
		valid = valid && ok
	}
	if v, ok := f["timeout"]; ok {
		if d, _, ok := p.duration(v.value, where+".timeout", configMinHealthTimeout, configMaxScriptTimeout); ok {
			sc.Timeout = d
		} else {
			valid = false
		}
	}
	return sc, valid
}

// haPing checks ha.ping: nodes (an address, or a list of addresses that
// count as one), interval (default keepalive) and deadping (default
// deadtime, longer than interval).
func (p *parser) haPing(field configField, h *model.HAConfig) *model.HAPing {
	m, ok := p.mapping(field.value, "ha.ping", field.key.Line)
	if !ok {
		return nil
	}
	pf := p.fields(m, "in ha.ping", "nodes", "interval", "deadping")
	ping := &model.HAPing{Interval: h.Keepalive, Deadping: h.Deadtime}
	if ping.Interval == 0 {
		ping.Interval = heartbeat.DefaultKeepalive
	}
	if ping.Deadping == 0 {
		ping.Deadping = heartbeat.DefaultDeadtime
	}
	seen := map[netip.Addr]int{}
	addr := func(n *yaml.Node) (netip.Addr, bool) {
		a, ok := p.ipv4(n, "ha.ping.nodes")
		if !ok {
			return a, false
		}
		if at, dup := seen[a]; dup {
			p.add(n.Line, "ha.ping.nodes: %s twice (first at line %d)", a, at)
			return a, false
		}
		seen[a] = n.Line
		return a, true
	}
	if v, ok := pf["nodes"]; ok {
		items, ok := p.list(v.value, "ha.ping.nodes")
		if ok && len(items) == 0 {
			p.add(v.key.Line, "ha.ping.nodes: want at least one address")
		}
		if ok && len(items) > math.MaxUint8 {
			p.add(v.key.Line, "ha.ping.nodes: %d nodes, at most %d", len(items), math.MaxUint8)
		}
		for _, it := range items {
			it = configResolve(it)
			if it.Kind == yaml.SequenceNode {
				if len(it.Content) == 0 {
					p.add(it.Line, "ha.ping.nodes: an empty ping group: want at least one address")
					continue
				}
				var g []netip.Addr
				for _, a := range it.Content {
					if a, ok := addr(a); ok {
						g = append(g, a)
					}
				}
				if len(g) > 0 {
					ping.Groups = append(ping.Groups, g)
				}
				continue
			}
			if a, ok := addr(it); ok {
				ping.Groups = append(ping.Groups, []netip.Addr{a})
			}
		}
	} else {
		p.add(field.key.Line, `ha.ping: missing key "nodes"`)
	}
	intervalLine := field.key.Line
	if v, ok := pf["interval"]; ok {
		intervalLine = v.key.Line
		if d, _, ok := p.duration(v.value, "ha.ping.interval", heartbeat.MinTimer, heartbeat.MaxTimer); ok {
			ping.Interval = d
		}
	}
	if v, ok := pf["deadping"]; ok {
		if d, _, ok := p.duration(v.value, "ha.ping.deadping", heartbeat.MinTimer, heartbeat.MaxTimer); ok {
			ping.Deadping = d
			intervalLine = v.key.Line
		}
	}
	if ping.Deadping <= ping.Interval {
		p.add(intervalLine, "ha.ping.deadping %v must be longer than ha.ping.interval %v", ping.Deadping, ping.Interval)
	}
	return ping
}

// haSync checks ha.sync (fields f of ha; links are the heartbeat's): on by
// default, over the heartbeat links on their port + 1.
func (p *parser) haSync(f map[string]configField, links []model.HALink) *model.HASync {
	s := &model.HASync{FailbackWait: configDefaultFailbackWait}
	var own []model.HALink
	if v, ok := f["sync"]; ok {
		m, ok := p.mapping(v.value, "ha.sync", v.key.Line)
		if !ok {
			return s
		}
		sf := p.fields(m, "in ha.sync", "enabled", "transport", "failback_wait")
		if v, ok := sf["enabled"]; ok {
			b := configResolve(v.value)
			on := true
			if b.Kind != yaml.ScalarNode || b.ShortTag() != "!!bool" || b.Decode(&on) != nil {
				p.add(b.Line, "ha.sync.enabled: want true or false, got %s", configDescribe(b))
			} else if !on {
				return nil
			}
		}
		if v, ok := sf["transport"]; ok {
			own = p.haTransport(v, "ha.sync.transport", heartbeat.DefaultPort+1)
		}
		if v, ok := sf["failback_wait"]; ok {
			if d, _, ok := p.duration(v.value, "ha.sync.failback_wait", 0, configMaxFailbackWait); ok {
				s.FailbackWait = d
			}
		}
	}
	if own != nil {
		s.Links = own
		return s
	}
	for _, l := range links {
		if l.Port < 65535 {
			l.Port++
		}
		s.Links = append(s.Links, l)
	}
	return s
}

// haNodes checks ha.nodes; node is the top-level node ("" if invalid). It
// returns false unless the list is two valid distinct names, node one of
// them.
func (p *parser) haNodes(field configField, node string) ([]string, bool) {
	items, ok := p.list(field.value, "ha.nodes")
	if !ok {
		return nil, false
	}
	var names []string
	first := map[string]int{}
	valid := true
	for _, item := range items {
		s, ok := p.nodeName(item, "ha.nodes")
		if !ok {
			valid = false
			continue
		}
		if at, dup := first[s]; dup {
			p.add(item.Line, "duplicate ha node %q (first at line %d)", s, at)
			valid = false
			continue
		}
		first[s] = item.Line
		names = append(names, s)
	}
	if len(items) != 2 {
		p.add(field.key.Line, "ha.nodes: want 2 node names, got %d", len(items))
		return names, false
	}
	if !valid {
		return names, false
	}
	if node != "" && !slices.Contains(names, node) {
		p.add(field.key.Line, "ha.nodes: this node %q is not in %v", node, names)
		return names, false
	}
	return names, true
}

// haTransport checks a transport (where: ha.transport or ha.sync.transport):
// one link or a list of links; port is the default port.
func (p *parser) haTransport(field configField, where string, port int) []model.HALink {
	v := configResolve(field.value)
	switch {
	case configIsNull(v):
		v = &yaml.Node{Kind: yaml.MappingNode, Line: field.key.Line}
		fallthrough
	case v.Kind == yaml.MappingNode:
		if l, ok := p.haLink(v, field.key.Line, where, port); ok {
			return []model.HALink{l}
		}
		return nil
	case v.Kind != yaml.SequenceNode:
		p.add(v.Line, "%s: want a mapping or a list of mappings, got %s", where, configDescribe(v))
		return nil
	}
	if len(v.Content) == 0 {
		p.add(field.key.Line, "%s: want at least one link", where)
	}
	var links []model.HALink
	first := map[model.HALink]int{}
	for _, item := range v.Content {
		l, ok := p.haLink(item, item.Line, where, port)
		if !ok {
			continue
		}
		k := l
		k.TTL = 0
		if at, dup := first[k]; dup {
			p.add(item.Line, "duplicate ha link %s (first at line %d)", configLinkString(l), at)
			continue
		}
		first[k] = item.Line
		links = append(links, l)
	}
	return links
}

// configLinkString describes a link in duplicate link reasons, Heartbeat's
// way ("bcast enp0s3 port 694", "mcast enp0s3 239.0.0.1 port 694",
// "ucast enp0s8 192.168.200.252 port 694").
func configLinkString(l model.HALink) string {
	switch l.Mode {
	case "mcast":
		return fmt.Sprintf("mcast %s %s port %d", l.Interface, l.Group, l.Port)
	case "ucast":
		return fmt.Sprintf("ucast %s %s port %d", l.Interface, l.Peer, l.Port)
	}
	return fmt.Sprintf("%s %s port %d", l.Mode, l.Interface, l.Port)
}

// haLink checks one link of ha.transport; line is the line of the
// mapping (the transport key's or the list item's). It returns false if
// any part of the link is not valid.
func (p *parser) haLink(item *yaml.Node, line int, where string, port int) (model.HALink, bool) {
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "%s: want a mapping, got %s", where, configDescribe(m))
		return model.HALink{}, false
	}
	f := p.fields(m, "in "+where, "mode", "interface", "port", "group", "ttl", "peer")
	l := model.HALink{Port: port}
	modeOK := false
	if v, ok := f["mode"]; ok {
		l.Mode, modeOK = p.choice(v.value, where+".mode", "bcast, mcast or ucast", configHAModes, nil, "")
	} else {
		p.add(line, `%s: missing key "mode"`, where)
	}
	valid := modeOK
	if v, ok := f["interface"]; ok {
		l.Interface, ok = p.ifname(v.value, where+".interface")
		valid = valid && ok
	} else {
		p.add(line, `%s: missing key "interface"`, where)
		valid = false
	}
	if v, ok := f["port"]; ok {
		n, ok := p.integer(v.value, where+".port", 1, 65535)
		l.Port = int(n)
		valid = valid && ok
	}
	if l.Mode == "mcast" {
		l.TTL = configDefaultHATTL
	}
	// Keys of one mode only: refused on the others, required where
	// marked, checked whatever the mode if the mode is not valid.
	for _, k := range []struct {
		key, mode string
		required  bool
	}{{"group", "mcast", true}, {"ttl", "mcast", false}, {"peer", "ucast", true}} {
		v, ok := f[k.key]
		switch {
		case !ok && modeOK && l.Mode == k.mode && k.required:
			p.add(line, "%s: missing key %q (mode %s)", where, k.key, k.mode)
			valid = false
			continue
		case !ok:
			continue
		case modeOK && l.Mode != k.mode:
			p.add(v.key.Line, "%s.%s: only for mode %s", where, k.key, k.mode)
			valid = false
			continue
		}
		name := where + "." + k.key
		switch k.key {
		case "group":
			const want = "an IPv4 multicast address"
			if s, line, ok := p.scalar(v.value, name, want); ok {
				if a, err := netip.ParseAddr(s); err == nil && a.Is4() && a.IsMulticast() {
					l.Group = a
				} else {
					p.add(line, "%s: want %s, got %q", name, want, s)
					valid = false
				}
			} else {
				valid = false
			}
		case "ttl":
			n, ok := p.integer(v.value, name, 1, 255)
			l.TTL = int(n)
			valid = valid && ok
		case "peer":
			l.Peer, ok = p.ipv4(v.value, name)
			valid = valid && ok
		}
	}
	return l, valid
}

// haTimers checks the timers of the ha section (fields f) and their
// order.
func (p *parser) haTimers(h *model.HAConfig, f map[string]configField) {
	timer := func(key string) *configHATimer {
		t := &configHATimer{name: "ha." + key, ok: true}
		if v, ok := f[key]; ok {
			t.key = v.key
			t.d, t.text, t.ok = p.duration(v.value, t.name, heartbeat.MinTimer, heartbeat.MaxTimer)
		}
		return t
	}
	keepalive, deadtime, warntime, initdead := timer("keepalive"), timer("deadtime"), timer("warntime"), timer("initdead")
	deflt := func(t *configHATimer, d time.Duration) {
		if t.key == nil {
			t.d, t.text = d, configFormatDuration(d)+", the default"
		}
	}
	deflt(keepalive, heartbeat.DefaultKeepalive)
	deflt(deadtime, heartbeat.DefaultDeadtime)
	if deadtime.ok {
		deflt(warntime, deadtime.d/2)
		deflt(initdead, 2*deadtime.d)
	} else {
		warntime.ok, initdead.ok = warntime.ok && warntime.key != nil, initdead.ok && initdead.key != nil
	}
	p.haOrder(h.Line, keepalive, deadtime, false)
	p.haOrder(h.Line, warntime, deadtime, false)
	p.haOrder(h.Line, deadtime, initdead, true)
	h.Keepalive, h.Deadtime, h.Warntime, h.Initdead = keepalive.d, deadtime.d, warntime.d, initdead.d
}

// haOrder reports unless a is shorter than b (orEqual: at most b), at the
// line of the later key, or at line (the ha key's) if one is a default.
// The reason's subject is the later key, or the one written.
func (p *parser) haOrder(line int, a, b *configHATimer, orEqual bool) {
	if !a.ok || !b.ok || a.d < b.d || orEqual && a.d == b.d {
		return
	}
	aLater := b.key == nil ||
		a.key != nil && (a.key.Line > b.key.Line || a.key.Line == b.key.Line && a.key.Column > b.key.Column)
	if a.key != nil && b.key != nil {
		line = max(a.key.Line, b.key.Line)
	}
	switch {
	case aLater && orEqual:
		p.add(line, "%s: %s must be at most %s (%s)", a.name, a.text, b.name, b.text)
	case aLater:
		p.add(line, "%s: %s must be shorter than %s (%s)", a.name, a.text, b.name, b.text)
	case orEqual:
		p.add(line, "%s: %s must be at least %s (%s)", b.name, b.text, a.name, a.text)
	default:
		p.add(line, "%s: %s must be longer than %s (%s)", b.name, b.text, a.name, a.text)
	}
}

// haAuth checks ha.auth.
func (p *parser) haAuth(h *model.HAConfig, field configField) {
	m, ok := p.mapping(field.value, "ha.auth", field.key.Line)
	if !ok {
		return
	}
	f := p.fields(m, "in ha.auth", "method", "key_file")
	if v, ok := f["method"]; ok {
		if s, ok := p.choice(v.value, "ha.auth.method", "sha256, sha1 or md5", configHAAuthMethods, nil, ""); ok {
			h.AuthMethod = s
		}
	}
	if v, ok := f["key_file"]; ok {
		if s, line, ok := p.scalar(v.value, "ha.auth.key_file", "an absolute path"); ok {
			if filepath.IsAbs(s) {
				h.KeyFile = s
			} else {
				p.add(line, "ha.auth.key_file: want an absolute path, got %q", s)
			}
		}
	} else {
		p.add(field.key.Line, `ha.auth: missing key "key_file"`)
	}
}

// configMaxHAGroups bounds ha.groups: each group sends its own heartbeats
// every keepalive, and the wire carries the group's index in a byte.
const configMaxHAGroups = 16

// haGroups checks the resource groups: ha.resources (one group, the
// single-group form) or ha.groups (a list of them), exactly one of the two.
// nodesOK says whether h.Nodes is valid to check the owners against.
func (p *parser) haGroups(h *model.HAConfig, f map[string]configField, nodesOK bool) {
	res, hasRes := f["resources"]
	groups, hasGroups := f["groups"]
	switch {
	case hasRes && hasGroups:
		p.add(groups.key.Line, "ha.groups: not with ha.resources (line %d): one group there, or a list of groups here", res.key.Line)
		return
	case hasRes:
		if g, _, ok := p.haGroup(res.value, res.key.Line, "ha.resources", h.Nodes, nodesOK, false); ok {
			h.Groups = append(h.Groups, g)
		}
		return
	case !hasGroups:
		p.add(h.Line, `ha: missing key "resources"`)
		return
	}
	items, ok := p.list(groups.value, "ha.groups")
	if !ok {
		return
	}
	if len(items) == 0 {
		p.add(groups.key.Line, "ha.groups: want at least one group")
	}
	if len(items) > configMaxHAGroups {
		p.add(groups.key.Line, "ha.groups: %d groups, at most %d", len(items), configMaxHAGroups)
	}
	names := map[string]int{}
	var lines [][]int
	for _, it := range items {
		g, ls, ok := p.haGroup(it, it.Line, "ha.groups", h.Nodes, nodesOK, true)
		if !ok {
			continue
		}
		if at, dup := names[g.Name]; dup {
			p.add(g.Line, "ha.groups: group name %q twice (first at line %d)", g.Name, at)
			continue
		}
		names[g.Name] = g.Line
		h.Groups = append(h.Groups, g)
		lines = append(lines, ls)
	}
	p.haUniqueAddresses(h.Groups, lines)
}

// haUniqueAddresses reports an address claimed by two groups (lines[i][j]
// is the line of groups[i].Addresses[j]): only one node at a time may
// hold it.
func (p *parser) haUniqueAddresses(groups []model.HAGroup, lines [][]int) {
	type claim struct {
		group string
		line  int
	}
	first := map[netip.Addr]claim{}
	for i, g := range groups {
		for j, a := range g.Addresses {
			if c, dup := first[a.Prefix.Addr()]; dup {
				p.add(lines[i][j], "ha.groups: address %s claimed by group %q and by group %q (line %d): an address belongs to one group",
					a.Prefix.Addr(), g.Name, c.group, c.line)
				continue
			}
			first[a.Prefix.Addr()] = claim{g.Name, lines[i][j]}
		}
	}
}

// haGroup checks one resource group, the mapping v at line, where is
// "ha.resources" or "ha.groups"; named says the name is required. It
// returns the line of each address too, and false if the group is not
// valid.
func (p *parser) haGroup(v *yaml.Node, line int, where string, nodes []string, nodesOK, named bool) (model.HAGroup, []int, bool) {
	g := model.HAGroup{Name: "default", Line: line}
	m, ok := p.mapping(v, where, line)
	if !ok {
		return g, nil, false
	}
	valid := true
	f := p.fields(m, "in "+where, "owner", "addresses", "scripts", "name")
	if v, ok := f["name"]; ok {
		if s, ok := p.nodeName(v.value, where+".name"); ok {
			g.Name = s
		} else {
			valid = false
		}
	} else if named {
		p.add(line, `%s: missing key "name"`, where)
		valid = false
	}
	if v, ok := f["scripts"]; ok {
		items, _ := p.list(v.value, where+".scripts")
		for _, it := range items {
			if sc, ok := p.haScript(it, it.Line, where+".scripts", configDefaultScriptTimeout); ok {
				g.Scripts = append(g.Scripts, sc)
			}
		}
	}
	if v, ok := f["owner"]; ok {
		if s, ok := p.nodeName(v.value, where+".owner"); ok {
			if nodesOK && !slices.Contains(nodes, s) {
				p.add(configResolve(v.value).Line, "%s.owner: %q is not in ha.nodes %v", where, s, nodes)
				valid = false
			} else {
				g.Owner = s
			}
		} else {
			valid = false
		}
	} else {
		p.add(line, `%s: missing key "owner"`, where)
		valid = false
	}
	av, ok := f["addresses"]
	if !ok {
		p.add(line, `%s: missing key "addresses"`, where)
		return g, nil, false
	}
	items, ok := p.list(av.value, where+".addresses")
	if ok && len(items) == 0 {
		p.add(av.key.Line, "%s.addresses: want at least one address", where)
		valid = false
	}
	first := map[netip.Addr]int{}
	var lines []int
	for _, item := range items {
		a, ok := p.haAddress(item, where+".addresses")
		if !ok {
			continue
		}
		if at, dup := first[a.Prefix.Addr()]; dup {
			p.add(item.Line, "duplicate ha address %s (first at line %d)", a.Prefix.Addr(), at)
			continue
		}
		first[a.Prefix.Addr()] = item.Line
		g.Addresses = append(g.Addresses, a)
		lines = append(lines, item.Line)
	}
	return g, lines, valid
}

// haAddress checks one item of a group's addresses (where names them).
// It returns false if the address is not valid (a problem of its
// interface alone leaves it comparable with the others).
func (p *parser) haAddress(item *yaml.Node, where string) (model.HAAddress, bool) {
	line := item.Line
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "%s: want a mapping, got %s", where, configDescribe(m))
		return model.HAAddress{}, false
	}
	f := p.fields(m, "in "+where, "address", "interface")
	var a model.HAAddress
	addrOK := false
	if v, ok := f["address"]; ok {
		a.Prefix, addrOK = p.hostPrefix(v.value, where+".address")
	} else {
		p.add(line, `%s: missing key "address"`, where)
	}
	if v, ok := f["interface"]; ok {
		a.Interface, _ = p.ifname(v.value, where+".interface")
	} else {
		p.add(line, `%s: missing key "interface"`, where)
	}
	return a, addrOK
}
