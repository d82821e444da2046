package health

// The command check: a program run without a shell, exit status 0 a
// success.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// commandChecker is the command check: argv, its program first.
type commandChecker struct{ argv []string }

// Close implements Checker.
func (commandChecker) Close() {}

// Check runs the command for addr; exit status 0 is a success. The
// command runs in a process group of its own, killed whole at the
// timeout.
func (cc commandChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	r := strings.NewReplacer("{address}", addr.Addr().String(), "{port}", strconv.Itoa(int(addr.Port())))
	argv := make([]string, len(cc.argv))
	for i, a := range cc.argv {
		argv[i] = r.Replace(a)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Output pipes a grandchild keeps open do not hold the check up.
	cmd.WaitDelay = 100 * time.Millisecond
	var out healthTail
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if line := out.lastLine(); line != "" {
			return fmt.Errorf("%s: %s", ee, line)
		}
		return errors.New(ee.String())
	}
	return err
}

// healthTail keeps the last 256 bytes written to it.
type healthTail struct {
	mu  sync.Mutex
	buf []byte
}

const healthTailSize = 256

func (t *healthTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > healthTailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-healthTailSize:]...)
	}
	return len(b), nil
}

// lastLine returns the last non-empty line written, trimmed.
func (t *healthTail) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
