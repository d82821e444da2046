package heartbeat

// Script resources, as haresources' `ipvsadm` or `apache2`: LSB-style
// scripts started in order once the addresses are up, and stopped in
// reverse before they are removed, each within its timeout, their output
// logged. A script that fails to start makes the whole acquisition fail:
// what was started is stopped again and the machine releases the group,
// so that the peer takes it (a group is never left half held). Also the
// notify hooks: a script run at every transition, like keepalived's
// notify.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Script is an LSB-style script.
type Script struct {
	// Path is the executable, Args go before the action ("start",
	// "stop"; a notify hook's state, group and reason).
	Path string
	Args []string
	// Timeout bounds a run; the script is killed (its process group)
	// when it is over.
	Timeout time.Duration
}

// String is the script as it is run, without the action.
func (s Script) String() string {
	return strings.Join(append([]string{s.Path}, s.Args...), " ")
}

// Check says whether the script can be run: a regular, executable file.
func (s Script) Check() error {
	st, err := os.Stat(s.Path)
	switch {
	case err != nil:
		return fmt.Errorf("script %s: %w", s.Path, err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("script %s: not a regular file", s.Path)
	case st.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("script %s: not executable (chmod +x)", s.Path)
	}
	return nil
}

// maxScriptOutput bounds the output of one run kept for the log.
const maxScriptOutput = 4096

// ScriptRunner runs scripts, logs their output and counts their runs.
type ScriptRunner struct {
	Log *slog.Logger

	mu       sync.Mutex
	runs     uint64
	failures uint64
}

// ScriptCounts are a ScriptRunner's counters.
type ScriptCounts struct {
	Runs, Failures uint64
}

// Counts gives the runner's counters.
func (r *ScriptRunner) Counts() ScriptCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ScriptCounts{r.runs, r.failures}
}

// Run runs s with args after its own, within its timeout, with env added
// to the daemon's environment, and logs its output. A non-zero exit, a
// timeout (the script's process group is killed) and a missing script are
// errors, counted as failures.
func (r *ScriptRunner) Run(ctx context.Context, s Script, env []string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Path, append(append([]string(nil), s.Args...), args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a child keeping the output open does not hold us
	var out bytes.Buffer
	cmd.Stdout = &limitedWriter{w: &out, n: maxScriptOutput}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %v: killed", s.Timeout)
	}
	r.mu.Lock()
	r.runs++
	if err != nil {
		r.failures++
	}
	r.mu.Unlock()
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	attrs := []any{"script", s.String(), "args", args, "took", took, "output", strings.TrimSpace(out.String())}
	if err != nil {
		log.Error("ha: script failed", append(attrs, "error", err)...)
		return fmt.Errorf("%s %s: %w", s, strings.Join(args, " "), err)
	}
	log.Info("ha: script ran", attrs...)
	return nil
}

// limitedWriter keeps the first n bytes written and drops the rest.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// ScriptGroup is a resource group with script resources: the addresses
// (Inner) first, then the scripts.
type ScriptGroup struct {
	Resources
	Scripts []Script
	Runner  *ScriptRunner
}

// Acquire adds the addresses, then starts every script in order. If one
// fails, the rest are not started and the error is returned: the machine
// then releases the group (Release stops every script, an LSB stop of a
// service not running being harmless, and removes the addresses) and the
// peer takes it.
func (g ScriptGroup) Acquire(ctx context.Context) error {
	if err := g.Resources.Acquire(ctx); err != nil {
		return err
	}
	for _, s := range g.Scripts {
		if err := g.Runner.Run(ctx, s, nil, "start"); err != nil {
			return fmt.Errorf("start script resource: %w", err)
		}
	}
	return nil
}

// Release stops every script in reverse order, then removes the
// addresses. A failing stop is logged and counted (by Run) but does not
// keep the addresses: holding them would keep the peer from serving. The
// error returned is the addresses'.
func (g ScriptGroup) Release(ctx context.Context) error {
	for i := len(g.Scripts) - 1; i >= 0; i-- {
		_ = g.Runner.Run(ctx, g.Scripts[i], nil, "stop") // logged and counted by Run
	}
	return g.Resources.Release(ctx)
}
