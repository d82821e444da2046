// Command director is the director's command line: `director run` is the
// daemon (control plane and XDP data plane of one node); the other
// commands talk to it over its root-only control socket, except validate
// and probe, which work alone.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/director-lb/director/control/api"
	"github.com/director-lb/director/control/config"
	"github.com/director-lb/director/control/daemon"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/loader"
)

// version is set at build time by the Makefile (-ldflags -X).
var version = "dev"

// Exit codes beyond 1 (any error).
const (
	exitInvalidConfig = 2 // the configuration file has problems
	exitBusy          = 3 // another director holds the node's data plane
)

var socketFlag = &cli.StringFlag{Name: "socket", Usage: "control socket of the director (default: the only one in " + model.DefaultSocketDir + ")", EnvVars: []string{"DIRECTOR_SOCKET"}}

func client(c *cli.Context) (*api.Client, error) {
	s := c.String("socket")
	if s == "" {
		var err error
		if s, err = api.FindSocket(""); err != nil {
			return nil, err
		}
	}
	return api.NewClient(s), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	configFlag := &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "/etc/director/director.yaml", Usage: "configuration file"}
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	app := &cli.App{
		Name:  "director",
		Usage: "an XDP layer-4 load-balancing director (ipvsadm -m in the kernel's XDP hook)",
		Description: "director does in the kernel's XDP hook what the classic ipvsadm -m (NAT) and Heartbeat pair does: " +
			"clients reach a virtual IP, director picks a real server by round robin or weighted round robin in IPVS's " +
			"order and NATs the connection to it; two directors move the VIP and the real servers' gateway together. " +
			"`director run` is the daemon of one node (under systemd: director.service), configured by " +
			"/etc/director/director.yaml; the other commands talk to it over its root-only control socket " +
			"(/run/director/NODE.sock). Exit codes: 0 success, 1 any other error, 2 the configuration file has problems, " +
			"3 another director holds the node's data plane. See /usr/share/doc/director/.",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			{
				Name:  "run",
				Usage: "run the director of this node: load the XDP data plane and serve the configuration",
				Flags: []cli.Flag{configFlag,
					&cli.StringFlag{Name: "pin-root", Value: loader.DefaultPinRoot, Usage: "bpffs directory of all nodes' pinned state"},
					&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"DIRECTOR_LOG_FORMAT"},
						Usage: "log lines on stderr as " + strings.Join(daemon.LogFormats, " or ") + " (under systemd: to the journal, with priorities)"},
					&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"DIRECTOR_LOG_LEVEL"},
						Usage: "least level logged: " + strings.Join(daemon.LogLevels, ", ")}},
				Action: func(c *cli.Context) error {
					ctx, cancel := signal.NotifyContext(c.Context, syscall.SIGQUIT)
					defer cancel()
					log, err := daemon.NewLogger(c.App.ErrWriter, c.String("log-format"), c.String("log-level"))
					if err != nil {
						return err
					}
					return daemon.Run(ctx, daemon.Options{ConfigPath: c.String("config"), Version: version,
						PinRoot: c.String("pin-root"), Log: log,
						Ready: func(s model.Status) {
							log.Info("serving", "node", s.Node, "dataplane", s.Dataplane, "services", len(s.Services))
						}})
				},
			},
			{
				Name:  "validate",
				Usage: "check a configuration file; print every problem as file:line: reason",
				Flags: []cli.Flag{configFlag},
				Action: func(c *cli.Context) error {
					cfg, err := config.Load(c.String("config"))
					if err != nil {
						return err
					}
					reals := 0
					for _, s := range cfg.Services {
						reals += len(s.Reals)
					}
					_, err = fmt.Fprintf(c.App.Writer, "%s: valid (node %s, %d services, %d real servers)\n", cfg.Path, cfg.Node, len(cfg.Services), reals)
					return err
				},
			},
			{
				Name:  "reload",
				Usage: "make the running director apply its configuration file again (also: SIGHUP)",
				Flags: []cli.Flag{socketFlag},
				Action: func(c *cli.Context) error {
					cl, err := client(c)
					if err != nil {
						return err
					}
					if err := cl.Reload(c.Context); err != nil {
						return fmt.Errorf("reload refused, the running configuration stays:\n%w", err)
					}
					_, err = fmt.Fprintln(c.App.Writer, "configuration reloaded")
					return err
				},
			},
			{
				Name:  "status",
				Usage: "show the node, its data plane and its services (like ipvsadm -Ln)",
				Flags: []cli.Flag{socketFlag, jsonFlag},
				Action: func(c *cli.Context) error {
					cl, err := client(c)
					if err != nil {
						return err
					}
					st, err := cl.Status(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, st)
					}
					return api.WriteStatus(c.App.Writer, st)
				},
			},
			{
				Name:  "conntrack",
				Usage: "list tracked connections (like ipvsadm -Lnc)",
				Flags: []cli.Flag{socketFlag, jsonFlag},
				Action: func(c *cli.Context) error {
					cl, err := client(c)
					if err != nil {
						return err
					}
					flows, err := cl.Flows(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, flows)
					}
					return api.WriteFlows(c.App.Writer, flows)
				},
			},
			{
				Name:  "stop",
				Usage: "remove the data plane (tracked connections are lost) and stop the director",
				Flags: []cli.Flag{socketFlag,
					&cli.StringFlag{Name: "node", Usage: "no director running: remove this node's pinned state directly"},
					&cli.StringFlag{Name: "pin-root", Value: loader.DefaultPinRoot, Usage: "bpffs directory of all nodes (with --node)"}},
				Action: func(c *cli.Context) error {
					if node := c.String("node"); node != "" {
						if err := loader.Remove(c.String("pin-root"), node); err != nil {
							return err
						}
						_, err := fmt.Fprintf(c.App.Writer, "node %s: data plane removed\n", node)
						return err
					}
					cl, err := client(c)
					if err != nil {
						return err
					}
					if err := cl.Stop(c.Context); err != nil {
						return err
					}
					_, err = fmt.Fprintln(c.App.Writer, "data plane removed, director stopped")
					return err
				},
			},
			labCommand(),
			importCommand(),
			ipvsadmCommand(),
			{
				Name:  "probe",
				Usage: "check that this kernel can run the XDP data plane",
				Action: func(c *cli.Context) error {
					if err := loader.Probe(); err != nil {
						return err
					}
					_, err := fmt.Fprintln(c.App.Writer, "xdp data plane: supported (XDP programs, LRU hash maps, bpf_fib_lookup)")
					return err
				},
			},
		},
	}
	app.Commands = append(app.Commands, docsCommands()...)
	return app
}

// exitCode maps errors to the documented exit codes.
func exitCode(err error) int {
	var ce *config.Error
	var es exitStatus
	switch {
	case errors.As(err, &es):
		return int(es)
	case errors.As(err, &ce):
		return exitInvalidConfig
	case errors.Is(err, loader.ErrBusy):
		return exitBusy
	}
	return 1
}

func main() {
	if calledAsIpvsadm(os.Args[0]) {
		os.Exit(runIpvsadm(context.Background(), os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if err := newApp(os.Stdout, os.Stderr).RunContext(context.Background(), os.Args); err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "director:", msg)
		}
		os.Exit(exitCode(err))
	}
}
