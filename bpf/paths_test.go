package bpf

import "testing"

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
