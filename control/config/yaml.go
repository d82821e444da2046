package config

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// The node walker: the parser that collects problems, and the readers of
// mappings, lists and scalar values (integers, durations, addresses,
// names) that every section uses, each reporting what it refuses.

// parser collects the problems of one file.
type parser struct {
	file     string
	problems []Problem
	// reals counts real servers, which aliases can multiply.
	reals int
	// commands are the health check commands checked, by node: a list
	// that real servers share through an alias is checked once (nil:
	// "": invalid).
	commands map[*yaml.Node]model.Argv
	// dataplane is the file's data plane as far as it is valid ("auto"
	// if not written or invalid), which decides the schedulers allowed.
	dataplane string
}

func (p *parser) add(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// sorted returns the problems in line order, each once (a node reached
// through several aliases is checked once per alias).
func (p *parser) sorted() []Problem {
	out := slices.Clone(p.problems)
	slices.SortStableFunc(out, func(a, b Problem) int { return a.Line - b.Line })
	seen := map[Problem]bool{}
	return slices.DeleteFunc(out, func(pr Problem) bool {
		dup := seen[pr]
		seen[pr] = true
		return dup
	})
}

// configResolve follows aliases.
func configResolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func configIsNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// configDescribe says what n is, for "got ..." in reasons.
func configDescribe(n *yaml.Node) string {
	n = configResolve(n)
	switch {
	case configIsNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// configField is one key of a mapping and its value.
type configField struct {
	key, value *yaml.Node
}

// fields returns the keys of mapping m by name, reporting unknown and
// duplicate keys (where names the mapping: "in service") and following
// merge keys.
func (p *parser) fields(m *yaml.Node, where string, known ...string) map[string]configField {
	got := map[string]configField{}
	p.collect(m, where, known, got, map[*yaml.Node]bool{})
	return got
}

// collect adds the fields of m not already in got: its own keys, then
// those it merges, earlier merges first.
func (p *parser) collect(m *yaml.Node, where string, known []string, got map[string]configField, seen map[*yaml.Node]bool) {
	if seen[m] {
		return
	}
	seen[m] = true
	own := map[string]configField{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := configResolve(m.Content[i]), m.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			p.add(k.Line, "want a key name %s, got %s", where, configDescribe(k))
			continue
		case k.ShortTag() == "!!merge":
			merges = append(merges, v)
			continue
		}
		if first, dup := own[k.Value]; dup {
			p.add(k.Line, "duplicate key %q (first at line %d)", k.Value, first.key.Line)
			continue
		}
		own[k.Value] = configField{k, v}
		if !slices.Contains(known, k.Value) {
			p.add(k.Line, "unknown key %q %s", k.Value, where)
			continue
		}
		if _, ok := got[k.Value]; !ok {
			got[k.Value] = configField{k, v}
		}
	}
	for _, v := range merges {
		v = configResolve(v)
		switch v.Kind {
		case yaml.MappingNode:
			p.collect(v, where, known, got, seen)
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if item = configResolve(item); item.Kind == yaml.MappingNode {
					p.collect(item, where, known, got, seen)
				} else {
					p.add(item.Line, "<<: want a mapping or a list of mappings, got %s", configDescribe(item))
				}
			}
		default:
			p.add(v.Line, "<<: want a mapping or a list of mappings, got %s", configDescribe(v))
		}
	}
}

// mapping returns v as a mapping (null is an empty one at line), or
// reports "name: want a mapping".
func (p *parser) mapping(v *yaml.Node, name string, line int) (*yaml.Node, bool) {
	v = configResolve(v)
	if configIsNull(v) {
		return &yaml.Node{Kind: yaml.MappingNode, Line: line}, true
	}
	if v.Kind != yaml.MappingNode {
		p.add(v.Line, "%s: want a mapping, got %s", name, configDescribe(v))
		return nil, false
	}
	return v, true
}

// list returns the items of v as a list (null is an empty one), or
// reports "name: want a list".
func (p *parser) list(v *yaml.Node, name string) ([]*yaml.Node, bool) {
	v = configResolve(v)
	if configIsNull(v) {
		return nil, true
	}
	if v.Kind != yaml.SequenceNode {
		p.add(v.Line, "%s: want a list, got %s", name, configDescribe(v))
		return nil, false
	}
	return v.Content, true
}

// scalar returns the text of v, or reports "name: want <want>" if v is not
// a scalar or is null.
func (p *parser) scalar(v *yaml.Node, name, want string) (string, int, bool) {
	v = configResolve(v)
	if v.Kind != yaml.ScalarNode || configIsNull(v) {
		p.add(v.Line, "%s: want %s, got %s", name, want, configDescribe(v))
		return "", v.Line, false
	}
	return v.Value, v.Line, true
}

// integer returns v as an integer within lo..hi.
func (p *parser) integer(v *yaml.Node, name string, lo, hi int64) (int64, bool) {
	v = configResolve(v)
	var n int64
	switch {
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!float" && configBigInt.MatchString(v.Value),
		v.Kind == yaml.ScalarNode && v.ShortTag() == "!!int" && v.Decode(&n) != nil:
		// Too large for 64 bits.
		p.add(v.Line, "%s: %s is outside %d..%d", name, v.Value, lo, hi)
		return 0, false
	case v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int":
		p.add(v.Line, "%s: want an integer %d-%d, got %s", name, lo, hi, configDescribe(v))
		return 0, false
	case n < lo || n > hi:
		p.add(v.Line, "%s: %s is outside %d..%d", name, v.Value, lo, hi)
		return 0, false
	}
	return n, true
}

// timeout returns v as a timeout: a Go duration or a number of seconds.
func (p *parser) timeout(v *yaml.Node, name string) (time.Duration, bool) {
	s, line, ok := p.scalar(v, name, `a duration ("900s", "15m", "1h") or a number of seconds`)
	if !ok {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		s += "s"
		if secs < 1 || secs > int64(configMaxTimeout/time.Second) {
			p.add(line, "%s: %s is outside 1s..%s", name, s, configFormatHours(configMaxTimeout))
			return 0, false
		}
		d = time.Duration(secs) * time.Second
	} else if d, err = time.ParseDuration(s); err != nil {
		p.add(line, `%s: want a duration ("900s", "15m", "1h") or a number of seconds, got %q`, name, s)
		return 0, false
	}
	if d < time.Second || d > configMaxTimeout {
		p.add(line, "%s: %s is outside 1s..%s", name, s, configFormatHours(configMaxTimeout))
		return 0, false
	}
	if d%time.Second != 0 {
		p.add(line, "%s: %s is not a whole number of seconds", name, s)
		return 0, false
	}
	return d, true
}

func configFormatHours(d time.Duration) string { return fmt.Sprintf("%dh", d/time.Hour) }

// ipv4 returns v as an IPv4 address a packet can be sent to.
func (p *parser) ipv4(v *yaml.Node, name string) (netip.Addr, bool) {
	s, line, ok := p.scalar(v, name, "an IPv4 address")
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		p.add(line, "%s: invalid IPv4 address %q", name, s)
	case a.Is6():
		p.add(line, "%s: IPv6 address %q is not supported yet", name, s)
	case configSpecialAddr(a) != "":
		p.add(line, "%s: %s address %q is not allowed", name, configSpecialAddr(a), s)
	default:
		return a, true
	}
	return netip.Addr{}, false
}

// configSpecialAddr names what IPv4 address a is if no packet can be sent
// to it ("unspecified", "loopback", "multicast", "broadcast"), or is "".
func configSpecialAddr(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	return ""
}

// nodeName returns v as a node name.
func (p *parser) nodeName(v *yaml.Node, name string) (string, bool) {
	s, line, ok := p.scalar(v, name, heartbeat.NodeNameRule)
	if !ok {
		return "", false
	}
	if !heartbeat.ValidNodeName(s) {
		p.add(line, "%s: want %s, got %q", name, heartbeat.NodeNameRule, s)
		return "", false
	}
	return s, true
}

// ifname returns v as an interface name.
func (p *parser) ifname(v *yaml.Node, name string) (string, bool) {
	s, line, ok := p.scalar(v, name, configWantIfname)
	if !ok {
		return "", false
	}
	if !configIfname(s) {
		p.add(line, "%s: want %s, got %q", name, configWantIfname, s)
		return "", false
	}
	return s, true
}

// choice returns v if it is one of valid; a value of later gets reason
// later (formatted with the value), anything else "name: want <want>".
func (p *parser) choice(v *yaml.Node, name, want string, valid, later []string, laterReason string) (string, bool) {
	s, line, ok := p.scalar(v, name, want)
	switch {
	case !ok:
		return "", false
	case slices.Contains(valid, s):
		return s, true
	case slices.Contains(later, s):
		p.add(line, laterReason, s)
	default:
		p.add(line, "%s: want %s, got %q", name, want, s)
	}
	return "", false
}

// configIfname says whether s is a valid Linux interface name
// (dev_valid_name).
func configIfname(s string) bool {
	return len(s) >= 1 && len(s) <= 15 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n\v\f\r\x00")
}

// configListen says whether s is a host:port, IP:port or :port to
// listen on. A host name is checked for its form only (RFC 1123 labels):
// parsing never resolves names; the daemon does when it listens.
func configListen(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !hostName(host) {
			return false
		}
	}
	n, err := strconv.Atoi(port)
	return err == nil && port[0] != '+' && port[0] != '-' && n >= 1 && n <= 65535
}

// hostName says whether s is a host name: dot-separated labels of
// letters, digits and inner hyphens, 1-63 bytes each, 253 in all, the
// last not all digits (that would be a malformed IPv4 address).
func hostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(s, "."), ".")
	for _, l := range labels {
		if !configHostLabel.MatchString(l) {
			return false
		}
	}
	return !configDigits.MatchString(labels[len(labels)-1])
}

var (
	configHostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	configDigits    = regexp.MustCompile(`^[0-9]+$`)
)

// duration returns v as a duration within lo..hi, and the value as
// written ("<v>s" for a number of seconds): a Go duration or a number of
// seconds, which may have decimals.
func (p *parser) duration(v *yaml.Node, name string, lo, hi time.Duration) (time.Duration, string, bool) {
	s, line, ok := p.scalar(v, name, configWantHATime)
	if !ok {
		return 0, "", false
	}
	text := s
	if configSeconds.MatchString(s) {
		text += "s"
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		p.add(line, "%s: want %s, got %q", name, configWantHATime, s)
		return 0, "", false
	}
	if d < lo || d > hi {
		p.add(line, "%s: %s is outside %s..%s", name, text, configFormatDuration(lo), configFormatDuration(hi))
		return 0, "", false
	}
	return d, text, true
}

// configFormatDuration formats d as written in a file: "1h", "5m", "2.5s",
// "200ms".
func configFormatDuration(d time.Duration) string {
	switch {
	case d != 0 && d%time.Hour == 0:
		return configFormatHours(d)
	case d != 0 && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// hostPrefix returns v as an IPv4 host address with its prefix length
// (1-32): an address a packet can be sent to, neither the network nor the
// broadcast address of its prefix (prefixes /31 and /32 have neither).
func (p *parser) hostPrefix(v *yaml.Node, name string) (netip.Prefix, bool) {
	s, line, ok := p.scalar(v, name, configWantPrefix)
	if !ok {
		return netip.Prefix{}, false
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		// A valid address with a prefix length too long for it?
		addr, bits, _ := strings.Cut(s, "/")
		a, aerr := netip.ParseAddr(addr)
		n, nerr := strconv.Atoi(bits)
		if aerr == nil && a.Is4() && nerr == nil && bits[0] != '+' && bits[0] != '-' && n > 32 {
			p.add(line, "%s: prefix length %s is outside 1..32", name, bits)
		} else if aerr == nil && a.Is6() {
			p.add(line, "%s: IPv6 address %q is not supported yet", name, s)
		} else {
			p.add(line, "%s: want %s, got %q", name, configWantPrefix, s)
		}
		return netip.Prefix{}, false
	}
	a := pf.Addr()
	var last [4]byte
	if a.Is4() {
		last = pf.Masked().Addr().As4()
		for i, host := 0, uint32(1)<<(32-pf.Bits())-1; i < 4; i++ {
			last[i] |= byte(host >> (24 - 8*i))
		}
	}
	switch {
	case a.Is6():
		p.add(line, "%s: IPv6 address %q is not supported yet", name, s)
	case pf.Bits() < 1:
		p.add(line, "%s: prefix length %d is outside 1..32", name, pf.Bits())
	case configSpecialAddr(a) != "":
		p.add(line, "%s: %s address %q is not allowed", name, configSpecialAddr(a), s)
	case pf.Bits() <= 30 && a == pf.Masked().Addr():
		p.add(line, "%s: %q is the network address of its prefix, not a host address", name, s)
	case pf.Bits() <= 30 && a == netip.AddrFrom4(last):
		p.add(line, "%s: %q is the broadcast address of its prefix, not a host address", name, s)
	default:
		return pf, true
	}
	return netip.Prefix{}, false
}
