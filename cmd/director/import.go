package main

// director import: the legacy files of an ipvsadm + Heartbeat or
// keepalived director to a commented director.yaml.

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/director-lb/director/control/config"
	"github.com/director-lb/director/control/importer"
)

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "translate ipvsadm.rules, /etc/default/ipvsadm, ha.cf, authkeys, haresources or keepalived.conf into director.yaml",
		ArgsUsage: "PATH... (- reads ipvsadm -S output from stdin)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "node", Usage: "this node's name (default: this host's name if ha.cf lists it, else ha.cf's first node)"},
			&cli.StringFlag{Name: "peer", Usage: "the other node's name, for keepalived.conf (VRRP names no nodes)", Value: "peer"},
			&cli.StringSliceFlag{Name: "net", Usage: "IFACE=ADDRESS/PREFIX of this node, where IPaddr finds an address's interface (default: this host's interfaces)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the configuration to this file instead of stdout"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return fmt.Errorf("import: name the files to read (ipvsadm.rules, ha.cf, ...)")
			}
			var files []importer.File
			for _, p := range c.Args().Slice() {
				var data []byte
				var err error
				name := p
				if p == "-" {
					data, err = io.ReadAll(c.App.Reader)
					name = "ipvsadm.rules"
				} else {
					data, err = os.ReadFile(p)
				}
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				files = append(files, importer.File{Name: name, Data: data})
			}
			nets, err := importNetworks(c.StringSlice("net"))
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			res, err := importer.Import(files, importer.Options{Node: c.String("node"), Peer: c.String("peer"),
				Hostname: host, Networks: nets, ScriptExists: executableFile})
			if err != nil {
				return err
			}
			for _, n := range res.Notes {
				if _, err := fmt.Fprintf(c.App.ErrWriter, "not translated: %s\n", n); err != nil {
					return err
				}
			}
			// The output must be a file that validate accepts: say so now
			// rather than at the first start.
			name := "director.yaml"
			if o := c.String("output"); o != "" {
				name = o
			}
			if _, err := config.Parse(name, res.YAML); err != nil {
				return fmt.Errorf("import: the translation is not a valid configuration (please report it):\n%w", err)
			}
			if o := c.String("output"); o != "" {
				if err := os.WriteFile(o, res.YAML, 0o644); err != nil {
					return fmt.Errorf("import: %w", err)
				}
				_, err = fmt.Fprintf(c.App.ErrWriter, "%s written (%d items not translated)\n", o, len(res.Notes))
				return err
			}
			_, err = c.App.Writer.Write(res.YAML)
			return err
		},
	}
}

// executableFile says whether p is an executable regular file, as
// Heartbeat's ResourceManager looks for a resource's script.
func executableFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// importNetworks reads --net, or this host's interface addresses.
func importNetworks(flags []string) ([]importer.Network, error) {
	var out []importer.Network
	for _, f := range flags {
		iface, pfx, ok := strings.Cut(f, "=")
		p, err := netip.ParsePrefix(pfx)
		if !ok || err != nil || iface == "" {
			return nil, fmt.Errorf("import: --net %q: want IFACE=ADDRESS/PREFIX (enp0s3=192.168.56.11/24)", f)
		}
		out = append(out, importer.Network{Interface: iface, Prefix: p})
	}
	if len(flags) > 0 {
		return out, nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, nil
	}
	for _, i := range ifs {
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ip, ok := netip.AddrFromSlice(ipn.IP)
				ones, _ := ipn.Mask.Size()
				if ok && ip.Unmap().Is4() && !ip.IsLoopback() {
					out = append(out, importer.Network{Interface: i.Name, Prefix: netip.PrefixFrom(ip.Unmap(), ones)})
				}
			}
		}
	}
	return out, nil
}
