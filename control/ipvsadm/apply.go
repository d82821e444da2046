package ipvsadm

// Applying a command to a table of services, as the kernel answers
// ipvsadm: the same errors (libipvs's messages, exit status 255), and a
// refused command changes nothing.

import (
	"net/netip"
	"slices"
	"time"

	"github.com/director-lb/director/control/model"
)

// kernelError is a command the kernel refuses: ipvsadm prints
// ipvs_strerror's message and exits with 255.
func kernelError(msg string) *Error { return &Error{Msg: msg + "\n", Code: 255} }

// IsChange says whether c changes the table (the daemon must apply it).
func (c *Command) IsChange() bool {
	switch c.Cmd {
	case CmdAdd, CmdEdit, CmdDel, CmdFlush, CmdAddDest, CmdEditDest, CmdDelDest, CmdTimeout, CmdZero:
		return true
	}
	return false
}

// Apply returns services changed by c (a change command), as a new
// slice: services itself is not modified. schedulers is the test of a
// scheduler name: false gives IPVS's "Scheduler or persistence engine not
// found".
func Apply(services []model.Service, c *Command, known func(string) bool) ([]model.Service, error) {
	out := make([]model.Service, len(services))
	for i, s := range services {
		s.Reals = slices.Clone(s.Reals)
		out[i] = s
	}
	if c.Fwmark != 0 {
		return nil, kernelError("Firewall-mark services are not supported by director")
	}
	idx := slices.IndexFunc(out, func(s model.Service) bool { return s.Key() == c.Service })
	switch c.Cmd {
	case CmdFlush:
		return nil, nil
	case CmdZero, CmdTimeout:
		if c.Cmd == CmdZero && c.Options&OptService != 0 && idx < 0 {
			return nil, kernelError("No such service")
		}
		return out, nil
	case CmdAdd, CmdEdit:
		if c.Cmd == CmdAdd && idx >= 0 {
			return nil, kernelError("Service already exists")
		}
		if c.Cmd == CmdEdit && idx < 0 {
			return nil, kernelError("No such service")
		}
		if !known(c.Scheduler) || c.PE != "" {
			return nil, kernelError("Scheduler or persistence engine not found")
		}
		if c.OnePacket {
			return nil, kernelError("One-packet scheduling is not supported by director")
		}
		s := model.Service{VIP: c.Service.VIP, Port: c.Service.Port, Proto: c.Service.Proto}
		if idx >= 0 {
			s = out[idx]
		}
		s.Scheduler, s.SchedFlags = c.Scheduler, c.SchedFlags
		s.Persistence = model.Persistence{}
		if c.Persistent != 0 {
			mask := c.Netmask
			if !mask.IsValid() {
				mask = netip.AddrFrom4([4]byte{255, 255, 255, 255})
			}
			s.Persistence = model.Persistence{Timeout: time.Duration(c.Persistent) * time.Second, Netmask: mask}
		}
		if idx >= 0 {
			out[idx] = s
		} else {
			out = append(out, s)
		}
	case CmdDel:
		if idx < 0 {
			return nil, kernelError("No such service")
		}
		out = slices.Delete(out, idx, idx+1)
	case CmdAddDest, CmdEditDest, CmdDelDest:
		if idx < 0 {
			return nil, kernelError("Service not defined")
		}
		s := &out[idx]
		ri := slices.IndexFunc(s.Reals, func(r model.RealServer) bool { return r.Key() == c.Real })
		switch {
		case c.Cmd == CmdAddDest && ri >= 0:
			return nil, kernelError("Destination already exists")
		case c.Cmd != CmdAddDest && ri < 0:
			return nil, kernelError("No such destination")
		case c.Cmd == CmdDelDest:
			s.Reals = slices.Delete(s.Reals, ri, ri+1)
			return out, nil
		}
		if c.Forward != FwdMasq {
			return nil, ErrForward(c.Forward)
		}
		r := model.RealServer{Addr: c.Real.Addr, Port: c.Real.Port}
		if ri >= 0 {
			r = s.Reals[ri]
		}
		// ipvsadm -e sends every field: those not given take ipvsadm's
		// defaults (weight 1, thresholds 0), as with the kernel.
		r.Weight, r.UpperThreshold, r.LowerThreshold = uint32(c.Weight), c.UThreshold, c.LThreshold
		if ri >= 0 {
			s.Reals[ri] = r
		} else {
			s.Reals = append(s.Reals, r)
		}
	default:
		return out, nil
	}
	return out, nil
}

// ErrForward is the refusal of a forwarding method director does not
// have (only masquerading, -m); ipvsadm's own default is -g.
func ErrForward(fwd string) *Error {
	name := map[string]string{FwdRoute: "direct routing (-g, ipvsadm's default when no method is given)",
		FwdTunnel: "IP-in-IP tunnelling (-i)"}[fwd]
	return &Error{Msg: "director forwards by masquerading (NAT) only: " + name + " is not implemented; give -m\n", Code: 2}
}
