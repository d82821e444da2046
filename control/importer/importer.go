// Package importer turns the legacy configuration of an ipvsadm +
// Heartbeat (or keepalived) director into a commented director.yaml:
// ipvsadm.rules (`ipvsadm -S` output or `ipvsadm -R` input),
// /etc/default/ipvsadm, Heartbeat's ha.cf, authkeys and haresources, and
// keepalived.conf. Everything it cannot translate is listed as
// file:line and why, and repeated as a comment in the YAML.
//
// It reads only the bytes it is given: the CLI reads the files and the
// host's interfaces (which Heartbeat's IPaddr would search for a
// floating address's netmask and interface) and passes them in.
package importer

import (
	"bytes"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/director-lb/director/control/model"
)

// File is one legacy file, its Name as the user gave it (notes name it).
type File struct {
	Name string
	Data []byte
}

// Network is one address of an interface of the node (192.168.56.11/24
// on enp0s3): where IPaddr finds a floating address's interface and
// prefix, and how the public and internal interfaces are found.
type Network struct {
	Interface string
	Prefix    netip.Prefix
}

// Options are what the files do not say.
type Options struct {
	// Node names this node; "" = Hostname if it is one of ha.cf's nodes,
	// else the first of them, else Hostname, else "director".
	Node, Hostname string
	// Peer names the other node of a keepalived pair ("" = "peer").
	Peer string
	// Networks are the node's interface addresses.
	Networks []Network
	// KeyFile is the key file written for a pair whose key cannot be
	// reused (keepalived's VRRP password); "" = /etc/director/authkey.
	KeyFile string
	// ScriptExists says whether a script resource's candidate path is an
	// executable file on this node, where Heartbeat would look for it
	// (/etc/ha.d/resource.d, then /etc/init.d); nil = none found.
	ScriptExists func(path string) bool
}

// Note is one item that was not translated, or translated with a
// change the user must know about.
type Note struct {
	File   string
	Line   int
	Text   string // the line, trimmed
	Reason string
}

func (n Note) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", n.File, n.Line, n.Text, n.Reason)
}

// Result is an import's output.
type Result struct {
	// YAML is the configuration, with comments.
	YAML []byte
	// Notes are the items not translated (also in YAML as comments), in
	// file and line order.
	Notes []Note
}

// Kind names a legacy file's format.
type Kind string

// The formats read.
const (
	KindRules      Kind = "ipvsadm.rules"
	KindDefaults   Kind = "/etc/default/ipvsadm"
	KindHACF       Kind = "ha.cf"
	KindAuthkeys   Kind = "authkeys"
	KindResources  Kind = "haresources"
	KindKeepalived Kind = "keepalived.conf"
)

// Detect names f's format, from its name and else its content.
func Detect(f File) (Kind, bool) {
	base := filepath.Base(f.Name)
	switch {
	case base == "ha.cf":
		return KindHACF, true
	case base == "authkeys":
		return KindAuthkeys, true
	case base == "haresources":
		return KindResources, true
	case strings.HasPrefix(base, "keepalived"):
		return KindKeepalived, true
	case strings.HasSuffix(base, ".rules") || strings.HasPrefix(base, "ipvsadm-") || base == "ipvsadm.conf":
		return KindRules, true
	case base == "ipvsadm" && filepath.Base(filepath.Dir(f.Name)) == "default":
		return KindDefaults, true
	}
	text := string(f.Data)
	switch {
	case strings.Contains(text, "virtual_server") || strings.Contains(text, "vrrp_instance"):
		return KindKeepalived, true
	case strings.Contains(text, "DAEMON=") || strings.Contains(text, "AUTO="):
		return KindDefaults, true
	case strings.Contains(text, "-A ") || strings.Contains(text, "-a "):
		return KindRules, true
	case strings.Contains(text, "keepalive") || strings.Contains(text, "deadtime"):
		return KindHACF, true
	case strings.HasPrefix(strings.TrimSpace(text), "auth "):
		return KindAuthkeys, true
	}
	return "", false
}

// doc is the configuration being built.
type doc struct {
	opt   Options
	notes []Note
	// from says which files were read, for the header.
	from []string

	services []*service
	timeouts *[3]int
	timeSrc  string
	// sync is /etc/default/ipvsadm's sync daemon.
	sync *syncDaemon
	ha   *ha
	// dataplaneIPVS is set when a service needs a scheduler only the
	// IPVS data plane runs; dataplaneWhy says which.
	dataplaneWhy string
	// nodeWhy says where Options.Node came from when not from the user.
	nodeWhy string
}

type service struct {
	key       model.ServiceKey
	sched     string
	src       string // file:line
	reals     []*real
	health    *check
	sorry     *model.RealKey
	comments  []string
	realIndex map[model.RealKey]int
	// flags are scheduler_flags; persistence nil when not persistent.
	flags       []string
	persistence *persistence
}

// persistence is a service's persistence mapping: timeout in seconds.
type persistence struct {
	timeout int
	netmask string
}

type real struct {
	key    model.RealKey
	weight int
	src    string
	health *check // per real server (keepalived)
	// upper and lower are the connection thresholds, 0 for none.
	upper, lower uint32
}

// thresholdKeys are r's threshold keys for a flow mapping (", upper_threshold: N"...).
func (r *real) thresholdKeys() string {
	out := ""
	if r.upper != 0 {
		out += fmt.Sprintf(", upper_threshold: %d", r.upper)
	}
	if r.lower != 0 {
		out += fmt.Sprintf(", lower_threshold: %d", r.lower)
	}
	return out
}

// check is a health_check mapping, its keys in order.
type check struct {
	keys [][2]string
}

func (c *check) set(k, v string) {
	for i := range c.keys {
		if c.keys[i][0] == k {
			c.keys[i][1] = v
			return
		}
	}
	c.keys = append(c.keys, [2]string{k, v})
}

type syncDaemon struct {
	role, iface string
	syncID      int
	src         string
}

type ha struct {
	nodes     []string
	nodesSrc  string
	links     []link
	timers    [][2]string // key, value, in ha.cf order
	timerSrc  map[string]string
	port      int
	auth      [2]string // method, key file
	authSrc   string
	failback  *bool
	fbSrc     string
	owner     string
	ownerSrc  string
	addresses []haAddress
	// ping is ha.cf's ping and ping_group lines, deadping its deadping.
	ping                                []pingNode
	deadping, deadpingSrc, deadpingLine string
	// ipfail is where ha.cf respawns ipfail, which acts on ping nodes.
	ipfail, ipfailLine string
	// scripts are haresources' script resources, in order.
	scripts []scriptResource
	more    []resGroup // groups of other owners (heartbeat.go)
}

type link struct {
	mode, iface string
	group, peer netip.Addr
	ttl         int
	src         string
}

type haAddress struct {
	prefix netip.Prefix
	iface  string
	src    string
	note   string
}

// Import translates files into one configuration.
func Import(files []File, opt Options) (*Result, error) {
	d := &doc{opt: opt}
	for _, f := range files {
		k, ok := Detect(f)
		if !ok {
			return nil, fmt.Errorf("import %s: not a file director import reads (ipvsadm.rules, /etc/default/ipvsadm, ha.cf, authkeys, haresources, keepalived.conf)", f.Name)
		}
		d.from = append(d.from, fmt.Sprintf("%s (%s)", f.Name, k))
		switch k {
		case KindRules:
			d.rules(f)
		case KindDefaults:
			d.defaults(f)
		case KindHACF:
			d.haCF(f)
		case KindAuthkeys:
			d.authkeys(f)
		case KindResources:
			d.haResources(f)
		case KindKeepalived:
			d.keepalived(f)
		}
	}
	// Some notes are made once a file is read (ha.cf's deadping): put
	// them back in file and line order.
	order := map[string]int{}
	for _, n := range d.notes {
		if _, ok := order[n.File]; !ok {
			order[n.File] = len(order)
		}
	}
	slices.SortStableFunc(d.notes, func(a, b Note) int {
		if a.File != b.File {
			return order[a.File] - order[b.File]
		}
		return a.Line - b.Line
	})
	return &Result{YAML: d.yaml(), Notes: d.notes}, nil
}

func (d *doc) note(file string, line int, text, format string, args ...any) {
	d.notes = append(d.notes, Note{File: file, Line: line, Text: strings.TrimSpace(text), Reason: fmt.Sprintf(format, args...)})
}

func src(file string, line int) string { return fmt.Sprintf("%s:%d", file, line) }

// service returns the service of key, added if new.
func (d *doc) service(key model.ServiceKey, where string) (*service, bool) {
	for _, s := range d.services {
		if s.key == key {
			return s, false
		}
	}
	s := &service{key: key, sched: model.SchedWRR, src: where, realIndex: map[model.RealKey]int{}}
	d.services = append(d.services, s)
	return s, true
}

// iface finds the interface whose network holds a; "" if none.
func (d *doc) iface(a netip.Addr) (string, netip.Prefix) {
	for _, n := range d.opt.Networks {
		if n.Prefix.Contains(a) {
			return n.Interface, netip.PrefixFrom(a, n.Prefix.Bits())
		}
	}
	return "", netip.Prefix{}
}

// node chooses this node's name.
func (d *doc) node() (string, string) {
	if d.opt.Node != "" && d.nodeWhy != "" {
		return d.opt.Node, d.nodeWhy
	}
	if d.opt.Node != "" {
		return d.opt.Node, "given with --node"
	}
	if d.ha != nil && len(d.ha.nodes) > 0 {
		if slices.Contains(d.ha.nodes, d.opt.Hostname) {
			return d.opt.Hostname, "this host's name, one of ha.cf's nodes"
		}
		return d.ha.nodes[0], "the first of ha.cf's nodes: give --node for the other one"
	}
	if d.opt.Hostname != "" {
		return d.opt.Hostname, "this host's name"
	}
	return "director", "no name given (--node)"
}

// interfaces chooses the public and internal interfaces, with why.
func (d *doc) interfaces() (pub, pubWhy, in, inWhy string) {
	for _, s := range d.services {
		if i, p := d.iface(s.key.VIP); i != "" && pub == "" {
			pub, pubWhy = i, fmt.Sprintf("holds %s, the network of VIP %s", p.Masked(), s.key.VIP)
		}
		for _, r := range s.reals {
			if i, p := d.iface(r.key.Addr); i != "" && in == "" {
				in, inWhy = i, fmt.Sprintf("holds %s, the network of real server %s", p.Masked(), r.key.Addr)
			}
		}
	}
	if d.ha != nil {
		for _, a := range d.ha.addresses {
			if pub == "" && a.iface != "" {
				pub, pubWhy = a.iface, fmt.Sprintf("the interface of floating address %s", a.prefix.Addr())
			}
		}
		for _, a := range slices.Backward(d.ha.addresses) {
			if in == "" && a.iface != "" && a.iface != pub {
				in, inWhy = a.iface, fmt.Sprintf("the interface of floating address %s", a.prefix.Addr())
			}
		}
	}
	if pub == "" {
		pub, pubWhy = "eth0", "GUESSED: no interface of this host holds a VIP's network; check it"
	}
	if in == "" {
		in, inWhy = pub, "the public one (a one-armed director): no interface holds a real server's network; check it"
	}
	return pub, pubWhy, in, inWhy
}

// yamlString quotes s when YAML would not read it as the same string.
func yamlString(s string) string {
	plain := s != "" && !strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`\n\t") && strings.TrimSpace(s) == s &&
		!slices.Contains([]string{"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}, strings.ToLower(s))
	if plain {
		if _, err := fmt.Sscanf(s, "%g", new(float64)); err != nil {
			return s
		}
	}
	return fmt.Sprintf("%q", s)
}

// yaml writes the configuration.
func (d *doc) yaml() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# director.yaml written by director import from:\n")
	for _, f := range d.from {
		w("#   %s\n", f)
	}
	if len(d.notes) > 0 {
		w("# Not translated (check each before running it):\n")
		for _, n := range d.notes {
			w("#   %s\n", strings.ReplaceAll(n.String(), "\n", " "))
		}
	}
	node, why := d.node()
	w("node: %s   # %s\n", yamlString(node), why)
	pub, pubWhy, in, inWhy := d.interfaces()
	w("interfaces:\n  public: %s   # %s\n  internal: %s   # %s\n", yamlString(pub), pubWhy, yamlString(in), inWhy)
	if d.dataplaneWhy != "" {
		w("dataplane: ipvs   # %s\n", d.dataplaneWhy)
	}
	if d.sync != nil && d.sync.role != "none" {
		iface := d.sync.iface
		if iface == "" {
			iface = in
		}
		w("# %s: the IPVS sync daemon (DAEMON=%q). On the BPF data planes a pair syncs its\n", d.sync.src, d.sync.role)
		w("# connections itself (ha.sync); the ipvs section is used with dataplane ipvs.\n")
		w("ipvs:\n  sync_interface: %s\n  sync_id: %d\n", yamlString(iface), d.sync.syncID)
	}
	if d.timeouts != nil {
		w("timeouts:   # %s: --set\n", d.timeSrc)
		for i, k := range []string{"tcp", "tcp_fin", "udp"} {
			if d.timeouts[i] > 0 {
				w("  %s: %ds\n", k, d.timeouts[i])
			} else {
				w("  # %s: 0 in --set keeps the current value: the default applies\n", k)
			}
		}
	}
	if len(d.services) > 0 {
		w("services:\n")
	}
	for _, s := range d.services {
		w("  # %s\n", s.src)
		for _, c := range s.comments {
			w("  # %s\n", c)
		}
		w("  - vip: %s\n    port: %d\n    protocol: %s\n    scheduler: %s\n", s.key.VIP, s.key.Port, s.key.Proto, s.sched)
		if len(s.flags) > 0 {
			w("    scheduler_flags: [%s]\n", strings.Join(s.flags, ", "))
		}
		if p := s.persistence; p != nil {
			w("    persistence: {timeout: %ds, netmask: %s}\n", p.timeout, p.netmask)
		}
		if s.health != nil {
			writeCheck(&b, "    ", s.health)
		}
		if s.sorry != nil {
			w("    sorry_server: {address: %s, port: %d}\n", s.sorry.Addr, s.sorry.Port)
		}
		if len(s.reals) == 0 {
			w("    real_servers: []\n")
			continue
		}
		w("    real_servers:\n")
		for _, r := range s.reals {
			if r.health == nil {
				w("      - {address: %s, port: %d, weight: %d%s}   # %s\n", r.key.Addr, r.key.Port, r.weight, r.thresholdKeys(), r.src)
				continue
			}
			w("      # %s\n      - address: %s\n        port: %d\n        weight: %d\n", r.src, r.key.Addr, r.key.Port, r.weight)
			if r.upper != 0 {
				w("        upper_threshold: %d\n", r.upper)
			}
			if r.lower != 0 {
				w("        lower_threshold: %d\n", r.lower)
			}
			writeCheck(&b, "        ", r.health)
		}
	}
	if d.ha != nil {
		d.writeHA(&b, node, pub)
	}
	return b.Bytes()
}

func writeCheck(b *bytes.Buffer, indent string, c *check) {
	fmt.Fprintf(b, "%shealth_check:\n", indent)
	for _, kv := range c.keys {
		fmt.Fprintf(b, "%s  %s: %s\n", indent, kv[0], kv[1])
	}
}

// writeHA writes the ha section; node is this node, pub the public
// interface (a link's default).
func (d *doc) writeHA(b *bytes.Buffer, node, pub string) {
	h := d.ha
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("ha:\n")
	nodes := h.nodes
	if len(nodes) == 0 {
		nodes = []string{node, "peer"}
	}
	quoted := make([]string, len(nodes))
	for i, n := range nodes {
		quoted[i] = yamlString(n)
	}
	w("  nodes: [%s]   # %s\n", strings.Join(quoted, ", "), h.nodesSrc)
	links := h.links
	if len(links) == 0 {
		links = []link{{mode: "bcast", iface: pub, src: "no link given: Heartbeat's bcast on the public interface"}}
	}
	w("  transport:\n")
	for _, l := range links {
		port := h.port
		if port == 0 {
			port = 694
		}
		switch l.mode {
		case "mcast":
			w("    - {mode: mcast, interface: %s, group: %s, ttl: %d, port: %d}   # %s\n", yamlString(l.iface), l.group, l.ttl, port, l.src)
		case "ucast":
			w("    - {mode: ucast, interface: %s, peer: %s, port: %d}   # %s\n", yamlString(l.iface), l.peer, port, l.src)
		default:
			w("    - {mode: %s, interface: %s, port: %d}   # %s\n", l.mode, yamlString(l.iface), port, l.src)
		}
	}
	for _, t := range h.timers {
		w("  %s: %s   # %s\n", t[0], t[1], h.timerSrc[t[0]])
	}
	method, key := h.auth[0], h.auth[1]
	if key == "" {
		key = d.opt.KeyFile
		if key == "" {
			key = "/etc/director/authkey"
		}
		method = "sha256"
		w("  # no usable key was imported: create %s, mode 0600, the same on both nodes:\n", key)
		w("  #   ( umask 077; head -c 32 /dev/urandom | base64 > %s )\n", key)
	} else {
		w("  # %s: director reads the authkeys file as is (mode 0600); md5 and sha1 work with a\n", h.authSrc)
		w("  # warning: prefer a random key with method sha256 (docs/ha.md)\n")
	}
	w("  auth: {method: %s, key_file: %s}\n", method, yamlString(key))
	if h.failback != nil {
		w("  auto_failback: %v   # %s\n", *h.failback, h.fbSrc)
	}
	owner := h.owner
	if owner == "" {
		owner = nodes[0]
		h.ownerSrc = "no owner given: the first node"
	}
	d.writePing(b)
	if len(h.more) > 0 {
		d.writeGroups(w, owner, pub)
		return
	}
	w("  resources:\n    owner: %s   # %s\n", yamlString(owner), h.ownerSrc)
	writeResAddresses(w, h.addresses, pub, "    ")
	writeScripts(w, h.scripts, "    ")
}
