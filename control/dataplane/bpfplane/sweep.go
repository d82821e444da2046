package bpfplane

// The sweep of the established flow table. That table is a plain hash, so
// that no new connection can push an established one out; the price is that
// the entries of a connection nobody closes cleanly stay until deleted. The
// program already treats them as dead (flow_alive), and deletes them when a
// packet of the same tuple comes; the sweep deletes the rest, so their room
// goes back to new connections.

import (
	"log/slog"
	"time"

	"github.com/director-lb/director/bpf"
)

// sweepInterval is the time between sweeps: a dead connection holds its
// entries at most this long past its timeout.
const sweepInterval = 5 * time.Second

// startSweep runs the sweep every sweepInterval until stop is closed.
func (p *Plane) startSweep(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	clock, err := bpf.NewClock()
	if err != nil {
		slog.Error("flow table sweep disabled: no clock", "err", err)
		return
	}
	defer func() { _ = clock.Close() }()
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now, err := clock.Now()
		if err != nil {
			slog.Warn("flow table sweep", "err", err)
			continue
		}
		if _, err := p.maps.Sweep(now); err != nil {
			slog.Warn("flow table sweep", "err", err)
		}
	}
}
