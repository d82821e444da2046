package main

// director ipvsadm (also the binary run as "ipvsadm"): ipvsadm's command
// line acting on the running director, its output byte for byte.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/director-lb/director/control/api"
	"github.com/director-lb/director/control/importer"
	"github.com/director-lb/director/control/ipvsadm"
	"github.com/director-lb/director/control/model"
)

// exitStatus ends the command with an exit status and no further message
// (ipvsadm has printed its own).
type exitStatus int

func (e exitStatus) Error() string { return "" }

func ipvsadmCommand() *cli.Command {
	return &cli.Command{
		Name:            "ipvsadm",
		Usage:           "ipvsadm's command line, acting on the running director (live changes; director reload applies the file again)",
		ArgsUsage:       "[ipvsadm options]",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			// ipvsadm's options are parsed as ipvsadm does; director's own
			// --socket may come first.
			args := c.Args().Slice()
			if len(args) >= 2 && args[0] == "--socket" {
				if err := os.Setenv("DIRECTOR_SOCKET", args[1]); err != nil {
					return err
				}
				args = args[2:]
			}
			if code := runIpvsadm(c.Context, "ipvsadm", args, c.App.Reader, c.App.Writer, c.App.ErrWriter); code != 0 {
				return exitStatus(code)
			}
			return nil
		},
	}
}

// runIpvsadm runs one ipvsadm command line against the daemon of
// $DIRECTOR_SOCKET (or the only one running) and returns its exit status.
func runIpvsadm(ctx context.Context, prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, err := ipvsadm.Parse(append([]string{prog}, args...))
	if err != nil {
		return ipvsadmFail(stderr, err)
	}
	switch {
	case cmd.Version:
		_, _ = fmt.Fprintln(stdout, "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1), director "+version)
		return 0
	case cmd.Help:
		_, _ = fmt.Fprintf(stdout, "%s: ipvsadm's commands on the running director; see ipvsadm(8) and director's README\n", prog)
		return 0
	}
	sock := os.Getenv("DIRECTOR_SOCKET")
	if sock == "" {
		if sock, err = api.FindSocket(""); err != nil {
			return ipvsadmFail(stderr, err)
		}
	}
	cl := api.NewClient(sock)
	switch cmd.Cmd {
	case ipvsadm.CmdList, ipvsadm.CmdSave:
		return ipvsadmList(ctx, cl, cmd, stdout, stderr)
	case ipvsadm.CmdRestore:
		return ipvsadmRestore(ctx, cl, prog, stdin, stderr)
	case ipvsadm.CmdStartDaemon, ipvsadm.CmdStopDaemon:
		return ipvsadmFail(stderr, &ipvsadm.Error{Code: 2, Msg: "director syncs connections itself (ha.sync in the configuration; " +
			"ipvs.sync_interface with dataplane ipvs): --start-daemon and --stop-daemon are not implemented\n"})
	}
	return ipvsadmFail(stderr, cl.Live(ctx, cmd))
}

// ipvsadmFail prints err as ipvsadm would and returns its status (0 for
// nil).
func ipvsadmFail(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ie *ipvsadm.Error
	if errors.As(err, &ie) {
		_, _ = io.WriteString(stderr, ie.Msg)
		return ie.Code
	}
	_, _ = fmt.Fprintln(stderr, err)
	return 1
}

func ipvsadmList(ctx context.Context, cl *api.Client, cmd *ipvsadm.Command, stdout, stderr io.Writer) int {
	if cmd.Options&ipvsadm.OptConnection != 0 {
		flows, err := cl.Flows(ctx)
		if err != nil {
			return ipvsadmFail(stderr, err)
		}
		return ipvsadmFail(stderr, ipvsadm.WriteConns(stdout, flows, cmd.Format, systemNames{}))
	}
	tab, err := cl.Services(ctx)
	if err != nil {
		return ipvsadmFail(stderr, err)
	}
	switch {
	case cmd.Options&ipvsadm.OptTimeout != 0:
		return ipvsadmFail(stderr, ipvsadm.WriteTimeouts(stdout, tab.Timeouts))
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return ipvsadmFail(stderr, err)
	}
	if cmd.Options&ipvsadm.OptDaemon != 0 {
		// The kernel's sync daemons (IPVS data plane); ha.sync is no
		// IPVS daemon.
		return ipvsadmFail(stderr, ipvsadm.WriteDaemons(stdout, st.Stats.Sync))
	}
	t := ipvsadm.Table{Services: ipvsadm.Subtract(st.Services, tab.Zeroed), Config: map[model.ServiceKey]model.Service{}}
	t.Rates, t.RealRates = ipvsadm.RatesTable(tab.Rates)
	t.Names = systemNames{}
	for _, s := range tab.Services {
		t.Config[s.Key()] = s
	}
	var only *model.ServiceKey
	if cmd.Options&ipvsadm.OptService != 0 {
		only = &cmd.Service
	}
	return ipvsadmFail(stderr, ipvsadm.WriteList(stdout, t, cmd.Format, only))
}

// ipvsadmRestore applies the rules on stdin one line at a time, as
// ipvsadm -R; it stops at the first refused line.
func ipvsadmRestore(ctx context.Context, cl *api.Client, prog string, stdin io.Reader, stderr io.Writer) int {
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		words := importer.RuleWords(sc.Text())
		if len(words) == 0 {
			continue
		}
		cmd, err := ipvsadm.Parse(append([]string{prog}, words...))
		if err != nil {
			return ipvsadmFail(stderr, err)
		}
		if !cmd.IsChange() {
			continue
		}
		if code := ipvsadmFail(stderr, cl.Live(ctx, cmd)); code != 0 {
			return code
		}
	}
	return ipvsadmFail(stderr, sc.Err())
}

// calledAsIpvsadm says whether the binary runs under the name ipvsadm.
func calledAsIpvsadm(arg0 string) bool {
	base := arg0[strings.LastIndexByte(arg0, '/')+1:]
	return base == "ipvsadm"
}

// systemNames names hosts and ports as ipvsadm's libc calls do: the hosts
// file and DNS (net.LookupAddr, bounded), /etc/services.
type systemNames struct{}

func (systemNames) Host(a netip.Addr) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, a.String())
	if err != nil || len(names) == 0 {
		return ""
	}
	return strings.TrimSuffix(names[0], ".")
}

var (
	servicesOnce sync.Once
	services     map[string]string // "80/tcp" -> "http"
)

func (systemNames) Port(port uint16, proto model.Proto) string {
	servicesOnce.Do(func() {
		services = map[string]string{}
		data, err := os.ReadFile("/etc/services")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			line, _, _ = strings.Cut(line, "#")
			f := strings.Fields(line)
			if len(f) >= 2 {
				if _, dup := services[f[1]]; !dup {
					services[f[1]] = f[0]
				}
			}
		}
	})
	return services[fmt.Sprintf("%d/%s", port, proto)]
}
