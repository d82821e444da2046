package daemon

// sd_notify's wire format against a real unixgram socket (a path, and a
// name in the abstract namespace), and the daemon's log formats, with and
// without the journal.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenNotify listens on a unixgram socket named like $NOTIFY_SOCKET.
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// recvNotify reads one datagram, within a second.
func recvNotify(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4096)
	k, err := c.Read(b)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(b[:k])
}

func monotonicNow(t *testing.T) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

func TestNotifyWireFormat(t *testing.T) {
	for _, c := range []struct{ name, socket string }{
		{"path", filepath.Join(t.TempDir(), "notify")},
		{"abstract", fmt.Sprintf("@director-test-notify-%d", os.Getpid())},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln := listenNotify(t, c.socket)
			t.Setenv("NOTIFY_SOCKET", c.socket)
			n := newNotifier(slog.New(slog.DiscardHandler))
			if v, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
				t.Errorf("NOTIFY_SOCKET=%q left for the daemon's children", v)
			}

			n.ready("serving 1 services (xdp)")
			if got, want := recvNotify(t, ln), "READY=1\nSTATUS=serving 1 services (xdp)"; got != want {
				t.Errorf("ready: %q, want %q", got, want)
			}

			before := monotonicNow(t)
			n.reloading()
			after := monotonicNow(t)
			lines := strings.Split(recvNotify(t, ln), "\n")
			if len(lines) != 3 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") ||
				lines[2] != "STATUS=reloading the configuration" {
				t.Fatalf("reloading: %q", lines)
			}
			usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
			if err != nil || usec < before || usec > after {
				t.Errorf("MONOTONIC_USEC %s (%v), want between %d and %d", lines[1], err, before, after)
			}

			n.stopping()
			if got, want := recvNotify(t, ln), "STOPPING=1\nSTATUS=stopping"; got != want {
				t.Errorf("stopping: %q, want %q", got, want)
			}
		})
	}
}

// Without $NOTIFY_SOCKET, or with a manager gone, nothing fails.
func TestNotifyNoManager(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	newNotifier(slog.New(slog.DiscardHandler)).ready("x")
	var nilNotifier *notifier
	nilNotifier.stopping()

	var logged bytes.Buffer
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
	n := newNotifier(slog.New(slog.NewTextHandler(&logged, nil)))
	n.ready("x")
	n.stopping()
	if got := strings.Count(logged.String(), "sd_notify: cannot tell the service manager"); got != 1 {
		t.Errorf("a missing socket logged %d times, want once:\n%s", got, logged.String())
	}
}

// A reload is framed by RELOADING=1 and READY=1 whether it takes or not,
// and the status line says which.
func TestReloadNotifies(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	ln := listenNotify(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)
	d, _, path := reloadDaemon(t)
	d.notify = newNotifier(d.log)

	if err := d.reloadNotified(); err != nil {
		t.Fatal(err)
	}
	if got := recvNotify(t, ln); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("first %q, want RELOADING=1", got)
	}
	if got, want := recvNotify(t, ln), "READY=1\nSTATUS=serving; configuration reloaded"; got != want {
		t.Errorf("then %q, want %q", got, want)
	}

	if err := os.WriteFile(path, []byte(strings.Replace(reloadBase, "port: 80", "port: 0", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.reloadNotified(); err == nil {
		t.Fatal("an invalid file reloaded")
	}
	if got := recvNotify(t, ln); !strings.HasPrefix(got, "RELOADING=1\n") {
		t.Errorf("first %q, want RELOADING=1", got)
	}
	if got, want := recvNotify(t, ln), "READY=1\nSTATUS=serving; reload refused, the running configuration stays"; got != want {
		t.Errorf("then %q, want %q", got, want)
	}
}

func TestNewLoggerFormats(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	var b bytes.Buffer
	log, err := NewLogger(&b, "json", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("not shown")
	log.Warn("shown", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %q", err, b.String())
	}
	if rec["level"] != "WARN" || rec["msg"] != "shown" || rec["k"] != float64(1) || rec["time"] == nil {
		t.Errorf("json line %v", rec)
	}

	for _, c := range [][2]string{{"yaml", "info"}, {"text", "loud"}} {
		if _, err := NewLogger(&b, c[0], c[1]); err == nil {
			t.Errorf("format %q level %q accepted", c[0], c[1])
		}
	}
}

// Writing to the journal's stream, each line carries its priority and no
// time stamp.
func TestNewLoggerJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	log, err := NewLogger(f, "text", "debug")
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("d")
	log.With("component", "health").Info("i")
	log.Warn("w")
	log.Error("e")
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	want := "<7>level=DEBUG msg=d\n<6>level=INFO msg=i component=health\n<4>level=WARN msg=w\n<3>level=ERROR msg=e\n"
	if string(b) != want {
		t.Errorf("journal lines:\n%s\nwant:\n%s", b, want)
	}
}
