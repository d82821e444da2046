package main

// director lab: the seed's whole lab on this machine, in network namespaces
// (test/lab): client, lb1 and lb2 running `director run` as a heartbeat
// pair, web1 and web2 answering with their name. Nothing is attached to
// the host's own network. Processes started here outlive the command
// (they run in the lab's namespaces, started with nsenter --net so that
// they share the host's bpffs); `director lab down` removes everything.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/director-lb/director/control/api"
	"github.com/director-lb/director/loader"
	"github.com/director-lb/director/test/lab"
)

// labRunDir holds a lab's configuration files, keys, sockets and logs.
const labRunDir = "/run/director-lab"

type labTimers struct{ keepalive, deadtime time.Duration }

func labDir(prefix string) string { return filepath.Join(labRunDir, prefix) }

func labNode(prefix, n string) string { return prefix + "-" + n }

func labSocket(prefix, n string) string { return filepath.Join(labDir(prefix), n+".sock") }

// labConfig is lbN's configuration: the seed's service and pair.
func labConfig(prefix, n string, tm labTimers) string {
	peer := lab.LB2
	if n == lab.LB2 {
		peer = lab.LB1
	}
	return lab.PairConfig{Node: labNode(prefix, n), Peer: labNode(prefix, peer), Owner: labNode(prefix, lab.LB1),
		Socket: labSocket(prefix, n), KeyFile: filepath.Join(labDir(prefix), "authkey"),
		Keepalive: tm.keepalive, Deadtime: tm.deadtime, AutoFailback: true}.YAML()
}

// spawn starts the director binary with args inside lab node n, detached
// (own session), its output in a log file of the lab's directory.
func spawn(l *lab.Lab, n string, args ...string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(labDir(l.Prefix()), n+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// The child gets its own copy of the descriptor; this one is never
	// written, so closing it has nothing to report.
	defer func() { _ = logf.Close() }()
	cmd := exec.Command("nsenter", append([]string{"--net=" + l.NetnsPath(n), self}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s in %s: %w", strings.Join(args, " "), n, err)
	}
	return cmd.Process.Release()
}

// holder returns the lab director holding the VIP, or "".
func holder(l *lab.Lab) string {
	for _, n := range []string{lab.LB1, lab.LB2} {
		if out, err := l.Run(n, "ip", "-4", "-o", "addr", "show", "dev", lab.PubIf); err == nil &&
			strings.Contains(out, " "+lab.VIP+"/") {
			return n
		}
	}
	return ""
}

// haState reads director n's heartbeat state through its socket.
func haState(ctx context.Context, prefix, n string) string {
	st, err := api.NewClient(labSocket(prefix, n)).Status(ctx)
	if err != nil || st.HA == nil {
		return "unreachable"
	}
	return st.HA.State
}

func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	return true
}

// requests makes n new connections from the client and counts answers.
func requests(l *lab.Lab, n int) (map[string]int, error) {
	c := l.HTTPClient(lab.Client, false)
	c.Timeout = 2 * time.Second
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		resp, err := c.Get("http://" + lab.VIP + "/")
		if err != nil {
			return counts, err
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close() // read in full
		counts[strings.TrimSpace(string(b))]++
	}
	return counts, nil
}

// labOut prints a lab command's report and keeps the first write error,
// which the command returns once its work is done: a failed write must
// not stop, or undo, the work it reports on.
type labOut struct {
	w   io.Writer
	err error
}

// keep records err if it is the first.
func (o *labOut) keep(err error) {
	if o.err == nil {
		o.err = err
	}
}

func (o *labOut) printf(format string, a ...any) {
	_, err := fmt.Fprintf(o.w, format, a...)
	o.keep(err)
}

func formatCounts(c map[string]int) string {
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

func labCommand() *cli.Command {
	prefixFlag := &cli.StringFlag{Name: "prefix", Value: "dlab", Usage: "namespace prefix of the lab (letters, digits, _)"}
	return &cli.Command{
		Name:  "lab",
		Usage: "the seed's lab (client, lb1+lb2 pair, web1, web2) in network namespaces on this machine",
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "build the lab, start the directors and web servers, show a first split",
				Flags: []cli.Flag{prefixFlag,
					&cli.BoolFlag{Name: "fast", Usage: "keepalive 100ms / deadtime 500ms instead of the seed's 1s / 5s"}},
				Action: labUp,
			},
			{Name: "status", Usage: "who holds the floating addresses, and each director's status", Flags: []cli.Flag{prefixFlag}, Action: labStatus},
			{Name: "failover", Usage: "fail the active director under a client loop; print the blackout", Flags: []cli.Flag{prefixFlag}, Action: labFailover},
			{Name: "down", Usage: "remove the lab: processes, namespaces, pinned state, files", Flags: []cli.Flag{prefixFlag}, Action: labDown},
			{
				Name:   "serve-http",
				Hidden: true,
				Flags:  []cli.Flag{&cli.StringFlag{Name: "name", Required: true}},
				Action: func(c *cli.Context) error {
					return http.ListenAndServe(":80", lab.Handler(c.String("name")))
				},
			},
		},
	}
}

func labUp(c *cli.Context) (err error) {
	prefix := c.String("prefix")
	tm := labTimers{time.Second, 5 * time.Second}
	if c.Bool("fast") {
		tm = labTimers{100 * time.Millisecond, 500 * time.Millisecond}
	}
	l, err := lab.New(lab.Options{Prefix: prefix})
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			// Undo what was built; if that fails too, say so after
			// the error that stopped the lab.
			err = errors.Join(err, l.Close(), os.RemoveAll(labDir(prefix)))
		}
	}()
	if err := os.MkdirAll(labDir(prefix), 0o700); err != nil {
		return err
	}
	// The pair's authentication key. If /dev/urandom cannot be read, the
	// lab does not start rather than run with a key of zeros.
	key := make([]byte, 32)
	f, err := os.Open("/dev/urandom")
	if err != nil {
		return fmt.Errorf("lab: authentication key: %w", err)
	}
	_, err = io.ReadFull(f, key)
	_ = f.Close() // read-only
	if err != nil {
		return fmt.Errorf("lab: authentication key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(labDir(prefix), "authkey"), []byte(fmt.Sprintf("%x\n", key)), 0o600); err != nil {
		return err
	}
	for _, n := range []string{lab.Web1, lab.Web2} {
		if err := spawn(l, n, "lab", "serve-http", "--name", n); err != nil {
			return err
		}
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		cfg := filepath.Join(labDir(prefix), n+".yaml")
		if err := os.WriteFile(cfg, []byte(labConfig(prefix, n, tm)), 0o600); err != nil {
			return err
		}
		if err := spawn(l, n, "run", "--config", cfg); err != nil {
			return err
		}
	}
	ctx := c.Context
	if !waitFor(30*time.Second, func() bool {
		return haState(ctx, prefix, lab.LB1) == "active" && haState(ctx, prefix, lab.LB2) == "standby"
	}) {
		return fmt.Errorf("lab: lb1 not active and lb2 not standby within 30s (logs in %s)", labDir(prefix))
	}
	out := &labOut{w: c.App.Writer}
	out.printf("lab %s: namespaces %s-{client,lb1,lb2,web1,web2,pub,int}\n", prefix, prefix)
	out.printf("  client 192.168.56.100 -> VIP 192.168.56.10:80 (wrr 3:1) -> web1 192.168.200.11, web2 192.168.200.12\n")
	out.printf("  lb1 active, lb2 standby; keepalive %v, deadtime %v; files and logs in %s\n", tm.keepalive, tm.deadtime, labDir(prefix))
	counts, err := requests(l, 40)
	if err != nil {
		return fmt.Errorf("lab: first requests: %w", err)
	}
	out.printf("40 new connections through the VIP: %s\n", formatCounts(counts))
	ok = true // the lab is up: a failed write does not take it down
	return out.err
}

func labStatus(c *cli.Context) error {
	prefix := c.String("prefix")
	l, err := lab.Attach(prefix)
	if err != nil {
		return err
	}
	out := &labOut{w: c.App.Writer}
	out.printf("lab %s: floating addresses on %s\n", prefix, orNobody(holder(l)))
	for _, n := range []string{lab.LB1, lab.LB2} {
		st, err := api.NewClient(labSocket(prefix, n)).Status(c.Context)
		if err != nil {
			out.printf("\n%s: %v\n", n, err)
			continue
		}
		out.printf("\n")
		out.keep(api.WriteStatus(out.w, st))
	}
	return out.err
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

func labFailover(c *cli.Context) error {
	prefix := c.String("prefix")
	l, err := lab.Attach(prefix)
	if err != nil {
		return err
	}
	active := holder(l)
	if active == "" {
		return fmt.Errorf("lab: nobody holds the floating addresses")
	}
	standby := lab.LB2
	if active == lab.LB2 {
		standby = lab.LB1
	}
	loop := l.StartClientLoop()
	// Established connections: each keeps one keep-alive connection and
	// asks again after the takeover.
	const held = 20
	kept := make([]*http.Client, held)
	for i := range kept {
		kept[i] = l.HTTPClient(lab.Client, true)
		kept[i].Timeout = 2 * time.Second
		if resp, err := kept[i].Get("http://" + lab.VIP + "/"); err == nil {
			// Drained so that the connection is kept; if that fails,
			// it shows below as a connection that did not survive.
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	time.Sleep(500 * time.Millisecond) // some traffic before the failure
	t0 := time.Now()
	if err := l.SetLinks(active, false); err != nil {
		loop.Stop()
		return err
	}
	took := waitFor(60*time.Second, func() bool { return haState(c.Context, prefix, standby) == "active" })
	recovered := loop.WaitSuccesses(t0, 5, 10*time.Second)
	loop.Stop()
	if !took {
		return fmt.Errorf("lab: %s did not take over within 60s", standby)
	}
	if recovered != nil {
		return fmt.Errorf("lab: the client loop did not recover after the takeover: %w", recovered)
	}
	blackout, _ := loop.Blackout(t0)
	oks, _ := loop.Successes()
	survived := 0
	for _, kc := range kept {
		// A broken connection must not be silently replaced by a new one.
		kc.Transport.(*http.Transport).DialContext = func(context.Context, string, string) (net.Conn, error) {
			return nil, fmt.Errorf("no new connection: only the established one counts")
		}
		if resp, err := kc.Get("http://" + lab.VIP + "/"); err == nil {
			// The status line is the answer counted; the body is web1's
			// or web2's name, not needed.
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				survived++
			}
		}
	}
	out := &labOut{w: c.App.Writer}
	out.printf("failed %s (links down); %s took both addresses\n", active, standby)
	out.printf("client blackout: %v (%d answered connections)\n", blackout.Round(time.Millisecond), len(oks))
	out.printf("established connections that survived the failover: %d of %d\n", survived, held)
	// Bring the failed director back; with auto_failback lb1 takes the group back.
	if err := l.SetLinks(active, true); err != nil {
		return err
	}
	if waitFor(60*time.Second, func() bool { return holder(l) == lab.LB1 && haState(c.Context, prefix, lab.LB1) == "active" }) {
		out.printf("%s is back; lb1 (the owner) holds the addresses again\n", active)
	}
	return out.err
}

func labDown(c *cli.Context) error {
	prefix := c.String("prefix")
	var errs []string
	if l, err := lab.Attach(prefix); err == nil {
		// Kills every process in the lab's namespaces, then deletes them.
		if err := l.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		// The killed directors release their lock when they are gone.
		var err error
		waitFor(10*time.Second, func() bool {
			err = loader.Remove("", labNode(prefix, n))
			return !errors.Is(err, loader.ErrBusy)
		})
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := os.RemoveAll(labDir(prefix)); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab down: %s", strings.Join(errs, "; "))
	}
	out := &labOut{w: c.App.Writer}
	out.printf("lab %s removed\n", prefix)
	return out.err
}
