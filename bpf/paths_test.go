package bpf

import (
	"reflect"
	"testing"
)

// Every value of enum pkt_path has a name and a verdict, and names are
// unique (they become metric labels).
func TestEveryPathNamed(t *testing.T) {
	seen := map[string]bool{}
	for p := PktPath(0); int(p) < NumPaths; p++ {
		info, ok := Paths[p]
		if !ok {
			t.Errorf("path %d has no name", p)
			continue
		}
		if seen[info.Name] {
			t.Errorf("path name %q used twice", info.Name)
		}
		seen[info.Name] = true
		switch info.Verdict {
		case "pass", "drop", "forward":
		default:
			t.Errorf("path %s: verdict %q", info.Name, info.Verdict)
		}
	}
	if len(Paths) != NumPaths {
		t.Errorf("%d named paths, the program has %d", len(Paths), NumPaths)
	}
}

// The generated Go structs must have the sizes the map specs declare
// (one definition of each struct, in types.h).
func TestGeneratedSizesMatchSpec(t *testing.T) {
	spec, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]int{
		"services":   {binarySize(SvcKey{}), binarySize(SvcValue{})},
		"reals":      {4, binarySize(Real{})},
		"flows":      {binarySize(FlowKey{}), binarySize(Flow{})},
		"real_stats": {4, binarySize(TrafficStats{})},
		"config":     {4, binarySize(DpConfig{})},
		"meta":       {4, binarySize(StateMeta{})},
	} {
		m := spec.Maps[name]
		if int(m.KeySize) != want[0] || int(m.ValueSize) != want[1] {
			t.Errorf("map %s: key/value %d/%d bytes, Go types %d/%d", name, m.KeySize, m.ValueSize, want[0], want[1])
		}
	}
}

func binarySize(v any) int {
	return int(reflect.TypeOf(v).Size())
}
