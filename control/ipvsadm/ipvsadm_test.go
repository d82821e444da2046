package ipvsadm

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
)

// TestParseRefusals: ipvsadm's own messages and exit statuses.
func TestParseRefusals(t *testing.T) {
	for _, c := range []struct {
		args string
		msg  string
		code int
	}{
		{"--bogus", "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n", 255},
		{"-A -t 192.168.56.10:80 --bogus", "--bogus: unknown option\n", 255},
		{"-A -t 192.168.56.300:80", "illegal virtual server address[:port] specified\n", 2},
		{"-A -t 192.168.56.10:0", "Zero port specified for non-persistent service\n", 2},
		{"-a -t 192.168.56.10:80 -r 192.168.200.11 -w 2147483648", "illegal weight specified\n", 2},
		{"-a -t 192.168.56.10:80 -r 192.168.200.11 -w -1", "illegal weight specified\n", 2},
		{"-a -t 192.168.56.10:80", "You need to supply the 'real-server' option for the 'add-server' command\n", 2},
		{"-A -t 192.168.56.10:80 -w 3", "Illegal 'weight' option with the 'add-service' command\n", 2},
		{"-A -L", "invalid option `-L'\n", 2},
		{"-A -t 192.168.56.10:80 --list", "invalid option `--list'\n", 2},
		{"-A -t 192.168.56.10:80 -s rr -s wrr", "multiple 'scheduler' options specified\n", 2},
		{"-L -c -t 192.168.56.10:80", "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n", 2},
		{"-L -c --stats", "options conflicts in the list command\n", 2},
		{"-A -t 192.168.56.10:80 -p 0", "invalid timeout value `0' specified\n", 2},
		{"--set 900 120", "--set option requires 3 timeout values\n", 2},
		{"-C extra", "unexpected argument extra\n", 2},
		{"-A -t 192.168.56.10:80 -s rr -b sh-port", "incompatible scheduler flag `sh-port'\n", 2},
		{"--start-daemon nope", "illegal start-daemon parameter specified\n", 2},
	} {
		_, err := Parse(append([]string{"ipvsadm"}, strings.Fields(c.args)...))
		e, ok := err.(*Error)
		if !ok || e.Msg != c.msg || e.Code != c.code {
			t.Errorf("ipvsadm %s: %v, want exit %d %q", c.args, err, c.code, c.msg)
		}
	}
}

func TestParse(t *testing.T) {
	c, err := Parse(strings.Fields("ipvsadm -a -t 192.168.56.10:80 -r 192.168.200.11 -mw3"))
	if err != nil || c.Cmd != CmdAddDest || c.Forward != FwdMasq || c.Weight != 3 || c.Real.Port != 80 ||
		c.Real.Addr != netip.MustParseAddr("192.168.200.11") {
		t.Errorf("-a: %+v %v", c, err)
	}
	c, err = Parse(strings.Fields("ipvsadm -A --tcp-service=192.168.56.10:http -p -M 255.255.255.0"))
	if err != nil || c.Scheduler != "wlc" || c.Persistent != 360 || c.Service.Port != 80 || c.Netmask.String() != "255.255.255.0" {
		t.Errorf("-A: %+v %v", c, err)
	}
	c, err = Parse(strings.Fields("ipvsadm -Ln --stats --exact"))
	if err != nil || c.Cmd != CmdList || c.Format != FmtNumeric|FmtStats|FmtExact {
		t.Errorf("-Ln: %+v %v", c, err)
	}
}

var (
	vip  = netip.MustParseAddr("192.168.56.10")
	web1 = netip.MustParseAddr("192.168.200.11")
	web2 = netip.MustParseAddr("192.168.200.12")
)

// TestApply: the kernel's answers, and a refused change leaves the table.
func TestApply(t *testing.T) {
	known := func(n string) bool { _, ok := model.LookupScheduler(n); return ok }
	run := func(tab []model.Service, line string) ([]model.Service, error) {
		c, err := Parse(strings.Fields("ipvsadm " + line))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return Apply(tab, c, known)
	}
	var tab []model.Service
	var err error
	for _, l := range []string{"-A -t 192.168.56.10:80 -s wrr", "-a -t 192.168.56.10:80 -r 192.168.200.11:80 -m -w 3",
		"-a -t 192.168.56.10:80 -r 192.168.200.12:80 -m -w 1"} {
		if tab, err = run(tab, l); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	before := tab[0].Reals[0]
	for _, c := range []struct{ line, msg string }{
		{"-A -t 192.168.56.10:80 -s rr", "Service already exists\n"},
		{"-A -t 192.168.56.10:81 -s nope", "Scheduler or persistence engine not found\n"},
		{"-E -t 192.168.56.10:81 -s rr", "No such service\n"},
		{"-a -t 192.168.56.10:81 -r 192.168.200.11 -m", "Service not defined\n"},
		{"-a -t 192.168.56.10:80 -r 192.168.200.11:80 -m", "Destination already exists\n"},
		{"-e -t 192.168.56.10:80 -r 192.168.200.13:80 -m", "No such destination\n"},
		{"-a -t 192.168.56.10:80 -r 192.168.200.13:80", "director forwards by masquerading (NAT) only: direct routing (-g, ipvsadm's default when no method is given) is not implemented; give -m\n"},
	} {
		_, err := run(tab, c.line)
		if e, ok := err.(*Error); !ok || e.Msg != c.msg {
			t.Errorf("%s: %v, want %q", c.line, err, c.msg)
		}
	}
	next, err := run(tab, "-e -t 192.168.56.10:80 -r 192.168.200.11:80 -m -w 0")
	if err != nil || next[0].Reals[0].Weight != 0 || tab[0].Reals[0] != before {
		t.Errorf("-e -w 0: %v, %+v; the old table %+v", err, next, tab)
	}
}

func status() Table {
	s := model.ServiceStatus{ServiceKey: model.ServiceKey{VIP: vip, Port: 80, Proto: model.TCP}, Scheduler: "wrr",
		Counters: model.Counters{Connections: 40, PacketsIn: 123456789, BytesIn: 12345678901}}
	s.Reals = []model.RealStatus{
		{RealServer: model.RealServer{Addr: web2, Port: 80, Weight: 1}, ActiveConns: 1},
		{RealServer: model.RealServer{Addr: web1, Port: 80, Weight: 3}, ActiveConns: 3, InactiveConns: 2},
	}
	u := model.ServiceStatus{ServiceKey: model.ServiceKey{VIP: vip, Port: 53, Proto: model.UDP}, Scheduler: "rr"}
	cfg := map[model.ServiceKey]model.Service{s.ServiceKey: {Persistence: model.Persistence{Timeout: 300 * time.Second,
		Netmask: netip.MustParseAddr("255.255.255.0")}}}
	return Table{Services: []model.ServiceStatus{u, s}, Config: cfg}
}

// TestList: ipvsadm's layouts, real servers sorted by address.
func TestList(t *testing.T) {
	for _, c := range []struct {
		f    Format
		want string
	}{
		{FmtNumeric, VersionLine + "Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
			"TCP  192.168.56.10:80 wrr persistent 300 mask 255.255.255.0\n" +
			"  -> 192.168.200.11:80            Masq    3      3          2         \n" +
			"  -> 192.168.200.12:80            Masq    1      1          0         \n" +
			"UDP  192.168.56.10:53 rr\n"},
		{FmtNumeric | FmtRule, "-A -t 192.168.56.10:80 -s wrr -p 300 -M 255.255.255.0\n" +
			"-a -t 192.168.56.10:80 -r 192.168.200.11:80 -m -w 3\n" +
			"-a -t 192.168.56.10:80 -r 192.168.200.12:80 -m -w 1\n" +
			"-A -u 192.168.56.10:53 -s rr\n"},
		{FmtNumeric | FmtStats, VersionLine +
			"Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n" +
			"  -> RemoteAddress:Port\n" +
			"TCP  192.168.56.10:80                   40  123456K        0   12345M        0\n" +
			"  -> 192.168.200.11:80                   0        0        0        0        0\n" +
			"  -> 192.168.200.12:80                   0        0        0        0        0\n" +
			"UDP  192.168.56.10:53                    0        0        0        0        0\n"},
	} {
		var b strings.Builder
		if err := WriteList(&b, status(), c.f, nil); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("format %#x:\n%s\nwant\n%s", c.f, b.String(), c.want)
		}
	}
}

// TestEstimator: IPVS's fixed-point estimator. 100 new connections a
// second (200 per 2 s window) read 25 after the first window (a quarter of
// the step), then converge on 100; bytes keep 5 bits of fraction.
func TestEstimator(t *testing.T) {
	var e Estimator
	var c model.Counters
	e.Update(c)
	var got []uint64
	for range 20 {
		c.Connections += 200
		c.BytesIn += 2000000 // 1 MB/s
		e.Update(c)
		got = append(got, e.Rates().CPS)
	}
	if got[0] != 25 || got[1] != 44 || got[19] != 100 {
		t.Errorf("cps by window %v, want 25, 44, ... 100", got)
	}
	if r := e.Rates(); r.InBPS < 996000 || r.InBPS > 1000000 { // (3/4)^20 of the step left
		t.Errorf("in bps %d, want about 1000000", r.InBPS)
	}
	// Traffic stops: the rate decays by a quarter a window.
	e.Update(c)
	if r := e.Rates().CPS; r != 75 {
		t.Errorf("cps one window after traffic stopped %d, want 75", r)
	}
}

func TestWriteDaemons(t *testing.T) {
	var b strings.Builder
	if err := WriteDaemons(&b, []model.SyncDaemon{{State: "backup", Interface: "enp0s8", SyncID: 7},
		{State: "master", Interface: "enp0s8", SyncID: 7}}); err != nil {
		t.Fatal(err)
	}
	if want := "master sync daemon (mcast=enp0s8, syncid=7)\nbackup sync daemon (mcast=enp0s8, syncid=7)\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestSchedFlags: -b's names as ipvsadm takes them, kept as the kernel's
// bits and named back in its order (flag-N of sh and mh are their names).
func TestSchedFlags(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"-A -t 192.168.56.10:80 -s sh -b sh-port,sh-fallback", "sh-fallback,sh-port"},
		{"-A -t 192.168.56.10:80 -s sh -b flag-2", "sh-port"},
		{"-A -t 192.168.56.10:80 -s mh -b flag-1,mh-port,", "mh-fallback,mh-port"},
		{"-A -t 192.168.56.10:80 -s rr -b flag-3,flag-1", "flag-1,flag-3"},
		{"-A -t 192.168.56.10:80 --scheduler mh --sched-flags=mh-port", "mh-port"},
	} {
		cmd, err := Parse(append([]string{"ipvsadm"}, strings.Fields(c.args)...))
		if err != nil || cmd.SchedFlags != c.want {
			t.Errorf("%s: %q %v, want %q", c.args, cmd.SchedFlags, err, c.want)
		}
	}
	for _, c := range []struct{ args, msg string }{
		{"-A -t 192.168.56.10:80 -b mh-port", "incompatible scheduler flag `mh-port'\n"},
		{"-A -t 192.168.56.10:80 -s sh -b sh-port,bogus", "invalid scheduler flag `bogus'\n"},
		{"-A -t 192.168.56.10:80 -s sh -b sh-port -b sh-fallback", "multiple 'sched-flags' options specified\n"},
		{"-A -t 192.168.56.10:80 -p 10 -M 255.255.255.300", "illegal virtual server persistent mask specified\n"},
		{"-A -t 192.168.56.10:80 -p x", "invalid timeout value `x' specified\n"},
		{"-A -t 192.168.56.10:80 -p 2678401", "invalid timeout value `2678401' specified\n"},
		{"-a -t 192.168.56.10:80 -r 192.168.200.11 -m -x -1", "illegal u_threshold specified\n"},
		{"-a -t 192.168.56.10:80 -r 192.168.200.11 -m -y x", "illegal l_threshold specified\n"},
	} {
		_, err := Parse(append([]string{"ipvsadm"}, strings.Fields(c.args)...))
		if e, ok := err.(*Error); !ok || e.Msg != c.msg || e.Code != 2 {
			t.Errorf("%s: %v, want exit 2 %q", c.args, err, c.msg)
		}
	}
}

// TestApplyPersistenceThresholds: -p/-M, -b, -x/-y reach the services;
// -E and -e without them clear them, as ipvsadm sends every field.
func TestApplyPersistenceThresholds(t *testing.T) {
	known := func(n string) bool { _, ok := model.LookupScheduler(n); return ok }
	var tab []model.Service
	for _, l := range []string{"-A -t 192.168.56.10:80 -s sh -b sh-port -p 600 -M 255.255.255.0",
		"-a -t 192.168.56.10:80 -r 192.168.200.11:80 -m -x 100 -y 50"} {
		c, err := Parse(append([]string{"ipvsadm"}, strings.Fields(l)...))
		if err == nil {
			tab, err = Apply(tab, c, known)
		}
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	s := tab[0]
	if s.SchedFlags != "sh-port" || s.Persistence.Timeout != 600*time.Second || s.Persistence.Netmask.String() != "255.255.255.0" ||
		s.Reals[0].UpperThreshold != 100 || s.Reals[0].LowerThreshold != 50 {
		t.Fatalf("applied: %+v", s)
	}
	for _, l := range []string{"-E -t 192.168.56.10:80 -s sh", "-e -t 192.168.56.10:80 -r 192.168.200.11:80 -m"} {
		c, _ := Parse(append([]string{"ipvsadm"}, strings.Fields(l)...))
		next, err := Apply(tab, c, known)
		if err != nil {
			t.Fatal(err)
		}
		tab = next
	}
	if s := tab[0]; s.SchedFlags != "" || s.Persistent() || s.Reals[0].UpperThreshold != 0 || s.Reals[0].LowerThreshold != 0 {
		t.Errorf("after -E and -e without them: %+v", s)
	}
}

// TestListPersistenceFlagsThresholds: ipvsadm's layouts of scheduler
// flags (in the kernel's order whatever the configuration's), persistence,
// thresholds and persistence templates.
func TestListPersistenceFlagsThresholds(t *testing.T) {
	key := model.ServiceKey{VIP: vip, Port: 443, Proto: model.TCP}
	st := model.ServiceStatus{ServiceKey: key, Scheduler: "sh", Reals: []model.RealStatus{
		{RealServer: model.RealServer{Addr: web1, Port: 443, Weight: 2}, ActiveConns: 4, InactiveConns: 1, PersistentConns: 3}}}
	cfg := model.Service{VIP: vip, Port: 443, Proto: model.TCP, Scheduler: "sh", SchedFlags: "sh-port,sh-fallback",
		Persistence: model.Persistence{Timeout: 60 * time.Second, Netmask: netip.MustParseAddr("255.255.0.0")},
		Reals:       []model.RealServer{{Addr: web1, Port: 443, Weight: 2, UpperThreshold: 100, LowerThreshold: 50}}}
	tab := Table{Services: []model.ServiceStatus{st}, Config: map[model.ServiceKey]model.Service{key: cfg}}
	for _, c := range []struct {
		f    Format
		want string
	}{
		{FmtNumeric, VersionLine + "Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
			"TCP  192.168.56.10:443 sh (sh-fallback,sh-port) persistent 60 mask 255.255.0.0\n" +
			"  -> 192.168.200.11:443           Masq    2      4          1         \n"},
		{FmtNumeric | FmtRule, "-A -t 192.168.56.10:443 -s sh -p 60 -M 255.255.0.0 -b sh-fallback,sh-port\n" +
			"-a -t 192.168.56.10:443 -r 192.168.200.11:443 -m -w 2\n"},
		{FmtNumeric | FmtThresholds, VersionLine +
			"Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n" +
			"  -> RemoteAddress:Port\n" +
			"TCP  192.168.56.10:443 sh (sh-fallback,sh-port) persistent 60 mask 255.255.0.0\n" +
			"  -> 192.168.200.11:443           100        50         4          1         \n"},
		{FmtNumeric | FmtPersistentConn, VersionLine +
			"Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n" +
			"  -> RemoteAddress:Port\n" +
			"TCP  192.168.56.10:443 sh (sh-fallback,sh-port) persistent 60 mask 255.255.0.0\n" +
			"  -> 192.168.200.11:443           2         3           4          1         \n"},
	} {
		var b strings.Builder
		if err := WriteList(&b, tab, c.f, nil); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("format %#x:\n%s\nwant\n%s", c.f, b.String(), c.want)
		}
	}
}
