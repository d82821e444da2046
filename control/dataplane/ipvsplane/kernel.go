package ipvsplane

// Opening kernel IPVS, and what github.com/moby/ipvs does not do: finding
// out whether the kernel has IPVS at all (to say so plainly instead of
// passing on a netlink errno), the sysctls NAT needs, and the connection
// sync daemon (`ipvsadm --start-daemon master|backup --mcast-interface I
// --syncid N`), which this file drives with the IPVS generic netlink
// family's own commands IPVS_CMD_NEW_DAEMON, IPVS_CMD_DEL_DAEMON and
// IPVS_CMD_GET_DAEMON (include/uapi/linux/ip_vs.h), no ipvsadm binary
// needed.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/director-lb/director/control/model"
)

// ErrNoIPVS: the kernel has no IPVS (not built in, module not loadable).
var ErrNoIPVS = errors.New("the kernel has no IPVS")

// ipvsFamilyName is the generic netlink family of IPVS.
const ipvsFamilyName = "IPVS"

// ipvsFamily returns the IPVS generic netlink family's id, loading the
// ip_vs module if the family is missing. It fails with ErrNoIPVS, saying
// what was tried and what to do, when the kernel has none.
func ipvsFamily() (uint16, error) {
	if f, err := netlink.GenlFamilyGet(ipvsFamilyName); err == nil {
		return f.ID, nil
	}
	out, merr := exec.Command("modprobe", "ip_vs").CombinedOutput()
	if f, err := netlink.GenlFamilyGet(ipvsFamilyName); err == nil {
		return f.ID, nil
	}
	why := "module ip_vs loaded but the IPVS netlink family is missing"
	if merr != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = merr.Error()
		}
		why = "modprobe ip_vs failed: " + msg
	}
	var rel unix.Utsname
	_ = unix.Uname(&rel) // for the message only; it fails only on a bad pointer
	return 0, fmt.Errorf("%w (kernel %s: %s): load the ip_vs module, run a kernel built with CONFIG_IP_VS, "+
		"or use dataplane: auto or xdp", ErrNoIPVS, unix.ByteSliceToString(rel.Release[:]), why)
}

// ipvsSysctls are the settings the IPVS data plane needs, set at start in
// the daemon's network namespace.
func ipvsSysctls(conf model.IPVSConfig) []model.Sysctl {
	conntrack := "0"
	if conf.Conntrack {
		conntrack = "1"
	}
	return []model.Sysctl{
		// NAT forwards between the public and internal interfaces.
		{Name: "net.ipv4.ip_forward", Value: "1"},
		// Connections of a removed real server are dropped (the BPF
		// data plane drops them too) rather than blackholed until they
		// time out.
		{Name: "net.ipv4.vs.expire_nodest_conn", Value: "1"},
		// Netfilter connection tracking of IPVS connections, needed only
		// when netfilter rules on the director match them.
		{Name: "net.ipv4.vs.conntrack", Value: conntrack},
	}
}

func sysctlFile(name string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

// setSysctls writes each setting and reads it back.
func setSysctls(want []model.Sysctl) ([]model.Sysctl, error) {
	var out []model.Sysctl
	for _, s := range want {
		if err := os.WriteFile(sysctlFile(s.Name), []byte(s.Value), 0); err != nil {
			return nil, fmt.Errorf("set %s=%s: %w", s.Name, s.Value, err)
		}
		b, err := os.ReadFile(sysctlFile(s.Name))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.Name, err)
		}
		out = append(out, model.Sysctl{Name: s.Name, Value: strings.TrimSpace(string(b))})
	}
	return out, nil
}

// Open opens kernel IPVS in the caller's network namespace: it checks
// that the kernel has it (loading ip_vs if needed), sets the sysctls NAT
// needs and prepares the connection sync daemon on conf's interface.
func Open(conf model.IPVSConfig, log *slog.Logger) (*Plane, error) {
	fam, err := ipvsFamily()
	if err != nil {
		return nil, err
	}
	sysctls, err := setSysctls(ipvsSysctls(conf))
	if err != nil {
		return nil, fmt.Errorf("ipvs: %w", err)
	}
	h, err := ipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("ipvs: open netlink: %w", err)
	}
	d := newPlane(h, log)
	d.conf = conf
	d.sysctls = sysctls
	d.closeHandle = h.Close
	if conf.SyncInterface != "" {
		d.sync = &syncDaemons{family: fam, iface: conf.SyncInterface, syncID: uint32(conf.SyncID)}
	}
	return d, nil
}

// IPVS generic netlink constants (include/uapi/linux/ip_vs.h).
const (
	ipvsCmdNewDaemon = 9
	ipvsCmdDelDaemon = 10
	ipvsCmdGetDaemon = 11

	ipvsCmdAttrDaemon = 3

	ipvsDaemonAttrState    = 1
	ipvsDaemonAttrMcastIfn = 2
	ipvsDaemonAttrSyncID   = 3

	ipvsStateMaster = 1
	ipvsStateBackup = 2
)

func syncStateName(s uint32) string {
	switch s {
	case ipvsStateMaster:
		return "master"
	case ipvsStateBackup:
		return "backup"
	}
	return fmt.Sprintf("state-%d", s)
}

// syncDaemons runs this node's sync daemon: master while active, backup
// while standby, never both (a pair's two masters would feed each other).
type syncDaemons struct {
	mu     sync.Mutex
	family uint16
	iface  string
	syncID uint32
}

// genlRequest builds an IPVS generic netlink request.
func (s *syncDaemons) request(cmd uint8, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(int(s.family), flags|unix.NLM_F_ACK)
	req.AddData(&nl.Genlmsg{Command: cmd, Version: 1})
	return req
}

func daemonAttr(state uint32, iface string, syncID uint32, full bool) *nl.RtAttr {
	a := nl.NewRtAttr(ipvsCmdAttrDaemon|unix.NLA_F_NESTED, nil)
	a.AddRtAttr(ipvsDaemonAttrState, nl.Uint32Attr(state))
	if full {
		a.AddRtAttr(ipvsDaemonAttrMcastIfn, nl.ZeroTerminated(iface))
		a.AddRtAttr(ipvsDaemonAttrSyncID, nl.Uint32Attr(syncID))
	}
	return a
}

// GetSyncDaemons lists the running sync daemons of the caller's network
// namespace (IPVS_CMD_GET_DAEMON).
func GetSyncDaemons() ([]model.SyncDaemon, error) {
	fam, err := ipvsFamily()
	if err != nil {
		return nil, err
	}
	return (&syncDaemons{family: fam}).list()
}

func (s *syncDaemons) list() ([]model.SyncDaemon, error) {
	req := s.request(ipvsCmdGetDaemon, unix.NLM_F_DUMP)
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return nil, fmt.Errorf("ipvs: list sync daemons: %w", err)
	}
	var out []model.SyncDaemon
	for _, m := range msgs {
		if len(m) < 4 {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[4:])
		if err != nil {
			return nil, fmt.Errorf("ipvs: list sync daemons: %w", err)
		}
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED != ipvsCmdAttrDaemon {
				continue
			}
			inner, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return nil, fmt.Errorf("ipvs: list sync daemons: %w", err)
			}
			var d model.SyncDaemon
			for _, ia := range inner {
				switch ia.Attr.Type {
				case ipvsDaemonAttrState:
					if len(ia.Value) >= 4 {
						d.State = syncStateName(binary.NativeEndian.Uint32(ia.Value))
					}
				case ipvsDaemonAttrMcastIfn:
					d.Interface = strings.TrimRight(string(ia.Value), "\x00")
				case ipvsDaemonAttrSyncID:
					if len(ia.Value) >= 4 {
						d.SyncID = binary.NativeEndian.Uint32(ia.Value)
					}
				}
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func (s *syncDaemons) status() ([]model.SyncDaemon, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list()
}

// set runs the master (active) or the backup (standby) daemon and stops
// the other one. A daemon already running with this interface and sync id
// is left as it is.
func (s *syncDaemons) set(active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want, other := uint32(ipvsStateBackup), uint32(ipvsStateMaster)
	if active {
		want, other = other, want
	}
	running, err := s.list()
	if err != nil {
		return err
	}
	var errs []error
	have := false
	for _, d := range running {
		switch {
		case d.State == syncStateName(other):
			errs = append(errs, s.del(other))
		case d.State == syncStateName(want) && (d.Interface != s.iface || d.SyncID != s.syncID):
			errs = append(errs, s.del(want))
		case d.State == syncStateName(want):
			have = true
		}
	}
	if !have {
		req := s.request(ipvsCmdNewDaemon, 0)
		req.AddData(daemonAttr(want, s.iface, s.syncID, true))
		if _, err := req.Execute(unix.NETLINK_GENERIC, 0); err != nil {
			errs = append(errs, fmt.Errorf("ipvs: start the %s sync daemon on %s (syncid %d): %w",
				syncStateName(want), s.iface, s.syncID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *syncDaemons) del(state uint32) error {
	req := s.request(ipvsCmdDelDaemon, 0)
	req.AddData(daemonAttr(state, "", 0, false))
	if _, err := req.Execute(unix.NETLINK_GENERIC, 0); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("ipvs: stop the %s sync daemon: %w", syncStateName(state), err)
	}
	return nil
}

// stop stops both daemons.
func (s *syncDaemons) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	running, err := s.list()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range running {
		switch d.State {
		case "master":
			errs = append(errs, s.del(ipvsStateMaster))
		case "backup":
			errs = append(errs, s.del(ipvsStateBackup))
		}
	}
	return errors.Join(errs...)
}
