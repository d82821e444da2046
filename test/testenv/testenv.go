// Package testenv holds what the project's tests share about their
// environment: the rule for tests that need root.
package testenv

import (
	"os"
	"testing"
)

// RequirePrivileged lets a test that needs root run. Without root it skips
// the test, unless DIRECTOR_PRIVILEGED_TESTS=1 (CI sets it) says privileged
// tests must run: then it fails, so a run can never go green by skipping
// the real thing.
func RequirePrivileged(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("DIRECTOR_PRIVILEGED_TESTS") == "1" {
		tb.Fatal("DIRECTOR_PRIVILEGED_TESTS=1 but not running as root")
	}
	tb.Skip("needs root")
}
