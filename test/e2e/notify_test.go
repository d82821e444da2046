package e2e

// `director run` as systemd's Type=notify unit sees it: the real binary
// with $NOTIFY_SOCKET pointing at a socket of the test, JSON logs.

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/labrun"
)

// TestRunNotifiesSystemd: READY=1 comes when the data plane serves (a
// client's connection through the VIP, made the moment it arrives, is
// answered), a SIGHUP reload is framed by RELOADING=1 and READY=1, SIGTERM
// sends STOPPING=1; every log line is JSON with a level.
func TestRunNotifiesSystemd(t *testing.T) {
	l := seedLabWith(t, lab.Options{})
	// A path, not an abstract name: abstract unix sockets belong to a
	// network namespace, and the daemon runs in lb1's.
	sock := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	recv := func(within time.Duration) string {
		t.Helper()
		_ = ln.SetReadDeadline(time.Now().Add(within))
		b := make([]byte, 4096)
		k, err := ln.Read(b)
		if err != nil {
			t.Fatalf("no notification within %v: %v", within, err)
		}
		return string(b[:k])
	}

	// The first message and a request made as soon as it arrives.
	type first struct{ msg, who, err string }
	got := make(chan first, 1)
	go func() {
		_ = ln.SetReadDeadline(time.Now().Add(60 * time.Second))
		b := make([]byte, 4096)
		k, err := ln.Read(b)
		if err != nil {
			got <- first{err: err.Error()}
			return
		}
		c := l.HTTPClient(lab.Client, false)
		c.Timeout = 2 * time.Second
		who, gerr := get(context.Background(), c, "http://192.168.56.10/")
		f := first{msg: string(b[:k]), who: who}
		if gerr != nil {
			f.err = gerr.Error()
		}
		got <- f
	}()

	cfg := runConfig{Node: "notify-" + l.Prefix(), Socket: filepath.Join(t.TempDir(), "director.sock"), W1: 3, W2: 1}
	d := labrun.Start(t, l, lab.LB1, cfg.yaml(), labrun.Options{Bin: directorBin(t), Socket: cfg.Socket,
		Args: []string{"--log-format", "json"}, Env: []string{"NOTIFY_SOCKET=" + sock}})
	var f first
	select {
	case f = <-got:
	case <-time.After(70 * time.Second):
		t.Fatal("no READY=1")
	}
	if !strings.HasPrefix(f.msg, "READY=1\nSTATUS=serving 2 services (") || f.err != "" || (f.who != "web1" && f.who != "web2") {
		t.Fatalf("first notification %q; a request right after it: answered by %q, error %q", f.msg, f.who, f.err)
	}
	t.Logf("first notification %q; a request right after it answered by %s", f.msg, f.who)

	// Reload by SIGHUP, as ExecReload does.
	cfg.W1 = 1
	d.WriteConfig(cfg.yaml())
	if err := d.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if m := recv(10 * time.Second); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("after SIGHUP %q, want RELOADING=1 with MONOTONIC_USEC", m)
	}
	if m := recv(10 * time.Second); m != "READY=1\nSTATUS=serving; configuration reloaded" {
		t.Errorf("after the reload %q, want READY=1", m)
	}
	if w := weights(d.MustStatus()); w["192.168.200.11"] != 1 {
		t.Errorf("weights after the reload %v", w)
	}

	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if m := recv(10 * time.Second); m != "STOPPING=1\nSTATUS=stopping" {
		t.Errorf("after SIGTERM %q, want STOPPING=1", m)
	}
	select {
	case err := <-d.Done:
		if err != nil {
			t.Errorf("director run after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("director run still running 20s after SIGTERM")
	}

	// Every line of its log is a JSON record with a level.
	sc := bufio.NewScanner(strings.NewReader(d.Log.String()))
	lines := 0
	for sc.Scan() {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Level == "" || rec.Msg == "" {
			t.Errorf("log line not a JSON record with a level: %q (%v)", sc.Text(), err)
		}
		lines++
	}
	if lines == 0 {
		t.Error("no log lines")
	}
}
