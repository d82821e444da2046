package e2e

// The daemon started as a user starts it in a namespace: plain `ip netns
// exec`, which gives it a private /sys without the host's bpffs. Its pinned
// state must still land in the host's bpffs, so that after `kill -9`
// forwarding goes on.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/labrun"
)

func TestIPNetnsExecStateOutlivesKill(t *testing.T) {
	l := seedLabWith(t, lab.Options{})
	bin := directorBin(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "director.sock")
	node := "netnsexec-" + l.Prefix()
	cfg := filepath.Join(dir, "director.yaml")
	if err := os.WriteFile(cfg, []byte(runConfig{Node: node, Socket: socket, W1: 3, W2: 1, Dataplane: "auto"}.yaml()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.NetnsName(lab.LB1), bin, "run", "--config", cfg)
	log := &labrun.Log{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if err := <-done; err != nil {
			t.Logf("director run ended: %v", err)
		}
		if out, err := exec.Command(bin, "stop", "--node", node).CombinedOutput(); err != nil {
			t.Errorf("director stop --node %s: %v\n%s", node, err, out)
		}
		if t.Failed() {
			t.Logf("director run log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := exec.Command(bin, "status", "--socket", socket).Run(); err == nil {
			break
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("director run under ip netns exec exited: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("director run under ip netns exec not ready\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	pinned := filepath.Join("/sys/fs/bpf/director", node)
	if _, err := os.Stat(pinned); err != nil {
		t.Fatalf("pinned state not in the host's bpffs: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "pinned state in the host's bpffs") {
		t.Errorf("the daemon did not say that it pins in the host's bpffs:\n%s", log.String())
	}
	if counts, _ := split(t, l, "http://192.168.56.10/", 8); counts["web1"] != 6 || counts["web2"] != 2 {
		t.Errorf("before the kill: %v, want web1 6, web2 2", counts)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-done
	done <- err
	t.Logf("daemon killed: %v", err)
	if _, err := os.Stat(pinned); err != nil {
		t.Fatalf("pinned state gone with the daemon: %v", err)
	}
	if counts, _ := split(t, l, "http://192.168.56.10/", 8); counts["web1"] != 6 || counts["web2"] != 2 {
		t.Errorf("after kill -9: %v, want web1 6, web2 2: forwarding must go on", counts)
	}
}

// In a container-like namespace (ip netns exec, then a pid namespace of its
// own, so that no process of the host is in sight) the host's bpffs cannot
// be reached: the daemon refuses to start, naming the fix, and pins nothing.
func TestPrivateNamespaceWithoutHostBPFFSRefused(t *testing.T) {
	l := seedLabWith(t, lab.Options{})
	bin := directorBin(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "director.sock")
	node := "private-" + l.Prefix()
	cfg := filepath.Join(dir, "director.yaml")
	if err := os.WriteFile(cfg, []byte(runConfig{Node: node, Socket: socket, W1: 3, W2: 1, Dataplane: "auto"}.yaml()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.NetnsName(lab.LB1),
		"unshare", "--pid", "--fork", "--mount-proc", bin, "run", "--config", cfg).CombinedOutput()
	t.Cleanup(func() { _, _ = exec.Command(bin, "stop", "--node", node).CombinedOutput() })
	if err == nil {
		t.Fatalf("the daemon ran in a private namespace without the host's bpffs:\n%s", out)
	}
	if !strings.Contains(string(out), "no persistent bpffs") || !strings.Contains(string(out), "nsenter --net") {
		t.Errorf("refusal does not say why and how to fix it:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/bpf/director", node)); err == nil {
		t.Errorf("pinned state created in the host's bpffs after all")
	}
}
