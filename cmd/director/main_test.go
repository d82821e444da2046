package main

// The command line in-process, with its own writers: what validate prints
// for a good and a bad file, and the exit codes errors map to.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/director-lb/director/loader"
)

// run runs the app with args and returns its output and exit code.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := newApp(&out, &errOut).RunContext(context.Background(), append([]string{"director"}, args...))
	if err != nil {
		return out.String(), errOut.String() + err.Error(), exitCode(err)
	}
	return out.String(), errOut.String(), 0
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	const head = "node: lb1\ninterfaces: {public: enp0s3, internal: enp0s8}\n"
	files := map[string]string{
		good: head + "services:\n  - vip: 192.168.56.10\n    port: 80\n    real_servers:\n" +
			"      - {address: 192.168.200.11, weight: 3}\n      - {address: 192.168.200.12}\n",
		bad: head + "services:\n  - vip: 192.168.56.10\n    port: 0\n    scheduler: dh\n",
	}
	for path, data := range files {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	out, _, code := run(t, "validate", "-c", good)
	if want := good + ": valid (node lb1, 1 services, 2 real servers)\n"; code != 0 || out != want {
		t.Errorf("valid file: exit %d, output %q, want 0 and %q", code, out, want)
	}

	_, errOut, code := run(t, "validate", "-c", bad)
	want := []string{
		bad + `:5: port: 0 is outside 1..65535`,
		bad + `:6: scheduler "dh" needs dataplane: ipvs (the BPF data planes implement rr, wrr, lc, wlc, sh, sed, nq and mh)`,
	}
	if code != exitInvalidConfig || errOut != strings.Join(want, "\n") {
		t.Errorf("invalid file: exit %d, errors\n%s\nwant exit %d and\n%s", code, errOut, exitInvalidConfig, strings.Join(want, "\n"))
	}

	_, errOut, code = run(t, "validate", "-c", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("missing file: exit %d, %q, want exit 1 naming the file", code, errOut)
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("open data plane: %w", loader.ErrBusy), exitBusy},
		{fmt.Errorf("anything else"), 1},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
