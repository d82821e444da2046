package ipvsadm

// ipvsadm's listings, byte for byte: -L (-n, --stats, --rate,
// --thresholds, --persistent-conn, --exact, --nosort), -S, -Lc and
// --timeout.

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/director-lb/director/control/model"
)

// VersionLine is the first line of a listing, as ipvsadm prints it on
// Debian's kernels (IPVS 1.2.1, a connection table of 2^12 buckets).
const VersionLine = "IP Virtual Server version 1.2.1 (size=4096)\n"

// Rates are the estimator's rates of a service or real server, as --rate
// shows them (connections, packets and bytes per second).
type Rates = model.Rates

// Table is what a listing shows: the services with their counters, and
// their rates (by service, and by service and real server); nil maps
// show zeros.
type Table struct {
	Services  []model.ServiceStatus
	Rates     map[model.ServiceKey]Rates
	RealRates map[model.ServiceKey]map[model.RealKey]Rates
	// Persistence and thresholds of the services, which the status does
	// not carry: from the live table.
	Config map[model.ServiceKey]model.Service
	// Names names hosts and ports without -n (nil: the common ports only).
	Names Namer
}

// Subtract returns services with the counters of zeroed (the status at
// an ipvsadm -Z) taken off, never below zero.
func Subtract(services []model.ServiceStatus, zeroed []model.ServiceStatus) []model.ServiceStatus {
	base := map[model.ServiceKey]model.ServiceStatus{}
	for _, z := range zeroed {
		base[z.ServiceKey] = z
	}
	sub := func(a, b model.Counters) model.Counters {
		d := func(x, y uint64) uint64 {
			if x < y {
				return 0
			}
			return x - y
		}
		return model.Counters{PacketsIn: d(a.PacketsIn, b.PacketsIn), BytesIn: d(a.BytesIn, b.BytesIn),
			PacketsOut: d(a.PacketsOut, b.PacketsOut), BytesOut: d(a.BytesOut, b.BytesOut),
			Connections: d(a.Connections, b.Connections)}
	}
	out := make([]model.ServiceStatus, len(services))
	for i, s := range services {
		z, ok := base[s.ServiceKey]
		s.Reals = slices.Clone(s.Reals)
		if ok {
			s.Counters = sub(s.Counters, z.Counters)
			for j, r := range s.Reals {
				for _, zr := range z.Reals {
					if zr.Key() == r.Key() {
						s.Reals[j].Counters = sub(r.Counters, zr.Counters)
					}
				}
			}
		}
		out[i] = s
	}
	return out
}

// cmpU32 is libipvs's comparison of two addresses: their difference as
// a signed int, so that addresses 2^31 apart compare the other way.
func cmpU32(a, b uint32) int { return int(int32(a - b)) }

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// sortServices orders services as ipvsadm does.
func sortServices(s []model.ServiceStatus) {
	slices.SortStableFunc(s, func(a, b model.ServiceStatus) int {
		if r := int(a.Proto) - int(b.Proto); r != 0 {
			return r
		}
		if r := cmpU32(u32(a.VIP), u32(b.VIP)); r != 0 {
			return r
		}
		return int(a.Port) - int(b.Port)
	})
}

func sortReals(r []model.RealStatus) {
	slices.SortStableFunc(r, func(a, b model.RealStatus) int {
		if r := cmpU32(u32(a.Addr), u32(b.Addr)); r != 0 {
			return r
		}
		return int(a.Port) - int(b.Port)
	})
}

// Namer names addresses and ports in listings without -n, as ipvsadm's
// gethostbyaddr and getservbyport do; "" keeps the number.
type Namer interface {
	Host(a netip.Addr) string
	Port(port uint16, proto model.Proto) string
}

// builtinNames knows the common ports and no host.
type builtinNames struct{}

func (builtinNames) Host(netip.Addr) string { return "" }

func (builtinNames) Port(port uint16, _ model.Proto) string {
	for name, p := range wellKnownPorts {
		if p == int(port) {
			return name
		}
	}
	return ""
}

// addrPort writes ADDRESS:PORT, by name without -n where names knows one.
func addrPort(a netip.Addr, port uint16, proto model.Proto, f Format, names Namer) string {
	host, svc := a.String(), strconv.Itoa(int(port))
	if f&FmtNumeric == 0 {
		if names == nil {
			names = builtinNames{}
		}
		if h := names.Host(a); h != "" {
			host = h
		}
		if p := names.Port(port, proto); p != "" {
			svc = p
		}
	}
	return host + ":" + svc
}

// largeNum is ipvsadm's print_largenum.
func largeNum(i uint64, f Format) string {
	if f&FmtExact != 0 {
		s := strconv.FormatUint(i, 10)
		w := len(s) + 1
		if len(s) <= 8 {
			w = 9
		}
		return fmt.Sprintf("%*d", w, i)
	}
	switch {
	case i < 100000000:
		return fmt.Sprintf("%9d", i)
	case i < 1000000000:
		return fmt.Sprintf("%8dK", i/1000)
	case i < 100000000000:
		return fmt.Sprintf("%8dM", i/1000000)
	case i < 100000000000000:
		return fmt.Sprintf("%8dG", i/1000000000)
	}
	return fmt.Sprintf("%8dT", i/1000000000000)
}

// title is ipvsadm's print_title.
func title(f Format) string {
	const head = "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n"
	switch {
	case f&FmtStats != 0:
		return fmt.Sprintf(head, "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case f&FmtRate != 0:
		return fmt.Sprintf(head, "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case f&FmtThresholds != 0:
		return fmt.Sprintf("%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port",
			"Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case f&FmtPersistentConn != 0:
		return fmt.Sprintf("%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port",
			"Weight", "PersistConn", "ActiveConn", "InActConn")
	case f&FmtRule == 0:
		return "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
	}
	return ""
}

// WriteList writes `ipvsadm -L` (or -S with FmtRule) of t; only, when
// valid, lists that one service (-L -t ...), which must exist.
func WriteList(w io.Writer, t Table, f Format, only *model.ServiceKey) error {
	var b strings.Builder
	svcs := slices.Clone(t.Services)
	if only != nil {
		i := slices.IndexFunc(svcs, func(s model.ServiceStatus) bool { return s.ServiceKey == *only })
		if i < 0 {
			// ipvsadm -L -t of a missing service exits with 1, not 255.
			return &Error{Msg: "No such service\n", Code: 1}
		}
		svcs = svcs[i : i+1]
	} else if f&FmtRule == 0 {
		b.WriteString(VersionLine)
	}
	if f&FmtNoSort == 0 {
		sortServices(svcs)
	}
	b.WriteString(title(f))
	for _, s := range svcs {
		writeService(&b, t, s, f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeService(b *strings.Builder, t Table, s model.ServiceStatus, f Format) {
	cfg := t.Config[s.ServiceKey]
	var name string
	if f&FmtRule != 0 {
		flag := "-t"
		if s.Proto == model.UDP {
			flag = "-u"
		}
		name = flag + " " + addrPort(s.VIP, s.Port, s.Proto, f, t.Names)
	} else {
		name = s.Proto.Upper() + "  " + addrPort(s.VIP, s.Port, s.Proto, f, t.Names)
		if len(name) > 33 {
			name = name[:33]
		}
	}
	persist := cfg.Persistence.Timeout > 0
	mask := ""
	if persist && cfg.Persistence.Netmask.IsValid() && cfg.Persistence.Netmask != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		mask = cfg.Persistence.Netmask.String()
	}
	rates := t.Rates[s.ServiceKey]
	flags := SchedFlagNames(s.Scheduler, SchedFlagBits(cfg.SchedFlags))
	switch {
	case f&FmtRule != 0:
		fmt.Fprintf(b, "-A %s -s %s", name, s.Scheduler)
		if persist {
			fmt.Fprintf(b, " -p %d", cfg.Persistence.Timeout/time.Second)
			if mask != "" {
				fmt.Fprintf(b, " -M %s", mask)
			}
		}
		if flags != "" {
			fmt.Fprintf(b, " -b %s", flags)
		}
	case f&FmtStats != 0:
		fmt.Fprintf(b, "%-33s", name)
		for _, v := range []uint64{s.Connections, s.PacketsIn, s.PacketsOut, s.BytesIn, s.BytesOut} {
			b.WriteString(largeNum(v, f))
		}
	case f&FmtRate != 0:
		fmt.Fprintf(b, "%-33s", name)
		for _, v := range []uint64{rates.CPS, rates.InPPS, rates.OutPPS, rates.InBPS, rates.OutBPS} {
			b.WriteString(largeNum(v, f))
		}
	default:
		fmt.Fprintf(b, "%s %s", name, s.Scheduler)
		if flags != "" {
			fmt.Fprintf(b, " (%s)", flags)
		}
		if persist {
			fmt.Fprintf(b, " persistent %d", cfg.Persistence.Timeout/time.Second)
			if mask != "" {
				fmt.Fprintf(b, " mask %s", mask)
			}
		}
	}
	b.WriteString("\n")
	reals := slices.Clone(s.Reals)
	if f&FmtNoSort == 0 {
		sortReals(reals)
	}
	thresholds := map[model.RealKey]model.RealServer{}
	for _, r := range cfg.Reals {
		thresholds[r.Key()] = r
	}
	for _, r := range reals {
		dname := addrPort(r.Addr, r.Port, s.Proto, f, t.Names)
		if f&FmtRule == 0 && len(dname) > 28 {
			dname = dname[:28]
		}
		rr := t.RealRates[s.ServiceKey][r.Key()]
		th := thresholds[r.Key()]
		switch {
		case f&FmtRule != 0:
			fmt.Fprintf(b, "-a %s -r %s -m -w %d\n", name, dname, r.Weight)
		case f&FmtStats != 0:
			fmt.Fprintf(b, "  -> %-28s", dname)
			for _, v := range []uint64{r.Connections, r.PacketsIn, r.PacketsOut, r.BytesIn, r.BytesOut} {
				b.WriteString(largeNum(v, f))
			}
			b.WriteString("\n")
		case f&FmtRate != 0:
			fmt.Fprintf(b, "  -> %-28s %8d %8d %8d%s%s\n", dname, uint32(rr.CPS), uint32(rr.InPPS), uint32(rr.OutPPS),
				largeNum(rr.InBPS, f), largeNum(rr.OutBPS, f))
		case f&FmtThresholds != 0:
			fmt.Fprintf(b, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname, th.UpperThreshold, th.LowerThreshold,
				r.ActiveConns, r.InactiveConns)
		case f&FmtPersistentConn != 0:
			fmt.Fprintf(b, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname, r.Weight, r.PersistentConns, r.ActiveConns, r.InactiveConns)
		default:
			fmt.Fprintf(b, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, FwdMasq, r.Weight, r.ActiveConns, r.InactiveConns)
		}
	}
}

// WriteConns writes `ipvsadm -Lc` of flows; names as Table.Names.
func WriteConns(w io.Writer, flows []model.Flow, f Format, names Namer) error {
	var b strings.Builder
	b.WriteString("IPVS connection entries\n")
	if f&FmtPersistentConn != 0 {
		fmt.Fprintf(&b, "pro expire %-11s %-18s %-18s %-18s %-16s %s\n", "state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		fmt.Fprintf(&b, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	for _, fl := range flows {
		secs := int(fl.Expires / time.Second)
		exp := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		fmt.Fprintf(&b, "%-3s %-6s %-11s %-18s %-18s %s\n", fl.Proto.Upper(), exp, connState(fl),
			addrPort(fl.Client.Addr(), fl.Client.Port(), fl.Proto, f, names),
			addrPort(fl.VIP.Addr(), fl.VIP.Port(), fl.Proto, f, names),
			addrPort(fl.Real.Addr(), fl.Real.Port(), fl.Proto, f, names))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// connState names a flow's state as IPVS's connection table does: its own
// name on the IPVS data plane; the BPF planes track fewer states.
func connState(fl model.Flow) string {
	if fl.KernelState != "" {
		return fl.KernelState
	}
	switch fl.State {
	case "SYN":
		return "SYN_RECV"
	case "FIN":
		return "FIN_WAIT"
	case "UDP":
		return "UDP"
	}
	return fl.State
}

// WriteTimeouts writes `ipvsadm -L --timeout`.
func WriteTimeouts(w io.Writer, t model.Timeouts) error {
	_, err := fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n", int(t.Established/time.Second), int(t.FIN/time.Second), int(t.UDP/time.Second))
	return err
}

// WriteDaemons writes `ipvsadm -L --daemon`: the master sync daemon, then
// the backup one (the kernel runs at most one of each).
func WriteDaemons(w io.Writer, daemons []model.SyncDaemon) error {
	var b strings.Builder
	for _, state := range []string{"master", "backup"} {
		for _, d := range daemons {
			if d.State == state {
				fmt.Fprintf(&b, "%s sync daemon (mcast=%s, syncid=%d)\n", state, d.Interface, d.SyncID)
				break
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
