package heartbeat

// Tests of script resources without root: a script group over fake
// resources, scripts written to a temporary directory.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recordingRes records Acquire and Release into a shared log.
type recordingRes struct {
	log *[]string
	fakeResources
}

type fakeResources struct{}

func (fakeResources) Announce(context.Context) error { return nil }
func (fakeResources) Held() (bool, error)            { return false, nil }

func (r recordingRes) Acquire(context.Context) error {
	*r.log = append(*r.log, "addresses up")
	return nil
}
func (r recordingRes) Release(context.Context) error {
	*r.log = append(*r.log, "addresses down")
	return nil
}

func writeScript(t *testing.T, dir, name, body string) Script {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return Script{Path: path, Timeout: 2 * time.Second}
}

func TestScriptGroupOrderAndFailures(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	a := writeScript(t, dir, "a", `echo "a $1" >> `+out+"\n")
	b := writeScript(t, dir, "b", `echo "b $1" >> `+out+"\n")
	fail := writeScript(t, dir, "fail", `echo "fail $1" >> `+out+"\n[ \"$1\" = start ] && exit 3\nexit 0\n")
	hang := writeScript(t, dir, "hang", "sleep 20\n")
	hang.Timeout = 100 * time.Millisecond
	missing := Script{Path: filepath.Join(dir, "missing"), Timeout: time.Second}
	read := func() string {
		b, _ := os.ReadFile(out)
		_ = os.Remove(out)
		return strings.TrimSuffix(strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", ", "), ",")
	}

	var log []string
	r := &ScriptRunner{}
	g := ScriptGroup{Resources: recordingRes{log: &log}, Scripts: []Script{a, b}, Runner: r}
	if err := g.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := g.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "a start, b start, b stop, a stop" {
		t.Errorf("order %q, want start in order, stop in reverse", got)
	}
	if c := r.Counts(); c.Runs != 4 || c.Failures != 0 {
		t.Errorf("counts %+v", c)
	}

	for _, c := range []struct {
		name   string
		script Script
		want   string
	}{
		{"non-zero exit", fail, "exit status 3"},
		{"hangs", hang, "timed out after 100ms"},
		{"missing", missing, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &ScriptRunner{}
			g := ScriptGroup{Resources: recordingRes{log: &log}, Scripts: []Script{a, c.script, b}, Runner: r}
			start := time.Now()
			err := g.Acquire(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("acquire: %v, want an error with %q", err, c.want)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("acquire took %v: the timeout did not kill the script", took)
			}
			if got := read(); strings.Contains(got, "b start") {
				t.Errorf("ran %q: a script after the failed one was started", got)
			}
			if r.Counts().Failures != 1 {
				t.Errorf("counts %+v, want one failure", r.Counts())
			}
			if err := missing.Check(); err == nil {
				t.Error("Check of a missing script: no error")
			}
		})
	}
}
