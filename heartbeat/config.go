package heartbeat

// The pair's settings as the daemon passes them in, and their checks.

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Config is what the daemon passes in: the pair, the resource group's
// owner and Heartbeat's timings. Validate fills the defaults.
type Config struct {
	// Node is this node's name, one of Nodes.
	Node string
	// Nodes are the pair's two node names (ha.cf's node lines).
	Nodes []string
	// Owner is the resource group's preferred node, the first field of
	// haresources (`lb1 IPaddr::192.168.56.10 ...`).
	Owner string
	// Group is the resource group's index in the pair's list of groups
	// (0..MaxGroups-1; 0 for a single group): every heartbeat carries it
	// and both nodes must list the groups in the same order (see
	// GroupTransports).
	Group int
	// AutoFailback makes the owner take the group back when it returns
	// (ha.cf auto_failback on). Without it the node holding the group
	// keeps it.
	AutoFailback bool
	// Keepalive is the heartbeat interval (default 1s).
	Keepalive time.Duration
	// Deadtime is the silence after which the peer is declared dead and
	// the group taken over (default 5s).
	Deadtime time.Duration
	// Warntime is the silence after which a late heartbeat is warned
	// about (default Deadtime/2, must be below Deadtime).
	Warntime time.Duration
	// Initdead is the grace at start-up before a never-heard peer is
	// declared dead (default 2*Deadtime, at least Deadtime): the peer may
	// be booting too.
	Initdead time.Duration
	// Links are advertised in every heartbeat: for each of the group's
	// addresses, the MAC of this node's interface that carries it (see
	// LinkAd). The peer hands packets without a flow there during a
	// handover window. Optional: at most MaxLinkAds.
	Links []LinkAd
}

// Validate fills the defaults of the zero durations and checks the
// configuration, returning every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(c.Nodes) != 2 {
		bad("nodes: want exactly 2 names (the pair), got %d", len(c.Nodes))
	}
	for _, n := range c.Nodes {
		if err := checkName(n); err != nil {
			bad("nodes: %w", err)
		}
	}
	if len(c.Nodes) == 2 && c.Nodes[0] == c.Nodes[1] {
		bad("nodes: %q twice: want two distinct names", c.Nodes[0])
	}
	if c.Node == "" {
		bad("node: missing (this node's name, one of nodes)")
	} else if !slices.Contains(c.Nodes, c.Node) {
		bad("node: %q is not one of nodes %q", c.Node, c.Nodes)
	}
	if c.Owner == "" {
		bad("owner: missing (the resource group's preferred node, one of nodes)")
	} else if !slices.Contains(c.Nodes, c.Owner) {
		bad("owner: %q is not one of nodes %q", c.Owner, c.Nodes)
	}

	if err := checkLinkAds(c.Links); err != nil {
		bad("links: %w", err)
	}
	if c.Group < 0 || c.Group >= MaxGroups {
		bad("group: index %d is outside 0..%d", c.Group, MaxGroups-1)
	}

	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.Deadtime == 0 {
		c.Deadtime = DefaultDeadtime
	}
	if c.Warntime == 0 {
		c.Warntime = c.Deadtime / 2
	}
	if c.Initdead == 0 {
		c.Initdead = 2 * c.Deadtime
	}
	durs := []struct {
		name string
		d    time.Duration
	}{{"keepalive", c.Keepalive}, {"deadtime", c.Deadtime}, {"warntime", c.Warntime}, {"initdead", c.Initdead}}
	ok := true
	for _, d := range durs {
		if d.d < MinTimer || d.d > MaxTimer {
			bad("%s: %v is outside %v..%v", d.name, d.d, MinTimer, MaxTimer)
			ok = false
		}
	}
	if ok {
		if c.Keepalive >= c.Deadtime {
			bad("keepalive %v must be below deadtime %v (several heartbeats must fit in deadtime)", c.Keepalive, c.Deadtime)
		}
		if c.Warntime >= c.Deadtime {
			bad("warntime %v must be below deadtime %v", c.Warntime, c.Deadtime)
		}
		if c.Initdead < c.Deadtime {
			bad("initdead %v must be at least deadtime %v", c.Initdead, c.Deadtime)
		}
	}
	return errors.Join(errs...)
}

// peerName is the other node of the pair. Only meaningful after Validate.
func (c *Config) peerName() string {
	for _, n := range c.Nodes {
		if n != c.Node {
			return n
		}
	}
	return ""
}
