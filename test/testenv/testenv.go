// Package testenv holds what the project's tests share about their
// environment: the rule for tests that need root.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequirePrivileged lets a test that needs root (namespaces, BPF programs,
// raw sockets, bpffs) run, or stops it, as DIRECTOR_PRIVILEGED_TESTS says:
//
//   - unset (or empty): the test runs as root and is skipped otherwise;
//   - "1": privileged tests must run (CI sets it): without root the test
//     fails, so a run can never go green by skipping the real thing;
//   - "0": privileged tests are skipped, even as root (make test-unit:
//     the unprivileged tier alone, quick and touching nothing).
//
// Any other value fails the test: a typo must not change what runs.
func RequirePrivileged(tb testing.TB) {
	tb.Helper()
	switch v := os.Getenv("DIRECTOR_PRIVILEGED_TESTS"); v {
	case "0":
		tb.Skip("privileged test skipped: DIRECTOR_PRIVILEGED_TESTS=0")
	case "1", "":
		if os.Geteuid() == 0 {
			return
		}
		if v == "1" {
			tb.Fatal("DIRECTOR_PRIVILEGED_TESTS=1 but not running as root")
		}
		tb.Skip("needs root")
	default:
		tb.Fatalf("DIRECTOR_PRIVILEGED_TESTS=%q: want 1 (privileged tests must run), 0 (skip them) or unset (run them as root)", v)
	}
}

// RequireCommand lets a test that runs a program from a Debian package
// (promtool, prometheus, chromium) run, or stops it: when name is not in
// PATH the test fails if DIRECTOR_PRIVILEGED_TESTS=1 (CI, make test: the
// Makefile installs it, pkg names the package) and is skipped otherwise.
// It returns the program's path.
func RequireCommand(tb testing.TB, name, pkg string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("DIRECTOR_PRIVILEGED_TESTS") == "1" {
		tb.Fatalf("%s not found (Debian package %s; make deps-monitoring installs it): %v", name, pkg, err)
	}
	tb.Skipf("%s not found (Debian package %s)", name, pkg)
	return ""
}
