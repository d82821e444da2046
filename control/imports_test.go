package control

// The import-direction rule of the package map in doc.go, checked on the
// production (non-test) files of every package of the module: a test
// fails when an import runs the wrong way. Tests may import more (a
// health test parses a configuration file), as long as Go's own rule (no
// cycle) holds.

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/director-lb/director/"

// allowed lists, for each package of control and below, the project
// packages its production files may import. A package of control that is
// not listed here may import nothing of the project: adding a package
// means deciding its place.
var allowed = map[string][]string{
	"bpf":       nil,
	"loader":    {"bpf"},
	"heartbeat": nil,

	"control":                     nil,
	"control/model":               nil,
	"control/dataplane":           {"control/model", "heartbeat"},
	"control/config":              {"control/model", "heartbeat"},
	"control/health":              {"control/model"},
	"control/api":                 {"control/model", "control/ipvsadm"},
	"control/metrics":             {"control/model"},
	"control/ipvsadm":             {"control/model"},
	"control/importer":            {"control/model", "control/ipvsadm"},
	"control/dataplane/bpfplane":  {"control/model", "control/dataplane", "bpf", "loader", "heartbeat"},
	"control/dataplane/ipvsplane": {"control/model", "control/dataplane"},
	"control/daemon": {"control/model", "control/config", "control/dataplane", "control/dataplane/bpfplane",
		"control/dataplane/ipvsplane", "control/health", "control/api", "control/metrics", "control/ipvsadm", "heartbeat", "loader"},
}

// projectImports returns, by package (relative to the module), the
// project packages imported by its non-test files.
func projectImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files, or only tests
		}
		rel, _ := filepath.Rel(root, path)
		for _, imp := range pkg.Imports {
			if p, ok := strings.CutPrefix(imp, module); ok {
				out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], p)
			}
		}
		if _, ok := out[filepath.ToSlash(rel)]; !ok {
			out[filepath.ToSlash(rel)] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportDirection(t *testing.T) {
	imports := projectImports(t, "..")
	for _, pkg := range []string{"control/model", "control/config", "control/daemon", "bpf", "loader", "heartbeat"} {
		if _, ok := imports[pkg]; !ok {
			t.Fatalf("package %s not found: the walk is broken", pkg)
		}
	}
	for pkg, imps := range imports {
		ok, listed := allowed[pkg]
		if !listed {
			if strings.HasPrefix(pkg, "control") {
				t.Errorf("package %s has no place in the import rule: add it to allowed (imports_test.go) and doc.go", pkg)
			}
			continue
		}
		for _, imp := range imps {
			if !slices.Contains(ok, imp) {
				t.Errorf("%s imports %s: against the direction %s may import %v", pkg, imp, pkg, ok)
			}
		}
	}
}

// The rule itself has no cycle and lets nothing below import control.
func TestImportRuleIsOneWay(t *testing.T) {
	for pkg, imps := range allowed {
		for _, imp := range imps {
			if slices.Contains(allowed[imp], pkg) {
				t.Errorf("%s and %s may import each other", pkg, imp)
			}
			if !strings.HasPrefix(pkg, "control") && strings.HasPrefix(imp, "control") {
				t.Errorf("%s sits below control but may import %s", pkg, imp)
			}
		}
	}
}
