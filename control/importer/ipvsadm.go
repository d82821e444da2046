package importer

// ipvsadm.rules (the `ipvsadm -S` format, with or without a leading
// "ipvsadm", as `ipvsadm -R` reads it) and /etc/default/ipvsadm.

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/director-lb/director/control/ipvsadm"
	"github.com/director-lb/director/control/model"
)

// lines calls fn with each line of data and its number.
func lines(data []byte, fn func(n int, line string)) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		fn(n, sc.Text())
	}
}

// RuleWords splits one line of ipvsadm.rules as `ipvsadm -R` does: words
// separated by blanks, the word "ipvsadm" dropped, a word starting with
// '#' ending the line.
func RuleWords(line string) []string {
	var out []string
	for _, w := range strings.Fields(line) {
		if strings.HasPrefix(w, "#") {
			break
		}
		if w == "ipvsadm" || strings.HasSuffix(w, "/ipvsadm") {
			continue
		}
		out = append(out, w)
	}
	return out
}

// rules reads an ipvsadm.rules file.
func (d *doc) rules(f File) {
	lines(f.Data, func(n int, line string) {
		words := RuleWords(line)
		if len(words) == 0 {
			return
		}
		c, err := ipvsadm.Parse(append([]string{"ipvsadm"}, words...))
		if err != nil {
			d.note(f.Name, n, line, "ipvsadm refuses it: %v", err)
			return
		}
		d.rule(f.Name, n, line, c)
	})
}

// rule applies one ipvsadm command.
func (d *doc) rule(file string, n int, line string, c *ipvsadm.Command) {
	where := src(file, n)
	if c.Fwmark != 0 {
		d.note(file, n, line, "firewall-mark services (-f) are not implemented")
		return
	}
	switch c.Cmd {
	case ipvsadm.CmdAdd, ipvsadm.CmdEdit:
		s, _ := d.service(c.Service, where)
		if c.Cmd == ipvsadm.CmdEdit {
			s.src += ", edited at " + where
		}
		s.sched = c.Scheduler
		d.scheduler(s, c.Scheduler, file, n, line)
		// ipvsadm sends every field: -E without -p or -b clears them.
		s.persistence, s.flags = nil, nil
		if c.Persistent != 0 {
			d.persistence(s, int(c.Persistent), c.Netmask, file, n, line)
		}
		if c.SchedFlags != "" {
			d.schedFlags(s, strings.Split(c.SchedFlags, ","), file, n, line)
		}
		if c.OnePacket || c.PE != "" {
			d.note(file, n, line, "one-packet scheduling (-o) and persistence engines (--pe) are not implemented")
		}
	case ipvsadm.CmdDel:
		for i, s := range d.services {
			if s.key == c.Service {
				d.services = append(d.services[:i], d.services[i+1:]...)
				return
			}
		}
		d.note(file, n, line, "no such service to delete")
	case ipvsadm.CmdFlush:
		d.services = nil
	case ipvsadm.CmdAddDest, ipvsadm.CmdEditDest:
		s, added := d.service(c.Service, where)
		if added {
			d.services = d.services[:len(d.services)-1]
			d.note(file, n, line, "no such service: the real server is not imported")
			return
		}
		if c.Forward != ipvsadm.FwdMasq {
			how := map[string]string{ipvsadm.FwdRoute: "direct routing (-g, ipvsadm's default without -m)", ipvsadm.FwdTunnel: "tunnelling (-i)"}[c.Forward]
			d.note(file, n, line, "forwarding by %s is not implemented: imported as masquerading (-m, NAT)", how)
		}
		upper, lower, moved, ok := thresholds(c.UThreshold, c.LThreshold)
		if !ok {
			// The kernel refuses the line (ERANGE): ipvsadm -R stops there.
			d.note(file, n, line, "a lower threshold (-y %d) above the upper one (-x %d): the kernel refuses the line, not imported", c.LThreshold, c.UThreshold)
			return
		}
		if moved {
			d.note(file, n, line, "lower threshold %d equal to the upper one: imported as %d (lower_threshold must be below upper_threshold)", c.LThreshold, lower)
		}
		if i, ok := s.realIndex[c.Real]; ok {
			if c.Cmd == ipvsadm.CmdAddDest {
				d.note(file, n, line, "real server %s is already in the service (%s)", c.Real, s.reals[i].src)
				return
			}
			r := s.reals[i]
			if c.Options&ipvsadm.OptWeight != 0 {
				r.weight = c.Weight
			}
			r.upper, r.lower = upper, lower
			r.src += ", edited at " + where
			return
		}
		if c.Cmd == ipvsadm.CmdEditDest {
			d.note(file, n, line, "no such real server to edit")
			return
		}
		s.realIndex[c.Real] = len(s.reals)
		s.reals = append(s.reals, &real{key: c.Real, weight: c.Weight, upper: upper, lower: lower, src: where})
	case ipvsadm.CmdDelDest:
		for _, s := range d.services {
			if s.key != c.Service {
				continue
			}
			if i, ok := s.realIndex[c.Real]; ok {
				s.reals = append(s.reals[:i], s.reals[i+1:]...)
				s.realIndex = map[model.RealKey]int{}
				for j, r := range s.reals {
					s.realIndex[r.key] = j
				}
				return
			}
		}
		d.note(file, n, line, "no such real server to delete")
	case ipvsadm.CmdTimeout:
		t := [3]int(c.Timeouts)
		d.timeouts, d.timeSrc = &t, where
	case ipvsadm.CmdStartDaemon:
		d.sync = &syncDaemon{role: c.Daemon, iface: c.McastIfn, syncID: c.SyncID, src: where}
	default:
		d.note(file, n, line, "the %s command changes nothing in a configuration", c.Cmd)
	}
}

// scheduler sets s's scheduler, switching to the IPVS data plane for
// one the BPF data planes do not run.
func (d *doc) scheduler(s *service, name, file string, n int, line string) {
	s.sched = name
	sc, ok := model.LookupScheduler(name)
	switch {
	case !ok:
		d.note(file, n, line, "scheduler %q is not one of IPVS's: imported as wrr", name)
		s.sched = model.SchedWRR
	case !sc.BPF() && d.dataplaneWhy == "":
		d.dataplaneWhy = fmt.Sprintf("scheduler %s (%s) runs only on kernel IPVS in this version", name, src(file, n))
	}
}

// persistence sets s's persistence (ipvsadm -p, keepalived's
// persistence_timeout): timeout seconds, mask the netmask (invalid: a
// host's). The configuration takes contiguous netmasks only.
func (d *doc) persistence(s *service, timeout int, mask netip.Addr, file string, n int, line string) {
	p := &persistence{timeout: timeout, netmask: "255.255.255.255"}
	if mask.IsValid() {
		b := mask.As4()
		m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		if m != 0 && m|(m-1) != ^uint32(0) || m == 0 {
			d.note(file, n, line, "netmask %s is not a contiguous netmask (ones, then zeros): persistence imported per client address (255.255.255.255)", mask)
		} else {
			p.netmask = mask.String()
		}
	}
	s.persistence = p
}

// schedFlags sets s's scheduler flags; flag-1..3 are named after the
// scheduler (sh-fallback is sh's flag-1), those without a name dropped.
func (d *doc) schedFlags(s *service, flags []string, file string, n int, line string) {
	for _, f := range flags {
		owner := model.SchedFlagOwner(f)
		switch {
		case owner == "":
			d.note(file, n, line, "scheduler flag %s means nothing to scheduler %s in director: not translated", f, s.sched)
			continue
		case owner != s.sched:
			d.note(file, n, line, "scheduler flag %s is only for scheduler %s, not %s: not translated", f, owner, s.sched)
			continue
		}
		if !slices.Contains(s.flags, f) {
			s.flags = append(s.flags, f)
		}
	}
}

// thresholds checks a real server's upper and lower thresholds as the
// kernel does (ok false: the lower one above the upper one, which it
// refuses) and returns them as the configuration takes them: the lower one
// below the upper one, so one equal to it is written one below (moved
// true: the server takes new connections again one connection later).
func thresholds(upper, lower uint32) (u, l uint32, moved, ok bool) {
	if lower > upper {
		return 0, 0, false, false
	}
	if upper > 0 && lower == upper {
		return upper, upper - 1, true, true
	}
	return upper, lower, false, true
}

// defaults reads /etc/default/ipvsadm (shell assignments).
func (d *doc) defaults(f File) {
	s := &syncDaemon{role: "none", src: f.Name}
	lines(f.Data, func(n int, line string) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			return
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			d.note(f.Name, n, line, "not a shell assignment")
			return
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.TrimSpace(k) {
		case "AUTO":
			if v != "true" {
				d.note(f.Name, n, line, "director always loads its services at start (AUTO=%q is not kept)", v)
			}
		case "DAEMON":
			switch v {
			case "none", "master", "backup":
				s.role = v
				s.src = src(f.Name, n)
			default:
				d.note(f.Name, n, line, "want none, master or backup")
			}
		case "IFACE":
			s.iface = v
		case "SYNCID":
			id, err := strconv.Atoi(v)
			if err != nil || id < 0 || id > 255 {
				d.note(f.Name, n, line, "want a sync id 0-255")
				return
			}
			s.syncID = id
		default:
			d.note(f.Name, n, line, "unknown setting of the ipvsadm init script")
		}
	})
	d.sync = s
}
