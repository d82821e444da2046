package bpf

// Helpers shared by this package's tests and benchmarks: privilege checks
// and loading the program with unpinned maps.

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/director-lb/director/test/testenv"
)

// loadUnpinned loads the program with fresh, unpinned maps of the given
// flow table size (the half-open table sized as the loader does).
func loadUnpinned(tb testing.TB, flows uint32) *Objects {
	tb.Helper()
	var half uint32
	if flows > 0 {
		half = uint32(HalfOpenSize(int(flows)))
	}
	return loadUnpinnedSized(tb, flows, half)
}

// loadUnpinnedSized loads the program with fresh, unpinned maps, the
// established and half-open tables of the given sizes (0: the default).
func loadUnpinnedSized(tb testing.TB, flows, half uint32) *Objects {
	tb.Helper()
	testenv.RequirePrivileged(tb)
	spec, err := LoadSpec()
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	if flows > 0 {
		spec.Maps["flows"].MaxEntries = flows
	}
	if half > 0 {
		spec.Maps["half_open"].MaxEntries = half
	}
	var objs Objects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			tb.Fatalf("load: %+v", ve)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = objs.Close() })
	return &objs
}

func TestLoad(t *testing.T) {
	objs := loadUnpinned(t, 1024)
	if objs.XdpDirector == nil {
		t.Fatal("program not loaded")
	}
}
