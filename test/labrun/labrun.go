// Package labrun runs `director run` inside a node of the namespace lab,
// for the end-to-end tests on this machine (test/e2e) and in the test VM
// (test/vmtests): the process under `nsenter --net` (which, unlike `ip
// netns exec`, keeps the host's bpffs in view), its log, its control
// socket, and its end with the test.
package labrun

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/test/lab"
)

// Director is one `director run` in a lab node.
type Director struct {
	t      *testing.T
	Lab    *lab.Lab
	Node   string // the lab node it runs in
	Bin    string // the director binary
	Config string // its configuration file
	Socket string // its control socket
	Cmd    *exec.Cmd
	Log    *Log       // its stdout and stderr
	Done   chan error // receives the process's exit, once
}

// Options configure Start.
type Options struct {
	// Bin is the director binary.
	Bin string
	// Socket is the control socket the configuration names.
	Socket string
	// Ready bounds the start-up, until the socket answers (default 30s).
	Ready time.Duration
	// Grace is how long the cleanup waits after SIGINT before SIGKILL
	// (default 10s).
	Grace time.Duration
	// Args are more arguments of `director run` (e.g. --log-format json).
	Args []string
	// Env is added to the daemon's environment (e.g. NOTIFY_SOCKET).
	Env []string
	// Wrap is a command that runs the daemon, inside the node's network
	// namespace (e.g. setpriv with a capability set).
	Wrap []string
}

// Start writes cfg and runs `director run` with it in lab node node,
// waiting until its socket answers. When the test ends the daemon is
// interrupted (killed after Grace), the pinned state of its node removed
// with `director stop --node`, and its log shown if the test failed.
func Start(t *testing.T, l *lab.Lab, node, cfg string, o Options) *Director {
	t.Helper()
	if o.Ready == 0 {
		o.Ready = 30 * time.Second
	}
	if o.Grace == 0 {
		o.Grace = 10 * time.Second
	}
	d := &Director{t: t, Lab: l, Node: node, Bin: o.Bin, Config: filepath.Join(t.TempDir(), "director.yaml"),
		Socket: o.Socket, Log: &Log{}, Done: make(chan error, 1)}
	d.WriteConfig(cfg)
	argv := append([]string{"--net=" + l.NetnsPath(node)}, o.Wrap...)
	argv = append(argv, d.Bin, "run", "--config", d.Config)
	d.Cmd = exec.Command("nsenter", append(argv, o.Args...)...)
	d.Cmd.Env = append(os.Environ(), o.Env...)
	d.Cmd.Stdout, d.Cmd.Stderr = d.Log, d.Log
	if err := d.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.Done <- d.Cmd.Wait() }()
	t.Cleanup(func() {
		d.kill(o.Grace)
		// Removes the pinned state, which the daemon leaves when killed;
		// none left is no error.
		if out, err := exec.Command(d.Bin, "stop", "--node", nodeOf(cfg)).CombinedOutput(); err != nil {
			t.Errorf("director stop --node %s: %v\n%s", nodeOf(cfg), err, out)
		}
		if t.Failed() {
			t.Logf("director run log (%s):\n%s", node, d.Log.String())
		}
	})
	deadline := time.Now().Add(o.Ready)
	for {
		if _, err := d.Status(); err == nil {
			return d
		}
		select {
		case err := <-d.Done:
			t.Fatalf("director run on %s exited: %v\n%s", node, err, d.Log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("director run on %s not ready after %v\n%s", node, o.Ready, d.Log.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// nodeOf extracts the node name of a configuration text (its first line).
func nodeOf(cfg string) string {
	line, _, _ := bytes.Cut([]byte(cfg), []byte("\n"))
	return string(bytes.TrimSpace(bytes.TrimPrefix(line, []byte("node:"))))
}

// kill interrupts the daemon if it still runs, and kills it after grace.
func (d *Director) kill(grace time.Duration) {
	if d.Cmd.ProcessState != nil {
		return
	}
	if err := d.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		d.t.Logf("director run on %s: interrupt: %v", d.Node, err) // it may have exited meanwhile
	}
	select {
	case err := <-d.Done:
		d.t.Logf("director run on %s exited after SIGINT: %v", d.Node, err)
	case <-time.After(grace):
		_ = d.Cmd.Process.Kill() // it may have exited meanwhile; Done says when it is gone
		d.t.Logf("director run on %s killed after %v: %v", d.Node, grace, <-d.Done)
	}
}

// T is the test the daemon belongs to.
func (d *Director) T() *testing.T { return d.t }

// WriteConfig replaces the configuration file (for a reload).
func (d *Director) WriteConfig(text string) {
	if err := os.WriteFile(d.Config, []byte(text), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// CLI runs a director command against this daemon's socket.
func (d *Director) CLI(args ...string) (string, error) {
	if len(args) > 0 {
		args = append([]string{args[0], "--socket", d.Socket}, args[1:]...)
	}
	out, err := exec.Command(d.Bin, args...).CombinedOutput()
	return string(out), err
}

// Status reads `director status --json`.
func (d *Director) Status() (model.Status, error) {
	var st model.Status
	out, err := d.CLI("status", "--json")
	if err != nil {
		return st, fmt.Errorf("%v: %s", err, out)
	}
	err = json.Unmarshal([]byte(out), &st)
	return st, err
}

// MustStatus is Status, failing the test on an error.
func (d *Director) MustStatus() model.Status {
	d.t.Helper()
	st, err := d.Status()
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

// Stop runs `director stop` and waits up to within for the daemon to exit.
func (d *Director) Stop(within time.Duration) {
	d.t.Helper()
	if out, err := d.CLI("stop"); err != nil {
		d.t.Fatalf("director stop: %v\n%s", err, out)
	}
	select {
	case err := <-d.Done:
		if err != nil {
			d.t.Errorf("director run exited with %v after stop\n%s", err, d.Log.String())
		}
	case <-time.After(within):
		d.t.Fatalf("director did not exit %v after stop\n%s", within, d.Log.String())
	}
}

// Log collects a process's output; it is safe for concurrent use.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
