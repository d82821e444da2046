// Command director is the director's command line. This first version
// probes the kernel and removes a node's pinned data plane; `run`,
// `status` and the rest of the control plane come with the config file.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/director-lb/director/loader"
)

// version is set at build time by the Makefile (-ldflags -X).
var version = "dev"

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "director",
		Usage:     "an XDP layer-4 load-balancing director (ipvsadm -m in the kernel's XDP hook)",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			{
				Name:  "probe",
				Usage: "check that this kernel can run the XDP data plane",
				Action: func(c *cli.Context) error {
					if err := loader.Probe(); err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, "xdp data plane: supported (XDP programs, LRU hash maps, bpf_fib_lookup)")
					return nil
				},
			},
			{
				Name:  "stop",
				Usage: "detach a node's XDP program and remove its pinned state (tracked flows are lost)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "node", Required: true, Usage: "node name (pinned state directory)"},
					&cli.StringFlag{Name: "pin-root", Value: loader.DefaultPinRoot, Usage: "bpffs directory of all nodes"},
				},
				Action: func(c *cli.Context) error {
					if err := loader.Remove(c.String("pin-root"), c.String("node")); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "node %s: data plane removed\n", c.String("node"))
					return nil
				},
			},
		},
	}
}

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "director:", err)
		code := 1
		if errors.Is(err, loader.ErrBusy) {
			code = 3
		}
		os.Exit(code)
	}
}
