package config

// Loading: Load and Parse, and the problems they report.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/director-lb/director/control/model"
)

// Problem is one error in a configuration file.
type Problem struct {
	// File names the file as given to Load or Parse.
	File string
	// Line is 1-based: the offending key's or value's, or that of the
	// mapping a required key is missing from.
	Line int
	// Reason says what is wrong, lowercase (see the list at the top of
	// this file).
	Reason string
}

// String formats the problem as "file:line: reason".
func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason) }

// Error lists every problem of a file, in line order.
type Error struct {
	// Problems are never empty when Parse returns the error.
	Problems []Problem
}

// Error gives the problems, one "file:line: reason" per line.
func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return "invalid configuration"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads and parses the configuration file at path. An unreadable
// file is a plain error naming the path; invalid content is a *Error.
func Load(path string) (*model.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates data, the content of file (which only
// names it in problems and model.Config.Path). Any invalid content gives a
// *Error listing every problem.
func Parse(file string, data []byte) (*model.Config, error) {
	p := &parser{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	var extra []*yaml.Node
	for err == nil {
		var next yaml.Node
		if err = dec.Decode(&next); err == nil && !configEmptyDocument(&next) {
			extra = append(extra, &next)
		}
	}
	if !errors.Is(err, io.EOF) {
		line, reason := configSyntaxError(data, err)
		return nil, &Error{Problems: []Problem{{File: file, Line: line, Reason: reason}}}
	}
	for _, d := range extra {
		p.add(d.Line, `more than one YAML document ("---"): the configuration is the first one only`)
	}
	var root *yaml.Node
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	cfg := p.config(root)
	cfg.Path = file
	if len(p.problems) > 0 {
		return nil, &Error{Problems: p.sorted()}
	}
	return cfg, nil
}

// Limits and defaults of the file.
const (
	configDefaultDataplane = "auto"
	configDefaultTCAttach  = "auto"
	configDefaultFlowTable = 262144
	configMinFlowTable     = 1024
	configMaxFlowTable     = 64 << 20
	// configMaxTimeout stays below INT_MAX/HZ seconds for any HZ up to
	// 1024: the most `ipvsadm --set` accepts.
	configMaxTimeout = 576 * time.Hour
	// configMaxSocketPath is sun_path's size less its terminating NUL.
	configMaxSocketPath = 107
	// configMaxReals bounds the real servers of all services, far above
	// what the data plane holds, so that aliases cannot blow a small
	// file up.
	configMaxReals = 1 << 16
	// configMaxThreshold bounds upper_threshold and lower_threshold, as
	// ipvsadm's -x and -y (a 32-bit count; IPVS compares it with an int).
	configMaxThreshold = 1<<31 - 1

	// The ha section's.
	configDefaultFailbackWait = 30 * time.Second
	configMaxFailbackWait     = time.Hour
	configDefaultHATTL        = 1
	configDefaultAuthMethod   = "sha256"
	configMaxARPCount         = 100
	configMinARPInterval      = 10 * time.Millisecond
	configMaxARPInterval      = 10 * time.Second

	// Health checks' (HAProxy's defaults).
	configDefaultHealthInterval = 2 * time.Second
	configDefaultHealthTimeout  = time.Second
	configMinHealthInterval     = 50 * time.Millisecond
	configMaxHealthInterval     = time.Hour
	configMinHealthTimeout      = 10 * time.Millisecond
	configMaxHealthTimeout      = time.Hour
	configDefaultHealthRise     = 2
	configDefaultHealthFall     = 3
	configMaxHealthCount        = 100
	configDefaultHealthPath     = "/"
	configDefaultExpectStatus   = 200
	configDefaultOnFailure      = "quiesce"
)

// What some values must be, in reasons "<key>: want <what>, got <v>".
const (
	configWantIfname = `an interface name (1-15 bytes, no '/', ':' or whitespace, not "." or "..")`
	configWantHATime = `a duration ("100ms", "1s", "2m") or a number of seconds`
	configWantPrefix = `an IPv4 address with a prefix length ("192.168.56.10/24")`

	configWantPath    = `a path starting with "/" ("/health")`
	configWantHost    = `a host name or address, with an optional port ("www.example.com")`
	configWantCommand = "a list of strings (the program's absolute path, then its arguments)"
)

// configIPVSProtocols are IPVS's protocols that this version does not
// implement, refused with their own reason.
var configIPVSProtocols = []string{"sctp"}

// Values of the ha section.
var (
	configHAModes       = []string{"bcast", "mcast", "ucast"}
	configHAAuthMethods = []string{"sha256", "sha1", "md5"}
)

// Values and keys of health_check, its keys in the order their problems
// are reported within a line.
var (
	// configHealthTypes are the check kinds of model.HealthTypes, and
	// "none".
	configHealthTypes    = append(slices.Clone(model.HealthTypes), "none")
	configWantHealthType = model.JoinNames(configHealthTypes, "or")
	configHealthActions  = []string{"quiesce", "remove"}
	configHealthKeyNames = []string{"type", "interval", "timeout", "rise", "fall", "port", "path", "expect_status",
		"expect_body", "host", "command", "on_failure"}
)

var (
	// configYAMLLine is yaml.v3's "line N: " prefix.
	configYAMLLine = regexp.MustCompile(`^line (\d+): `)
	// configBigInt matches an integer that yaml resolves as a float
	// because it does not fit in 64 bits.
	configBigInt = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)
	// configSeconds matches a number of seconds where a duration is
	// expected.
	configSeconds = regexp.MustCompile(`^[-+]?[0-9]+(\.[0-9]+)?$`)
	// configHostHeader matches a Host header: a name or an IPv4 address,
	// or an IPv6 address in brackets, with an optional port.
	configHostHeader = regexp.MustCompile(`^([A-Za-z0-9_~-]+(\.[A-Za-z0-9_~-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)
)
