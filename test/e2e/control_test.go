package e2e

// The control-plane process of the end-to-end tests. The test binary
// re-executes itself with DIRECTOR_E2E_CONTROL=1 to get a separate process
// that can be killed with SIGKILL: it enters a lab node's network namespace
// (setns on its own thread, keeping the host's mount namespace and so the
// shared bpffs), opens the data plane with the loader, applies services
// and waits. SIGTERM closes it leaving the pinned state (forwarding goes
// on); SIGINT removes the data plane.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/director-lb/director/control/dataplane/bpfplane"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/loader"
)

// controlSpec is what the control process is asked to do.
type controlSpec struct {
	Netns      string
	Node       string
	Interfaces []string
	Mode       loader.Mode
	TCAttach   string
	Flows      int
	Services   []model.Service
	Timeouts   *model.Timeouts
}

// controlReady is the first line the control process prints.
type controlReady struct {
	Mode    string
	Adopted bool
	Dir     string
	Error   string
}

func TestMain(m *testing.M) {
	if os.Getenv("DIRECTOR_E2E_CONTROL") == "1" {
		os.Exit(controlMain())
	}
	os.Exit(m.Run())
}

func controlMain() int {
	var spec controlSpec
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int {
		if eerr := out.Encode(controlReady{Error: err.Error()}); eerr != nil {
			fmt.Fprintln(os.Stderr, "control:", err) // the parent cannot read it: say it here
		}
		return 1
	}
	if err := json.Unmarshal([]byte(os.Getenv("DIRECTOR_E2E_SPEC")), &spec); err != nil {
		return fail(err)
	}
	runtime.LockOSThread() // this thread enters the node's namespace for good
	ns, err := netns.GetFromPath(spec.Netns)
	if err != nil {
		return fail(err)
	}
	if err := netns.Set(ns); err != nil {
		return fail(err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	dp, err := loader.Open(loader.Options{Node: spec.Node, Interfaces: spec.Interfaces,
		Mode: spec.Mode, TCAttach: spec.TCAttach, FlowTableSize: spec.Flows})
	if err != nil {
		return fail(err)
	}
	plane := bpfplane.New(dp.Maps, dp.Mode())
	if spec.Timeouts != nil {
		if err := plane.SetTimeouts(*spec.Timeouts); err != nil {
			return fail(err)
		}
	}
	if err := plane.Apply(spec.Services); err != nil {
		return fail(err)
	}
	if err := out.Encode(controlReady{Mode: dp.Mode(), Adopted: dp.Adopted, Dir: dp.Dir()}); err != nil {
		fmt.Fprintln(os.Stderr, "write ready line:", err)
		return 1
	}
	if <-sigs == syscall.SIGINT {
		if err := dp.Remove(); err != nil {
			fmt.Fprintln(os.Stderr, "remove:", err)
			return 1
		}
		return 0
	}
	if err := dp.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		return 1
	}
	return 0
}

// controlProc is a running control process.
type controlProc struct {
	cmd   *exec.Cmd
	ready controlReady
	done  chan error
}

// startControl starts a control process and waits for it to be ready.
func startControl(t *testing.T, spec controlSpec) *controlProc {
	t.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DIRECTOR_E2E_CONTROL=1", "DIRECTOR_E2E_SPEC="+string(js))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &controlProc{cmd: cmd, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r) // nothing more to read; drains until the process exits
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &p.ready); err != nil {
			_ = cmd.Process.Kill() // it may have exited already
			t.Fatalf("control process: bad ready line %q: %v", line, err)
		}
		if p.ready.Error != "" {
			_ = cmd.Process.Kill() // it may have exited already
			t.Fatalf("control process: %s", p.ready.Error)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill() // it may have exited already
		t.Fatal("control process not ready after 30s")
	}
	return p
}

// stop signals the process and waits for it.
func (p *controlProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		return
	}
	select {
	case err := <-p.done:
		// It exits non-zero when it could not remove or close the
		// data plane (said on stderr).
		if err != nil {
			t.Errorf("control process after %v: %v", sig, err)
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill() // it may have exited meanwhile
		t.Errorf("control process did not stop after %v", sig)
	}
}
