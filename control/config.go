package control

// Configuration file: the YAML file `director run --config` reads at start
// and on every reload, and `director validate` checks. LoadConfig and
// ParseConfig turn it into a Config with every default applied, or into a
// ConfigError listing every problem of the file at once, each as
// "file:line: reason", in line order, so that one run of `director
// validate` shows everything to fix.
//
// The file is decoded into yaml.v3's node tree and walked here, rather than
// decoded into structs, so that each problem carries the line of the
// offending key or value and no problem hides another. Aliases are
// followed and merge keys ("<<") are honoured (keys written in the mapping
// win over merged ones). Only the first YAML document is the
// configuration.
//
// Rules and their reasons (exact wording; <v> is the value as written,
// Go-quoted where shown as %q, N a line number):
//
//   - syntax: one problem at the parser's line, "yaml: <the parser's
//     message>" (yaml.v3 reports parser errors one line early; that is
//     corrected here), with " (a tab: indent YAML with spaces)" added when
//     a tab indents that line. No other problem is reported with it.
//   - a second document: `more than one YAML document ("---"): the
//     configuration is the first one only`, at the second's line.
//   - the top level is not a mapping: `want a mapping at top level, got <d>`
//     where <d> is "a mapping", "a list", "nothing" (null) or the quoted
//     scalar.
//   - unknown keys: `unknown key %q <where>`, where is "at top level",
//     "in interfaces", "in flow_table", "in timeouts", "in metrics", "in
//     service" or "in real server"; a key that is not a scalar: `want a key
//     name <where>, got <d>`; a merge key whose value is not mappings:
//     `<<: want a mapping or a list of mappings, got <d>`.
//   - duplicate keys in one mapping: `duplicate key %q (first at line N)`;
//     the first one counts.
//   - missing required keys, at the line of the mapping that lacks them
//     (line 1 for the top level, the section's key, the list item):
//     `missing key "node"`, `missing key "interfaces"`, `interfaces:
//     missing key "public"` (and "internal"), `service: missing key "vip"`
//     (and "port"), `real server: missing key "address"`.
//   - wrong types and values, at the value's line: `<key>: want <what>, got
//     <d>`, <key> being the key as written for service and real server keys
//     ("vip", "port", "weight", ...) and section.key for the sections'
//     ("interfaces.public", "flow_table.size", "timeouts.tcp",
//     "metrics.listen"), and <what>:
//     node: `1-64 letters, digits, '-' or '_', not starting with '_'`;
//     interfaces.*: `an interface name (1-15 bytes, no '/', ':' or
//     whitespace, not "." or "..")`; dataplane: `auto, xdp or xdp-generic`;
//     control_socket: `an absolute path` and `a path of at most 107 bytes
//     (a unix socket's limit)`; flow_table.size: `an integer
//     1024-67108864`; timeouts.*: `a duration ("900s", "15m", "1h") or a
//     number of seconds`; protocol: `tcp or udp`; scheduler: `rr or wrr`;
//     vip, address: `an IPv4 address`; port: `an integer 1-65535`; weight:
//     `an integer 0-65535`; metrics.listen: `IP:port or :port (port
//     1-65535)`; interfaces, flow_table, timeouts, metrics, a service, a
//     real server: `a mapping` (as "service: ..." and "real server: ..."
//     for list items); services, real_servers: `a list`. A null value of a
//     section or a list is an empty one; of a scalar key it is "nothing".
//   - integers out of range: `<key>: <v> is outside <lo>..<hi>` (port,
//     weight, flow_table.size); timeouts: `timeouts.tcp: <v> is outside
//     1s..576h` (an integer v is shown as "<v>s") and `timeouts.tcp: <v> is
//     not a whole number of seconds`. 576h stays below INT_MAX/HZ seconds
//     for HZ up to 1024, the most `ipvsadm --set` accepts.
//   - data planes not built yet (tc, ipvs): `data plane %q is not available
//     in this version (use auto, xdp or xdp-generic)`; IPVS schedulers not
//     implemented (lc, wlc, sh, dh, sed, nq, lblc, lblcr, mh, fo, ovf,
//     twos): `scheduler %q is not implemented (rr, wrr)`; sctp: `protocol
//     "sctp" is not implemented (tcp, udp)`.
//   - addresses (vip, address): `<key>: invalid IPv4 address %q`, `<key>:
//     IPv6 address %q is not supported yet`, `<key>: unspecified address
//     %q is not allowed` (0.0.0.0), and likewise "loopback address",
//     "multicast address", "broadcast address" (255.255.255.255).
//   - duplicate services (vip, port, protocol), at the second's list item:
//     `duplicate service tcp 192.168.56.10:80 (first at line N)`; duplicate
//     real servers (address, port) in a service: `duplicate real server
//     192.168.200.11:80 in service tcp 192.168.56.10:80 (first at line
//     N)`. Entries with an invalid part are not compared.
//   - `more than 65536 real servers in all`, at the first one too many
//     (aliases could otherwise make a small file huge).
//
// Integers are read as YAML reads them (0x50, 1_000 are integers; "80"
// quoted is a string, refused as a port). A timeout is a Go duration or an
// integer (or a string of decimal digits) of seconds.
//
// Defaults: dataplane auto, control_socket /run/director/<node>.sock,
// flow_table.size 262144, timeouts DefaultTimeouts, protocol tcp, scheduler
// wrr, real server port the service's, weight 1; no metrics section (or no
// listen) means no metrics endpoint; services and real_servers may be
// absent or empty (a service without real servers drops new connections,
// as IPVS does).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Config is a validated configuration file.
type Config struct {
	// Path is the file it was read from.
	Path string
	// Node names this director instance (and its pinned state directory).
	Node string
	// Public and Internal are the interfaces facing clients and real
	// servers; they are the same interface on a one-armed director.
	Public, Internal string
	// Dataplane is "auto", "xdp" or "xdp-generic".
	Dataplane string
	// ControlSocket is the absolute path of the control API's unix socket.
	ControlSocket string
	// FlowTableSize is the number of flow-table entries (two per
	// connection).
	FlowTableSize int
	// Timeouts are the idle timeouts of tracked connections.
	Timeouts Timeouts
	// Services in file order, each with its Reals in file order.
	Services []Service
	// MetricsListen is the metrics endpoint's host:port; "" = none.
	MetricsListen string
}

// DefaultTimeouts are IPVS's: tcp 900s, tcp_fin 120s, udp 300s, tcp_syn
// 60s.
var DefaultTimeouts = Timeouts{
	SYN:         60 * time.Second,
	Established: 900 * time.Second,
	FIN:         120 * time.Second,
	UDP:         300 * time.Second,
}

// Problem is one error in a configuration file.
type Problem struct {
	// File names the file as given to LoadConfig or ParseConfig.
	File string
	// Line is 1-based: the offending key's or value's, or that of the
	// mapping a required key is missing from.
	Line int
	// Reason says what is wrong, lowercase (see the list at the top of
	// this file).
	Reason string
}

// String formats the problem as "file:line: reason".
func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason) }

// ConfigError lists every problem of a file, in line order.
type ConfigError struct {
	// Problems are never empty when ParseConfig returns the error.
	Problems []Problem
}

// Error gives the problems, one "file:line: reason" per line.
func (e *ConfigError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid configuration"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LoadConfig reads and parses the configuration file at path. An unreadable
// file is a plain error naming the path; invalid content is a *ConfigError.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates data, the content of file (which only
// names it in problems and Config.Path). Any invalid content gives a
// *ConfigError listing every problem.
func ParseConfig(file string, data []byte) (*Config, error) {
	p := &configParser{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	var extra []*yaml.Node
	for err == nil {
		var next yaml.Node
		if err = dec.Decode(&next); err == nil && !configEmptyDocument(&next) {
			extra = append(extra, &next)
		}
	}
	if !errors.Is(err, io.EOF) {
		line, reason := configSyntaxError(data, err)
		return nil, &ConfigError{Problems: []Problem{{File: file, Line: line, Reason: reason}}}
	}
	for _, d := range extra {
		p.add(d.Line, `more than one YAML document ("---"): the configuration is the first one only`)
	}
	var root *yaml.Node
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	cfg := p.config(root)
	cfg.Path = file
	if len(p.problems) > 0 {
		return nil, &ConfigError{Problems: p.sorted()}
	}
	return cfg, nil
}

// Limits and defaults of the file.
const (
	configDefaultDataplane = "auto"
	configDefaultFlowTable = 262144
	configMinFlowTable     = 1024
	configMaxFlowTable     = 64 << 20
	// configMaxTimeout stays below INT_MAX/HZ seconds for any HZ up to
	// 1024: the most `ipvsadm --set` accepts.
	configMaxTimeout = 576 * time.Hour
	// configMaxSocketPath is sun_path's size less its terminating NUL.
	configMaxSocketPath = 107
	// configMaxReals bounds the real servers of all services, far above
	// what the data plane holds, so that aliases cannot blow a small
	// file up.
	configMaxReals = 1 << 16
)

// Values named by IPVS or by the design that this version does not
// implement, refused with their own reason.
var (
	configLaterDataplanes = []string{"tc", "ipvs"}
	configIPVSSchedulers  = []string{"lc", "wlc", "sh", "dh", "sed", "nq", "lblc", "lblcr", "mh", "fo", "ovf", "twos"}
	configIPVSProtocols   = []string{"sctp"}
)

var (
	configNodeName = regexp.MustCompile(`^[A-Za-z0-9-][A-Za-z0-9_-]{0,63}$`)
	// configYAMLLine is yaml.v3's "line N: " prefix.
	configYAMLLine = regexp.MustCompile(`^line (\d+): `)
	// configBigInt matches an integer that yaml resolves as a float
	// because it does not fit in 64 bits.
	configBigInt = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)
)

// configParserProblems are the messages of yaml.v3's parser (parserc.go),
// as opposed to its scanner's: yaml.v3 prints the parser's zero-based
// line number as is, one less than the line meant.
var configParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// configReaderProblems are the messages of yaml.v3's reader (readerc.go)
// about UTF-8 input, which say nothing of where.
var configReaderProblems = []string{
	"invalid leading UTF-8 octet",
	"incomplete UTF-8 octet sequence",
	"invalid trailing UTF-8 octet",
	"invalid length of a UTF-8 sequence",
	"invalid Unicode character",
	"control characters are not allowed",
}

// configSyntaxError turns a yaml.v3 parse error into a line and a reason
// "yaml: message" without yaml's own "line N: ".
func configSyntaxError(data []byte, err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := configYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if slices.Contains(configParserProblems, msg) {
			line++
		}
	} else if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		// The parser does not say where; find the alias.
		name, _, _ = strings.Cut(name, "'")
		if i := configFindAlias(data, name); i >= 0 {
			line = configLineAt(data, i)
		}
	} else if slices.Contains(configReaderProblems, msg) {
		// Errors of the reader carry no line; find the character.
		if i := configBadChar(data); i >= 0 {
			line = configLineAt(data, i)
		}
	}
	line = max(line, 1)
	if msg == "found character that cannot start any token" && configTabIndented(data, line) {
		msg += " (a tab: indent YAML with spaces)"
	}
	return line, "yaml: " + msg
}

// configFindAlias returns the offset of the first alias "*name", or -1.
func configFindAlias(data []byte, name string) int {
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte("*"+name))
		if i < 0 {
			return -1
		}
		end := off + i + 1 + len(name)
		if end == len(data) || strings.ContainsRune(" \t\r\n,]}", rune(data[end])) {
			return off + i
		}
		off = end
	}
}

// configBadChar returns the offset of the first byte that is not valid
// UTF-8 or is a character YAML does not allow, or -1.
func configBadChar(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7e) || r == 0x85 ||
			(r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd && !(i > 0 && r == 0xfeff)) ||
			(r >= 0x10000 && r <= 0x10ffff)
		if r == utf8.RuneError && size <= 1 || !ok {
			return i
		}
		i += size
	}
	return -1
}

// configLineAt returns the 1-based line of offset i.
func configLineAt(data []byte, i int) int { return bytes.Count(data[:i], []byte("\n")) + 1 }

// configTabIndented says whether line (1-based) starts with a tab after any
// spaces.
func configTabIndented(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line > len(lines) {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(lines[line-1], " "), []byte("\t"))
}

// configEmptyDocument says whether doc is an empty document such as the
// one a trailing "---" opens.
func configEmptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == ""
}

// configParser collects the problems of one file.
type configParser struct {
	file     string
	problems []Problem
	// reals counts real servers, which aliases can multiply.
	reals int
}

func (p *configParser) add(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// sorted returns the problems in line order, each once (a node reached
// through several aliases is checked once per alias).
func (p *configParser) sorted() []Problem {
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
func (p *configParser) fields(m *yaml.Node, where string, known ...string) map[string]configField {
	got := map[string]configField{}
	p.collect(m, where, known, got, map[*yaml.Node]bool{})
	return got
}

// collect adds the fields of m not already in got: its own keys, then
// those it merges, earlier merges first.
func (p *configParser) collect(m *yaml.Node, where string, known []string, got map[string]configField, seen map[*yaml.Node]bool) {
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
func (p *configParser) mapping(v *yaml.Node, name string, line int) (*yaml.Node, bool) {
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
func (p *configParser) list(v *yaml.Node, name string) ([]*yaml.Node, bool) {
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
func (p *configParser) scalar(v *yaml.Node, name, want string) (string, int, bool) {
	v = configResolve(v)
	if v.Kind != yaml.ScalarNode || configIsNull(v) {
		p.add(v.Line, "%s: want %s, got %s", name, want, configDescribe(v))
		return "", v.Line, false
	}
	return v.Value, v.Line, true
}

// integer returns v as an integer within lo..hi.
func (p *configParser) integer(v *yaml.Node, name string, lo, hi int64) (int64, bool) {
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
func (p *configParser) timeout(v *yaml.Node, name string) (time.Duration, bool) {
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
func (p *configParser) ipv4(v *yaml.Node, name string) (netip.Addr, bool) {
	s, line, ok := p.scalar(v, name, "an IPv4 address")
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	var what string
	switch {
	case err != nil:
		p.add(line, "%s: invalid IPv4 address %q", name, s)
		return netip.Addr{}, false
	case a.Is6():
		p.add(line, "%s: IPv6 address %q is not supported yet", name, s)
		return netip.Addr{}, false
	case a.IsUnspecified():
		what = "unspecified"
	case a.IsLoopback():
		what = "loopback"
	case a.IsMulticast():
		what = "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		what = "broadcast"
	default:
		return a, true
	}
	p.add(line, "%s: %s address %q is not allowed", name, what, s)
	return netip.Addr{}, false
}

// choice returns v if it is one of valid; a value of later gets reason
// later (formatted with the value), anything else "name: want <want>".
func (p *configParser) choice(v *yaml.Node, name, want string, valid, later []string, laterReason string) (string, bool) {
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

// configListen says whether s is an IP:port or :port to listen on.
func configListen(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return false
		}
	}
	n, err := strconv.Atoi(port)
	return err == nil && port[0] != '+' && port[0] != '-' && n >= 1 && n <= 65535
}

// config checks the document's root.
func (p *configParser) config(root *yaml.Node) *Config {
	cfg := &Config{Dataplane: configDefaultDataplane, FlowTableSize: configDefaultFlowTable, Timeouts: DefaultTimeouts}
	root = configResolve(root)
	if configIsNull(root) {
		root = &yaml.Node{Kind: yaml.MappingNode, Line: 1}
	}
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "want a mapping at top level, got %s", configDescribe(root))
		return cfg
	}
	f := p.fields(root, "at top level", "node", "interfaces", "dataplane", "control_socket", "flow_table",
		"timeouts", "services", "metrics")

	nodeOK := false
	if v, ok := f["node"]; ok {
		const want = "1-64 letters, digits, '-' or '_', not starting with '_'"
		if s, line, ok := p.scalar(v.value, "node", want); ok {
			if configNodeName.MatchString(s) {
				cfg.Node, nodeOK = s, true
			} else {
				p.add(line, "node: want %s, got %q", want, s)
			}
		}
	} else {
		p.add(1, `missing key "node"`)
	}

	if v, ok := f["interfaces"]; ok {
		p.interfaces(cfg, v)
	} else {
		p.add(1, `missing key "interfaces"`)
	}

	if v, ok := f["dataplane"]; ok {
		if s, ok := p.choice(v.value, "dataplane", "auto, xdp or xdp-generic", []string{"auto", "xdp", "xdp-generic"},
			configLaterDataplanes, "data plane %q is not available in this version (use auto, xdp or xdp-generic)"); ok {
			cfg.Dataplane = s
		}
	}

	if v, ok := f["control_socket"]; ok {
		if s, line, ok := p.scalar(v.value, "control_socket", "an absolute path"); ok {
			switch {
			case !filepath.IsAbs(s):
				p.add(line, "control_socket: want an absolute path, got %q", s)
			case len(s) > configMaxSocketPath:
				p.add(line, "control_socket: want a path of at most %d bytes (a unix socket's limit), got %q", configMaxSocketPath, s)
			default:
				cfg.ControlSocket = s
			}
		}
	} else if nodeOK {
		cfg.ControlSocket = filepath.Join(DefaultSocketDir, cfg.Node+".sock")
	}

	if v, ok := f["flow_table"]; ok {
		if m, ok := p.mapping(v.value, "flow_table", v.key.Line); ok {
			ff := p.fields(m, "in flow_table", "size")
			if v, ok := ff["size"]; ok {
				if n, ok := p.integer(v.value, "flow_table.size", configMinFlowTable, configMaxFlowTable); ok {
					cfg.FlowTableSize = int(n)
				}
			}
		}
	}

	if v, ok := f["timeouts"]; ok {
		if m, ok := p.mapping(v.value, "timeouts", v.key.Line); ok {
			tf := p.fields(m, "in timeouts", "tcp", "tcp_fin", "udp", "tcp_syn")
			for _, t := range []struct {
				key string
				to  *time.Duration
			}{
				{"tcp", &cfg.Timeouts.Established},
				{"tcp_fin", &cfg.Timeouts.FIN},
				{"udp", &cfg.Timeouts.UDP},
				{"tcp_syn", &cfg.Timeouts.SYN},
			} {
				if v, ok := tf[t.key]; ok {
					if d, ok := p.timeout(v.value, "timeouts."+t.key); ok {
						*t.to = d
					}
				}
			}
		}
	}

	if v, ok := f["services"]; ok {
		cfg.Services = p.services(v.value)
	}

	if v, ok := f["metrics"]; ok {
		if m, ok := p.mapping(v.value, "metrics", v.key.Line); ok {
			mf := p.fields(m, "in metrics", "listen")
			if v, ok := mf["listen"]; ok {
				const want = "IP:port or :port (port 1-65535)"
				if s, line, ok := p.scalar(v.value, "metrics.listen", want); ok {
					if configListen(s) {
						cfg.MetricsListen = s
					} else {
						p.add(line, "metrics.listen: want %s, got %q", want, s)
					}
				}
			}
		}
	}
	return cfg
}

// interfaces checks the interfaces section, whose key is field.key.
func (p *configParser) interfaces(cfg *Config, field configField) {
	m, ok := p.mapping(field.value, "interfaces", field.key.Line)
	if !ok {
		return
	}
	f := p.fields(m, "in interfaces", "public", "internal")
	const want = `an interface name (1-15 bytes, no '/', ':' or whitespace, not "." or "..")`
	for _, role := range []struct {
		key string
		to  *string
	}{{"public", &cfg.Public}, {"internal", &cfg.Internal}} {
		v, ok := f[role.key]
		if !ok {
			p.add(field.key.Line, "interfaces: missing key %q", role.key)
			continue
		}
		name := "interfaces." + role.key
		if s, line, ok := p.scalar(v.value, name, want); ok {
			if configIfname(s) {
				*role.to = s
			} else {
				p.add(line, "%s: want %s, got %q", name, want, s)
			}
		}
	}
}

// services checks the services list.
func (p *configParser) services(v *yaml.Node) []Service {
	items, ok := p.list(v, "services")
	if !ok {
		return nil
	}
	var out []Service
	first := map[ServiceKey]int{}
	for _, item := range items {
		s, ok := p.service(item)
		if !ok {
			continue
		}
		if line, dup := first[s.Key()]; dup {
			p.add(item.Line, "duplicate service %s (first at line %d)", s.Key(), line)
		} else {
			first[s.Key()] = item.Line
		}
		out = append(out, s)
	}
	return out
}

// service checks one item of the services list. It returns false if the
// service's key (vip, port, protocol) is not valid; other problems are
// reported but leave it comparable with the others.
func (p *configParser) service(item *yaml.Node) (Service, bool) {
	line := item.Line // the item's, even when it is an alias
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "service: want a mapping, got %s", configDescribe(m))
		return Service{}, false
	}
	f := p.fields(m, "in service", "vip", "port", "protocol", "scheduler", "real_servers")
	s := Service{Proto: TCP, Scheduler: SchedWRR}
	keyOK := true
	if v, ok := f["vip"]; ok {
		s.VIP, ok = p.ipv4(v.value, "vip")
		keyOK = keyOK && ok
	} else {
		p.add(line, `service: missing key "vip"`)
		keyOK = false
	}
	if v, ok := f["port"]; ok {
		n, ok := p.integer(v.value, "port", 1, 65535)
		s.Port = uint16(n)
		keyOK = keyOK && ok
	} else {
		p.add(line, `service: missing key "port"`)
		keyOK = false
	}
	if v, ok := f["protocol"]; ok {
		proto, ok := p.choice(v.value, "protocol", "tcp or udp", []string{"tcp", "udp"},
			configIPVSProtocols, "protocol %q is not implemented (tcp, udp)")
		if ok {
			s.Proto.UnmarshalText([]byte(proto))
		}
		keyOK = keyOK && ok
	}
	if v, ok := f["scheduler"]; ok {
		if sched, ok := p.choice(v.value, "scheduler", "rr or wrr", []string{SchedRR, SchedWRR},
			configIPVSSchedulers, "scheduler %q is not implemented (rr, wrr)"); ok {
			s.Scheduler = sched
		}
	}
	if v, ok := f["real_servers"]; ok {
		items, _ := p.list(v.value, "real_servers")
		first := map[RealKey]int{}
		for _, item := range items {
			if p.reals++; p.reals > configMaxReals {
				if p.reals == configMaxReals+1 {
					p.add(item.Line, "more than %d real servers in all", configMaxReals)
				}
				break
			}
			r, ok := p.real(item, s.Port)
			if !ok {
				continue
			}
			k := RealKey{r.Addr, r.Port}
			if at, dup := first[k]; dup && keyOK {
				p.add(item.Line, "duplicate real server %s in service %s (first at line %d)",
					netip.AddrPortFrom(r.Addr, r.Port), s.Key(), at)
			} else if !dup {
				first[k] = item.Line
			}
			s.Reals = append(s.Reals, r)
		}
	}
	return s, keyOK
}

// real checks one item of a real_servers list; port is the service's (0
// if invalid). It returns false if the server's address or port is not
// valid.
func (p *configParser) real(item *yaml.Node, port uint16) (RealServer, bool) {
	line := item.Line
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "real server: want a mapping, got %s", configDescribe(m))
		return RealServer{}, false
	}
	f := p.fields(m, "in real server", "address", "port", "weight")
	r := RealServer{Port: port, Weight: 1}
	addrOK, portOK := false, port != 0
	if v, ok := f["address"]; ok {
		r.Addr, addrOK = p.ipv4(v.value, "address")
	} else {
		p.add(line, `real server: missing key "address"`)
	}
	if v, ok := f["port"]; ok {
		var n int64
		n, portOK = p.integer(v.value, "port", 1, 65535)
		r.Port = uint16(n)
	}
	if v, ok := f["weight"]; ok {
		if n, ok := p.integer(v.value, "weight", 0, 65535); ok {
			r.Weight = uint32(n)
		}
	}
	return r, addrOK && portOK
}
