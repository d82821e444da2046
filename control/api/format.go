package api

// Human output of `director status` and `director conntrack`, laid out as
// `ipvsadm -Ln` and `ipvsadm -Lnc` lay out theirs, so that someone used to
// the ipvsadm director reads it at a glance (and awk scripts that split
// ipvsadm's lines on blanks find the same fields in the same places).
//
// The column widths are ipvsadm's (ipvsadm.c: print_title,
// print_service_entry, list_conn, print_conn), with two differences:
// trailing blanks are trimmed, and the source and virtual columns of the
// connection list are 22 wide instead of 18, so that an IPv4 client's
// address:port (up to 21 characters) does not push the next column out of
// line. Addresses are never truncated.

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/director-lb/director/control/model"
)

// ipvsadm -Ln's two title lines.
const (
	statusTitle = "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
)

// WriteStatus writes s like `ipvsadm -Ln`, preceded by the director's own
// facts: node, configuration file, version, data plane mode and
// interfaces, uptime (rounded to seconds), one line per better data plane
// that could not be used (interface, mode, reason) and flow-table use. Services and
// their real servers are written in the order given; the forwarding
// method is always Masq (NAT).
func WriteStatus(w io.Writer, s model.Status) error {
	var b bytes.Buffer

	b.WriteString("director")
	if s.Node != "" {
		b.WriteString(" " + s.Node)
	}
	if s.Config != "" {
		fmt.Fprintf(&b, " (config %s)", s.Config)
	}
	version := s.Version
	if version == "" {
		version = "unknown"
	}
	fmt.Fprintf(&b, ", version %s\n", version)

	mode := s.Dataplane
	if mode == "" {
		mode = s.Stats.Mode
	}
	if mode == "" {
		mode = "unknown"
	}
	fmt.Fprintf(&b, "data plane: %s", mode)
	if len(s.Interfaces) > 0 {
		ifs := make([]string, len(s.Interfaces))
		for i, in := range s.Interfaces {
			ifs[i] = in.Name + " " + in.Role
			// Say so when an interface runs in another mode than the
			// data plane's (e.g. one NIC without native XDP).
			if in.Mode != "" && in.Mode != mode {
				ifs[i] += ": " + in.Mode
			}
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(ifs, ", "))
	}
	fmt.Fprintf(&b, ", up %s\n", s.Uptime.Round(time.Second))
	if s.DataplaneReason != "" {
		fmt.Fprintf(&b, "  fallback: %s\n", s.DataplaneReason)
	}
	for _, f := range s.DataplaneFallbacks {
		fmt.Fprintf(&b, "  %s: %s not used: %s\n", f.Interface, f.Mode, f.Reason)
	}
	if len(s.Stats.Sysctls) > 0 {
		kv := make([]string, len(s.Stats.Sysctls))
		for i, sc := range s.Stats.Sysctls {
			kv[i] = sc.Name + "=" + sc.Value
		}
		fmt.Fprintf(&b, "sysctls: %s\n", strings.Join(kv, " "))
	}
	for _, d := range s.Stats.Sync {
		fmt.Fprintf(&b, "sync daemon: %s on %s, syncid %d\n", d.State, d.Interface, d.SyncID)
	}

	fmt.Fprintf(&b, "flows: %d entries", s.Stats.FlowEntries)
	if s.Stats.FlowCapacity > 0 {
		fmt.Fprintf(&b, " of %d", s.Stats.FlowCapacity)
	}
	if by, capBy := s.Stats.FlowEntriesByState, s.Stats.FlowCapacityByState; len(by) > 0 {
		fmt.Fprintf(&b, " (established %d of %d, half-open %d of %d); %d half-open evicted, %d refused",
			by["established"], capBy["established"], by["half_open"], capBy["half_open"],
			s.Stats.FlowEvictions, s.Stats.FlowRefused)
	}
	b.WriteString("\n")
	if s.Stats.RedirectErrors > 0 {
		fmt.Fprintf(&b, "redirect errors: %d packets lost after the XDP program redirected them (see docs/dataplane-selection.md)\n",
			s.Stats.RedirectErrors)
	}
	if s.HA != nil {
		writeHA(&b, s.HA)
	}

	b.WriteString(statusTitle)
	for _, svc := range s.Services {
		fmt.Fprintf(&b, "%s  %s %s\n", svc.Proto.Upper(),
			netip.AddrPortFrom(svc.VIP, svc.Port), svc.Scheduler)
		for _, r := range svc.Reals {
			fmt.Fprintf(&b, "  -> %-28s %-7s %-6d %-10d %-10d",
				netip.AddrPortFrom(r.Addr, r.Port), "Masq", r.Weight,
				r.ActiveConns, r.InactiveConns)
			// ipvsadm's columns end here; the health check's verdict
			// follows when there is one (weight 0 above while down).
			if r.Health != "" {
				fmt.Fprintf(&b, " %s", r.Health)
				if r.Health == "down" && r.HealthResult != "" {
					fmt.Fprintf(&b, " (%s)", r.HealthResult)
				}
			}
			b.WriteString("\n")
		}
	}
	return writeTrimmed(w, b.Bytes())
}

// writeHA writes the heartbeat lines of WriteStatus: this node's state,
// the peer and how long ago it was heard, and the floating addresses.
func writeHA(b *bytes.Buffer, h *model.HAStatus) {
	if len(h.Groups) > 1 {
		writeHAGroups(b, h)
		writeHAPeers(b, h.Peers)
	} else {
		fmt.Fprintf(b, "ha: %s (owner %s), %d transitions", h.State, h.Owner, h.Transitions)
		if h.LastReason != "" {
			fmt.Fprintf(b, ", last: %s", h.LastReason)
		}
		b.WriteString("\n")
		writeHAPeers(b, h.Peers)
		writeHAAddresses(b, h.Addresses, "  ")
	}
	if y := h.Sync; y != nil {
		ready := "not ready (waiting for the peer's full table)"
		switch {
		case y.Role == "sending":
			ready = fmt.Sprintf("%d connections told, lag %v (max %v)", y.Told,
				y.Lag.Round(time.Microsecond), y.MaxLag.Round(time.Microsecond))
		case y.Ready:
			ready = "ready"
		}
		fmt.Fprintf(b, "  sync: %s, %s; records sent %d, received %d (installed %d, unknown %d, conflicts %d); full tables sent %d, received %d; gaps %d; rejected %d\n",
			y.Role, ready, y.RecordsSent, y.RecordsReceived, y.Installed, y.Unknown, y.Conflicts,
			y.FullSent, y.FullReceived, y.Gaps, y.AuthFailures+y.Replays+y.Malformed)
	}
}

// writeHAGroups writes the first line of the pair with several resource
// groups: each group's state, then its lines.
func writeHAGroups(b *bytes.Buffer, h *model.HAStatus) {
	b.WriteString("ha:")
	for i, g := range h.Groups {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(b, "%s %s %s", sep, g.Name, g.State)
	}
	b.WriteString("\n")
	for _, g := range h.Groups {
		fmt.Fprintf(b, "  group %s: %s (owner %s), %d transitions", g.Name, g.State, g.Owner, g.Transitions)
		if g.LastReason != "" {
			fmt.Fprintf(b, ", last: %s", g.LastReason)
		}
		b.WriteString("\n")
		writeHAAddresses(b, g.Addresses, "    ")
	}
}

// writeHAPeers writes a line per peer: alive or dead, its state, when it
// was last heard.
func writeHAPeers(b *bytes.Buffer, peers []model.HAPeer) {
	for _, p := range peers {
		heard := "never heard"
		if p.LastHeard >= 0 {
			heard = "heard " + p.LastHeard.Round(time.Millisecond).String() + " ago"
		}
		alive := "dead"
		if p.Alive {
			alive = "alive"
		}
		fmt.Fprintf(b, "  peer %s: %s, %s, %s\n", p.Name, alive, p.State, heard)
	}
}

// writeHAAddresses writes a line per floating address: held here or not.
func writeHAAddresses(b *bytes.Buffer, addrs []model.HAAddressHeld, indent string) {
	for _, a := range addrs {
		held := "not held"
		if a.Held {
			held = "held"
		}
		fmt.Fprintf(b, "%saddress %s on %s: %s\n", indent, a.Address, a.Interface, held)
	}
}

// WriteFlows writes flows like `ipvsadm -Lnc`: protocol, time left before
// the flow expires if idle (mm:ss, minutes not capped at 59), state,
// client, virtual service and real server, in the order given.
func WriteFlows(w io.Writer, flows []model.Flow) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "pro expire %-11s %-22s %-22s %s\n",
		"state", "source", "virtual", "destination")
	for _, f := range flows {
		fmt.Fprintf(&b, "%-3s %-6s %-11s %-22s %-22s %s\n",
			f.Proto.Upper(), expireString(f.Expires), f.State,
			f.Client, f.VIP, f.Real)
	}
	return writeTrimmed(w, b.Bytes())
}

// expireString writes d as ipvsadm does the kernel's whole seconds left:
// mm:ss, truncated to the second, never negative.
func expireString(d time.Duration) string {
	secs := max(int64(d/time.Second), 0)
	return fmt.Sprintf("%02d:%02d", secs/60, secs%60)
}

// writeTrimmed writes text with the blanks that padding leaves at the end
// of each line removed.
func writeTrimmed(w io.Writer, text []byte) error {
	var out bytes.Buffer
	out.Grow(len(text))
	for line := range bytes.Lines(text) {
		body, nl := bytes.CutSuffix(line, []byte("\n"))
		out.Write(bytes.TrimRight(body, " "))
		if nl {
			out.WriteByte('\n')
		}
	}
	_, err := w.Write(out.Bytes())
	return err
}
