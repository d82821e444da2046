package config

// Random files: the parser never panics, and what it accepts keeps the
// rules.

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// FuzzConfig checks that no input panics, that problems come in line
// order, and that what is accepted is what the data plane can take.
func FuzzConfig(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "config", "full.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, file := range []string{"README.md", "docs/configuration.md", "docs/ha.md"} {
		for _, ex := range docExamples(f, filepath.Join("..", "..", file)) {
			f.Add([]byte(ex.text))
		}
	}
	f.Add([]byte(configHead + "services:\n  - &s {vip: 192.168.56.10, port: 80, <<: *s}\n"))
	f.Add([]byte(configHead + "services: &l\n  - {vip: 192.168.56.10, port: 80, real_servers: *l}\n"))
	f.Add([]byte(configHead + "services:\n  - &a {vip: 192.168.56.10, port: 80}\n  - {<<: [*a, *a], port: 81}\n"))
	f.Add([]byte(configService + "    health_check: {type: http, interval: 1s}\n    sorry_server: {address: 192.168.200.99}\n" +
		"    real_servers: [{address: 192.168.200.11, health_check: {type: command, command: [/bin/true]}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			for i, p := range ce.Problems {
				if p.Line < 1 || i > 0 && p.Line < ce.Problems[i-1].Line || p.File != "f.yaml" || p.Reason == "" {
					t.Fatalf("problems out of order or incomplete: %v", err)
				}
			}
			return
		}
		if !heartbeat.ValidNodeName(cfg.Node) || !configIfname(cfg.Public) || !configIfname(cfg.Internal) ||
			!filepath.IsAbs(cfg.ControlSocket) || cfg.FlowTableSize < 1024 || cfg.FlowTableSize > 64<<20 {
			t.Fatalf("accepted %+v", cfg)
		}
		for _, d := range []time.Duration{cfg.Timeouts.SYN, cfg.Timeouts.Established, cfg.Timeouts.FIN, cfg.Timeouts.UDP} {
			if d < time.Second || d > 576*time.Hour || d%time.Second != 0 {
				t.Fatalf("accepted timeouts %+v", cfg.Timeouts)
			}
		}
		services := map[model.ServiceKey]bool{}
		for _, s := range cfg.Services {
			if !s.VIP.Is4() || s.Port == 0 || (s.Proto != model.TCP && s.Proto != model.UDP) || (s.Scheduler != model.SchedRR && s.Scheduler != model.SchedWRR) || services[s.Key()] {
				t.Fatalf("accepted service %+v", s)
			}
			services[s.Key()] = true
			reals := map[model.RealKey]bool{}
			for _, r := range s.Reals {
				if !r.Addr.Is4() || r.Port == 0 || r.Weight > 65535 || reals[r.Key()] {
					t.Fatalf("accepted real server %+v of %s", r, s.Key())
				}
				reals[r.Key()] = true
			}
		}
		if msg := configHAInvalid(cfg); msg != "" {
			t.Fatalf("accepted ha section %+v: %s", cfg.HA, msg)
		}
		if msg := configHealthInvalid(cfg); msg != "" {
			t.Fatalf("accepted health checks: %s", msg)
		}
	})
}
