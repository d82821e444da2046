package config

// health_check, of a service or of a real server (whose keys replace the
// service's one by one), and its defaults.

import (
	"maps"
	"net/url"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/director-lb/director/control/model"
)

// configHealth is the health check of a service or a real server while it
// is checked: the effective check so far and where its keys come from.
type configHealth struct {
	check model.HealthCheck
	// set are the keys given a valid value, by this mapping or (in a real
	// server's) by the service's, with their key nodes; the other keys
	// have their defaults.
	set map[string]*yaml.Node
	// bad are the keys given an invalid value (or "type" for a
	// health_check that is not a mapping): rules involving them are not
	// checked.
	bad map[string]bool
	// text are the interval and timeout as written, when set.
	text map[string]string
}

// configHealthDefault returns the default check of a service of proto:
// tcp for TCP, none for UDP.
func configHealthDefault(proto model.Proto) *configHealth {
	h := &configHealth{check: model.HealthCheck{Type: "tcp"}, set: map[string]*yaml.Node{}, bad: map[string]bool{},
		text: map[string]string{}}
	if proto == model.UDP {
		h.check.Type = "none"
	}
	h.defaults()
	return h
}

func (h *configHealth) clone() *configHealth {
	c := &configHealth{check: h.check, set: maps.Clone(h.set), bad: maps.Clone(h.bad), text: maps.Clone(h.text)}
	return c
}

// defaults gives the keys not set their defaults, and zeroes those of
// other types.
func (h *configHealth) defaults() {
	c := &h.check
	if c.Type == "none" {
		*c = model.HealthCheck{Type: "none"}
		return
	}
	unset := func(k string) bool { _, ok := h.set[k]; return !ok }
	if unset("interval") {
		c.Interval = configDefaultHealthInterval
	}
	if unset("timeout") {
		c.Timeout = min(configDefaultHealthTimeout, c.Interval)
	}
	if unset("rise") {
		c.Rise = configDefaultHealthRise
	}
	if unset("fall") {
		c.Fall = configDefaultHealthFall
	}
	if unset("port") {
		c.Port = 0
	}
	if unset("on_failure") {
		c.OnFailure = configDefaultOnFailure
	}
	web := c.Type == "http" || c.Type == "https"
	if unset("path") || !web {
		c.Path = ""
		if web {
			c.Path = configDefaultHealthPath
		}
	}
	if unset("expect_status") || !web {
		c.ExpectStatus = 0
		if web {
			c.ExpectStatus = configDefaultExpectStatus
		}
	}
	if unset("expect_body") || !web {
		c.ExpectBody = ""
	}
	if unset("host") || !web {
		c.Host = ""
	}
	if unset("command") || c.Type != "command" {
		c.Command = ""
	}
}

// configHealthFor says whether health_check key k belongs to type t.
func configHealthFor(k, t string) bool {
	switch k {
	case "type":
		return true
	case "path", "expect_status", "expect_body", "host":
		return t == "http" || t == "https"
	case "command":
		return t == "command"
	}
	return t != "none"
}

// configHealthOnly names the types health_check key k belongs to.
func configHealthOnly(k string) string {
	switch k {
	case "path", "expect_status", "expect_body", "host":
		return "http or https"
	case "command":
		return "command"
	}
	return "tcp, http, https or command"
}

// health checks health_check, field, of a service (base: the default of
// its protocol) or of a real server (base: its service's check), and
// returns the effective check: base's keys replaced by those written, one
// by one.
func (p *parser) health(field configField, base *configHealth) *configHealth {
	h := base.clone()
	line := field.key.Line
	m, ok := p.mapping(field.value, "health_check", line)
	if !ok {
		h.bad["type"] = true
		return h
	}
	f := p.fields(m, "in health_check", configHealthKeyNames...)
	if v, ok := f["type"]; ok {
		if t, ok := p.choice(v.value, "health_check.type", configWantHealthType, configHealthTypes, nil, ""); ok {
			if t != h.check.Type {
				// The service's keys of its own type only.
				for k := range h.set {
					if !configHealthFor(k, t) {
						delete(h.set, k)
					}
				}
				for k := range h.bad {
					if !configHealthFor(k, t) {
						delete(h.bad, k)
					}
				}
			}
			h.check.Type = t
			h.set["type"] = v.key
			delete(h.bad, "type")
		} else {
			h.bad["type"] = true
		}
	}
	for _, k := range configHealthKeyNames[1:] {
		if v, ok := f[k]; ok {
			if p.healthValue(h, k, v.value) {
				h.set[k] = v.key
				delete(h.bad, k)
			} else {
				delete(h.set, k)
				h.bad[k] = true
			}
		}
	}

	if !h.bad["type"] {
		t := h.check.Type
		if _, typeSet := h.set["type"]; !typeSet && t == "none" {
			if len(f) > 0 {
				p.add(line, `health_check: missing key "type" (a udp service has no default check)`)
			}
		} else {
			for _, k := range configHealthKeyNames[1:] {
				if v, ok := f[k]; ok && !configHealthFor(k, t) {
					p.add(v.key.Line, "health_check.%s: only for type %s", k, configHealthOnly(k))
					delete(h.set, k)
					delete(h.bad, k)
				}
			}
			_, typeOwn := f["type"]
			if _, ok := h.set["command"]; typeOwn && t == "command" && !ok && !h.bad["command"] {
				p.add(line, `health_check: missing key "command" (type command)`)
			}
		}
	}
	h.defaults()

	// The timeout is at most the interval, checked where either is
	// written.
	_, intervalOwn := f["interval"]
	_, timeoutOwn := f["timeout"]
	if h.check.Type != "none" && !h.bad["type"] && !h.bad["interval"] && !h.bad["timeout"] && (intervalOwn || timeoutOwn) {
		timer := func(k string, d time.Duration, own bool) *configHATimer {
			t := &configHATimer{name: "health_check." + k, d: d, ok: true}
			switch _, set := h.set[k]; {
			case own:
				t.key, t.text = f[k].key, h.text[k]
			case set:
				t.text = h.text[k] + ", the service's"
			default:
				t.text = configFormatDuration(d) + ", the default"
			}
			return t
		}
		at := f["interval"].key
		if timeoutOwn {
			at = f["timeout"].key
		}
		p.haOrder(at.Line, timer("timeout", h.check.Timeout, timeoutOwn), timer("interval", h.check.Interval, intervalOwn), true)
	}
	return h
}

// healthValue checks the value v of health_check key k (not "type") and
// sets it in h.check. It returns false if v is not valid.
func (p *parser) healthValue(h *configHealth, k string, v *yaml.Node) bool {
	name := "health_check." + k
	c := &h.check
	switch k {
	case "interval", "timeout":
		lo, hi, to := configMinHealthInterval, configMaxHealthInterval, &c.Interval
		if k == "timeout" {
			lo, hi, to = configMinHealthTimeout, configMaxHealthTimeout, &c.Timeout
		}
		d, text, ok := p.duration(v, name, lo, hi)
		if ok {
			*to, h.text[k] = d, text
		}
		return ok
	case "rise", "fall":
		n, ok := p.integer(v, name, 1, configMaxHealthCount)
		if ok {
			if k == "rise" {
				c.Rise = int(n)
			} else {
				c.Fall = int(n)
			}
		}
		return ok
	case "port":
		n, ok := p.integer(v, name, 1, 65535)
		if ok {
			c.Port = uint16(n)
		}
		return ok
	case "expect_status":
		n, ok := p.integer(v, name, 100, 599)
		if ok {
			c.ExpectStatus = int(n)
		}
		return ok
	case "path":
		s, line, ok := p.scalar(v, name, configWantPath)
		if !ok {
			return false
		}
		if _, err := url.ParseRequestURI(s); err != nil || !strings.HasPrefix(s, "/") || strings.ContainsFunc(s, configSpaceOrControl) {
			p.add(line, "%s: want %s, got %q", name, configWantPath, s)
			return false
		}
		c.Path = s
	case "expect_body":
		s, _, ok := p.scalar(v, name, "a string")
		if !ok {
			return false
		}
		c.ExpectBody = s
	case "host":
		s, line, ok := p.scalar(v, name, configWantHost)
		if !ok {
			return false
		}
		if !configHostHeader.MatchString(s) {
			p.add(line, "%s: want %s, got %q", name, configWantHost, s)
			return false
		}
		c.Host = s
	case "command":
		return p.healthCommand(c, v, name)
	case "on_failure":
		s, ok := p.choice(v, name, "quiesce or remove", configHealthActions, nil, "")
		if ok {
			c.OnFailure = s
		}
		return ok
	}
	return true
}

// healthCommand checks health_check.command, v, and sets c.Command. A
// list is checked once however many real servers share it.
func (p *parser) healthCommand(c *model.HealthCheck, v *yaml.Node, name string) bool {
	v = configResolve(v)
	if argv, seen := p.commands[v]; seen {
		c.Command = argv
		return argv != ""
	}
	if p.commands == nil {
		p.commands = map[*yaml.Node]model.Argv{}
	}
	p.commands[v] = ""
	if v.Kind != yaml.SequenceNode {
		p.add(v.Line, "%s: want %s, got %s", name, configWantCommand, configDescribe(v))
		return false
	}
	if len(v.Content) == 0 {
		p.add(v.Line, "%s: want at least the program's path", name)
		return false
	}
	argv := make([]string, 0, len(v.Content))
	ok := true
	for _, item := range v.Content {
		s, line, itemOK := p.scalar(item, name, "a string")
		if itemOK && strings.ContainsRune(s, 0) {
			// No program can take it; model.Argv relies on it.
			p.add(line, "%s: want a string without NUL bytes, got %q", name, s)
			itemOK = false
		}
		ok = ok && itemOK
		argv = append(argv, s)
	}
	if !ok {
		return false
	}
	if !filepath.IsAbs(argv[0]) {
		p.add(configResolve(v.Content[0]).Line, "%s: want an absolute path first, got %q", name, argv[0])
		return false
	}
	p.commands[v] = model.NewArgv(argv...)
	c.Command = p.commands[v]
	return true
}

// configSpaceOrControl says whether r is whitespace or a control
// character.
func configSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
