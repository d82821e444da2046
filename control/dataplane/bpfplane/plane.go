// Package bpfplane is the BPF data plane: the XDP or TC program and its
// maps, behind the dataplane port. It reconciles the program's maps to the
// desired services (reconcile.go), reads them back for status, flows and
// counters (observe.go), and is the flow table that conntrack sync reads
// and fills (synctable.go). The program itself is loaded, attached and
// pinned by package loader; this package only writes and reads maps.
package bpfplane

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/loader"
)

// Plane implements dataplane.Dataplane over the maps of a loaded program.
type Plane struct {
	mu   sync.Mutex // one reconcile or read at a time
	maps *bpf.Maps
	mode string
	// dp is the loaded program, nil when the plane was made over bare
	// maps (New).
	dp      *loader.Dataplane
	desired map[model.ServiceKey]model.Service
	// retired holds the counters of removed real servers, by service:
	// the program counts per real server only, and a service's counters
	// must not go backwards when one of its servers is removed.
	retired map[bpf.SvcKey]model.Counters
	// applied counts the calls of Apply that returned, for readers that
	// cache the maps' indexes (conntrack sync).
	applied atomic.Uint64
	// census counts the flow table for Status and Stats (census.go).
	census censusCache
	// sweepStop stops the sweep of the established table (sweep.go),
	// sweepDone is closed when it has stopped; nil without a sweep.
	sweepStop, sweepDone chan struct{}
	// evicted is the largest half-open eviction count reported, which
	// keeps the derived count monotonic (bpf.FlowTableStats); Stats
	// runs for scrapes, status and the status page's sampler at once.
	evictMu sync.Mutex
	evicted uint64
	// stopRecount ends the recount loop (recount.go) of a plane made by
	// Wrap; nil otherwise.
	stopRecount chan struct{}
	stopOnce    sync.Once
	recounting  sync.WaitGroup
	// busy counts, per real-server slot, the recounts in a row that found
	// its count changing (recount.go).
	busy map[uint32]int
}

// New makes a plane over maps, of a program loaded elsewhere (tests);
// mode is reported by Mode. It has no attachments, and Remove and Close do
// nothing.
func New(maps *bpf.Maps, mode string) *Plane {
	return &Plane{maps: maps, mode: mode, desired: map[model.ServiceKey]model.Service{},
		retired: map[bpf.SvcKey]model.Counters{}}
}

// Wrap makes the plane of a program the loader opened, and starts the
// sweep of its established flow table and the recount of connection counts
// (recount.go).
func Wrap(dp *loader.Dataplane) *Plane {
	p := New(dp.Maps, dp.Mode())
	p.dp = dp
	p.sweepStop, p.sweepDone = make(chan struct{}), make(chan struct{})
	go p.startSweep(p.sweepStop, p.sweepDone)
	p.stopRecount = make(chan struct{})
	p.recounting.Add(1)
	go func() {
		defer p.recounting.Done()
		p.recountLoop(p.stopRecount)
	}()
	return p
}

// stopSweep stops the sweep and waits for it.
func (p *Plane) stopSweep() {
	if p.sweepStop == nil {
		return
	}
	close(p.sweepStop)
	<-p.sweepDone
	p.sweepStop = nil
}

// stop ends the recount loop, and waits for it.
func (p *Plane) stop() {
	if p.stopRecount != nil {
		p.stopOnce.Do(func() { close(p.stopRecount) })
		p.recounting.Wait()
	}
}

// The capabilities of the BPF plane.
var (
	_ dataplane.Dataplane  = (*Plane)(nil)
	_ dataplane.Hooks      = (*Plane)(nil)
	_ dataplane.SyncTables = (*Plane)(nil)
)

// Mode implements dataplane.Dataplane.
func (d *Plane) Mode() string { return d.mode }

// SetTimeouts implements dataplane.Dataplane.
func (d *Plane) SetTimeouts(t model.Timeouts) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.maps.SetTimeouts(bpf.Timeouts(t))
}

// Attachments implements dataplane.Hooks.
func (p *Plane) Attachments() []model.InterfaceStatus {
	if p.dp == nil {
		return nil
	}
	var out []model.InterfaceStatus
	for _, a := range p.dp.Attachments {
		out = append(out, model.InterfaceStatus{Name: a.Interface, Mode: a.Mode})
	}
	return out
}

// Fallbacks implements dataplane.Hooks.
func (p *Plane) Fallbacks() []model.DataplaneFallback {
	if p.dp == nil {
		return nil
	}
	var out []model.DataplaneFallback
	for _, f := range p.dp.Fallbacks {
		out = append(out, model.DataplaneFallback{Interface: f.Interface, Mode: f.Mode, Reason: f.Reason, NotChosen: f.NotChosen})
	}
	return out
}

// Describe implements dataplane.Dataplane.
func (p *Plane) Describe() []any {
	if p.dp == nil {
		return nil
	}
	return []any{"adopted", p.dp.Adopted, "pinned", p.dp.Dir()}
}

// Remove implements dataplane.Dataplane: the program is detached and its
// pinned state deleted.
func (p *Plane) Remove() error {
	if p.dp == nil {
		return nil
	}
	p.stopSweep()
	p.stop()
	return p.dp.Remove()
}

// Close implements dataplane.Dataplane: the program stays attached and
// pinned.
func (p *Plane) Close() error {
	if p.dp == nil {
		return nil
	}
	p.stopSweep()
	p.stop()
	return p.dp.Close()
}

// SetPeerForward implements dataplane.PeerForwarder.
func (p *Plane) SetPeerForward(on bool) error { return p.maps.SetPeerForward(on) }

// SetPeerLinks implements dataplane.PeerForwarder.
func (p *Plane) SetPeerLinks(links map[int]dataplane.PeerLink) error {
	out := make(map[uint32]bpf.PeerLink, len(links))
	for idx, l := range links {
		v, err := bpf.NewPeerLink(l.PeerMAC, l.OwnMAC)
		if err != nil {
			return fmt.Errorf("interface %d: %w", idx, err)
		}
		out[uint32(idx)] = v
	}
	return p.maps.SetPeerLinks(out)
}

// SetSyncEvents implements dataplane.SyncTables.
func (p *Plane) SetSyncEvents(on bool) error { return p.maps.SetSyncEvents(on) }

// OpenSyncTable implements dataplane.SyncTables.
func (p *Plane) OpenSyncTable() (dataplane.SyncTable, error) {
	return newSyncTable(p.maps, p.applied.Load)
}
