package config

// The services list: services, their real servers and sorry server.

import (
	"net/netip"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/director-lb/director/control/model"
)

// services checks the services list. It returns the services and their
// health checking, index for index.
func (p *parser) services(v *yaml.Node) ([]model.Service, []model.ServiceHealth) {
	items, ok := p.list(v, "services")
	if !ok {
		return nil, nil
	}
	var out []model.Service
	var health []model.ServiceHealth
	first := map[model.ServiceKey]int{}
	for _, item := range items {
		s, h, ok := p.service(item)
		if !ok {
			continue
		}
		if line, dup := first[s.Key()]; dup {
			p.add(item.Line, "duplicate service %s (first at line %d)", s.Key(), line)
		} else {
			first[s.Key()] = item.Line
		}
		out = append(out, s)
		health = append(health, h)
	}
	return out, health
}

// service checks one item of the services list, and returns it with its
// health checking. It returns false if the service's key (vip, port,
// protocol) is not valid; other problems are reported but leave it
// comparable with the others.
func (p *parser) service(item *yaml.Node) (model.Service, model.ServiceHealth, bool) {
	line := item.Line // the item's, even when it is an alias
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "service: want a mapping, got %s", configDescribe(m))
		return model.Service{}, model.ServiceHealth{}, false
	}
	f := p.fields(m, "in service", "vip", "port", "protocol", "scheduler", "scheduler_flags", "mh_table_size", "persistence", "health_check", "sorry_server", "real_servers")
	s := model.Service{Proto: model.TCP, Scheduler: model.SchedWRR}
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
		// The names are model.Protos' own, so the one chosen is found.
		names := make([]string, len(model.Protos))
		for i, pr := range model.Protos {
			names[i] = pr.String()
		}
		proto, ok := p.choice(v.value, "protocol", model.JoinNames(names, "or"), names,
			configIPVSProtocols, "protocol %q is not implemented ("+strings.Join(names, ", ")+")")
		if ok {
			s.Proto = model.Protos[slices.Index(names, proto)]
		}
		keyOK = keyOK && ok
	}
	if v, ok := f["scheduler"]; ok {
		if sched, ok := p.scheduler(v.value); ok {
			s.Scheduler = sched
		}
	}
	if v, ok := f["scheduler_flags"]; ok {
		s.SchedFlags = p.schedFlags(v, s.Scheduler)
	}
	if v, ok := f["mh_table_size"]; ok {
		s.MHTableSize = p.mhTableSize(v, s.Scheduler)
	}
	if v, ok := f["persistence"]; ok {
		p.persistence(v, &s.Persistence)
	}
	health := configHealthDefault(s.Proto)
	if v, ok := f["health_check"]; ok {
		health = p.health(v, health)
	}
	sh := model.ServiceHealth{Default: health.check, PerReal: map[model.RealKey]model.HealthCheck{}}
	first := map[model.RealKey]int{}
	if v, ok := f["real_servers"]; ok {
		items, _ := p.list(v.value, "real_servers")
		for _, item := range items {
			if p.reals++; p.reals > configMaxReals {
				if p.reals == configMaxReals+1 {
					p.add(item.Line, "more than %d real servers in all", configMaxReals)
				}
				break
			}
			r, check, ok := p.real(item, s.Port, health)
			if !ok {
				continue
			}
			k := r.Key()
			if at, dup := first[k]; dup && keyOK {
				p.add(item.Line, "duplicate real server %s in service %s (first at line %d)",
					netip.AddrPortFrom(r.Addr, r.Port), s.Key(), at)
			} else if !dup {
				first[k] = item.Line
				sh.PerReal[k] = check
			}
			s.Reals = append(s.Reals, r)
		}
	}
	if v, ok := f["sorry_server"]; ok {
		sh.Sorry = p.sorry(v, s.Port, first)
	}
	return s, sh, keyOK
}

// scheduler checks a service's scheduler against the registry
// (model.Schedulers): any name with dataplane ipvs, else only those the
// BPF data planes run; the others need dataplane: ipvs.
func (p *parser) scheduler(v *yaml.Node) (string, bool) {
	all := model.SchedulerNames(false)
	if p.dataplane == "ipvs" {
		return p.choice(v, "scheduler", model.JoinNames(all, "or"), all, nil, "")
	}
	bpf := model.SchedulerNames(true)
	ipvsOnly := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return slices.Contains(bpf, n) })
	return p.choice(v, "scheduler", model.JoinNames(bpf, "or"), bpf, ipvsOnly,
		"scheduler %q needs dataplane: ipvs (the BPF data planes implement "+model.JoinNames(bpf, "and")+")")
}

// real checks one item of a real_servers list; port is the service's (0
// if invalid), health its health check. It returns the server and its
// effective check, or false if the server's address or port is not valid.
func (p *parser) real(item *yaml.Node, port uint16, health *configHealth) (model.RealServer, model.HealthCheck, bool) {
	line := item.Line
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "real server: want a mapping, got %s", configDescribe(m))
		return model.RealServer{}, model.HealthCheck{}, false
	}
	f := p.fields(m, "in real server", "address", "port", "weight", "upper_threshold", "lower_threshold", "health_check")
	r := model.RealServer{Port: port, Weight: 1}
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
	upper, upperOK := f["upper_threshold"]
	if upperOK {
		n, ok := p.integer(upper.value, "upper_threshold", 0, configMaxThreshold)
		r.UpperThreshold, upperOK = uint32(n), ok
	}
	if v, ok := f["lower_threshold"]; ok {
		if n, ok := p.integer(v.value, "lower_threshold", 0, configMaxThreshold); ok {
			r.LowerThreshold = uint32(n)
			if upperOK && r.UpperThreshold > 0 && r.LowerThreshold >= r.UpperThreshold {
				p.add(v.key.Line, "lower_threshold: %d must be below upper_threshold (%d)", r.LowerThreshold, r.UpperThreshold)
			}
		}
	}
	check := health.check
	if v, ok := f["health_check"]; ok {
		check = p.health(v, health).check
	}
	return r, check, addrOK && portOK
}

// schedFlags checks scheduler_flags, a list of IPVS's scheduler flag names
// (ipvsadm -b), each belonging to the service's scheduler sched. It
// returns them comma-separated in the order written, duplicates dropped.
func (p *parser) schedFlags(field configField, sched string) string {
	items, ok := p.list(field.value, "scheduler_flags")
	if !ok {
		return ""
	}
	all := model.SchedFlagNames()
	var out []string
	for _, item := range items {
		name, ok := p.choice(item, "scheduler_flags", model.JoinNames(all, "or"), all, nil, "")
		if !ok || slices.Contains(out, name) {
			continue
		}
		if owner := model.SchedFlagOwner(name); owner != sched {
			p.add(configResolve(item).Line, "scheduler_flags: %s is only for scheduler %s, got scheduler %s", name, owner, sched)
			continue
		}
		out = append(out, name)
	}
	return strings.Join(out, ",")
}

// mhTableSize checks mh_table_size, the size of scheduler mh's Maglev
// table: one of IPVS's primes (model.MHTableSizes), only with scheduler
// mh (sched), and with dataplane ipvs only the kernel's default (the
// kernel's size is its compile option). It returns 0 (the default, see
// model.Service.MHSize) for the default size or when refused.
func (p *parser) mhTableSize(field configField, sched string) int {
	lo, hi := model.MHTableSizes[0], model.MHTableSizes[len(model.MHTableSizes)-1]
	n, ok := p.integer(field.value, "mh_table_size", int64(lo), int64(hi))
	line := configResolve(field.value).Line
	switch {
	case !ok:
		return 0
	case sched != model.SchedMH:
		p.add(field.key.Line, "mh_table_size: only for scheduler %s, got scheduler %s", model.SchedMH, sched)
		return 0
	}
	size := int(n)
	if _, ok := model.MHTabIndex(size); !ok {
		p.add(line, "mh_table_size: %d is not one of IPVS's table sizes (%s)", size, model.MHTableSizeList())
		return 0
	}
	if p.dataplane == "ipvs" && size != model.MHTableSize {
		p.add(line, "mh_table_size: %d needs dataplane xdp, xdp-generic, tc or auto: kernel IPVS's table size is its "+
			"compile option CONFIG_IP_VS_MH_TAB_INDEX (%d by default, index 12)", size, model.MHTableSize)
		return 0
	}
	if size == model.MHTableSize {
		return 0
	}
	return size
}

// persistence checks the persistence mapping (ipvsadm -p/-M): timeout (a
// timeout, 300s when only netmask is written) and netmask (a contiguous
// IPv4 netmask, 255.255.255.255 by default).
func (p *parser) persistence(field configField, out *model.Persistence) {
	m, ok := p.mapping(field.value, "persistence", field.key.Line)
	if !ok {
		return
	}
	f := p.fields(m, "in persistence", "timeout", "netmask")
	out.Timeout = model.DefaultPersistenceTimeout
	out.Netmask = model.HostNetmask
	if v, ok := f["timeout"]; ok {
		if d, ok := p.timeout(v.value, "persistence.timeout"); ok {
			out.Timeout = d
		}
	}
	if v, ok := f["netmask"]; ok {
		s, line, ok := p.scalar(v.value, "persistence.netmask", configWantNetmask)
		if !ok {
			return
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() || !configNetmask(a) {
			p.add(line, "persistence.netmask: want %s, got %q", configWantNetmask, s)
			return
		}
		out.Netmask = a
	}
}

// configWantNetmask describes a persistence netmask.
const configWantNetmask = `an IPv4 netmask ("255.255.255.0")`

// configNetmask says whether a is a contiguous netmask: ones, then zeros,
// at least one leading one.
func configNetmask(a netip.Addr) bool {
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return m != 0 && (^m)&(^m+1) == 0
}

// sorry checks sorry_server, whose key is field.key; port is the
// service's (0 if invalid), reals the lines of the service's valid real
// servers. It returns nil if the sorry server is not valid.
func (p *parser) sorry(field configField, port uint16, reals map[model.RealKey]int) *model.RealServer {
	line := field.key.Line
	m, ok := p.mapping(field.value, "sorry_server", line)
	if !ok {
		return nil
	}
	f := p.fields(m, "in sorry_server", "address", "port")
	r := model.RealServer{Port: port, Weight: 1}
	addrOK, portOK := false, port != 0
	if v, ok := f["address"]; ok {
		r.Addr, addrOK = p.ipv4(v.value, "sorry_server.address")
	} else {
		p.add(line, `sorry_server: missing key "address"`)
	}
	if v, ok := f["port"]; ok {
		var n int64
		n, portOK = p.integer(v.value, "sorry_server.port", 1, 65535)
		r.Port = uint16(n)
	}
	if !addrOK || !portOK {
		return nil
	}
	if at, ok := reals[r.Key()]; ok {
		p.add(line, "sorry_server: %s is also a real server of the service (line %d)", netip.AddrPortFrom(r.Addr, r.Port), at)
		return nil
	}
	return &r
}
