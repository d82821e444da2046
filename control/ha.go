package control

// The heartbeat pair inside the daemon: builds a heartbeat.Node from the
// configuration's ha section (key file, UDP links, address group), runs it
// next to the data plane, and reports its state for status and metrics.
// The data plane is loaded on both nodes; only the floating addresses move,
// so the standby is ready the moment it takes them.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/director-lb/director/heartbeat"
)

// haNode is the running heartbeat of this node.
type haNode struct {
	cfg   *HAConfig
	node  *heartbeat.Node
	group *heartbeat.AddressGroup
	done  chan struct{} // closed when the node's Run has returned
	err   error         // what Run returned, once done is closed
}

// startHA builds and starts the heartbeat node. The key file must be mode
// 0600, else the daemon refuses to start. setActive, if not nil, is told
// false at once and then, at each change, whether this node holds the
// addresses: true before it adds them, false once it has removed them.
func startHA(ctx context.Context, self string, cfg *HAConfig, log *slog.Logger, setActive func(bool)) (*haNode, error) {
	auth, err := heartbeat.LoadAuthKeys(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	if !auth.FromAuthkeys {
		auth.Method = cfg.AuthMethod
	}
	if auth.Method != "sha256" {
		log.Warn("ha: messages authenticated with a deprecated method; use sha256", "method", auth.Method)
	}
	var links []heartbeat.LinkConfig
	for _, l := range cfg.Links {
		links = append(links, heartbeat.LinkConfig{Mode: l.Mode, Interface: l.Interface, Port: l.Port,
			Group: l.Group, TTL: l.TTL, Peer: l.Peer})
	}
	var addrs []heartbeat.Address
	for _, a := range cfg.Addresses {
		addrs = append(addrs, heartbeat.Address{Prefix: a.Prefix, Interface: a.Interface})
	}
	group, err := heartbeat.NewAddressGroup(addrs, heartbeat.ARPConfig{Count: cfg.ARPCount, Interval: cfg.ARPInterval})
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	tr, err := heartbeat.NewUDPTransport(links)
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	hcfg := heartbeat.Config{Node: self, Nodes: cfg.Nodes, Owner: cfg.Owner, AutoFailback: cfg.AutoFailback,
		Keepalive: cfg.Keepalive, Deadtime: cfg.Deadtime, Warntime: cfg.Warntime, Initdead: cfg.Initdead}
	var res heartbeat.Resources = group
	if setActive != nil {
		setActive(false)
		res = roleResources{group, setActive}
	}
	node, err := heartbeat.NewNode(hcfg, auth, tr, res, log.With("component", "ha"))
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("ha: %w", err)
	}
	h := &haNode{cfg: cfg, node: node, group: group, done: make(chan struct{})}
	go func() {
		h.err = node.Run(ctx)
		close(h.done)
	}()
	return h, nil
}

// handOver releases the addresses and tells the peer to take them now,
// then waits for the node to stop (bounded).
func (h *haNode) handOver() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.node.Stop(ctx); err != nil {
		return err
	}
	select {
	case <-h.done:
		return h.err
	case <-ctx.Done():
		return fmt.Errorf("ha: hand over: %w", ctx.Err())
	}
}

// status converts the node's status for director status and metrics.
func (h *haNode) status() *HAStatus {
	s := h.node.Status()
	c := s.Counters
	out := &HAStatus{State: s.State.String(), Owner: s.Owner, Transitions: c.Transitions,
		LastTransition: s.LastTransition, LastReason: s.LastReason,
		HeartbeatsSent: c.HeartbeatsSent, HeartbeatsReceived: c.HeartbeatsReceived,
		AuthFailures: c.AuthFailures, Replays: c.Replays, Malformed: c.Malformed}
	for _, p := range s.Peers {
		heard := time.Duration(-1)
		if !p.LastHeard.IsZero() {
			heard = time.Since(p.LastHeard)
		}
		out.Peers = append(out.Peers, HAPeer{Name: p.Name, Alive: p.Alive, State: p.State.String(), LastHeard: heard})
	}
	for _, a := range h.cfg.Addresses {
		out.Addresses = append(out.Addresses, HAAddressHeld{Address: a.Prefix, Interface: a.Interface, Held: s.Held})
	}
	return out
}

// roleResources tells the data plane when this node becomes the active or
// the standby one, around the address group's own work.
type roleResources struct {
	*heartbeat.AddressGroup
	setActive func(bool)
}

func (r roleResources) Acquire(ctx context.Context) error {
	r.setActive(true)
	return r.AddressGroup.Acquire(ctx)
}

func (r roleResources) Release(ctx context.Context) error {
	err := r.AddressGroup.Release(ctx)
	r.setActive(false)
	return err
}
