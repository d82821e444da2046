package importer

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// seedNetworks are lb1's interfaces in the seed's lab.
var seedNetworks = []Network{
	{Interface: "enp0s3", Prefix: netip.MustParsePrefix("192.168.56.11/24")},
	{Interface: "enp0s8", Prefix: netip.MustParsePrefix("192.168.200.251/24")},
}

// read loads testdata files, named as the user would give them (the
// authkeys under /etc/ha.d, since the key file's path is kept).
func read(t *testing.T, names map[string]string) []File {
	t.Helper()
	var out []File
	for _, n := range sortedKeys(names) {
		data, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, File{Name: names[n], Data: data})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			if k[j] < k[i] {
				k[i], k[j] = k[j], k[i]
			}
		}
	}
	return k
}

// golden compares got with testdata/name, rewritten with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update to rewrite):\n--- got\n%s", name, got)
	}
}

func notesText(ns []Note) string {
	var b strings.Builder
	for _, n := range ns {
		b.WriteString(n.String() + "\n")
	}
	return b.String()
}

func TestSeedImport(t *testing.T) {
	files := read(t, map[string]string{
		"seed/ipvsadm.rules":    "/etc/ipvsadm.rules",
		"seed/default/ipvsadm":  "/etc/default/ipvsadm",
		"seed/ha.d/ha.cf":       "/etc/ha.d/ha.cf",
		"seed/ha.d/authkeys":    "/etc/ha.d/authkeys",
		"seed/ha.d/haresources": "/etc/ha.d/haresources",
	})
	res, err := Import(files, Options{Hostname: "lb1", Networks: seedNetworks})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "seed.yaml", res.YAML)
	if len(res.Notes) != 0 {
		t.Errorf("the seed's files left untranslated items:\n%s", notesText(res.Notes))
	}
	cfg, err := config.Parse("seed.yaml", res.YAML)
	if err != nil {
		t.Fatalf("director validate refuses the import:\n%v", err)
	}
	t.Logf("%+v", cfg)
}

// TestSeedImportLB2 imports the same files on lb2, whose addresses are
// .12 and .252: the same configuration but for node.
func TestSeedImportLB2(t *testing.T) {
	files := read(t, map[string]string{
		"seed/ipvsadm.rules":    "/etc/ipvsadm.rules",
		"seed/ha.d/ha.cf":       "/etc/ha.d/ha.cf",
		"seed/ha.d/authkeys":    "/etc/ha.d/authkeys",
		"seed/ha.d/haresources": "/etc/ha.d/haresources",
	})
	res, err := Import(files, Options{Hostname: "lb2", Networks: []Network{
		{Interface: "enp0s3", Prefix: netip.MustParsePrefix("192.168.56.12/24")},
		{Interface: "enp0s8", Prefix: netip.MustParsePrefix("192.168.200.252/24")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("lb2.yaml", res.YAML)
	if err != nil {
		t.Fatalf("director validate refuses the import:\n%v", err)
	}
	if cfg.Node != "lb2" || cfg.HA == nil || len(cfg.HA.Groups) != 1 || cfg.HA.Groups[0].Owner != "lb1" ||
		len(cfg.HA.Groups[0].Addresses) != 2 || cfg.HA.Groups[0].Addresses[1].Prefix.String() != "192.168.200.250/24" ||
		cfg.HA.Groups[0].Addresses[1].Interface != "enp0s8" {
		t.Errorf("lb2's import: node %s, ha %+v", cfg.Node, cfg.HA)
	}
}

// TestKeepalivedImport translates a keepalived.conf with every block
// director reads; what it cannot take is listed with file:line.
func TestKeepalivedImport(t *testing.T) {
	files := read(t, map[string]string{"keepalived.conf": "/etc/keepalived/keepalived.conf"})
	res, err := Import(files, Options{Peer: "lb2", Networks: seedNetworks})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "keepalived.yaml", res.YAML)
	golden(t, "keepalived.notes", []byte(notesText(res.Notes)))
	cfg, err := config.Parse("keepalived.yaml", res.YAML)
	if err != nil {
		t.Fatalf("director validate refuses the import:\n%v", err)
	}
	if len(cfg.Services) != 3 || cfg.Health[0].PerReal[cfg.Services[0].Reals[0].Key()].Path != "/health" ||
		cfg.HA == nil || len(cfg.HA.Groups) != 1 || cfg.HA.Groups[0].Owner != "lb1" {
		t.Errorf("import: %+v %+v", cfg.Services, cfg.HA)
	}
}

// TestUntranslated lists, with file:line, what a rules file, an ha.cf
// and an haresources hold that director cannot take, and still gives a
// valid configuration.
func TestUntranslated(t *testing.T) {
	files := read(t, map[string]string{"bad.rules": "/etc/ipvsadm.rules", "bad.ha.cf": "/etc/ha.d/ha.cf",
		"bad.haresources": "/etc/ha.d/haresources", "seed/ha.d/authkeys": "/etc/ha.d/authkeys"})
	res, err := Import(files, Options{Node: "lb1", Networks: seedNetworks})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bad.yaml", res.YAML)
	golden(t, "bad.notes", []byte(notesText(res.Notes)))
	if _, err := config.Parse("bad.yaml", res.YAML); err != nil {
		t.Fatalf("director validate refuses the import:\n%v", err)
	}
	for _, want := range []string{
		"/etc/ipvsadm.rules:4: ", "/etc/ipvsadm.rules:5: ", "/etc/ipvsadm.rules:6: ", "/etc/ipvsadm.rules:7: ",
		"/etc/ipvsadm.rules:8: ", "/etc/ipvsadm.rules:9: ", "/etc/ha.d/ha.cf:1: ", "/etc/ha.d/ha.cf:7: ",
		"/etc/ha.d/ha.cf:13: ", "/etc/ha.d/haresources:1: httpd", "/etc/ha.d/haresources:3: ",
		// ha.ping refuses an empty group, IPv6, an address twice, a
		// deadping not longer than keepalive (the ping interval).
		"/etc/ha.d/ha.cf:9: ping 192.168.56.1: Heartbeat acts on ping nodes only through ipfail", "/etc/ha.d/ha.cf:14: ping_group uplinks: want", "/etc/ha.d/ha.cf:15: ping 2001:db8::1: 2001:db8::1: want an IPv4",
		"/etc/ha.d/ha.cf:16: ping 192.168.56.1: 192.168.56.1 is already a ping node (/etc/ha.d/ha.cf:9)",
		"/etc/ha.d/ha.cf:17: deadping 500ms: not longer than keepalive 500ms",
		"/etc/ha.d/haresources:4: ../sbin/halt: want a resource name",
	} {
		if !strings.Contains(notesText(res.Notes), want) {
			t.Errorf("no note at %s", want)
		}
	}
}

// TestGroupsImport: haresources lines with two owners become ha.groups,
// lb1's group and lb2's, each with its addresses.
func TestGroupsImport(t *testing.T) {
	files := read(t, map[string]string{
		"seed/ipvsadm.rules": "/etc/ipvsadm.rules",
		"seed/ha.d/ha.cf":    "/etc/ha.d/ha.cf",
		"seed/ha.d/authkeys": "/etc/ha.d/authkeys",
		"groups/haresources": "/etc/ha.d/haresources",
	})
	res, err := Import(files, Options{Hostname: "lb1", Networks: seedNetworks})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "groups.yaml", res.YAML)
	if len(res.Notes) != 0 {
		t.Errorf("untranslated items:\n%s", notesText(res.Notes))
	}
	cfg, err := config.Parse("groups.yaml", res.YAML)
	if err != nil {
		t.Fatalf("director validate refuses the import:\n%v", err)
	}
	g := cfg.HA.Groups
	if len(g) != 2 || g[0].Owner != "lb1" || g[1].Owner != "lb2" || len(g[0].Addresses) != 2 || len(g[1].Addresses) != 2 ||
		g[1].Addresses[0].Prefix.String() != "192.168.56.20/24" || g[1].Addresses[1].Interface != "enp0s8" {
		t.Errorf("groups %+v", g)
	}
}

// TestPersistenceImport: ipvsadm's -p/-M, -b, -x/-y and keepalived's
// persistence_timeout/_granularity, scheduler flag keywords and
// uthreshold/lthreshold become persistence, scheduler_flags and
// upper/lower_threshold; what the configuration cannot hold is listed.
func TestPersistenceImport(t *testing.T) {
	for _, c := range []struct{ file, as string }{
		{"persist.rules", "/etc/ipvsadm.rules"}, {"persist.keepalived.conf", "/etc/keepalived/keepalived.conf"},
	} {
		res, err := Import(read(t, map[string]string{c.file: c.as}), Options{Node: "lb1", Networks: seedNetworks})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, c.file+".yaml", res.YAML)
		golden(t, c.file+".notes", []byte(notesText(res.Notes)))
		cfg, err := config.Parse(c.file+".yaml", res.YAML)
		if err != nil {
			t.Fatalf("director validate refuses the import of %s:\n%v", c.file, err)
		}
		s := cfg.Services[0]
		if s.Persistence.Timeout != 600*time.Second || s.Persistence.Netmask.String() != "255.255.255.0" ||
			s.Reals[0].UpperThreshold != 100 || s.Reals[0].LowerThreshold != 50 {
			t.Errorf("%s: first service %+v", c.file, s)
		}
		if f := cfg.Services[1].SchedFlags; f != "sh-fallback,sh-port" && f != "sh-port,sh-fallback" {
			t.Errorf("%s: scheduler flags of the sh service %q", c.file, f)
		}
	}
}
