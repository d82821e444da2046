// Package daemon is `director run`: it wires the configuration, the data
// plane, health checks, the HA pair, the control API and the metrics
// together, and reloads.
package daemon

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
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/director-lb/director/control/api"
	"github.com/director-lb/director/control/config"
	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/health"
	"github.com/director-lb/director/control/ipvsadm"
	"github.com/director-lb/director/control/metrics"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// Options configure Run.
type Options struct {
	// ConfigPath is the configuration file, read at start and reload.
	ConfigPath string
	// Version is reported by status and metrics.
	Version string
	// PinRoot overrides loader.DefaultPinRoot (tests).
	PinRoot string
	// Log receives the daemon's log lines.
	Log *slog.Logger
	// Ready, if set, is called once the daemon serves its socket.
	Ready func(model.Status)
}

// Daemon is a running control plane.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	started time.Time

	mu    sync.Mutex // guards cfg and reloads
	cfg   *model.Config
	plane dataplane.Dataplane
	// fallback says why auto runs IPVS ("" otherwise).
	fallback string
	ha       *haNode // nil without an ha section

	health     *health.Monitor
	healthKick chan struct{} // a health verdict changed: re-apply
	healthGen  atomic.Uint64 // health changes so far (kickHealth)
	appliedGen uint64        // healthGen as of the last applied change (guarded by mu)

	reload model.ReloadStatus // the last reload's outcome (guarded by mu)

	notify *notifier // systemd's sd_notify (notify.go)

	stop     chan struct{} // closed by `director stop`
	stopOnce sync.Once
	removed  bool // the data plane was removed (guarded by mu)

	estMu  sync.Mutex // guards est and zeroed
	est    ipvsadm.Estimators
	zeroed map[model.ServiceKey]model.ServiceStatus // counters at ipvsadm -Z
}

// ErrRestartNeeded says a reload changed something that only a restart
// can apply.
var ErrRestartNeeded = errors.New("needs a restart")

// Run runs the daemon until ctx ends, a signal stops it, or `director stop`
// removes the data plane.
func Run(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return err
	}
	// Live changes (director ipvsadm) of the previous run stay until a
	// reload; if the data plane refuses them, the file is served.
	fileCfg := cfg
	if live, ok, err := readLive(cfg); err != nil {
		opts.Log.Warn("live changes of the previous run not read; serving the file", "error", err)
	} else if ok {
		opts.Log.Info("serving the live changes of the previous run (director reload applies the file)")
		cfg = live
	}
	d := &Daemon{opts: opts, log: opts.Log, started: time.Now(), cfg: cfg, stop: make(chan struct{}),
		healthKick: make(chan struct{}, 1), notify: newNotifier(opts.Log)}
	d.reload = model.ReloadStatus{Successful: true, LastSuccess: d.started}
	if cfg.HA != nil {
		// Refuse a bad key file before touching anything.
		if _, err := heartbeat.LoadAuthKeys(cfg.HA.KeyFile); err != nil {
			return fmt.Errorf("ha: %w", err)
		}
		// And scripts that cannot run (ha.go).
		if err := checkScripts(cfg.HA); err != nil {
			return err
		}
	}

	d.plane, d.fallback, err = openPlane(cfg, opts.PinRoot, d.log)
	if err != nil {
		return err
	}
	removed := false
	defer func() {
		if !removed {
			if err := d.plane.Close(); err != nil {
				d.log.Error("data plane: close", "error", err)
			}
		}
	}()
	if err := d.plane.SetTimeouts(cfg.Timeouts); err != nil {
		return err
	}
	// Real servers start up (a start must not drop traffic); checks take
	// them out after fall failures.
	d.health = health.NewMonitor(d.log.With("component", "health"), d.kickHealth)
	defer d.health.Close()
	d.health.Set(health.Targets(cfg.Services, cfg.Health))
	if err := d.plane.Apply(d.effective(cfg)); err != nil {
		if cfg == fileCfg {
			return err
		}
		d.log.Warn("live changes of the previous run refused by the data plane; serving the file", "error", err)
		cfg, d.cfg = fileCfg, fileCfg
		if derr := dropLive(cfg); derr != nil {
			d.log.Warn("live changes: remove their copy", "error", derr)
		}
		if err := d.plane.SetTimeouts(cfg.Timeouts); err != nil {
			return err
		}
		d.health.Set(health.Targets(cfg.Services, cfg.Health))
		if err := d.plane.Apply(d.effective(cfg)); err != nil {
			return err
		}
	}
	for _, f := range fallbacks(d.plane) {
		d.log.Warn("data plane not used", "interface", f.Interface, "mode", f.Mode, "reason", f.Reason)
	}
	d.log.Info("data plane ready", append([]any{"node", cfg.Node, "mode", d.plane.Mode(),
		"services", len(cfg.Services)}, d.plane.Describe()...)...)

	if cfg.HA != nil {
		// The heartbeat stops with the daemon: on SIGTERM it hands the
		// addresses over (release, then "leaving") before Run returns.
		haCtx, haCancel := context.WithCancel(context.Background())
		// Conntrack sync needs a flow table of the data plane's own
		// (IPVS has its sync daemon, driven through Roles).
		tables, _ := d.plane.(dataplane.SyncTables)
		var setActive func(bool)
		if r, ok := d.plane.(dataplane.Roles); ok {
			setActive = r.SetActive
		}
		fw, _ := d.plane.(dataplane.PeerForwarder)
		d.ha, err = startHA(haCtx, cfg.Node, cfg.HA, tables, fw, d.log, setActive, d.healthyReals)
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

	ln, err := api.Listen(cfg.ControlSocket)
	if err != nil {
		return err
	}
	apiServer := &http.Server{Handler: api.Handler(backend{d}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := apiServer.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("control socket: serve", "error", err)
		}
	}()
	defer func() {
		// Let an answer in flight (director stop's) reach its client.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := apiServer.Shutdown(sctx); err != nil {
			d.log.Error("control socket: shut down", "error", err)
		}
		// Closing the listener normally unlinks the socket already.
		if err := os.Remove(cfg.ControlSocket); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Error("control socket: remove", "error", err)
		}
	}()

	// IPVS's rate estimator over the data plane's counters, every 2 s.
	estCtx, estCancel := context.WithCancel(context.Background())
	defer estCancel()
	go d.estimate(estCtx)

	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics: listen on %s: %w", cfg.MetricsListen, err)
		}
		reg := metrics.NewRegistry(observer{d}, d.facts, opts.Version)
		if d.ha != nil {
			reg.MustRegister(metrics.NewHACollector(d.ha.status))
		}
		// The status page's rates and sparklines: the counters sampled
		// while the daemon runs, kept in memory.
		hist := metrics.NewHistory(metrics.HistoryLen)
		histCtx, histStop := context.WithCancel(ctx)
		defer histStop()
		go d.sampleHistory(histCtx, hist)
		reg.MustRegister(metrics.NewRateCollector(d.rates))
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics.Handler(reg, slog.NewLogLogger(d.log.Handler(), slog.LevelError)))
		mux.Handle("/", metrics.StatusPage(d.Status, hist))
		metricsServer := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := metricsServer.Serve(mln); !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("metrics: serve", "error", err)
			}
		}()
		// On the way out: scrapes in flight are cut either way, and the
		// only error left is closing our own listener.
		defer func() { _ = metricsServer.Close() }()
	}
	if opts.Ready != nil {
		opts.Ready(d.Status())
	}
	d.notify.ready(fmt.Sprintf("serving %d services (%s)", len(cfg.Services), d.plane.Mode()))
	defer d.notify.stopping() // the first of the deferred steps of the way out

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
			if err := d.reloadNotified(); err != nil {
				d.log.Error("reload rejected; the running configuration stays", "error", err)
			}
		}
	}
}

// sampleHistory feeds the status page's history every HistoryPace until
// ctx ends (Run returns) or the daemon stops.
func (d *Daemon) sampleHistory(ctx context.Context, hist *metrics.History) {
	tick := time.NewTicker(metrics.HistoryPace)
	defer tick.Stop()
	for {
		st, err := observer{d}.Status()
		if err == nil {
			hist.Add(time.Now(), st)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.stop:
			return
		case <-tick.C:
		}
	}
}
