package testenv

// RequirePrivileged's verdict for each value of DIRECTOR_PRIVILEGED_TESTS,
// as root and not, through a testing.TB that records instead of stopping.

import (
	"fmt"
	"os"
	"runtime"
	"testing"
)

// recorder is a testing.TB whose Skip and Fatal record the verdict and,
// like the real ones, end the calling goroutine.
type recorder struct {
	testing.TB
	verdict string // "", "skip" or "fatal"
	msg     string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) { r.stop("skip", fmt.Sprint(args...)) }

func (r *recorder) Fatal(args ...any) { r.stop("fatal", fmt.Sprint(args...)) }

func (r *recorder) Fatalf(format string, args ...any) { r.stop("fatal", fmt.Sprintf(format, args...)) }

func (r *recorder) stop(verdict, msg string) {
	r.verdict, r.msg = verdict, msg
	runtime.Goexit()
}

// verdict runs RequirePrivileged on its own goroutine and returns what it
// decided ("" when the test would run).
func verdict(t *testing.T) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		RequirePrivileged(r)
	}()
	<-done
	return r
}

func TestRequirePrivileged(t *testing.T) {
	root := os.Geteuid() == 0
	for _, c := range []struct {
		value         string
		root, notRoot string // verdicts: "" means the test runs
	}{
		{"", "", "skip"},
		{"1", "", "fatal"},
		{"0", "skip", "skip"},
		{"yes", "fatal", "fatal"},
	} {
		t.Setenv("DIRECTOR_PRIVILEGED_TESTS", c.value)
		r := verdict(t)
		want := c.notRoot
		if root {
			want = c.root
		}
		if r.verdict != want {
			t.Errorf("DIRECTOR_PRIVILEGED_TESTS=%q, root %t: verdict %q (%s), want %q", c.value, root, r.verdict, r.msg, want)
		}
	}
	// Unset is the same as empty.
	t.Setenv("DIRECTOR_PRIVILEGED_TESTS", "")
	if err := os.Unsetenv("DIRECTOR_PRIVILEGED_TESTS"); err != nil {
		t.Fatal(err)
	}
	r := verdict(t)
	if want := map[bool]string{true: "", false: "skip"}[root]; r.verdict != want {
		t.Errorf("DIRECTOR_PRIVILEGED_TESTS unset, root %t: verdict %q (%s), want %q", root, r.verdict, r.msg, want)
	}
}
