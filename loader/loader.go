// Package loader loads the director's programs, attaches one of them to each
// of the director's interfaces and keeps its state pinned under bpffs, so
// that forwarding and tracked flows outlive the control plane.
//
// One collection holds both programs, XDP and TC, over one set of maps. Each
// interface gets the best hook it can run: XDP native, XDP generic, or TC
// (see tc.go); the loader records why each better one was not used.
//
// Pinned state lives in one directory per node, /sys/fs/bpf/director/<node>/:
// every map by name, plus per interface an XDP bpf_link (link_<ifname>), a
// TCX bpf_link (tcx_<ifname>) or a clsact filter's marker (clsact_<ifname>). A new
// directory is built under a temporary name and renamed into place, so a
// crash never leaves a half-made state behind. While a Dataplane is open it
// holds an exclusive lock on its directory: a second control plane for the
// same node is refused. Opening an existing directory adopts it: maps are
// reused after their layout and ABI stamp are checked, and each pinned link
// is switched to the new program atomically, so not a packet is lost.
package loader

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/director-lb/director/bpf"
)

// DefaultPinRoot is where every node's pinned state lives.
const DefaultPinRoot = "/sys/fs/bpf/director"

// Sentinel errors, for callers that map them to exit codes.
var (
	// ErrIncompatible: the pinned state was made by a program whose maps
	// this one cannot reuse.
	ErrIncompatible = errors.New("pinned state is incompatible")
	// ErrBusy: another control plane holds the node's pinned state.
	ErrBusy = errors.New("pinned state is in use by another director")
	// ErrUnsupported: the kernel lacks something the data plane needs.
	ErrUnsupported = errors.New("kernel does not support the XDP data plane")
)

// Mode selects the data plane's hook.
type Mode int

// Attach modes. ModeAuto tries, per interface, native (driver) XDP, then
// generic (skb) XDP, then TC; the others force one.
const (
	ModeAuto Mode = iota
	ModeNative
	ModeGeneric
	ModeTC
)

// Fallback says why a better mode was not used on an interface.
type Fallback struct {
	Interface string
	// Mode is the mode that failed ("xdp native", "tc (tcx)", ...).
	Mode string
	// Reason is the kernel's refusal, or auto's rule against the mode.
	Reason string
	// NotChosen: auto passed over the mode by rule (it may lose packets
	// on this interface), nothing failed.
	NotChosen bool
}

// errNotChosen marks an attempt that auto skips by rule.
var errNotChosen = errors.New("not chosen by auto")

// Options say what to load and where.
type Options struct {
	// Node names the pinned state directory; one per director instance.
	Node string
	// PinRoot is the parent of the node directories (DefaultPinRoot).
	PinRoot string
	// Interfaces to attach to (public and internal; one is enough for a
	// one-armed director), by name in the caller's network namespace.
	Interfaces []string
	// Mode is the attach mode.
	Mode Mode
	// TCAttach is how the TC program is attached when TC is used:
	// TCAttachAuto (also ""), TCAttachTCX or TCAttachClsact.
	TCAttach string
	// Map sizes; zero keeps the default of bpf/maps.h. Changing one
	// makes existing pinned state incompatible.
	FlowTableSize int
	MaxServices   int
	MaxReals      int
	ScheduleSlots int
}

// Attachment says where and how the program is attached.
type Attachment struct {
	Interface string
	Ifindex   int
	// Mode is "xdp native", "xdp generic", "tc (tcx)" or "tc (clsact)".
	Mode string
}

// Per-interface sysctls the data plane needs (see setSysctls).
var interfaceSysctls = []struct{ name, value string }{
	// bpf_fib_lookup refuses to forward from an interface without it,
	// as the kernel would (IPVS NAT needs it too).
	{"forwarding", "1"},
	// A reply whose next hop is not resolved yet goes to the stack
	// already SNATed, with the VIP, a local address, as its source; the
	// kernel drops such a packet as martian unless accept_local is on.
	{"accept_local", "1"},
}

func sysctlPath(ifname, name string) string {
	return filepath.Join("/proc/sys/net/ipv4/conf", ifname, name)
}

// setSysctls sets interfaceSysctls on ifname, in the calling thread's
// network namespace.
func setSysctls(ifname string) error {
	for _, s := range interfaceSysctls {
		if err := os.WriteFile(sysctlPath(ifname, s.name), []byte(s.value), 0); err != nil {
			return fmt.Errorf("set net.ipv4.conf.%s.%s=%s: %w", ifname, s.name, s.value, err)
		}
	}
	return nil
}

// Dataplane is a loaded and attached director program with its maps.
type Dataplane struct {
	// Maps gives typed access to the maps.
	Maps *bpf.Maps
	// Adopted is true when existing pinned state was reused.
	Adopted bool
	// Attachments lists the interfaces the program is attached to.
	Attachments []Attachment
	// Fallbacks lists, per interface, the better modes that failed
	// before the one in use, in the order they were tried.
	Fallbacks []Fallback
	// Warnings are about modes forced on interfaces where they may lose
	// packets (see xdpUnsafe), naming the settings they need.
	Warnings []string

	dir     string
	created bool // this Open made the pinned state (it did not adopt it)
	objs    bpf.Objects
	links   []link.Link
	// redirect is the redirect-error counter (redirect.go), nil when it
	// could not load.
	redirect *bpf.RedirectObjects
	lock     *os.File
}

// PinDir is the pinned state directory of node under root.
func PinDir(root, node string) string {
	if root == "" {
		root = DefaultPinRoot
	}
	return filepath.Join(root, node)
}

// Dir returns the pinned state directory.
func (d *Dataplane) Dir() string { return d.dir }

// tmpPrefix starts the names of directories under construction. bpffs
// refuses names with a dot, so neither they nor node names can hide as
// dot files; node names may not start with an underscore instead.
const tmpPrefix = "_tmp_"

func checkNode(node string) error {
	if node == "" || len(node) > 200 || strings.ContainsAny(node, "/.\x00") || strings.HasPrefix(node, "_") {
		return fmt.Errorf("invalid node name %q: bpffs needs a name without '/' or '.', not starting with '_'", node)
	}
	return nil
}

// Probe checks that the kernel can run the data plane: XDP programs, LRU
// hash maps and the bpf_fib_lookup helper.
func Probe() error {
	if err := features.HaveProgramType(ebpf.XDP); err != nil {
		return fmt.Errorf("%w: XDP programs: %v", ErrUnsupported, err)
	}
	if err := features.HaveMapType(ebpf.LRUHash); err != nil {
		return fmt.Errorf("%w: LRU hash maps: %v", ErrUnsupported, err)
	}
	if err := features.HaveProgramHelper(ebpf.XDP, asm.FnFibLookup); err != nil {
		return fmt.Errorf("%w: bpf_fib_lookup in XDP: %v", ErrUnsupported, err)
	}
	return nil
}

// spec returns the program's spec with the map sizes of opts. A size
// option resizes every map indexed by what it counts: services by
// MaxServices (a service's counters are its real servers', so no other map
// is per service), reals, real_stats, real_conns and real_conns_adj (indexed by real id) by MaxReals.
// addrs holds every VIP and real server address, so it is always their sum.
func spec(opts Options) (*ebpf.CollectionSpec, error) {
	s, err := bpf.LoadSpec()
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	sizes := []struct {
		option string
		n      int
		maps   []string
	}{
		{"flow table size", opts.FlowTableSize, []string{"flows"}},
		{"max services", opts.MaxServices, []string{"services"}},
		{"max reals", opts.MaxReals, []string{"reals", "real_stats", "real_conns", "real_conns_adj"}},
		{"schedule slots", opts.ScheduleSlots, []string{"schedule"}},
	}
	for _, sz := range sizes {
		if sz.n <= 0 {
			continue
		}
		for _, name := range sz.maps {
			if err := setMaxEntries(s, name, uint64(sz.n)); err != nil {
				return nil, fmt.Errorf("set %s %d: %w", sz.option, sz.n, err)
			}
		}
	}
	flows, err := mapSpec(s, "flows")
	if err != nil {
		return nil, err
	}
	if err := setMaxEntries(s, "half_open", uint64(bpf.HalfOpenSize(int(flows.MaxEntries)))); err != nil {
		return nil, fmt.Errorf("size the half-open table: %w", err)
	}
	services, err := mapSpec(s, "services")
	if err != nil {
		return nil, err
	}
	reals, err := mapSpec(s, "reals")
	if err != nil {
		return nil, err
	}
	if err := setMaxEntries(s, "addrs", uint64(services.MaxEntries)+uint64(reals.MaxEntries)); err != nil {
		return nil, fmt.Errorf("size the address map: %w", err)
	}
	return s, nil
}

// mapSpec returns the spec of map name, or an error saying that the
// program has no such map (a loader out of step with bpf/maps.h).
func mapSpec(s *ebpf.CollectionSpec, name string) (*ebpf.MapSpec, error) {
	m, ok := s.Maps[name]
	if !ok || m == nil {
		return nil, fmt.Errorf("size map %q: the program has no such map", name)
	}
	return m, nil
}

// setMaxEntries sets the size of map name, which must exist and fit the
// kernel's 32-bit max_entries.
func setMaxEntries(s *ebpf.CollectionSpec, name string, n uint64) error {
	m, err := mapSpec(s, name)
	if err != nil {
		return err
	}
	if n > math.MaxUint32 {
		return fmt.Errorf("size map %q: %d entries exceed the kernel's limit of %d", name, n, uint64(math.MaxUint32))
	}
	m.MaxEntries = uint32(n)
	return nil
}

// Open loads the program, adopting the node's pinned state if there is
// one, and attaches it to opts.Interfaces.
func Open(opts Options) (_ *Dataplane, err error) {
	if err := checkNode(opts.Node); err != nil {
		return nil, err
	}
	if len(opts.Interfaces) == 0 {
		return nil, errors.New("open data plane: no interface to attach to")
	}
	if err := checkTCAttach(opts.TCAttach); err != nil {
		return nil, err
	}
	if err := Probe(); err != nil {
		return nil, err
	}
	root := opts.PinRoot
	if root == "" {
		root = DefaultPinRoot
	}
	root, err = resolvePinRoot(root)
	if err != nil {
		return nil, err
	}
	if err := ensureBPFFS(root); err != nil {
		return nil, err
	}
	s, err := spec(opts)
	if err != nil {
		return nil, err
	}

	d := &Dataplane{dir: PinDir(root, opts.Node)}
	defer func() {
		if err == nil {
			return
		}
		_ = d.Close() // the error of Open is the one to report
		if d.created {
			// Nothing forwarded through state made by this failed
			// Open: leave nothing behind.
			if rerr := removeDir(root, d.dir); rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove the state this open made: %w", rerr))
			}
		}
	}()

	// The root lock serialises creation and removal of node directories.
	rootLock, err := lockDir(root, false)
	if err != nil {
		return nil, err
	}
	err = d.loadOrCreate(root, opts, s)
	unlockDir(rootLock)
	if err != nil {
		return nil, err
	}
	d.Maps = bpf.NewMaps(&d.objs)
	if err := d.attach(opts); err != nil {
		return nil, err
	}
	if err := d.openRedirectCounter(); err != nil {
		d.Warnings = append(d.Warnings, "redirects that fail after the XDP program returned are not counted: "+err.Error())
	}
	return d, nil
}

// loadOrCreate adopts the node directory or builds it. Called under the
// root lock; leaves d.lock held on the node directory.
func (d *Dataplane) loadOrCreate(root string, opts Options, s *ebpf.CollectionSpec) error {
	removeStaleTemps(root, opts.Node)
	if _, err := os.Stat(d.dir); err == nil {
		lock, err := lockDir(d.dir, true)
		if err != nil {
			return err
		}
		d.lock = lock
		if err := checkMeta(d.dir); err != nil {
			return err
		}
		err = s.LoadAndAssign(&d.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: d.dir}})
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return fmt.Errorf("%w: %s: %v; remove it with `director stop` (tracked flows are lost) or keep the old map sizes",
				ErrIncompatible, d.dir, err)
		}
		if err != nil {
			return fmt.Errorf("load program with pinned maps of %s: %w", d.dir, err)
		}
		d.Adopted = true
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("stat %s: %w", d.dir, err)
	}

	tmp := filepath.Join(root, fmt.Sprintf("%s%s_%d", tmpPrefix, opts.Node, os.Getpid()))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			// A directory that stays goes at the next Open
			// (removeStaleTemps).
			_ = os.RemoveAll(tmp)
		}
	}()
	err := s.LoadAndAssign(&d.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: tmp}})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("load program: %+v", ve)
		}
		return fmt.Errorf("load program: %w", err)
	}
	m := bpf.NewMaps(&d.objs)
	hz, err := bpf.ProbeHZ()
	if err == nil {
		err = m.InitClock(hz)
	}
	if err != nil {
		return err
	}
	if err := m.SetMeta(bpf.StateMeta{Abi: bpf.ABI}); err != nil {
		return err
	}
	if err := m.SetTimeouts(bpf.DefaultTimeouts); err != nil {
		return err
	}
	if err := os.Rename(tmp, d.dir); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, d.dir, err)
	}
	renamed = true
	d.created = true
	lock, err := lockDir(d.dir, true)
	if err != nil {
		return err
	}
	d.lock = lock
	return nil
}

// checkMeta refuses pinned state stamped with another ABI.
func checkMeta(dir string) error {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, "meta"), nil)
	if err != nil {
		return fmt.Errorf("%w: %s has no readable meta map (%v); remove it with `director stop`",
			ErrIncompatible, dir, err)
	}
	defer func() { _ = m.Close() }() // read only
	var v bpf.StateMeta
	if err := m.Lookup(uint32(0), &v); err != nil {
		return fmt.Errorf("read %s/meta: %w", dir, err)
	}
	if v.Abi != bpf.ABI {
		return fmt.Errorf("%w: %s was made by map ABI %d, this program uses %d; remove it with `director stop` (tracked flows are lost)",
			ErrIncompatible, dir, v.Abi, bpf.ABI)
	}
	return nil
}

func linkPath(dir, ifname string) string {
	return filepath.Join(dir, "link_"+ifname)
}

// Mode returns the attach mode shared by every interface, or a list.
func (d *Dataplane) Mode() string {
	seen := map[string]bool{}
	var modes []string
	for _, a := range d.Attachments {
		if !seen[a.Mode] {
			seen[a.Mode] = true
			modes = append(modes, a.Mode)
		}
	}
	return strings.Join(modes, ", ")
}

// Close releases the control plane's handles. Pinned state stays: the
// program keeps forwarding and the next Open adopts it.
func (d *Dataplane) Close() error {
	var errs []error
	for _, l := range d.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close link: %w", err))
		}
	}
	d.links = nil
	if err := d.objs.Close(); err != nil {
		errs = append(errs, err)
	}
	if d.redirect != nil {
		if err := d.redirect.Close(); err != nil {
			errs = append(errs, err)
		}
		d.redirect = nil
	}
	if d.lock != nil {
		unlockDir(d.lock)
		d.lock = nil
	}
	return errors.Join(errs...)
}
