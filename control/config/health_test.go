package config

// health_check and sorry_server: the effective checks, their problems,
// and comparing checks.

import (
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
)

// configService is configHead and the first lines of a service (lines
// 3-5), to which cases add the service's keys from line 6.
const configService = configHead + "services:\n  - vip: 192.168.56.10\n    port: 80\n"

// TestConfigHealth covers the health checks of valid files: defaults,
// a real server's keys replacing the service's, type none, sorry servers.
func TestConfigHealth(t *testing.T) {
	a11, a12, a13 := netip.MustParseAddr("192.168.200.11"), netip.MustParseAddr("192.168.200.12"), netip.MustParseAddr("192.168.200.13")
	a14, a15, a16 := netip.MustParseAddr("192.168.200.14"), netip.MustParseAddr("192.168.200.15"), netip.MustParseAddr("192.168.200.16")
	none := model.HealthCheck{Type: "none"}
	def := configDefaultTCPCheck
	with := func(c model.HealthCheck, edit func(*model.HealthCheck)) model.HealthCheck { edit(&c); return c }
	for _, c := range []struct {
		name, yaml string
		want       []model.ServiceHealth
	}{
		{"defaults: tcp checked, udp not", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    real_servers: [{address: 192.168.200.11}, {address: 192.168.200.12, port: 8080}]
  - vip: 192.168.56.10
    port: 53
    protocol: udp
    real_servers: [{address: 192.168.200.11}]
  - vip: 192.168.56.11
    port: 80
    health_check:
`, []model.ServiceHealth{
			{Default: def, PerReal: map[model.RealKey]model.HealthCheck{{Addr: a11, Port: 80}: def, {Addr: a12, Port: 8080}: def}},
			{Default: none, PerReal: map[model.RealKey]model.HealthCheck{{Addr: a11, Port: 53}: none}},
			{Default: def, PerReal: map[model.RealKey]model.HealthCheck{}},
		}},
		{"a real server's keys replace the service's one by one", configService + `    health_check:
      type: http
      interval: 1s
      path: /health
      expect_body: ok
      host: www.example.com:8080
    real_servers:
      - {address: 192.168.200.11}
      - {address: 192.168.200.12, health_check: {port: 8080, path: /a, rise: 5, on_failure: remove}}
      - {address: 192.168.200.13, health_check: {type: tcp}}
      - {address: 192.168.200.14, health_check: {type: https, expect_status: 301, expect_body: ""}}
      - {address: 192.168.200.15, health_check: {type: none}}
      - {address: 192.168.200.16, health_check: {interval: 300ms}}
`, func() []model.ServiceHealth {
			web := model.HealthCheck{Type: "http", Interval: time.Second, Timeout: time.Second, Rise: 2, Fall: 3, Path: "/health",
				ExpectStatus: 200, ExpectBody: "ok", Host: "www.example.com:8080", OnFailure: "quiesce"}
			return []model.ServiceHealth{{Default: web, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: web,
				{Addr: a12, Port: 80}: with(web, func(c *model.HealthCheck) { c.Port, c.Path, c.Rise, c.OnFailure = 8080, "/a", 5, "remove" }),
				{Addr: a13, Port: 80}: {Type: "tcp", Interval: time.Second, Timeout: time.Second, Rise: 2, Fall: 3, OnFailure: "quiesce"},
				{Addr: a14, Port: 80}: with(web, func(c *model.HealthCheck) { c.Type, c.ExpectStatus, c.ExpectBody = "https", 301, "" }),
				{Addr: a15, Port: 80}: none,
				// The timeout, not written, is the interval if shorter than 1s.
				{Addr: a16, Port: 80}: with(web, func(c *model.HealthCheck) { c.Interval, c.Timeout = 300*time.Millisecond, 300*time.Millisecond }),
			}}}
		}()},
		{"the service's timeout and interval are kept", configService + `    health_check: {timeout: 200ms, interval: 0.5}
    real_servers:
      - {address: 192.168.200.11, health_check: {interval: 300ms}}
      - {address: 192.168.200.12, health_check: {timeout: 500ms, fall: 1}}
`, func() []model.ServiceHealth {
			svc := with(def, func(c *model.HealthCheck) { c.Interval, c.Timeout = 500*time.Millisecond, 200*time.Millisecond })
			return []model.ServiceHealth{{Default: svc, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: with(svc, func(c *model.HealthCheck) { c.Interval = 300 * time.Millisecond }),
				{Addr: a12, Port: 80}: with(svc, func(c *model.HealthCheck) { c.Timeout, c.Fall = 500*time.Millisecond, 1 }),
			}}}
		}()},
		{"type none, and a real server checked all the same", configService + `    health_check: {type: none}
    real_servers:
      - {address: 192.168.200.11}
      - {address: 192.168.200.12, health_check: {type: tcp, port: 22}}
`, []model.ServiceHealth{{Default: none, PerReal: map[model.RealKey]model.HealthCheck{
			{Addr: a11, Port: 80}: none,
			{Addr: a12, Port: 80}: with(def, func(c *model.HealthCheck) { c.Port = 22 }),
		}}}},
		{"udp: a command check", configHead + `services:
  - vip: 192.168.56.10
    port: 53
    protocol: udp
    real_servers:
      - {address: 192.168.200.11}
      - address: 192.168.200.12
        health_check: {type: command, command: [/usr/lib/nagios/check_dns, -H, "{address}:{port}"]}
`, []model.ServiceHealth{{Default: none, PerReal: map[model.RealKey]model.HealthCheck{
			{Addr: a11, Port: 53}: none,
			{Addr: a12, Port: 53}: {Type: "command", Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
				Command: model.NewArgv("/usr/lib/nagios/check_dns", "-H", "{address}:{port}"), OnFailure: "quiesce"},
		}}}},
		{"a command check turned http drops the command", configService + `    health_check: {type: command, command: [/bin/check], port: 81}
    real_servers:
      - {address: 192.168.200.11, health_check: {type: http}}
`, func() []model.ServiceHealth {
			cmd := with(def, func(c *model.HealthCheck) { c.Type, c.Command, c.Port = "command", model.NewArgv("/bin/check"), 81 })
			return []model.ServiceHealth{{Default: cmd, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: with(def, func(c *model.HealthCheck) { c.Type, c.Port, c.Path, c.ExpectStatus = "http", 81, "/", 200 }),
			}}}
		}()},
		{"sorry servers", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    sorry_server: {address: 192.168.200.99}
  - vip: 192.168.56.10
    port: 443
    sorry_server:
      address: 192.168.200.99
      port: 8443
    real_servers: [{address: 192.168.200.99}]
`, []model.ServiceHealth{
			{Default: def, PerReal: map[model.RealKey]model.HealthCheck{},
				Sorry: &model.RealServer{Addr: netip.MustParseAddr("192.168.200.99"), Port: 80, Weight: 1}},
			{Default: def, PerReal: map[model.RealKey]model.HealthCheck{{Addr: netip.MustParseAddr("192.168.200.99"), Port: 443}: def},
				Sorry: &model.RealServer{Addr: netip.MustParseAddr("192.168.200.99"), Port: 8443, Weight: 1}},
		}},
		{"limits", configService + `    health_check: {interval: 50ms, timeout: 10ms, rise: 100, fall: 1, port: 65535, on_failure: quiesce}
    real_servers:
      - {address: 192.168.200.11, health_check: {interval: 1h, timeout: 1h, type: http, expect_status: 599}}
      - {address: 192.168.200.12, health_check: {type: https, expect_status: 100, path: "/a/b?c=d&e"}}
`, func() []model.ServiceHealth {
			svc := model.HealthCheck{Type: "tcp", Interval: 50 * time.Millisecond, Timeout: 10 * time.Millisecond, Rise: 100, Fall: 1,
				Port: 65535, OnFailure: "quiesce"}
			return []model.ServiceHealth{{Default: svc, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: with(svc, func(c *model.HealthCheck) {
					c.Interval, c.Timeout, c.Type, c.ExpectStatus, c.Path = time.Hour, time.Hour, "http", 599, "/"
				}),
				{Addr: a12, Port: 80}: with(svc, func(c *model.HealthCheck) { c.Type, c.ExpectStatus, c.Path = "https", 100, "/a/b?c=d&e" }),
			}}}
		}()},
		{"aliases and merge keys", configService + `    health_check: &hc {type: http, path: /x, host: "[2001:db8::1]:8080"}
    real_servers:
      - {address: 192.168.200.11, health_check: {<<: *hc, path: /y}}
      - {address: 192.168.200.12, health_check: *hc}
`, func() []model.ServiceHealth {
			svc := with(def, func(c *model.HealthCheck) {
				c.Type, c.Path, c.ExpectStatus, c.Host = "http", "/x", 200, "[2001:db8::1]:8080"
			})
			return []model.ServiceHealth{{Default: svc, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: with(svc, func(c *model.HealthCheck) { c.Path = "/y" }),
				{Addr: a12, Port: 80}: svc,
			}}}
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("good.yaml", []byte(c.yaml))
			if err != nil {
				t.Fatalf("%v\nin\n%s", err, configNumbered(c.yaml))
			}
			if len(cfg.Health) != len(cfg.Services) {
				t.Fatalf("%d services, %d healths", len(cfg.Services), len(cfg.Health))
			}
			if !reflect.DeepEqual(cfg.Health, c.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", configHealthString(cfg.Health), configHealthString(c.want))
			}
			if msg := configHealthInvalid(cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// configHealthString formats health for test failures, PerReal in order.
func configHealthString(health []model.ServiceHealth) string {
	var b strings.Builder
	for i, h := range health {
		fmt.Fprintf(&b, "[%d] default %+v sorry %v\n", i, h.Default, h.Sorry)
		keys := slices.SortedFunc(maps.Keys(h.PerReal), func(a, b model.RealKey) int {
			return strings.Compare(netip.AddrPortFrom(a.Addr, a.Port).String(), netip.AddrPortFrom(b.Addr, b.Port).String())
		})
		for _, k := range keys {
			fmt.Fprintf(&b, "\t\t%s %+v\n", netip.AddrPortFrom(k.Addr, k.Port), h.PerReal[k])
		}
	}
	return b.String()
}

func TestConfigHealthProblems(t *testing.T) {
	const duration = `want a duration ("100ms", "1s", "2m") or a number of seconds, got `
	const udp = configHead + "services:\n  - vip: 192.168.56.10\n    port: 53\n    protocol: udp\n" // keys from line 7
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown and duplicate keys", configService + `    health_check:
      type: tcp
      intervall: 2s
      type: http
    sorry_server: {address: 192.168.200.99, weight: 1}
`, []string{
			`8: unknown key "intervall" in health_check`,
			`9: duplicate key "type" (first at line 7)`,
			`10: unknown key "weight" in sorry_server`,
		}},
		{"types and ranges", configService + `    health_check:
      type: ping
      interval: fast
      timeout: [1s]
      rise: 0
      fall: 101
      port: 70000
      on_failure: drop
      expect_status: ok
`, []string{
			`7: health_check.type: want tcp, http, https, command or none, got "ping"`,
			`8: health_check.interval: ` + duration + `"fast"`,
			`9: health_check.timeout: ` + duration + `a list`,
			`10: health_check.rise: 0 is outside 1..100`,
			`11: health_check.fall: 101 is outside 1..100`,
			`12: health_check.port: 70000 is outside 1..65535`,
			`13: health_check.on_failure: want quiesce or remove, got "drop"`,
			`14: health_check.expect_status: want an integer 100-599, got "ok"`,
		}},
		{"durations out of range", configService + `    health_check: {interval: 10ms}
    real_servers:
      - {address: 192.168.200.11, health_check: {interval: 2h, timeout: 2h}}
      - {address: 192.168.200.12, health_check: {timeout: 5ms}}
      - {address: 192.168.200.13, health_check: {timeout: -1}}
`, []string{
			`6: health_check.interval: 10ms is outside 50ms..1h`,
			`8: health_check.interval: 2h is outside 50ms..1h`,
			`8: health_check.timeout: 2h is outside 10ms..1h`,
			`9: health_check.timeout: 5ms is outside 10ms..1h`,
			`10: health_check.timeout: -1s is outside 10ms..1h`,
		}},
		{"http keys", configService + `    health_check:
      type: http
      path: health
      expect_status: 700
      expect_body: ~
      host: "www example com"
    real_servers:
      - {address: 192.168.200.11, health_check: {path: "/a b", host: "a/b"}}
      - {address: 192.168.200.12, health_check: {path: [/], expect_status: 99}}
`, []string{
			`8: health_check.path: want a path starting with "/" ("/health"), got "health"`,
			`9: health_check.expect_status: 700 is outside 100..599`,
			`10: health_check.expect_body: want a string, got nothing`,
			`11: health_check.host: want a host name or address, with an optional port ("www.example.com"), got "www example com"`,
			`13: health_check.path: want a path starting with "/" ("/health"), got "/a b"`,
			`13: health_check.host: want a host name or address, with an optional port ("www.example.com"), got "a/b"`,
			`14: health_check.path: want a path starting with "/" ("/health"), got a list`,
			`14: health_check.expect_status: 99 is outside 100..599`,
		}},
		{"keys of another type", configService + `    health_check:
      path: /health
      expect_status: 200
      expect_body: ok
      host: www.example.com
      command: [/bin/true]
    real_servers:
      - {address: 192.168.200.11, health_check: {type: none, interval: 1s, rise: 1, fall: 1, port: 81, timeout: 1s}}
      - {address: 192.168.200.12, health_check: {type: none, on_failure: remove, path: /}}
      - {address: 192.168.200.13, health_check: {type: http, command: [/bin/true]}}
`, []string{
			`7: health_check.path: only for type http or https`,
			`8: health_check.expect_status: only for type http or https`,
			`9: health_check.expect_body: only for type http or https`,
			`10: health_check.host: only for type http or https`,
			`11: health_check.command: only for type command`,
			`13: health_check.interval: only for type tcp, http, https or command`,
			`13: health_check.timeout: only for type tcp, http, https or command`,
			`13: health_check.rise: only for type tcp, http, https or command`,
			`13: health_check.fall: only for type tcp, http, https or command`,
			`13: health_check.port: only for type tcp, http, https or command`,
			`14: health_check.path: only for type http or https`,
			`14: health_check.on_failure: only for type tcp, http, https or command`,
			`15: health_check.command: only for type command`,
		}},
		{"commands", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    health_check: {type: command}
    real_servers:
      - {address: 192.168.200.11, health_check: {command: "/bin/check {address}"}}
      - {address: 192.168.200.12, health_check: {command: []}}
      - {address: 192.168.200.13, health_check: {command: [check, "{address}"]}}
      - address: 192.168.200.14
        health_check:
          command:
            - /bin/check
            - [x]
            - ~
  - vip: 192.168.56.10
    port: 81
    health_check: {type: http}
    real_servers:
      - {address: 192.168.200.11, health_check: {type: command, port: 80}}
      - {address: 192.168.200.12, health_check: {type: command, command: /bin/true}}
`, []string{
			`6: health_check: missing key "command" (type command)`,
			`8: health_check.command: want a list of strings (the program's absolute path, then its arguments), got "/bin/check {address}"`,
			`9: health_check.command: want at least the program's path`,
			`10: health_check.command: want an absolute path first, got "check"`,
			`15: health_check.command: want a string, got a list`,
			`16: health_check.command: want a string, got nothing`,
			`21: health_check: missing key "command" (type command)`,
			`22: health_check.command: want a list of strings (the program's absolute path, then its arguments), got "/bin/true"`,
		}},
		{"udp: no type, no check", udp + `    health_check: {interval: 1s, path: /}
    real_servers:
      - {address: 192.168.200.11, health_check: {rise: 1}}
      - {address: 192.168.200.12, health_check: {type: tcp, rise: 1}}
      - {address: 192.168.200.13, health_check: {}}
`, []string{
			`7: health_check: missing key "type" (a udp service has no default check)`,
			`9: health_check: missing key "type" (a udp service has no default check)`,
		}},
		{"timeout at most interval", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    health_check: {timeout: 3s}
  - vip: 192.168.56.10
    port: 81
    health_check: {interval: 1s, timeout: 1500ms}
  - vip: 192.168.56.10
    port: 82
    health_check:
      timeout: 2s
      interval: 1
  - vip: 192.168.56.10
    port: 83
    health_check: {timeout: 1s, interval: 2s}
    real_servers:
      - {address: 192.168.200.11, health_check: {interval: 500ms}}
      - {address: 192.168.200.12, health_check: {timeout: 2s}}
      - {address: 192.168.200.13, health_check: {timeout: 3s, interval: 2500ms}}
  - vip: 192.168.56.10
    port: 84
    real_servers:
      - {address: 192.168.200.11, health_check: {timeout: 2.5}}
      - {address: 192.168.200.12, health_check: {interval: 100ms}}
`, []string{
			`6: health_check.timeout: 3s must be at most health_check.interval (2s, the default)`,
			`9: health_check.timeout: 1500ms must be at most health_check.interval (1s)`,
			`14: health_check.interval: 1s must be at least health_check.timeout (2s)`,
			`19: health_check.interval: 500ms must be at least health_check.timeout (1s, the service's)`,
			`21: health_check.interval: 2500ms must be at least health_check.timeout (3s)`,
			`25: health_check.timeout: 2.5s must be at most health_check.interval (2s, the default)`,
		}},
		{"not mappings", configService + `    health_check: tcp
    sorry_server: 192.168.200.99:80
    real_servers:
      - {address: 192.168.200.11, health_check: [http]}
      - {address: 192.168.200.12, health_check: {path: /}}
`, []string{
			`6: health_check: want a mapping, got "tcp"`,
			`7: sorry_server: want a mapping, got "192.168.200.99:80"`,
			`9: health_check: want a mapping, got a list`,
		}},
		{"an invalid type: values checked, not the type's rules", configService + `    health_check: {type: HTTP, path: /, command: [x]}
    real_servers:
      - {address: 192.168.200.11, health_check: {expect_status: 200}}
      - {address: 192.168.200.12, health_check: {type: tcp, path: /}}
`, []string{
			`6: health_check.type: want tcp, http, https, command or none, got "HTTP"`,
			`6: health_check.command: want an absolute path first, got "x"`,
			`9: health_check.path: only for type http or https`,
		}},
		{"a NUL byte in a command", configService + `    health_check:
      type: command
      command:
        - /bin/check
        - "a\0b"
`, []string{
			`10: health_check.command: want a string without NUL bytes, got "a\x00b"`,
		}},
		{"sorry servers", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    sorry_server: {port: 8080}
  - vip: 192.168.56.10
    port: 81
    sorry_server: {address: 127.0.0.1, port: 0}
  - vip: 192.168.56.10
    port: 82
    sorry_server:
    real_servers: [{address: 192.168.200.11}]
  - vip: 192.168.56.10
    port: 83
    sorry_server: {address: 192.168.200.11}
    real_servers:
      - {address: 192.168.200.11, port: 8080}
      - {address: 192.168.200.11}
`, []string{
			`6: sorry_server: missing key "address"`,
			`9: sorry_server.address: loopback address "127.0.0.1" is not allowed`,
			`9: sorry_server.port: 0 is outside 1..65535`,
			`12: sorry_server: missing key "address"`,
			`16: sorry_server: 192.168.200.11:83 is also a real server of the service (line 19)`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) { configWantProblems(t, c.yaml, c.want) })
	}
}

func TestConfigHealthCheckEqual(t *testing.T) {
	a := model.HealthCheck{Type: "command", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Command: model.NewArgv("/bin/true", "x")}
	b := a
	b.Command = model.NewArgv(a.Command.Args()...)
	if a != b {
		t.Errorf("%+v != a copy", a)
	}
	for _, edit := range []func(*model.HealthCheck){
		func(c *model.HealthCheck) { c.Type = "tcp" },
		func(c *model.HealthCheck) { c.Interval++ },
		func(c *model.HealthCheck) { c.Timeout++ },
		func(c *model.HealthCheck) { c.Rise++ },
		func(c *model.HealthCheck) { c.Fall++ },
		func(c *model.HealthCheck) { c.Port++ },
		func(c *model.HealthCheck) { c.Path = "/" },
		func(c *model.HealthCheck) { c.ExpectStatus++ },
		func(c *model.HealthCheck) { c.ExpectBody = "ok" },
		func(c *model.HealthCheck) { c.Host = "h" },
		func(c *model.HealthCheck) { c.Command = model.NewArgv("/bin/true", "y") },
		func(c *model.HealthCheck) { c.Command = model.NewArgv(c.Command.Args()[:1]...) },
		func(c *model.HealthCheck) { c.Command = model.NewArgv("/bin/true x") },
		func(c *model.HealthCheck) { c.OnFailure = "remove" },
	} {
		c := a
		edit(&c)
		if a == c {
			t.Errorf("%+v == %+v", a, c)
		}
	}
	if got := model.NewArgv("/bin/true", "", "x").Args(); !slices.Equal(got, []string{"/bin/true", "", "x"}) {
		t.Errorf("Args() = %q", got)
	}
}

// configHealthInvalid says what of an accepted configuration's health
// checks breaks the rules, or is "".
func configHealthInvalid(cfg *model.Config) string {
	if len(cfg.Health) != len(cfg.Services) {
		return "not a health per service"
	}
	valid := func(c model.HealthCheck) bool {
		if c.Type == "none" {
			return c == model.HealthCheck{Type: "none"}
		}
		web := c.Type == "http" || c.Type == "https"
		return slices.Contains([]string{"tcp", "http", "https", "command"}, c.Type) &&
			c.Interval >= 50*time.Millisecond && c.Interval <= time.Hour && c.Timeout >= 10*time.Millisecond && c.Timeout <= c.Interval &&
			c.Rise >= 1 && c.Rise <= 100 && c.Fall >= 1 && c.Fall <= 100 && (c.OnFailure == "quiesce" || c.OnFailure == "remove") &&
			web == strings.HasPrefix(c.Path, "/") && web == (c.ExpectStatus >= 100 && c.ExpectStatus <= 599) &&
			(web || c.ExpectBody == "" && c.Host == "") &&
			(c.Type == "command") == (c.Command != "" && filepath.IsAbs(c.Command.Args()[0]))
	}
	for i, h := range cfg.Health {
		s := cfg.Services[i]
		if !valid(h.Default) {
			return fmt.Sprintf("check of %s: %+v", s.Key(), h.Default)
		}
		if s.Proto == model.UDP && h.Default.Type != "none" && h.Default.Type == "tcp" && h.Default == configDefaultTCPCheck {
			return fmt.Sprintf("udp %s checked by default", s.Key())
		}
		for _, r := range s.Reals {
			c, ok := h.PerReal[r.Key()]
			if !ok || !valid(c) {
				return fmt.Sprintf("check of %s %s: %+v", s.Key(), netip.AddrPortFrom(r.Addr, r.Port), c)
			}
		}
		if len(h.PerReal) > len(s.Reals) {
			return fmt.Sprintf("checks of real servers %s does not have", s.Key())
		}
		if r := h.Sorry; r != nil {
			_, real := h.PerReal[r.Key()]
			if !r.Addr.Is4() || r.Port == 0 || r.Weight != 1 || real {
				return fmt.Sprintf("sorry server of %s: %+v", s.Key(), *r)
			}
		}
	}
	return ""
}
