package control

// The daemon behind `director run`: it loads the configuration, opens the
// data plane (plane.go: the BPF program, adopting pinned state left by an
// earlier run, or kernel IPVS), reconciles it to the configured services, and then serves the command line on a unix
// socket that only root may use, Prometheus metrics if configured, and
// reloads on SIGHUP or `director reload`.
//
// Stopping the daemon (SIGTERM, SIGINT, a crash) leaves the data plane
// pinned and forwarding: a restart adopts it without losing a flow. Only
// `director stop` removes it.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/director-lb/director/heartbeat"
	"github.com/director-lb/director/loader"
)

// DaemonOptions configure Run.
type DaemonOptions struct {
	// ConfigPath is the configuration file, read at start and reload.
	ConfigPath string
	// Version is reported by status and metrics.
	Version string
	// PinRoot overrides loader.DefaultPinRoot (tests).
	PinRoot string
	// Log receives the daemon's log lines.
	Log *slog.Logger
	// Ready, if set, is called once the daemon serves its socket.
	Ready func(Status)
}

// Daemon is a running control plane.
type Daemon struct {
	opts    DaemonOptions
	log     *slog.Logger
	started time.Time

	mu    sync.Mutex // guards cfg and reloads
	cfg   *Config
	plane runningPlane
	// fallback says why auto runs IPVS ("" otherwise).
	fallback string
	ha       *haNode // nil without an ha section

	health     *HealthChecker
	healthKick chan struct{} // a health verdict changed: re-apply

	stop     chan struct{} // closed by `director stop`
	stopOnce sync.Once
	removed  bool // the data plane was removed (guarded by mu)
}

// ErrRestartNeeded says a reload changed something that only a restart
// can apply.
var ErrRestartNeeded = errors.New("needs a restart")

func loaderMode(name string) loader.Mode {
	switch name {
	case "xdp":
		return loader.ModeNative
	case "xdp-generic":
		return loader.ModeGeneric
	case "tc":
		return loader.ModeTC
	}
	return loader.ModeAuto
}

// interfaces lists the distinct interfaces of cfg, public first.
func interfaces(cfg *Config) []string {
	if cfg.Public == cfg.Internal {
		return []string{cfg.Public}
	}
	return []string{cfg.Public, cfg.Internal}
}

// Run runs the daemon until ctx ends, a signal stops it, or `director stop`
// removes the data plane.
func Run(ctx context.Context, opts DaemonOptions) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return err
	}
	d := &Daemon{opts: opts, log: opts.Log, started: time.Now(), cfg: cfg, stop: make(chan struct{}),
		healthKick: make(chan struct{}, 1)}
	if cfg.HA != nil {
		// Refuse a bad key file before touching anything.
		if _, err := heartbeat.LoadAuthKeys(cfg.HA.KeyFile); err != nil {
			return fmt.Errorf("ha: %w", err)
		}
	}

	d.plane, d.fallback, err = openPlane(cfg, opts.PinRoot, d.log)
	if err != nil {
		return err
	}
	removed := false
	defer func() {
		if !removed {
			d.plane.Close()
		}
	}()
	if err := d.plane.SetTimeouts(cfg.Timeouts); err != nil {
		return err
	}
	// Real servers start up (a start must not drop traffic); checks take
	// them out after fall failures.
	d.health = NewHealthChecker(d.log.With("component", "health"), d.kickHealth)
	defer d.health.Close()
	d.health.Set(HealthTargets(cfg.Services, cfg.Health))
	if err := d.plane.Apply(d.effective(cfg)); err != nil {
		return err
	}
	for _, f := range d.plane.Fallbacks() {
		d.log.Warn("data plane not used", "interface", f.Interface, "mode", f.Mode, "reason", f.Reason)
	}
	d.log.Info("data plane ready", append([]any{"node", cfg.Node, "mode", d.plane.Mode(),
		"services", len(cfg.Services)}, d.plane.Describe()...)...)

	if cfg.HA != nil {
		// The heartbeat stops with the daemon: on SIGTERM it hands the
		// addresses over (release, then "leaving") before Run returns.
		haCtx, haCancel := context.WithCancel(context.Background())
		var bp *BPFDataplane // conntrack sync needs the BPF flow table
		if b, ok := d.plane.(*bpfPlane); ok {
			bp = b.BPFDataplane
		}
		d.ha, err = startHA(haCtx, cfg.Node, cfg.HA, bp, d.log, d.plane.SetActive)
		if err != nil {
			haCancel()
			return err
		}
		defer func() {
			haCancel()
			select {
			case <-d.ha.done:
				if d.ha.err != nil {
					d.log.Error("ha: stop", "error", d.ha.err)
				}
			case <-time.After(30 * time.Second):
				d.log.Error("ha: did not stop within 30s")
			}
		}()
	}

	ln, err := listenControl(cfg.ControlSocket)
	if err != nil {
		return err
	}
	api := &http.Server{Handler: d.apiHandler(), ReadHeaderTimeout: 10 * time.Second}
	go api.Serve(ln)
	defer func() {
		// Let an answer in flight (director stop's) reach its client.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		api.Shutdown(sctx)
		os.Remove(cfg.ControlSocket)
	}()

	var metrics *http.Server
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics: listen on %s: %w", cfg.MetricsListen, err)
		}
		reg := NewRegistry(daemonObserver{d}, d.facts, opts.Version)
		if d.ha != nil {
			reg.MustRegister(haCollector{d.ha.status})
		}
		metrics = &http.Server{Handler: MetricsHandler(reg, slog.NewLogLogger(d.log.Handler(), slog.LevelError)),
			ReadHeaderTimeout: 10 * time.Second}
		go metrics.Serve(mln)
		defer metrics.Close()
	}
	if opts.Ready != nil {
		opts.Ready(d.Status())
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.stop:
			removed = true
			return nil
		case <-d.healthKick:
			d.applyHealth()
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				d.log.Info("stopping; the data plane stays pinned and forwarding", "signal", sig.String())
				return nil
			}
			if err := d.Reload(); err != nil {
				d.log.Error("reload rejected; the running configuration stays", "error", err)
			}
		}
	}
}

// Reload reads the configuration file again and applies it. An invalid
// file, or a change that only a restart can apply, is rejected and the
// running configuration stays in force.
func (d *Daemon) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg, err := LoadConfig(d.opts.ConfigPath)
	if err != nil {
		return err
	}
	old := d.cfg
	var fixed []string
	if cfg.Node != old.Node {
		fixed = append(fixed, "node")
	}
	if !slices.Equal(interfaces(cfg), interfaces(old)) {
		fixed = append(fixed, "interfaces")
	}
	if cfg.Dataplane != old.Dataplane || cfg.TCAttach != old.TCAttach {
		fixed = append(fixed, "dataplane")
	}
	if cfg.FlowTableSize != old.FlowTableSize {
		fixed = append(fixed, "flow_table")
	}
	if cfg.ControlSocket != old.ControlSocket {
		fixed = append(fixed, "control_socket")
	}
	if cfg.MetricsListen != old.MetricsListen {
		fixed = append(fixed, "metrics")
	}
	if !sameHA(cfg.HA, old.HA) {
		fixed = append(fixed, "ha")
	}
	if len(fixed) > 0 {
		return fmt.Errorf("%s: changing %v %w of director run", d.opts.ConfigPath, fixed, ErrRestartNeeded)
	}
	if err := d.plane.SetTimeouts(cfg.Timeouts); err != nil {
		return err
	}
	// Checks of unchanged real servers keep their verdicts.
	d.health.Set(HealthTargets(cfg.Services, cfg.Health))
	if err := d.plane.Apply(d.effective(cfg)); err != nil {
		// Put the data plane back as it was.
		d.health.Set(HealthTargets(old.Services, old.Health))
		if rerr := d.plane.Apply(d.effective(old)); rerr != nil {
			d.log.Error("reload failed and the previous services could not be restored", "error", rerr)
		}
		d.plane.SetTimeouts(old.Timeouts)
		return fmt.Errorf("%s: %w", d.opts.ConfigPath, err)
	}
	d.cfg = cfg
	d.log.Info("configuration reloaded", "services", len(cfg.Services))
	return nil
}

// facts is the part of Status that reads nothing from the data plane.
func (d *Daemon) facts() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Status{Node: d.cfg.Node, Dataplane: d.plane.Mode(), DataplaneFallbacks: d.plane.Fallbacks(),
		Version: d.opts.Version}
}

// Status gathers what `director status` shows.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	st := Status{Node: cfg.Node, Config: d.opts.ConfigPath, Dataplane: d.plane.Mode(), DataplaneReason: d.fallback,
		DataplaneFallbacks: d.plane.Fallbacks(), Version: d.opts.Version, Started: d.started,
		Uptime: time.Since(d.started).Round(time.Second)}
	for _, a := range d.plane.Attachments() {
		a.Role = "internal"
		switch {
		case a.Name == cfg.Public && a.Name == cfg.Internal:
			a.Role = "public+internal"
		case a.Name == cfg.Public:
			a.Role = "public"
		}
		st.Interfaces = append(st.Interfaces, a)
	}
	if d.ha != nil {
		st.HA = d.ha.status()
	}
	var err error
	if st.Services, err = (daemonObserver{d}).Status(); err != nil {
		d.log.Error("read services", "error", err)
	}
	if st.Stats, err = d.plane.Stats(); err != nil {
		d.log.Error("read data plane counters", "error", err)
	}
	return st
}

// removeDataplane removes the data plane (the BPF program is detached and
// its pinned state deleted; IPVS services are deleted); the API handler
// then closes d.stop, which makes Run return.
func (d *Daemon) removeDataplane() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed {
		return nil
	}
	if d.ha != nil {
		// Hand the addresses to the peer at once, not after deadtime.
		if err := d.ha.handOver(); err != nil {
			d.log.Error("ha: hand over", "error", err)
		}
	}
	if err := d.plane.Remove(); err != nil {
		return err
	}
	d.removed = true
	return nil
}

// sameHA compares two ha sections, ignoring where they sit in the file.
func sameHA(a, b *HAConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Line, y.Line = 0, 0
	return reflect.DeepEqual(x, y)
}

// listenControl opens the control socket: a unix socket, mode 0600, in a
// directory only root can enter. A socket left by a dead daemon is
// replaced; one that answers belongs to a running daemon and is refused.
func listenControl(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another director is running", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return rootOnly{ln.(*net.UnixListener)}, nil
}

// rootOnly refuses connections from peers that are not root (SO_PEERCRED),
// whatever the socket file's mode says.
type rootOnly struct{ *net.UnixListener }

func (l rootOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if uid, err := peerUID(c); err == nil && uid == 0 {
			return c, nil
		}
		c.Close()
	}
}

func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var serr error
	err = raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return cred.Uid, nil
}
