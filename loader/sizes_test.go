package loader

// Tests of the map size options: which maps each one resizes, the error
// when a size cannot be applied, and the sizes the kernel ends up with.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/test/testenv"
)

// sizedOptions sets every size option to a value no default has.
var sizedOptions = Options{FlowTableSize: 1536, MaxServices: 24, MaxReals: 96, ScheduleSlots: 3072}

// wantSizes are the max_entries of the maps that sizedOptions resizes.
var wantSizes = map[string]uint32{
	"flows":          1536,
	"half_open":      uint32(bpf.HalfOpenSize(1536)), // a quarter of flows, at least 1024 and 512 per CPU
	"services":       24,
	"reals":          96,
	"real_stats":     96,
	"real_conns":     96,
	"real_conns_adj": 96,
	"schedule":       3072,
	"addrs":          24 + 96,
}

func TestSpecSizes(t *testing.T) {
	def, err := spec(Options{})
	if err != nil {
		t.Fatalf("spec with default sizes: %v", err)
	}
	if got, want := def.Maps["addrs"].MaxEntries, def.Maps["services"].MaxEntries+def.Maps["reals"].MaxEntries; got != want {
		t.Errorf("default addrs size %d, want services + reals = %d", got, want)
	}

	s, err := spec(sizedOptions)
	if err != nil {
		t.Fatalf("spec with sizes: %v", err)
	}
	for name, want := range wantSizes {
		if got := s.Maps[name].MaxEntries; got != want {
			t.Errorf("map %s: max_entries %d, want %d", name, got, want)
		}
	}
	// The maps no option names keep their defaults.
	for name, m := range s.Maps {
		if _, sized := wantSizes[name]; !sized && m.MaxEntries != def.Maps[name].MaxEntries {
			t.Errorf("map %s: max_entries %d, want the default %d", name, m.MaxEntries, def.Maps[name].MaxEntries)
		}
	}
}

func TestSpecSizeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
		want string
	}{
		{"over 32 bits", Options{MaxServices: 1 << 33}, `set max services 8589934592: size map "services": 8589934592 entries exceed`},
		{"addrs over 32 bits", Options{MaxServices: 3 << 30, MaxReals: 3 << 30}, `size the address map: size map "addrs"`},
	} {
		if _, err := spec(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}

	// A map the program does not have (as svc_stats once was) is an
	// error, not a nil dereference.
	s, err := spec(Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = setMaxEntries(s, "svc_stats", 16)
	if want := `size map "svc_stats": the program has no such map`; err == nil || err.Error() != want {
		t.Errorf("sizing a missing map: error %v, want %q", err, want)
	}
}

// TestOpenSizes loads the program with every size option set and checks
// the sizes of the maps in the kernel, as pinned, and after adoption.
func TestOpenSizes(t *testing.T) {
	testenv.RequirePrivileged(t)
	node := testNode(t)
	cleanupNode(t, node)
	inNetns(t, func() {
		opts := sizedOptions
		opts.Node = node
		opts.Interfaces = []string{"a0"}
		check := func(what string, d *Dataplane) {
			t.Helper()
			loaded := map[string]*ebpf.Map{
				"flows": d.objs.Flows, "half_open": d.objs.HalfOpen, "services": d.objs.Services, "reals": d.objs.Reals,
				"real_stats": d.objs.RealStats, "real_conns": d.objs.RealConns, "real_conns_adj": d.objs.RealConnsAdj, "schedule": d.objs.Schedule, "addrs": d.objs.Addrs,
			}
			for name, want := range wantSizes {
				if got := loaded[name].MaxEntries(); got != want {
					t.Errorf("%s: map %s: max_entries %d, want %d", what, name, got, want)
				}
				// The pinned map, read back from the kernel.
				m, err := ebpf.LoadPinnedMap(filepath.Join(d.Dir(), name), nil)
				if err != nil {
					t.Errorf("%s: open pinned %s: %v", what, name, err)
					continue
				}
				info, err := m.Info()
				_ = m.Close()
				if err != nil {
					t.Errorf("%s: info of pinned %s: %v", what, name, err)
					continue
				}
				if info.MaxEntries != want {
					t.Errorf("%s: pinned map %s: max_entries %d, want %d", what, name, info.MaxEntries, want)
				}
			}
			c := d.Maps.Capacity()
			if c.Services != 24 || c.Reals != 96 || c.ScheduleSlots != 3072 || c.Flows != 1536 || c.HalfOpen != 1024 {
				t.Errorf("%s: capacity %+v, want the sized maps", what, c)
			}
		}

		d, err := Open(opts)
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		check("created", d)
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		d, err = Open(opts)
		if err != nil {
			t.Errorf("reopen: %v", err)
			return
		}
		if !d.Adopted {
			t.Error("reopen with the same sizes did not adopt")
		}
		check("adopted", d)
		if err := d.Remove(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(d.Dir()); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Remove (%v)", d.Dir(), err)
		}
	})
}
