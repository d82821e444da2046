package importer

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/config"
	"github.com/director-lb/director/heartbeat"
)

// haNodeScripts are the executable files of a node where Heartbeat's
// package and Debian's apache2 are installed.
func haNodeScripts(p string) bool {
	return slices.Contains([]string{"/etc/ha.d/resource.d/Filesystem", "/etc/ha.d/resource.d/MailTo",
		"/etc/init.d/apache2", "/etc/init.d/Filesystem"}, p)
}

// TestHAKeysImport translates ha.cf's ping, ping_group and deadping into
// ha.ping, and haresources' script resources into ha.resources.scripts,
// found where Heartbeat looks for them, with their :: arguments.
func TestHAKeysImport(t *testing.T) {
	files := read(t, map[string]string{"ha/ha.cf": "/etc/ha.d/ha.cf", "ha/haresources": "/etc/ha.d/haresources",
		"seed/ha.d/authkeys": "/etc/ha.d/authkeys"})
	res, err := Import(files, Options{Hostname: "lb1", Networks: seedNetworks, ScriptExists: haNodeScripts})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "ha.yaml", res.YAML)
	golden(t, "ha.notes", []byte(notesText(res.Notes)))
	cfg, err := config.Parse("ha.yaml", res.YAML)
	if err != nil {
		t.Fatalf("director validate refuses the import:\n%v", err)
	}
	h := cfg.HA
	a := netip.MustParseAddr
	wantPing := [][]netip.Addr{{a("192.168.56.1")}, {a("192.168.56.2")}, {a("10.0.0.1"), a("10.0.0.2")}}
	if h.Ping == nil || !slices.EqualFunc(h.Ping.Groups, wantPing, slices.Equal) ||
		h.Ping.Interval != 500*time.Millisecond || h.Ping.Deadping != 4*time.Second {
		t.Errorf("ha.ping: %+v, want groups %v, interval 500ms (keepalive), deadping 4s", h.Ping, wantPing)
	}
	type script struct {
		path string
		args string
	}
	var got []script
	for _, s := range h.Groups[0].Scripts {
		got = append(got, script{s.Path, strings.Join(s.Args, " ")})
	}
	want := []script{
		{"/etc/init.d/apache2", ""},
		// Heartbeat looks in resource.d before init.d.
		{"/etc/ha.d/resource.d/Filesystem", "/dev/sdb1 /srv/www ext4"},
		{"/etc/ha.d/resource.d/MailTo", "root@example.com director"},
		{"/etc/ha.d/resource.d/drbddisk", "r0"}, // guessed (drbd-utils puts it there), and said so
	}
	if !slices.Equal(got, want) {
		t.Errorf("ha.resources.scripts:\n got %v\nwant %v", got, want)
	}
	notes := notesText(res.Notes)
	for _, want := range []string{
		"/etc/ha.d/haresources:4: drbddisk::r0: neither /etc/ha.d/resource.d/drbddisk nor /etc/init.d/drbddisk",
		"/etc/ha.d/haresources:4: drbddisk::r0: started after the addresses",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("no note %q in\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "ha.cf") || !strings.Contains(string(res.YAML), "/etc/ha.d/ha.cf:13: ipfail is not needed") {
		t.Errorf("ha.cf's ping nodes with ipfail: want no note and ipfail said not needed:\n%s\n%s", notes, res.YAML)
	}
	if len(res.Notes) != 2 {
		t.Errorf("want exactly the 2 notes of drbddisk, got:\n%s", notes)
	}
	for _, gone := range []string{"ipvsadm", "LVSSyncDaemonSwap"} {
		if !strings.Contains(string(res.YAML), "the "+gone+" resource is not needed") {
			t.Errorf("%s: not said to be director's own job", gone)
		}
	}
}

// TestDefaultKeepalive: the importer's copy of director's default
// keepalive (ha.ping's default interval) is the heartbeat package's.
func TestDefaultKeepalive(t *testing.T) {
	if defaultKeepalive != heartbeat.DefaultKeepalive {
		t.Errorf("defaultKeepalive %v, heartbeat.DefaultKeepalive %v", defaultKeepalive, heartbeat.DefaultKeepalive)
	}
}

// TestNotifyNotTranslated: keepalived's notify scripts are reported, each
// with its file:line and why ha.notify cannot run it the same way.
func TestNotifyNotTranslated(t *testing.T) {
	files := read(t, map[string]string{"keepalived.conf": "/etc/keepalived/keepalived.conf"})
	res, err := Import(files, Options{Peer: "lb2", Networks: seedNetworks})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.YAML), "\n  notify:") {
		t.Errorf("a keepalived notify script was translated into ha.notify:\n%s", res.YAML)
	}
	notes := notesText(res.Notes)
	for _, want := range []string{
		`keepalived.conf:25: notify_master /etc/keepalived/master.sh: not translated: keepalived runs it only on entering MASTER`,
		`keepalived.conf:26: notify_backup /etc/keepalived/notify.sh backup: not translated: keepalived runs it only on entering BACKUP`,
		`keepalived.conf:27: notify_fault /etc/keepalived/fault.sh: not translated: keepalived runs it only on entering FAULT`,
		`keepalived.conf:28: notify_stop /etc/keepalived/stop.sh: not translated: keepalived runs it only on entering STOP`,
		`keepalived.conf:29: notify /etc/keepalived/notify.sh: not translated: keepalived appends INSTANCE|GROUP`,
		`keepalived.conf:30: track_interface: tracked scripts and interfaces`,
		`keepalived.conf:33: track_script: tracked scripts and interfaces`,
		`keepalived.conf:111: vrrp_instance VI_2: a second resource group`,
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("no note %q in\n%s", want, notes)
		}
	}
}
