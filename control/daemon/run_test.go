package daemon

// The daemon on a kernel without IPVS.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/director-lb/director/control/dataplane/ipvsplane"
	"github.com/director-lb/director/test/testenv"
)

// kernelHasIPVS says whether the running kernel has IPVS built in or as a
// module, from its own files.
func kernelHasIPVS() bool {
	if _, err := os.Stat("/sys/module/ip_vs"); err == nil {
		return true
	}
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return false // no release to look under
	}
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	for _, f := range []string{"modules.dep", "modules.builtin"} {
		b, _ := os.ReadFile(filepath.Join("/lib/modules", string(rel), f))
		if strings.Contains(string(b), "/ip_vs.ko") {
			return true
		}
	}
	return false
}

// TestRunIPVSWithoutIPVS: on a kernel without IPVS (the build machines),
// `dataplane: ipvs` refuses to start with an error that says so and what
// to do, not a netlink errno.
func TestRunIPVSWithoutIPVS(t *testing.T) {
	testenv.RequirePrivileged(t)
	if kernelHasIPVS() {
		t.Skip("this kernel has IPVS; the VM tests exercise it")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "director.yaml")
	data := fmt.Sprintf("node: noipvs\ninterfaces: {public: lo, internal: lo}\ndataplane: ipvs\ncontrol_socket: %s\n"+
		"services:\n  - {vip: 192.168.56.10, port: 80, real_servers: [{address: 192.168.200.11}]}\n",
		filepath.Join(dir, "d.sock"))
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Run(ctx, Options{ConfigPath: cfg, PinRoot: filepath.Join(dir, "bpf")})
	if !errors.Is(err, ipvsplane.ErrNoIPVS) {
		t.Fatalf("got %v, want ipvsplane.ErrNoIPVS", err)
	}
	for _, s := range []string{"the kernel has no IPVS", "modprobe ip_vs", "CONFIG_IP_VS", "dataplane: auto"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	t.Logf("error: %v", err)
}
