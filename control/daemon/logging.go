package daemon

// The daemon's log: log/slog lines on stderr, as text (key=value) or
// JSON, from a minimum level up. Under systemd, stderr is a stream into
// the journal ($JOURNAL_STREAM names it): then each line starts with the
// syslog priority of its level ("<3>" for an error, "<4>" a warning,
// "<6>" info, "<7>" debug), which journald takes off and records as the
// entry's priority (`journalctl -p warning` works), and the time stamp is
// left out since the journal stamps every entry itself.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
)

// LogFormats are the values of `director run --log-format`.
var LogFormats = []string{"text", "json"}

// LogLevels are the values of `director run --log-level`.
var LogLevels = []string{"debug", "info", "warn", "error"}

// NewLogger returns the daemon's logger writing to w in format ("text" or
// "json") from level up ("debug", "info", "warn", "error"). If w is the
// stream systemd connected to the journal, lines carry their priority.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil || !knownLevel(level) {
		return nil, fmt.Errorf("log level %q: want one of %s", level, strings.Join(LogLevels, ", "))
	}
	journal := toJournal(w)
	opts := &slog.HandlerOptions{Level: lv}
	if journal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // the journal has its own time stamp
			}
			return a
		}
	}
	var pw *priorityWriter
	if journal {
		pw = &priorityWriter{out: w}
		w = pw
	}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want one of %s", format, strings.Join(LogFormats, ", "))
	}
	if journal {
		h = priorityHandler{inner: h, w: pw}
	}
	return slog.New(h), nil
}

func knownLevel(s string) bool {
	for _, l := range LogLevels {
		if strings.EqualFold(s, l) {
			return true
		}
	}
	return false
}

// toJournal says whether w is the stream in $JOURNAL_STREAM ("device:inode"
// of the journal's socket, set by systemd for a unit whose output goes
// there). A redirected stderr under systemd does not match.
func toJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	js := os.Getenv("JOURNAL_STREAM")
	if !ok || js == "" {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return js == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// syslogPriority maps a level to the journal's priority prefix.
func syslogPriority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}

// priorityWriter writes each line behind the prefix its handler chose.
// slog's handlers write a record with a single Write call.
type priorityWriter struct {
	mu     sync.Mutex // held by priorityHandler.Handle around the Write
	out    io.Writer
	prefix string
}

func (p *priorityWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.out, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// priorityHandler sets the writer's prefix from each record's level.
type priorityHandler struct {
	inner slog.Handler
	w     *priorityWriter
}

func (h priorityHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h priorityHandler) Handle(ctx context.Context, r slog.Record) error {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	h.w.prefix = syslogPriority(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h priorityHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return priorityHandler{inner: h.inner.WithAttrs(as), w: h.w}
}

func (h priorityHandler) WithGroup(name string) slog.Handler {
	return priorityHandler{inner: h.inner.WithGroup(name), w: h.w}
}
