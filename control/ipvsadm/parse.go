// Package ipvsadm reads ipvsadm's command line as ipvsadm itself does
// (popt's short, bundled and long options, its table of which option goes
// with which command, its messages and exit codes) and writes ipvsadm's
// listings byte for byte. `director ipvsadm` sends the commands it reads
// to the daemon; `director import` reads ipvsadm.rules through it.
//
// It imports only control/model: it neither talks to a daemon nor touches
// the system.
package ipvsadm

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/director-lb/director/control/model"
)

// Cmd is one of ipvsadm's commands.
type Cmd int

// ipvsadm's commands, in the order of its table.
const (
	CmdNone Cmd = iota
	CmdAdd
	CmdEdit
	CmdDel
	CmdFlush
	CmdList
	CmdAddDest
	CmdDelDest
	CmdEditDest
	CmdTimeout
	CmdStartDaemon
	CmdStopDaemon
	CmdRestore
	CmdSave
	CmdZero
)

// cmdNames are ipvsadm's names of the commands, as its messages write them.
var cmdNames = []string{"add-service", "edit-service", "delete-service", "flush", "list", "add-server",
	"delete-server", "edit-server", "set", "start-daemon", "stop-daemon", "restore", "save", "zero"}

func (c Cmd) String() string {
	if c <= CmdNone || int(c) > len(cmdNames) {
		return "none"
	}
	return cmdNames[c-1]
}

// Opt is a bit of the options given, in ipvsadm's order.
type Opt uint32

// The options, one bit each, in the columns' order of ipvsadm's table.
const (
	OptNumeric Opt = 1 << iota
	OptConnection
	OptService
	OptScheduler
	OptPersistent
	OptNetmask
	OptServer
	OptForward
	OptWeight
	OptUThreshold
	OptLThreshold
	OptMcast
	OptTimeout
	OptDaemon
	OptStats
	OptRate
	OptThresholds
	OptPersistentConn
	OptNoSort
	OptSyncID
	OptExact
	OptOnePacket
	OptPE
	OptSchedFlags
)

var optNames = []string{"numeric", "connection", "service-address", "scheduler", "persistent", "netmask",
	"real-server", "forwarding-method", "weight", "u-threshold", "l-threshold", "mcast-interface", "timeout",
	"daemon", "stats", "rate", "thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
	"sched-flags"}

// optTable says, for each command (row) and option (column), whether the
// option is required ('+'), refused ('x'), one of a mutually exclusive
// set ('1') or allowed (' '): ipvsadm's rules.
var optTable = [...]string{
	CmdAdd - 1:         "xx+   xxxxxxxxxxxxxxxx   ",
	CmdEdit - 1:        "xx+   xxxxxxxxxxxxxxxx   ",
	CmdDel - 1:         "xx+xxxxxxxxxxxxxxxxxxxxx",
	CmdFlush - 1:       "xxxxxxxxxxxxxxxxxxxxxxxx",
	CmdList - 1:        " 11xxxxxxxxx11       xxx",
	CmdAddDest - 1:     "xx+xxx+    xxxxxxxxxxxxx",
	CmdDelDest - 1:     "xx+xxx+xxxxxxxxxxxxxxxxx",
	CmdEditDest - 1:    "xx+xxx+    xxxxxxxxxxxxx",
	CmdTimeout - 1:     "xxxxxxxxxxxxxxxxxxxxxxxx",
	CmdStartDaemon - 1: "xxxxxxxxxxx xxxxxxx xxxx",
	CmdStopDaemon - 1:  "xxxxxxxxxxxxxxxxxxx xxxx",
	CmdRestore - 1:     "xxxxxxxxxxxxxxxxxxxxxxxx",
	CmdSave - 1:        " xxxxxxxxxxxxxxxxxxxxxxx",
	CmdZero - 1:        "xx xxxxxxxxxxxxxxxxxxxxx",
}

// Format bits choose a listing's layout.
type Format uint32

// The listing formats.
const (
	FmtNumeric Format = 1 << iota
	FmtRule
	FmtStats
	FmtRate
	FmtThresholds
	FmtPersistentConn
	FmtNoSort
	FmtExact
)

// Forwarding methods (-g, -i, -m).
const (
	FwdRoute  = "Route"  // -g, ipvsadm's default
	FwdTunnel = "Tunnel" // -i
	FwdMasq   = "Masq"   // -m
)

// DefaultScheduler is ipvsadm's scheduler when -s is absent.
const DefaultScheduler = "wlc"

// DefaultPersistence is the persistence timeout of -p without a value:
// libipvs's IPVS_SVC_PERSISTENT_TIMEOUT, 6 minutes (ipvsadm's manual page
// says 300; Debian's ipvsadm 1.31 sends 360, as the VM's parity test shows).
const DefaultPersistence = 360

// maxTimeout is the longest timeout ipvsadm takes (31 days).
const maxTimeout = 86400 * 31

// Command is one ipvsadm command line, read.
type Command struct {
	Cmd     Cmd
	Options Opt
	Format  Format
	// Service is -t/-u's address; Fwmark is -f's mark (not supported by
	// director, but read).
	Service model.ServiceKey
	Fwmark  uint32
	// Scheduler is -s (DefaultScheduler filled in for -A/-E).
	Scheduler  string
	SchedFlags string
	// Persistent is -p's timeout in seconds, 0 when absent; Netmask is -M.
	Persistent uint32
	Netmask    netip.Addr
	// Real is -r's address and port (the service's port when absent).
	Real model.RealKey
	// Forward is -g, -i or -m (FwdRoute when absent, as ipvsadm).
	Forward                string
	Weight                 int
	UThreshold, LThreshold uint32
	// Timeouts are --set's tcp, tcpfin and udp, in seconds.
	Timeouts [3]int
	// Daemon is --start-daemon's or --stop-daemon's state ("master",
	// "backup"), McastIfn and SyncID its --mcast-interface and --syncid.
	Daemon   string
	McastIfn string
	SyncID   int
	// OnePacket is -o; PE is --pe.
	OnePacket bool
	PE        string
	// Help and Version are -h and -v.
	Help, Version bool
}

// Error is a refused command line: what ipvsadm prints on stderr and its
// exit status.
type Error struct {
	// Msg is the whole of stderr, newline included.
	Msg  string
	Code int
}

func (e *Error) Error() string { return strings.TrimSuffix(e.Msg, "\n") }

// fail is ipvsadm's fail(2, ...).
func fail(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...) + "\n", Code: 2}
}

// tryHelp is ipvsadm's tryhelp_exit(prog, -1): exit status 255.
func tryHelp(prog string) *Error {
	return &Error{Msg: fmt.Sprintf("Try `%s -h' or '%s --help' for more information.\n", prog, prog), Code: 255}
}

// option is one entry of ipvsadm's option table.
type option struct {
	long  string
	short byte
	// arg: 0 none, 1 required, 2 optional (-p).
	arg int
}

var options = []option{
	{"add-service", 'A', 0}, {"edit-service", 'E', 0}, {"delete-service", 'D', 0}, {"clear", 'C', 0},
	{"list", 'L', 0}, {"list", 'l', 0}, {"zero", 'Z', 0}, {"add-server", 'a', 0}, {"edit-server", 'e', 0},
	{"delete-server", 'd', 0}, {"set", 0, 0}, {"help", 'h', 0}, {"version", 'v', 0}, {"restore", 'R', 0},
	{"save", 'S', 0}, {"start-daemon", 0, 1}, {"stop-daemon", 0, 1}, {"tcp-service", 't', 1},
	{"udp-service", 'u', 1}, {"fwmark-service", 'f', 1}, {"scheduler", 's', 1}, {"persistent", 'p', 2},
	{"netmask", 'M', 1}, {"real-server", 'r', 1}, {"masquerading", 'm', 0}, {"ipip", 'i', 0},
	{"gatewaying", 'g', 0}, {"weight", 'w', 1}, {"u-threshold", 'x', 1}, {"l-threshold", 'y', 1},
	{"numeric", 'n', 0}, {"connection", 'c', 0}, {"mcast-interface", 0, 1}, {"syncid", 0, 1},
	{"timeout", 0, 0}, {"daemon", 0, 0}, {"stats", 0, 0}, {"rate", 0, 0}, {"thresholds", 0, 0},
	{"persistent-conn", 0, 0}, {"nosort", 0, 0}, {"sort", 0, 0}, {"exact", 'X', 0}, {"ipv6", '6', 0},
	{"ops", 'o', 0}, {"pe", 0, 1}, {"sched-flags", 'b', 1},
}

// item is one option found on the command line, with its argument.
type item struct {
	opt    option
	arg    string
	hasArg bool
	// written is the option as the command line has it ("-L", "--list").
	written string
}

// scan splits args (without the program name) into options and operands
// the way popt does: bundled short options (-Ln), attached (-w3) or
// separate arguments, --long=value or --long value, and -- ending the
// options. A bad option is returned as popt names it with its reason.
func scan(args []string) (items []item, operands []string, bad, reason string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return items, append(operands, args[i+1:]...), "", ""
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			var o *option
			for j := range options {
				if options[j].long == name {
					o = &options[j]
					break
				}
			}
			if o == nil {
				return items, operands, "--" + name, "unknown option"
			}
			it := item{opt: *o, written: a}
			switch {
			case o.arg == 0 && hasVal:
				return items, operands, a, "option does not take an argument"
			case hasVal:
				it.arg, it.hasArg = val, true
			case o.arg == 1:
				if i+1 >= len(args) {
					return items, operands, a, "missing argument"
				}
				i++
				it.arg, it.hasArg = args[i], true
			case o.arg == 2 && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
				i++
				it.arg, it.hasArg = args[i], true
			}
			items = append(items, it)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for k := 1; k < len(a); k++ {
				var o *option
				for j := range options {
					if options[j].short != 0 && options[j].short == a[k] {
						o = &options[j]
						break
					}
				}
				if o == nil {
					return items, operands, "-" + a[k:k+1], "unknown option"
				}
				it := item{opt: *o, written: a}
				if o.arg != 0 {
					rest := a[k+1:]
					switch {
					case rest != "":
						it.arg, it.hasArg = rest, true
					case o.arg == 1:
						if i+1 >= len(args) {
							return items, operands, "-" + a[k:k+1], "missing argument"
						}
						i++
						it.arg, it.hasArg = args[i], true
					case o.arg == 2 && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
						i++
						it.arg, it.hasArg = args[i], true
					}
					items = append(items, it)
					break
				}
				items = append(items, it)
			}
		default:
			operands = append(operands, a)
		}
	}
	return items, operands, "", ""
}

// Parse reads ipvsadm's arguments (args[0] is the program's name, as
// ipvsadm's messages name it). A refused command line is an *Error with
// ipvsadm's message and exit status. An empty command line is a listing.
func Parse(args []string) (*Command, error) {
	prog := "ipvsadm"
	if len(args) > 0 {
		prog, args = args[0], args[1:]
	}
	c := &Command{Weight: 1, Forward: FwdRoute, Service: model.ServiceKey{Proto: model.TCP}}
	if len(args) == 0 {
		c.Cmd = CmdList
		return c, nil
	}
	items, operands, bad, reason := scan(args)
	// The first option must be the command; popt's own errors then end
	// the parse (a bad first option is a plain "try help").
	if len(items) == 0 {
		return nil, tryHelp(prog)
	}
	if err := c.command(items[0], prog); err != nil {
		return nil, err
	}
	if c.Help || c.Version {
		return c, nil
	}
	schedFlags := ""
	for _, it := range items[1:] {
		if err := c.option(it, &schedFlags); err != nil {
			return nil, err
		}
	}
	if bad != "" {
		return nil, &Error{Msg: fmt.Sprintf("%s: %s\n", bad, reason), Code: 255}
	}
	if c.Cmd == CmdTimeout {
		if len(operands) < 3 {
			return nil, fail("--set option requires 3 timeout values")
		}
		for i := range 3 {
			n, err := timeout(operands[i], 0, maxTimeout)
			if err != nil {
				return nil, err
			}
			c.Timeouts[i] = n
		}
		operands = operands[3:]
	}
	if len(operands) > 0 {
		return nil, fail("unexpected argument %s", operands[0])
	}
	if schedFlags != "" {
		if err := c.schedFlags(schedFlags); err != nil {
			return nil, err
		}
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	switch c.Cmd {
	case CmdAdd, CmdEdit:
		if c.Fwmark == 0 && c.Service.Port == 0 && c.Persistent == 0 {
			return nil, fail("Zero port specified for non-persistent service")
		}
		if c.OnePacket && c.Fwmark == 0 && c.Service.Proto != model.UDP {
			return nil, fail("One-Packet Scheduling is only for UDP virtual services")
		}
		if c.Scheduler == "" {
			c.Scheduler = DefaultScheduler
		}
	case CmdStartDaemon:
		if c.McastIfn == "" {
			c.McastIfn = "eth0"
		}
	case CmdSave:
		c.Format |= FmtRule
	}
	return c, nil
}

// command reads the first option, which must name the command.
func (c *Command) command(it item, prog string) error {
	set := func(cmd Cmd) { c.Cmd = cmd }
	switch it.opt.long {
	case "add-service":
		set(CmdAdd)
	case "edit-service":
		set(CmdEdit)
	case "delete-service":
		set(CmdDel)
	case "add-server":
		set(CmdAddDest)
	case "edit-server":
		set(CmdEditDest)
	case "delete-server":
		set(CmdDelDest)
	case "clear":
		set(CmdFlush)
	case "list":
		set(CmdList)
	case "zero":
		set(CmdZero)
	case "set":
		set(CmdTimeout)
	case "restore":
		set(CmdRestore)
	case "save":
		set(CmdSave)
	case "start-daemon", "stop-daemon":
		if it.opt.long == "start-daemon" {
			set(CmdStartDaemon)
		} else {
			set(CmdStopDaemon)
		}
		if it.arg != "master" && it.arg != "backup" {
			if c.Cmd == CmdStartDaemon {
				return fail("illegal start-daemon parameter specified")
			}
			return fail("illegal start_daemon specified")
		}
		c.Daemon = it.arg
	case "help":
		c.Help = true
	case "version":
		c.Version = true
	default:
		return tryHelp(prog)
	}
	return nil
}

// setOpt records an option, refusing it twice.
func (c *Command) setOpt(o Opt) error {
	if c.Options&o != 0 {
		return fail("multiple '%s' options specified", o.name())
	}
	c.Options |= o
	return nil
}

func (o Opt) name() string {
	for i := range optNames {
		if o == 1<<i {
			return optNames[i]
		}
	}
	return "?"
}

// option reads one option after the command.
func (c *Command) option(it item, schedFlags *string) error {
	switch it.opt.long {
	case "add-service", "edit-service", "delete-service", "add-server", "edit-server", "delete-server",
		"clear", "list", "zero", "set", "restore", "save", "start-daemon", "stop-daemon", "help", "version":
		// A second command is an option ipvsadm does not expect here.
		return fail("invalid option `%s'", it.written)
	case "tcp-service", "udp-service":
		if err := c.setOpt(OptService); err != nil {
			return err
		}
		c.Service.Proto = model.TCP
		if it.opt.long == "udp-service" {
			c.Service.Proto = model.UDP
		}
		a, port, _, ok := parseAddrPort(it.arg)
		if !ok {
			return fail("illegal virtual server address[:port] specified")
		}
		c.Service.VIP, c.Service.Port = a, port
	case "fwmark-service":
		if err := c.setOpt(OptService); err != nil {
			return err
		}
		n, err := strconv.ParseUint(it.arg, 10, 32)
		if err != nil || n == 0 {
			return fail("invalid fwmark value `%s' specified", it.arg)
		}
		c.Fwmark = uint32(n)
		c.Service.Proto = model.TCP
	case "scheduler":
		if err := c.setOpt(OptScheduler); err != nil {
			return err
		}
		c.Scheduler = it.arg
		if len(c.Scheduler) > 15 {
			c.Scheduler = c.Scheduler[:15]
		}
	case "persistent":
		if err := c.setOpt(OptPersistent); err != nil {
			return err
		}
		c.Persistent = DefaultPersistence
		if it.hasArg {
			n, err := timeout(it.arg, 1, maxTimeout)
			if err != nil {
				return err
			}
			c.Persistent = uint32(n)
		}
	case "netmask":
		if err := c.setOpt(OptNetmask); err != nil {
			return err
		}
		a, ok := parseInetAton(it.arg)
		if !ok {
			return fail("illegal virtual server persistent mask specified")
		}
		c.Netmask = a
	case "real-server":
		if err := c.setOpt(OptServer); err != nil {
			return err
		}
		a, port, hasPort, ok := parseAddrPort(it.arg)
		if !ok {
			return fail("illegal real server address[:port] specified")
		}
		if !hasPort {
			port = c.Service.Port
		}
		c.Real = model.RealKey{Addr: a, Port: port}
	case "masquerading", "ipip", "gatewaying":
		if err := c.setOpt(OptForward); err != nil {
			return err
		}
		c.Forward = map[string]string{"masquerading": FwdMasq, "ipip": FwdTunnel, "gatewaying": FwdRoute}[it.opt.long]
	case "weight":
		if err := c.setOpt(OptWeight); err != nil {
			return err
		}
		// ipvsadm 1.31 takes any int; the kernel and director set
		// their own limits.
		n, ok := number(it.arg, 0, 1<<31-1)
		if !ok {
			return fail("illegal weight specified")
		}
		c.Weight = n
	case "u-threshold", "l-threshold":
		o, what, to := OptUThreshold, "u_threshold", &c.UThreshold
		if it.opt.long == "l-threshold" {
			o, what, to = OptLThreshold, "l_threshold", &c.LThreshold
		}
		if err := c.setOpt(o); err != nil {
			return err
		}
		n, ok := number(it.arg, 0, 1<<31-1)
		if !ok {
			return fail("illegal %s specified", what)
		}
		*to = uint32(n)
	case "connection":
		return c.setOpt(OptConnection)
	case "numeric":
		c.Format |= FmtNumeric
		return c.setOpt(OptNumeric)
	case "mcast-interface":
		c.McastIfn = it.arg
		return c.setOpt(OptMcast)
	case "syncid":
		if err := c.setOpt(OptSyncID); err != nil {
			return err
		}
		n, ok := number(it.arg, 0, 255)
		if !ok {
			return fail("illegal syncid specified")
		}
		c.SyncID = n
	case "timeout":
		return c.setOpt(OptTimeout)
	case "daemon":
		return c.setOpt(OptDaemon)
	case "stats":
		c.Format |= FmtStats
		return c.setOpt(OptStats)
	case "rate":
		c.Format |= FmtRate
		return c.setOpt(OptRate)
	case "thresholds":
		c.Format |= FmtThresholds
		return c.setOpt(OptThresholds)
	case "persistent-conn":
		c.Format |= FmtPersistentConn
		return c.setOpt(OptPersistentConn)
	case "nosort":
		c.Format |= FmtNoSort
		return c.setOpt(OptNoSort)
	case "sort":
	case "exact":
		c.Format |= FmtExact
		return c.setOpt(OptExact)
	case "ipv6":
		if c.Fwmark == 0 {
			return fail("-6 used before -f\n")
		}
	case "ops":
		c.OnePacket = true
		return c.setOpt(OptOnePacket)
	case "pe":
		c.PE = it.arg
		return c.setOpt(OptPE)
	case "sched-flags":
		*schedFlags = it.arg
		return c.setOpt(OptSchedFlags)
	}
	return nil
}

// schedFlags checks -b's comma-separated flags against the scheduler, as
// ipvsadm does, and keeps them as the kernel does: as bits, named after the
// scheduler (flag-1 of sh is sh-fallback, flag-2 sh-port; mh's likewise),
// in the kernel's order (the fallback flag first). flag-N of a scheduler
// without flags, and flag-3, stay flag-N.
func (c *Command) schedFlags(arg string) error {
	sched := c.Scheduler
	if sched == "" {
		sched = DefaultScheduler
	}
	var bits [3]bool
	for f := range strings.SplitSeq(arg, ",") {
		if f == "" {
			continue
		}
		switch f {
		case "flag-1", "flag-2", "flag-3":
			bits[f[5]-'1'] = true
		case "sh-fallback", "sh-port", "mh-fallback", "mh-port":
			if sched != f[:2] {
				return fail("incompatible scheduler flag `%s'", f)
			}
			bits[0] = bits[0] || strings.HasSuffix(f, "-fallback")
			bits[1] = bits[1] || strings.HasSuffix(f, "-port")
		default:
			return fail("invalid scheduler flag `%s'", f)
		}
	}
	c.SchedFlags = SchedFlagNames(sched, bits)
	return nil
}

// SchedFlagNames names scheduler flag bits (flag-1, -2, -3) as ipvsadm
// lists them for scheduler sched, comma-separated.
func SchedFlagNames(sched string, bits [3]bool) string {
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	if sched == "sh" || sched == "mh" {
		names = [3]string{sched + "-fallback", sched + "-port", ""}
	}
	var out []string
	for i, set := range bits {
		if set && names[i] != "" {
			out = append(out, names[i])
		}
	}
	return strings.Join(out, ",")
}

// SchedFlagBits are the bits of named flags (the inverse of
// SchedFlagNames); unknown names are ignored.
func SchedFlagBits(flags string) [3]bool {
	var bits [3]bool
	for f := range strings.SplitSeq(flags, ",") {
		switch {
		case f == "flag-1", f == "flag-2", f == "flag-3":
			bits[f[5]-'1'] = true
		case strings.HasSuffix(f, "-fallback"):
			bits[0] = true
		case strings.HasSuffix(f, "-port"):
			bits[1] = true
		}
	}
	return bits
}

// check applies ipvsadm's table of commands and options.
func (c *Command) check() error {
	row := optTable[c.Cmd-1]
	last, count := 0, 0
	for j := range optNames {
		set := c.Options&(1<<j) != 0
		switch {
		case !set && row[j] == '+':
			return fail("You need to supply the '%s' option for the '%s' command", optNames[j], c.Cmd)
		case set && row[j] == 'x':
			return fail("Illegal '%s' option with the '%s' command", optNames[j], c.Cmd)
		case set && row[j] == '1':
			count++
			if count == 1 {
				last = j
				continue
			}
			return fail("The option '%s' conflicts with the '%s' option in the '%s' command", optNames[j], optNames[last], c.Cmd)
		}
	}
	if c.Cmd == CmdList {
		o := c.Options
		if o&(OptConnection|OptTimeout|OptDaemon) != 0 && o&(OptStats|OptRate|OptThresholds) != 0 ||
			o&(OptTimeout|OptDaemon) != 0 && o&OptPersistentConn != 0 {
			return fail("options conflicts in the list command")
		}
	}
	return nil
}

// number is ipvsadm's string_to_number: a whole decimal (strtol) within
// min..max.
func number(s string, lo, hi int) (int, bool) {
	n, err := strconv.ParseInt(strings.TrimLeft(s, " \t\n"), 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, false
	}
	return int(n), true
}

// timeout is ipvsadm's parse_timeout.
func timeout(s string, lo, hi int) (int, error) {
	n, ok := number(s, lo, hi)
	if !ok {
		return 0, fail("invalid timeout value `%s' specified", s)
	}
	return n, nil
}

// parseAddrPort reads ipvsadm's ADDRESS[:PORT] (IPv4 only, numeric port;
// ipvsadm also resolves names, which director does not).
func parseAddrPort(s string) (netip.Addr, uint16, bool, bool) {
	if s == "" || strings.Trim(s, "0123456789") == "" {
		return netip.Addr{}, 0, false, false
	}
	host, port, hasPort := s, "", false
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port, hasPort = s[:i], s[i+1:], true
	}
	a, ok := parseInetAton(host)
	if !ok {
		return netip.Addr{}, 0, false, false
	}
	if !hasPort {
		return a, 0, false, true
	}
	n, ok := number(port, 0, 65535)
	if !ok {
		if n, ok = wellKnownPorts[port]; !ok {
			return netip.Addr{}, 0, false, false
		}
	}
	return a, uint16(n), true, true
}

// wellKnownPorts are the service names of /etc/services that ipvsadm's
// listings use (and accept); only the common ones.
var wellKnownPorts = map[string]int{"ftp": 21, "ssh": 22, "smtp": 25, "domain": 53, "http": 80, "pop3": 110,
	"imap2": 143, "https": 443, "imaps": 993, "pop3s": 995, "mysql": 3306, "postgresql": 5432}

// parseInetAton reads an IPv4 address as inet_aton does: the dotted quad,
// and its shorter and numeric forms (10.1 is 10.0.0.1; 0x0a000001).
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 0, 32)
		if err != nil || p == "" {
			return netip.Addr{}, false
		}
		if len(p) > 1 && p[0] == '0' && p[1] != 'x' && p[1] != 'X' {
			if v, err = strconv.ParseUint(p[1:], 8, 32); err != nil {
				return netip.Addr{}, false
			}
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := range last {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		n |= vals[i] << (24 - 8*i)
	}
	if vals[last] >= 1<<(32-8*last) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
