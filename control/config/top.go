package config

// The top level of the file and its small sections: node, interfaces,
// dataplane, tc_attach, ipvs, control_socket, flow_table, timeouts and
// metrics; services and ha have files of their own.

import (
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/director-lb/director/control/model"
)

// config checks the document's root.
func (p *parser) config(root *yaml.Node) *model.Config {
	cfg := &model.Config{Dataplane: configDefaultDataplane, TCAttach: configDefaultTCAttach, FlowTableSize: configDefaultFlowTable,
		Timeouts: model.DefaultTimeouts}
	root = configResolve(root)
	if configIsNull(root) {
		root = &yaml.Node{Kind: yaml.MappingNode, Line: 1}
	}
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "want a mapping at top level, got %s", configDescribe(root))
		return cfg
	}
	f := p.fields(root, "at top level", "node", "interfaces", "dataplane", "tc_attach", "ipvs", "control_socket", "flow_table",
		"timeouts", "services", "metrics", "ha")

	nodeOK := false
	if v, ok := f["node"]; ok {
		cfg.Node, nodeOK = p.nodeName(v.value, "node")
	} else {
		p.add(1, `missing key "node"`)
	}

	if v, ok := f["interfaces"]; ok {
		p.interfaces(cfg, v)
	} else {
		p.add(1, `missing key "interfaces"`)
	}

	if v, ok := f["dataplane"]; ok {
		if s, ok := p.choice(v.value, "dataplane", "auto, xdp, xdp-generic, tc or ipvs",
			[]string{"auto", "xdp", "xdp-generic", "tc", "ipvs"}, nil, ""); ok {
			cfg.Dataplane = s
		}
	}
	if v, ok := f["tc_attach"]; ok {
		if s, ok := p.choice(v.value, "tc_attach", "auto, tcx or clsact", []string{"auto", "tcx", "clsact"}, nil, ""); ok {
			cfg.TCAttach = s
		}
	}
	p.dataplane = cfg.Dataplane
	cfg.IPVS.SyncInterface = cfg.Internal
	if v, ok := f["ipvs"]; ok {
		p.ipvs(cfg, v)
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
		cfg.ControlSocket = filepath.Join(model.DefaultSocketDir, cfg.Node+".sock")
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
		cfg.Services, cfg.Health = p.services(v.value)
	}

	if v, ok := f["metrics"]; ok {
		if m, ok := p.mapping(v.value, "metrics", v.key.Line); ok {
			mf := p.fields(m, "in metrics", "listen")
			if v, ok := mf["listen"]; ok {
				const want = "host:port, IP:port or :port (port 1-65535)"
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

	if v, ok := f["ha"]; ok {
		node := ""
		if nodeOK {
			node = cfg.Node
		}
		cfg.HA = p.ha(v, node)
	}
	return cfg
}

// interfaces checks the interfaces section, whose key is field.key.
func (p *parser) interfaces(cfg *model.Config, field configField) {
	m, ok := p.mapping(field.value, "interfaces", field.key.Line)
	if !ok {
		return
	}
	f := p.fields(m, "in interfaces", "public", "internal")
	for _, role := range []struct {
		key string
		to  *string
	}{{"public", &cfg.Public}, {"internal", &cfg.Internal}} {
		v, ok := f[role.key]
		if !ok {
			p.add(field.key.Line, "interfaces: missing key %q", role.key)
			continue
		}
		if s, ok := p.ifname(v.value, "interfaces."+role.key); ok {
			*role.to = s
		}
	}
}

// ipvs checks the ipvs section, whose key is field.key; cfg.Internal is
// the sync interface's default.
func (p *parser) ipvs(cfg *model.Config, field configField) {
	m, ok := p.mapping(field.value, "ipvs", field.key.Line)
	if !ok {
		return
	}
	if p.dataplane != "ipvs" && p.dataplane != "auto" {
		p.add(field.key.Line, "ipvs: only for dataplane ipvs or auto, got dataplane %s", p.dataplane)
	}
	f := p.fields(m, "in ipvs", "sync_interface", "sync_id", "conntrack")
	if v, ok := f["sync_interface"]; ok {
		if s, ok := p.ifname(v.value, "ipvs.sync_interface"); ok {
			cfg.IPVS.SyncInterface = s
		}
	}
	if v, ok := f["sync_id"]; ok {
		if n, ok := p.integer(v.value, "ipvs.sync_id", 0, 255); ok {
			cfg.IPVS.SyncID = uint8(n)
		}
	}
	if v, ok := f["conntrack"]; ok {
		b := configResolve(v.value)
		if b.Kind != yaml.ScalarNode || b.ShortTag() != "!!bool" || b.Decode(&cfg.IPVS.Conntrack) != nil {
			p.add(b.Line, "ipvs.conntrack: want true or false, got %s", configDescribe(b))
		}
	}
}
