// Package ipvsplane is the kernel IPVS data plane: the same services, real
// servers, weights and timeouts as the BPF data plane, programmed into the
// kernel's IP Virtual Server.
package ipvsplane

// The IPVS adapter of the dataplane port: the same services, real servers, weights
// and timeouts, programmed into the kernel's IP Virtual Server through
// generic netlink (github.com/moby/ipvs), masquerading (NAT) only, as the
// seed's `ipvsadm -A ... -s wrr` / `ipvsadm -a ... -m -w N` did.
//
// Ownership. The director owns every TCP and UDP IPVS service whose
// address is a VIP of its configuration, or was one earlier in this run
// (so that a reload that drops a VIP removes its services). Every other
// IPVS service (other addresses, firewall-mark services) belongs to
// someone else and is never read back into status, changed or deleted.
//
// Reconcile. Apply reads the owned services and their destinations back
// from the kernel, diffs them with the desired state and writes only the
// difference, in this order: new services (created empty, then filled in
// configuration order, as `ipvsadm -A` then `-a` lines would: the kernel
// puts each new destination at the head of its list, which is the list
// order control/model/scheduler.go expands for the BPF data planes), changed
// schedulers, new destinations, changed weights; only then destinations
// and services that went away. Applying the same state twice writes
// nothing. A destination removed while it has connections drops them
// (net.ipv4.vs.expire_nodest_conn=1, set at start), as the BPF data plane
// does; weight 0 quiesces (no new connection, the others continue).
//
// IPVS state lives in the kernel, like the BPF program's pinned state: the
// daemon stopping (SIGTERM, a crash) leaves it forwarding, a restart
// adopts it by the same diff, and `director stop` deletes the owned
// services.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/ipvs"

	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/model"
)

// ipvsHandle is the part of *ipvs.Handle the adapter uses; tests put a
// fake in its place.
type ipvsHandle interface {
	GetServices() ([]*ipvs.Service, error)
	GetDestinations(*ipvs.Service) ([]*ipvs.Destination, error)
	NewService(*ipvs.Service) error
	UpdateService(*ipvs.Service) error
	DelService(*ipvs.Service) error
	NewDestination(*ipvs.Service, *ipvs.Destination) error
	UpdateDestination(*ipvs.Service, *ipvs.Destination) error
	DelDestination(*ipvs.Service, *ipvs.Destination) error
	GetConfig() (*ipvs.Config, error)
	SetConfig(*ipvs.Config) error
}

// ModeName is the IPVS data plane's mode, in status and metrics.
const ModeName = "ipvs"

// Plane implements dataplane.Dataplane over kernel IPVS, with the Roles
// capability (its sync daemon).
type Plane struct {
	mu   sync.Mutex // one reconcile or read at a time
	h    ipvsHandle
	log  *slog.Logger
	conf model.IPVSConfig
	// owned are the VIPs whose TCP/UDP services the director owns: those
	// of the last applied state and of every earlier one in this run.
	owned   map[netip.Addr]bool
	desired map[model.ServiceKey]model.Service
	// connPath is the connection table (/proc/net/ip_vs_conn).
	connPath string
	// sysctls are the values set at start, read back.
	sysctls []model.Sysctl
	// sync runs the connection sync daemon; nil in tests.
	sync *syncDaemons
	// closeHandle closes the netlink socket.
	closeHandle func()
}

var (
	_ dataplane.Dataplane = (*Plane)(nil)
	_ dataplane.Roles     = (*Plane)(nil)
)

// newPlane wraps h (tests).
func newPlane(h ipvsHandle, log *slog.Logger) *Plane {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Plane{h: h, log: log, owned: map[netip.Addr]bool{}, desired: map[model.ServiceKey]model.Service{},
		connPath: "/proc/net/ip_vs_conn", closeHandle: func() {}}
}

// Mode implements Dataplane.
func (d *Plane) Mode() string { return ModeName }

// SetTimeouts implements Dataplane: tcp, tcp_fin and udp as `ipvsadm --set`
// (IPVS has no setting for the SYN state's timeout, which stays the
// kernel's). Unchanged values are not written.
func (d *Plane) SetTimeouts(t model.Timeouts) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	want := ipvs.Config{TimeoutTCP: t.Established, TimeoutTCPFin: t.FIN, TimeoutUDP: t.UDP}
	have, err := d.h.GetConfig()
	if err != nil {
		return fmt.Errorf("ipvs: read timeouts: %w", err)
	}
	if *have == want {
		return nil
	}
	if err := d.h.SetConfig(&want); err != nil {
		return fmt.Errorf("ipvs: set timeouts: %w", err)
	}
	return nil
}

// ipvsKey is the key of an IPVS service.
func ipvsKey(s *ipvs.Service) (model.ServiceKey, bool) {
	if s.FWMark != 0 || s.AddressFamily != syscall.AF_INET || (s.Protocol != uint16(model.TCP) && s.Protocol != uint16(model.UDP)) {
		return model.ServiceKey{}, false
	}
	a, ok := netip.AddrFromSlice(s.Address.To4())
	if !ok {
		return model.ServiceKey{}, false
	}
	return model.ServiceKey{VIP: a, Port: s.Port, Proto: model.Proto(s.Protocol)}, true
}

func ipvsService(s model.Service) *ipvs.Service {
	svc := &ipvs.Service{Address: net.IP(s.VIP.AsSlice()), Protocol: uint16(s.Proto), Port: s.Port,
		SchedName: s.Scheduler, AddressFamily: syscall.AF_INET, Netmask: 0xffffffff, Flags: ipvsSvcFlags(s)}
	if s.Persistent() {
		svc.Timeout = uint32(s.Persistence.Timeout / time.Second)
		if s.Persistence.Netmask.Is4() {
			// IPVS_SVC_ATTR_NETMASK is network order; moby/ipvs writes the
			// value in host order.
			b := s.Persistence.Netmask.As4()
			svc.Netmask = binary.NativeEndian.Uint32(b[:])
		}
	}
	return svc
}

// IPVS's service flags (IP_VS_SVC_F_*): persistence, and the scheduler
// flags ipvsadm -b sets (sh-fallback and mh-fallback are SCHED1, sh-port
// and mh-port SCHED2); HASHED is the kernel's own and never written.
const (
	ipvsFlagHashed = 0x2
	ipvsFlagSched1 = 0x8
	ipvsFlagSched2 = 0x10
)

// ipvsSvcFlags returns the service flags of s.
func ipvsSvcFlags(s model.Service) uint32 {
	var f uint32
	if s.Persistent() {
		f |= ipvsFlagPersistent
	}
	if s.HasSchedFlag(model.SchedFlagSHFallback) || s.HasSchedFlag(model.SchedFlagMHFallback) {
		f |= ipvsFlagSched1
	}
	if s.HasSchedFlag(model.SchedFlagSHPort) || s.HasSchedFlag(model.SchedFlagMHPort) {
		f |= ipvsFlagSched2
	}
	return f
}

// ipvsServiceChanged says whether the kernel's service have differs from
// want in what the configuration sets.
func ipvsServiceChanged(have, want *ipvs.Service) bool {
	return have.SchedName != want.SchedName || have.Flags&^ipvsFlagHashed != want.Flags ||
		have.Timeout != want.Timeout || (want.Flags&ipvsFlagPersistent != 0 && have.Netmask != want.Netmask)
}

// ipvsReadFlags is the scheduler flags and persistence of the kernel's
// service s, as the configuration writes them.
func ipvsReadFlags(s *ipvs.Service) (string, model.Persistence) {
	var flags []string
	prefix := ""
	switch s.SchedName {
	case model.SchedSH, model.SchedMH:
		prefix = s.SchedName
	}
	if prefix != "" && s.Flags&ipvsFlagSched1 != 0 {
		flags = append(flags, prefix+"-fallback")
	}
	if prefix != "" && s.Flags&ipvsFlagSched2 != 0 {
		flags = append(flags, prefix+"-port")
	}
	var p model.Persistence
	if s.Flags&ipvsFlagPersistent != 0 {
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], s.Netmask)
		p = model.Persistence{Timeout: time.Duration(s.Timeout) * time.Second, Netmask: netip.AddrFrom4(b)}
	}
	return strings.Join(flags, ","), p
}

func ipvsDest(r model.RealServer) *ipvs.Destination {
	return &ipvs.Destination{Address: net.IP(r.Addr.AsSlice()), Port: r.Port, Weight: int(r.Weight),
		ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: syscall.AF_INET,
		UpperThreshold: r.UpperThreshold, LowerThreshold: r.LowerThreshold}
}

func destKey(d *ipvs.Destination) model.RealKey {
	a, _ := netip.AddrFromSlice(d.Address.To4())
	return model.RealKey{Addr: a, Port: d.Port}
}

// ipvsCurrent is an owned service as the kernel has it.
type ipvsCurrent struct {
	svc   *ipvs.Service
	dests map[model.RealKey]*ipvs.Destination
}

// read returns the owned services, with their destinations.
func (d *Plane) read() (map[model.ServiceKey]*ipvsCurrent, error) {
	svcs, err := d.h.GetServices()
	if err != nil {
		return nil, fmt.Errorf("ipvs: list services: %w", err)
	}
	out := map[model.ServiceKey]*ipvsCurrent{}
	for _, s := range svcs {
		k, ok := ipvsKey(s)
		if !ok || !d.owned[k.VIP] {
			continue
		}
		dests, err := d.h.GetDestinations(s)
		if err != nil {
			return nil, fmt.Errorf("ipvs: list real servers of %s: %w", k, err)
		}
		c := &ipvsCurrent{svc: s, dests: map[model.RealKey]*ipvs.Destination{}}
		for _, dst := range dests {
			c.dests[destKey(dst)] = dst
		}
		out[k] = c
	}
	return out, nil
}

// validate checks what the IPVS data plane cannot represent.
func validate(services []model.Service) error {
	seen := map[model.ServiceKey]bool{}
	for _, s := range services {
		if !s.VIP.Is4() || (s.Proto != model.TCP && s.Proto != model.UDP) || s.Port == 0 {
			return fmt.Errorf("service %s: need an IPv4 address, a port and tcp or udp", s.Key())
		}
		if seen[s.Key()] {
			return fmt.Errorf("service %s: duplicate", s.Key())
		}
		seen[s.Key()] = true
		if s.Scheduler == "" {
			return fmt.Errorf("service %s: no scheduler", s.Key())
		}
		if s.Scheduler == model.SchedMH && s.MHSize() != model.MHTableSize {
			return fmt.Errorf("service %s: mh table size %d: kernel IPVS's is its compile option CONFIG_IP_VS_MH_TAB_INDEX "+
				"(%d by default); use dataplane xdp, xdp-generic or tc for another size", s.Key(), s.MHSize(), model.MHTableSize)
		}
		reals := map[model.RealKey]bool{}
		for _, r := range s.Reals {
			k := r.Key()
			if !r.Addr.Is4() || r.Port == 0 || reals[k] {
				return fmt.Errorf("service %s: real server %s: need a distinct IPv4 address and port",
					s.Key(), netip.AddrPortFrom(r.Addr, r.Port))
			}
			reals[k] = true
		}
	}
	return nil
}

// Apply implements Dataplane.
func (d *Plane) Apply(services []model.Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := validate(services); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	for _, s := range services {
		d.owned[s.VIP] = true
	}
	cur, err := d.read()
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	keep := map[model.ServiceKey]bool{}
	// Adds and changes first.
	for _, s := range services {
		keep[s.Key()] = true
		want := ipvsService(s)
		c, exists := cur[s.Key()]
		if !exists {
			if err := d.h.NewService(want); err != nil {
				return fmt.Errorf("apply: service %s: %w", s.Key(), ipvsSchedError(s.Scheduler, err))
			}
			c = &ipvsCurrent{svc: want, dests: map[model.RealKey]*ipvs.Destination{}}
		} else if ipvsServiceChanged(c.svc, want) {
			// Scheduler, flags, persistence: as the configuration says
			// (someone's ipvsadm -p on a plain service is undone).
			if err := d.h.UpdateService(want); err != nil {
				return fmt.Errorf("apply: service %s: %w", s.Key(), ipvsSchedError(s.Scheduler, err))
			}
		}
		for _, r := range s.Reals {
			wd := ipvsDest(r)
			have, ok := c.dests[r.Key()]
			switch {
			case !ok:
				err = d.h.NewDestination(want, wd)
			case have.Weight != wd.Weight || have.ConnectionFlags&ipvs.ConnectionFlagFwdMask != ipvs.ConnectionFlagMasq ||
				have.UpperThreshold != wd.UpperThreshold || have.LowerThreshold != wd.LowerThreshold:
				err = d.h.UpdateDestination(want, wd)
			}
			if err != nil {
				return fmt.Errorf("apply: service %s: real server %s: %w", s.Key(), netip.AddrPortFrom(r.Addr, r.Port), err)
			}
		}
	}
	// Then removals.
	var errs []error
	for k, c := range cur {
		if !keep[k] {
			if err := d.h.DelService(c.svc); err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", k, err))
			}
		}
	}
	for _, s := range services {
		c, ok := cur[s.Key()]
		if !ok {
			continue
		}
		want := map[model.RealKey]bool{}
		for _, r := range s.Reals {
			want[r.Key()] = true
		}
		for rk, dst := range c.dests {
			if !want[rk] {
				if err := d.h.DelDestination(c.svc, dst); err != nil {
					errs = append(errs, fmt.Errorf("service %s: real server %s: %w", s.Key(), netip.AddrPortFrom(rk.Addr, rk.Port), err))
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	d.desired = dataplane.ByKey(services)
	return nil
}

// ipvsFlagPersistent is IP_VS_SVC_F_PERSISTENT.
const ipvsFlagPersistent = 0x1

// ipvsSchedError explains the kernel's answer to an unknown scheduler: it
// loads ip_vs_<name> on demand and says ENOENT when there is none.
func ipvsSchedError(sched string, err error) error {
	if errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("scheduler %q: the kernel has no module ip_vs_%s (%w)", sched, sched, err)
	}
	return err
}

// Status implements Observer: the owned services, with the kernel's
// counters, as `ipvsadm -Ln --stats`.
func (d *Plane) Status() ([]model.ServiceStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, err := d.read()
	if err != nil {
		return nil, err
	}
	templates, err := d.templateCounts(cur)
	if err != nil {
		return nil, err
	}
	var out []model.ServiceStatus
	for k, c := range cur {
		st := model.ServiceStatus{ServiceKey: k, Scheduler: c.svc.SchedName, Counters: ipvsCounters(ipvs.SvcStats(c.svc.Stats))}
		st.SchedFlags, st.Persistence = ipvsReadFlags(c.svc)
		for rk, dst := range c.dests {
			st.Reals = append(st.Reals, model.RealStatus{
				RealServer: model.RealServer{Addr: rk.Addr, Port: rk.Port, Weight: uint32(max(dst.Weight, 0)),
					UpperThreshold: dst.UpperThreshold, LowerThreshold: dst.LowerThreshold},
				Counters:        ipvsCounters(ipvs.SvcStats(dst.Stats)),
				ActiveConns:     uint64(max(dst.ActiveConnections, 0)),
				InactiveConns:   uint64(max(dst.InactiveConnections, 0)),
				PersistentConns: templates[templateKey{k, rk}],
			})
		}
		out = append(out, st)
	}
	dataplane.SortStatus(out, d.desired)
	return out, nil
}

func ipvsCounters(s ipvs.SvcStats) model.Counters {
	return model.Counters{PacketsIn: uint64(s.PacketsIn), BytesIn: s.BytesIn, PacketsOut: uint64(s.PacketsOut),
		BytesOut: s.BytesOut, Connections: uint64(s.Connections)}
}

// templateState is a persistence template's state in Flows, as the BPF
// data planes list theirs (and IPVS names a new template).
const templateState = "NONE"

// templateKey names the persistence templates of one service's real
// server.
type templateKey struct {
	svc  model.ServiceKey
	real model.RealKey
}

// templateCounts counts the kernel's persistence templates by service and
// real server (ipvsadm's PersistConn, which moby/ipvs does not read), from
// the connection table; only when a service of cur is persistent, as the
// table can be long.
func (d *Plane) templateCounts(cur map[model.ServiceKey]*ipvsCurrent) (map[templateKey]uint64, error) {
	persistent := false
	for _, c := range cur {
		persistent = persistent || c.svc.Flags&ipvsFlagPersistent != 0
	}
	if !persistent {
		return nil, nil
	}
	f, err := os.Open(d.connPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no IPVS in this namespace's kernel (tests with a fake handle)
	}
	if err != nil {
		return nil, fmt.Errorf("ipvs: connection table: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only, read in full: closing can report nothing useful
	flows, err := parseIPVSConns(f)
	if err != nil {
		return nil, err
	}
	out := map[templateKey]uint64{}
	for _, fl := range flows {
		if fl.State == templateState {
			k := templateKey{model.ServiceKey{VIP: fl.VIP.Addr(), Port: fl.VIP.Port(), Proto: fl.Proto},
				model.RealKey{Addr: fl.Real.Addr(), Port: fl.Real.Port()}}
			out[k]++
		}
	}
	return out, nil
}

// Flows implements Observer, from the kernel's connection table of this
// network namespace (/proc/net/ip_vs_conn), connections to owned VIPs
// only.
func (d *Plane) Flows() ([]model.Flow, error) {
	d.mu.Lock()
	owned := make(map[netip.Addr]bool, len(d.owned))
	for a := range d.owned {
		owned[a] = true
	}
	d.mu.Unlock()
	f, err := os.Open(d.connPath)
	if err != nil {
		return nil, fmt.Errorf("ipvs: connection table: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only, read in full: closing can report nothing useful
	flows, err := parseIPVSConns(f)
	if err != nil {
		return nil, err
	}
	flows = slices.DeleteFunc(flows, func(fl model.Flow) bool { return !owned[fl.VIP.Addr()] })
	dataplane.SortFlows(flows)
	return flows, nil
}

// ipvsStates maps IPVS's connection states to the model's.
var ipvsStates = map[string]string{
	"ESTABLISHED": "ESTABLISHED",
	"SYN_SENT":    "SYN", "SYN_RECV": "SYN", "SYNACK": "SYN", "NONE": "SYN", "LISTEN": "SYN",
	"FIN_WAIT": "FIN", "TIME_WAIT": "FIN", "CLOSE": "FIN", "CLOSE_WAIT": "FIN", "LAST_ACK": "FIN",
	"UDP": "UDP",
}

// parseIPVSConns reads /proc/net/ip_vs_conn: a title line, then one line
// per connection, "TCP C0A83864 A1B2 C0A8380A 0050 C0A8C80B 0050
// ESTABLISHED 899" (addresses and ports in hex, the expiry in seconds).
// Persistence templates (client port 0) are listed as the BPF data planes
// list theirs: state NONE (KernelState the kernel's, NONE or ASSURED).
// IPv6 connections (addresses with colons) are skipped.
func parseIPVSConns(r io.Reader) ([]model.Flow, error) {
	sc := bufio.NewScanner(r)
	var out []model.Flow
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if line == 1 || len(f) < 9 {
			continue
		}
		var proto model.Proto
		if err := proto.UnmarshalText([]byte(strings.ToLower(f[0]))); err != nil {
			continue
		}
		var ap [3]netip.AddrPort
		ok := true
		for i := range ap {
			a, err1 := strconv.ParseUint(f[1+2*i], 16, 32)
			p, err2 := strconv.ParseUint(f[2+2*i], 16, 16)
			if err1 != nil || err2 != nil || len(f[1+2*i]) != 8 {
				ok = false
				break
			}
			ap[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), uint16(p))
		}
		secs, err := strconv.ParseUint(f[8], 10, 32)
		if !ok || err != nil {
			continue // IPv6
		}
		state, known := ipvsStates[f[7]]
		if !known {
			state = f[7]
		}
		if ap[0].Port() == 0 {
			state = templateState
		}
		out = append(out, model.Flow{Proto: proto, Client: ap[0], VIP: ap[1], Real: ap[2], State: state,
			KernelState: f[7], Expires: time.Duration(secs) * time.Second})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ipvs: connection table: %w", err)
	}
	return out, nil
}

// Stats implements Observer: the connection count, the sysctls set at
// start and the sync daemons. IPVS counts no packets by path.
func (d *Plane) Stats() (model.DataplaneStats, error) {
	st := model.DataplaneStats{Mode: ModeName, Packets: map[string]uint64{}, Verdicts: map[string]uint64{},
		Drops: map[string]uint64{}}
	flows, err := d.Flows()
	if err != nil {
		return st, err
	}
	st.FlowEntries = len(flows)
	d.mu.Lock()
	st.Sysctls = slices.Clone(d.sysctls)
	d.mu.Unlock()
	if d.sync != nil {
		st.Sync, err = d.sync.status()
	}
	return st, err
}

// Describe gives log attributes.
func (d *Plane) Describe() []any {
	var kv []string
	for _, s := range d.sysctls {
		kv = append(kv, s.Name+"="+s.Value)
	}
	return []any{"sysctls", strings.Join(kv, " "), "sync_interface", d.conf.SyncInterface, "sync_id", d.conf.SyncID}
}

// SetActive implements dataplane.Roles: the connection sync daemon runs
// as master on the active node, as backup on the standby.
func (d *Plane) SetActive(active bool) {
	if d.sync == nil {
		return
	}
	if err := d.sync.set(active); err != nil {
		d.log.Error("ipvs: connection sync daemon", "active", active, "error", err)
	}
}

// Remove deletes the owned services and stops the sync daemon.
func (d *Plane) Remove() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	if d.sync != nil {
		errs = append(errs, d.sync.stop())
	}
	cur, err := d.read()
	if err != nil {
		return err
	}
	for k, c := range cur {
		if err := d.h.DelService(c.svc); err != nil {
			errs = append(errs, fmt.Errorf("ipvs: delete service %s: %w", k, err))
		}
	}
	d.desired = map[model.ServiceKey]model.Service{}
	return errors.Join(errs...)
}

// Close closes the netlink socket; services and the sync daemon stay.
func (d *Plane) Close() error {
	d.closeHandle()
	return nil
}
