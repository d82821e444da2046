package bpf

// The data plane's side of conntrack sync: the program reports the forward
// key of every connection it creates or moves to a new state in the
// sync_events ring buffer (when dp_config.sync_events is set); the control
// plane reads the current entries itself and writes the peer's entries.
// Also a reusable jiffies clock, since sync converts lifetimes on every
// batch.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// SetSyncEvents turns the program's sync notifications on or off.
func (m *Maps) SetSyncEvents(on bool) error {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	c, err := m.readConfig()
	if err != nil {
		return err
	}
	c.SyncEvents = 0
	if on {
		c.SyncEvents = 1
	}
	if err := m.config.Put(uint32(0), c); err != nil {
		return fmt.Errorf("put config: %w", err)
	}
	return nil
}

// DeleteFlow deletes the entry for k; a missing entry is not an error.
func (m *Maps) DeleteFlow(k FlowKey) error {
	if err := m.flows.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete flow: %w", err)
	}
	return nil
}

// SyncReader reads the program's sync notifications.
type SyncReader struct {
	r   *ringbuf.Reader
	rec ringbuf.Record
}

// ErrSyncDeadline is returned by SyncReader.Read when its deadline passed.
var ErrSyncDeadline = os.ErrDeadlineExceeded

// OpenSyncReader opens a reader of the sync_events ring buffer. There must
// be one reader per node.
func (m *Maps) OpenSyncReader() (*SyncReader, error) {
	r, err := ringbuf.NewReader(m.syncEvents)
	if err != nil {
		return nil, fmt.Errorf("open sync events: %w", err)
	}
	return &SyncReader{r: r}, nil
}

// SetDeadline makes Read return ErrSyncDeadline after t (zero: no deadline).
func (s *SyncReader) SetDeadline(t time.Time) { s.r.SetDeadline(t) }

// Read returns the next notified forward key, waiting for one.
func (s *SyncReader) Read() (FlowKey, error) {
	var k FlowKey
	if err := s.r.ReadInto(&s.rec); err != nil {
		return k, err
	}
	if err := binary.Read(bytes.NewReader(s.rec.RawSample), binary.NativeEndian, &k); err != nil {
		return k, fmt.Errorf("decode sync event: %w", err)
	}
	return k, nil
}

// Close stops the reader; a blocked Read returns.
func (s *SyncReader) Close() error { return s.r.Close() }

// Clock reads jiffies, the program's clock, with one loaded probe.
type Clock struct{ p *ebpf.Program }

// NewClock loads the probe.
func NewClock() (*Clock, error) {
	p, err := jiffiesProgram()
	if err != nil {
		return nil, err
	}
	return &Clock{p: p}, nil
}

// Now returns the current jiffies.
func (c *Clock) Now() (uint64, error) { return runJiffies(c.p) }

// Close unloads the probe.
func (c *Clock) Close() error { return c.p.Close() }
