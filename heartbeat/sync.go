package heartbeat

// Conntrack sync: the active node streams its connections to the standby,
// which installs them in its own flow table, so that established
// connections continue on the same real server after a takeover.
//
// What the active sends:
//   - live changes: every connection the data plane reports created or
//     changed state, a few milliseconds after the fact (batched by the
//     table's Changed, sent in messages of up to SyncMaxRecords);
//   - refreshes: a scan every ScanInterval resends the connections whose
//     lifetime has moved on by more than RefreshSlack since they were last
//     sent (traffic keeps a connection alive on the active only), and
//     deletes those that left the table;
//   - a full table on request (SyncRequest, answered with the records of
//     that epoch and SyncFullEnd with their count), and unasked when it
//     stops being active, so that the node taking over has everything.
//
// What the standby does: it installs every record it receives (the table
// decides what to do with a record that contradicts a live local entry),
// and it is ready once it has received a whole full table: at start, and
// again after it noticed a lost message (a gap in the peer's sequence
// numbers not filled within GapGrace), it asks for one every RequestRetry
// until it has it. Readiness is reported to the heartbeat (a node does not
// take the group back from its peer before it is ready) and in Status.
// Before the addresses move to this node, Settle installs whatever was
// received and not processed yet.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// SyncTable is the flow table seen by the sync.
type SyncTable interface {
	// Changed waits until the data plane reports changed connections (or
	// ctx is done) and returns them as they are now, at most max: a
	// connection no longer in the table is a SyncDelete record. The
	// returned time is when the first of them was reported.
	Changed(ctx context.Context, max int) ([]SyncRecord, time.Time, error)
	// Dump calls fn for every connection of the table.
	Dump(fn func(SyncRecord) bool) error
	// Install writes the peer's records into the table.
	Install(recs []SyncRecord) (SyncInstalled, error)
}

// SyncInstalled counts what Install did with a batch.
type SyncInstalled struct {
	// Installed records were written (upserts) or applied (deletes).
	Installed int
	// Unknown records name a service or real server this node does not
	// have; they are skipped.
	Unknown int
	// Conflicts are records for a connection that this node tracks with
	// another real server and that is alive and not closing here: the
	// local one is kept. A closing one (FIN or RST seen) gives way to the
	// record, a newer connection through the same tuple.
	Conflicts int
}

// SyncConfig configures a Syncer.
type SyncConfig struct {
	// Node is this node's name, Peer the other's.
	Node, Peer string
	// ScanInterval is the time between two refresh scans (default 5s).
	ScanInterval time.Duration
	// RefreshSlack is how far a connection's lifetime may have moved on
	// before it is sent again (default 10s).
	RefreshSlack time.Duration
	// RequestRetry is the time between two full-table requests (default 1s).
	RequestRetry time.Duration
	// GapGrace is how long a missing message may be awaited (another
	// link's copy, reordering) before it counts as lost (default 1s).
	GapGrace time.Duration
	// FullPace: after this many messages of a full table, pause a
	// millisecond so that the receiver's socket buffer keeps up (default 16).
	FullPace int
}

func (c *SyncConfig) defaults() {
	if c.ScanInterval <= 0 {
		c.ScanInterval = 5 * time.Second
	}
	if c.RefreshSlack <= 0 {
		c.RefreshSlack = 10 * time.Second
	}
	if c.RequestRetry <= 0 {
		c.RequestRetry = time.Second
	}
	if c.GapGrace <= 0 {
		c.GapGrace = time.Second
	}
	if c.FullPace <= 0 {
		c.FullPace = 16
	}
}

// SyncCounters count what a Syncer did (the JSON names are those of
// `director status --json`).
type SyncCounters struct {
	// RecordsSent and RecordsReceived count connection records; Messages
	// and Bytes the datagrams (one per send, whatever the number of links).
	RecordsSent      uint64 `json:"records_sent"`
	MessagesSent     uint64 `json:"messages_sent"`
	BytesSent        uint64 `json:"bytes_sent"`
	RecordsReceived  uint64 `json:"records_received"`
	MessagesReceived uint64 `json:"messages_received"`
	BytesReceived    uint64 `json:"bytes_received"`
	// Installed, Unknown (service or real server not configured here) and
	// Conflicts (a live local connection to another real server, kept)
	// sum Install's results.
	Installed uint64 `json:"installed"`
	Unknown   uint64 `json:"unknown"`
	Conflicts uint64 `json:"conflicts"`
	// FullSent counts full tables sent (asked or not), FullReceived the
	// complete ones received, Requests the requests this node sent.
	FullSent     uint64 `json:"full_tables_sent"`
	FullReceived uint64 `json:"full_tables_received"`
	Requests     uint64 `json:"requests"`
	// Gaps counts lost messages noticed (each starts a resync).
	Gaps uint64 `json:"gaps"`
	// AuthFailures, Replays, Malformed count refused packets (Duplicates
	// are other links' copies); SendErrors failed sends.
	AuthFailures uint64 `json:"auth_failures"`
	Replays      uint64 `json:"replays"`
	Malformed    uint64 `json:"malformed"`
	Duplicates   uint64 `json:"duplicates"`
	SendErrors   uint64 `json:"send_errors"`
}

// SyncStatus is a snapshot of a Syncer.
type SyncStatus struct {
	// Active says this node sends (it holds the group).
	Active bool
	// Ready says this node holds a complete copy of the peer's table
	// (always true while active).
	Ready bool
	// LastFull is when the last complete full table was received.
	LastFull time.Time
	// Lag is the delay between the data plane's report of the last
	// batch sent and its sending; MaxLag the largest since start.
	Lag, MaxLag time.Duration
	// Tracked is how many connections the peer was told about.
	Tracked  int
	Counters SyncCounters
}

// Syncer runs the sync of one node.
type Syncer struct {
	cfg   SyncConfig
	codec *SyncCodec
	tr    Transport
	table SyncTable
	log   *slog.Logger

	active  atomic.Bool
	roleCh  chan bool          // SetActive's changes, to the receive loop
	settle  chan chan struct{} // Settle's requests
	stopped chan struct{}      // closed when Run has returned
	pushes  sync.WaitGroup     // full tables being sent, waited for by Run
	onReady func(bool)

	sendMu sync.Mutex // one sender of messages at a time
	told   map[syncKey]toldRec

	mu      sync.Mutex // guards the fields below
	ready   bool
	lastFul time.Time
	lag     time.Duration
	maxLag  time.Duration
	ctr     SyncCounters
	ntold   int
}

// syncKey identifies a connection: protocol, client, VIP.
type syncKey struct {
	proto       uint8
	client, vip netip.AddrPort
}

func (r SyncRecord) key() syncKey { return syncKey{r.Proto, r.Client, r.VIP} }

// toldRec is what the peer was last told of a connection.
type toldRec struct {
	state  uint8
	real   netip.AddrPort
	expiry time.Time
}

// NewSyncer returns a syncer; Run starts it. onReady, if set, is called
// with the standby's readiness each time it changes (from Run's goroutine).
func NewSyncer(cfg SyncConfig, auth Auth, tr Transport, table SyncTable, onReady func(bool), log *slog.Logger) (*Syncer, error) {
	cfg.defaults()
	if err := checkName(cfg.Node); err != nil {
		return nil, fmt.Errorf("sync: node: %w", err)
	}
	if err := checkName(cfg.Peer); err != nil {
		return nil, fmt.Errorf("sync: peer: %w", err)
	}
	if err := auth.Validate(); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{cfg: cfg, codec: NewSyncCodec(auth, uint64(time.Now().UnixNano())), tr: tr, table: table,
		log: log, roleCh: make(chan bool, 8), settle: make(chan chan struct{}), stopped: make(chan struct{}),
		onReady: onReady, told: map[syncKey]toldRec{}}, nil
}

// SetActive tells the syncer whether this node holds the group.
func (s *Syncer) SetActive(active bool) {
	if s.active.Swap(active) != active {
		select {
		case s.roleCh <- active:
		case <-s.stopped:
		}
	}
}

// Settle installs every received message not processed yet; the daemon
// calls it before this node takes the addresses.
func (s *Syncer) Settle(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case s.settle <- done:
	case <-s.stopped:
		return nil // nothing more will be installed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status returns a snapshot.
func (s *Syncer) Status() SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	active := s.active.Load()
	return SyncStatus{Active: active, Ready: s.ready || active, LastFull: s.lastFul, Lag: s.lag,
		MaxLag: s.maxLag, Tracked: s.ntold, Counters: s.ctr}
}

func (s *Syncer) count(f func(c *SyncCounters)) {
	s.mu.Lock()
	f(&s.ctr)
	s.mu.Unlock()
}

// Run runs the syncer until ctx is done; it closes the transport once the
// full tables under way are sent. Its error is the transport's on closing.
func (s *Syncer) Run(ctx context.Context) (err error) {
	defer close(s.stopped)
	defer func() {
		if cerr := s.tr.Close(); cerr != nil {
			err = fmt.Errorf("sync: close transport: %w", cerr)
		}
	}()
	defer s.pushes.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.sendChanges(ctx) }()
	go func() { defer wg.Done(); s.scan(ctx) }()
	s.receive(ctx)
	cancel()
	wg.Wait()
	return nil // the deferred close of the transport may set err
}

// send encodes and sends one message.
func (s *Syncer) send(m SyncMessage) {
	m.From = s.cfg.Node
	b, err := s.codec.Encode(m)
	if err != nil {
		s.log.Error("sync: encode", "err", err)
		return
	}
	if err := s.tr.Send(b); err != nil {
		s.count(func(c *SyncCounters) { c.SendErrors++ })
		s.log.Debug("sync: send", "err", err)
		return
	}
	s.count(func(c *SyncCounters) {
		c.MessagesSent++
		c.BytesSent += uint64(len(b))
		c.RecordsSent += uint64(len(m.Records))
	})
}

// sendRecords sends recs in messages of epoch and remembers what the peer
// was told. pace pauses every FullPace messages (full tables).
func (s *Syncer) sendRecords(recs []SyncRecord, epoch uint32, pace bool) {
	now := time.Now()
	for i, n := 0, 0; i < len(recs); i, n = i+SyncMaxRecords, n+1 {
		if pace && n > 0 && n%s.cfg.FullPace == 0 {
			time.Sleep(time.Millisecond) // pacing a burst, not waiting for a condition
		}
		s.send(SyncMessage{Kind: SyncRecords, Epoch: epoch, Records: recs[i:min(i+SyncMaxRecords, len(recs))]})
	}
	for _, r := range recs {
		k := r.key()
		if r.Op == SyncDelete {
			delete(s.told, k)
		} else {
			s.told[k] = toldRec{state: r.State, real: r.Real, expiry: now.Add(r.Left)}
		}
	}
	s.mu.Lock()
	s.ntold = len(s.told)
	s.mu.Unlock()
}

// sendChanges streams the data plane's changes while active; while
// standby it drains them (they describe nothing the peer needs).
func (s *Syncer) sendChanges(ctx context.Context) {
	for ctx.Err() == nil {
		recs, first, err := s.table.Changed(ctx, 16*SyncMaxRecords)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("sync: read changes", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if len(recs) == 0 || !s.active.Load() {
			continue
		}
		s.sendMu.Lock()
		s.sendRecords(recs, 0, false)
		s.sendMu.Unlock()
		lag := time.Since(first)
		s.mu.Lock()
		s.lag = lag
		s.maxLag = max(s.maxLag, lag)
		s.mu.Unlock()
	}
}

// scan refreshes the peer's copy every ScanInterval while active.
func (s *Syncer) scan(ctx context.Context) {
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.active.Load() {
			s.refresh()
		}
	}
}

// refresh sends what moved on since it was sent, and deletes what left.
func (s *Syncer) refresh() {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	now := time.Now()
	var out []SyncRecord
	seen := make(map[syncKey]bool, len(s.told))
	err := s.table.Dump(func(r SyncRecord) bool {
		k := r.key()
		seen[k] = true
		t, ok := s.told[k]
		if !ok || t.state != r.State || t.real != r.Real || now.Add(r.Left).Sub(t.expiry) > s.cfg.RefreshSlack {
			out = append(out, r)
		}
		return true
	})
	if err != nil {
		s.log.Error("sync: scan", "err", err)
		return
	}
	for k, t := range s.told {
		if !seen[k] {
			out = append(out, SyncRecord{Op: SyncDelete, Proto: k.proto, Client: k.client, VIP: k.vip, Real: t.real})
		}
	}
	s.sendRecords(out, 0, true)
}

// pushFull sends the full table in the background (Run waits for it).
func (s *Syncer) pushFull(epoch uint32) {
	s.pushes.Add(1)
	go func() {
		defer s.pushes.Done()
		s.sendFull(epoch)
	}()
}

// sendFull sends the whole table as epoch's records, then (epoch != 0)
// the end with the count.
func (s *Syncer) sendFull(epoch uint32) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	var recs []SyncRecord
	if err := s.table.Dump(func(r SyncRecord) bool { recs = append(recs, r); return true }); err != nil {
		s.log.Error("sync: full table", "err", err)
		return
	}
	s.sendRecords(recs, epoch, true)
	if epoch != 0 {
		s.send(SyncMessage{Kind: SyncFullEnd, Epoch: epoch, Count: uint32(len(recs))})
	}
	s.count(func(c *SyncCounters) { c.FullSent++ })
	s.log.Info("sync: full table sent", "connections", len(recs), "epoch", epoch)
}

// receiver is the receive loop's own state.
type receiver struct {
	epoch     uint32 // the full table asked for, 0 if none
	epochRecs uint32
	asked     time.Time
	gen, top  uint64               // the peer's generation and highest sequence number
	missing   map[uint64]time.Time // sequence numbers not received yet
}

func (s *Syncer) setReady(ready bool) {
	s.mu.Lock()
	changed := s.ready != ready
	s.ready = ready
	if ready {
		s.lastFul = time.Now()
	}
	s.mu.Unlock()
	if changed && s.onReady != nil {
		s.onReady(ready)
	}
}

// receive runs the receive loop: packets, role changes, settles, ticks.
func (s *Syncer) receive(ctx context.Context) {
	st := &receiver{missing: map[uint64]time.Time{}}
	tick := time.NewTicker(min(s.cfg.RequestRetry, s.cfg.GapGrace) / 2)
	defer tick.Stop()
	packets := s.tr.Packets()
	if s.onReady != nil {
		s.onReady(false) // not ready until a full table came
	}
	s.maybeRequest(st, time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case p, ok := <-packets:
			if !ok {
				return
			}
			s.handle(st, p)
		case active := <-s.roleCh:
			if !active {
				// Released: the peer takes over with our table.
				s.pushFull(0)
				st.epoch = 0
				s.setReady(false)
			}
		case done := <-s.settle:
			for drained := false; !drained; {
				select {
				case p, ok := <-packets:
					if !ok {
						drained = true
						break
					}
					s.handle(st, p)
				default:
					drained = true
				}
			}
			close(done)
		case now := <-tick.C:
			s.checkGaps(st, now)
			s.maybeRequest(st, now)
		}
	}
}

// maybeRequest asks for a full table if standby, not ready, and the last
// request is RequestRetry old.
func (s *Syncer) maybeRequest(st *receiver, now time.Time) {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if s.active.Load() || ready && st.epoch == 0 {
		return
	}
	if !st.asked.IsZero() && now.Sub(st.asked) < s.cfg.RequestRetry {
		return
	}
	st.epoch = rand.Uint32N(1<<32-1) + 1
	st.epochRecs = 0
	st.asked = now
	s.count(func(c *SyncCounters) { c.Requests++ })
	s.send(SyncMessage{Kind: SyncRequest, Epoch: st.epoch})
}

// checkGaps turns messages missing for GapGrace into a resync.
func (s *Syncer) checkGaps(st *receiver, now time.Time) {
	lost := 0
	for seq, since := range st.missing {
		if now.Sub(since) >= s.cfg.GapGrace {
			delete(st.missing, seq)
			lost++
		}
	}
	s.lost(st, lost)
}

// lost counts lost messages of the peer and, on the standby, starts a
// resync: not ready, ask again at the next tick.
func (s *Syncer) lost(st *receiver, lost int) {
	if lost == 0 {
		return
	}
	s.count(func(c *SyncCounters) { c.Gaps += uint64(lost) })
	s.log.Warn("sync: messages from the peer lost: asking for its full table", "lost", lost)
	if !s.active.Load() {
		s.setReady(false)
		st.asked = time.Time{}
		st.epoch = 0
	}
}

// maxMissing bounds the missing-sequence set; beyond, the gap is lost at once.
const maxMissing = 4096

// track records the peer's sequence number seq of generation gen and
// returns how many messages it knows lost at once (a gap too wide to
// await); narrower gaps wait in missing for GapGrace.
func (st *receiver) track(gen, seq uint64, now time.Time) (lost int) {
	switch {
	case gen != st.gen:
		st.gen, st.top = gen, seq
		clear(st.missing)
		return 0
	case seq > st.top:
		if gap := seq - st.top - 1; gap > maxMissing-uint64(len(st.missing)) {
			st.top = seq
			return int(min(gap, math.MaxInt32))
		}
		for m := st.top + 1; m < seq; m++ {
			st.missing[m] = now
		}
		st.top = seq
	default:
		delete(st.missing, seq)
	}
	return 0
}

func (s *Syncer) handle(st *receiver, p Packet) {
	m, err := s.codec.Decode(p.Data)
	if err != nil {
		s.count(func(c *SyncCounters) {
			switch {
			case errors.Is(err, ErrAuth):
				c.AuthFailures++
			case errors.Is(err, ErrReplay):
				c.Replays++
			case errors.Is(err, ErrDuplicate):
				c.Duplicates++
			default:
				c.Malformed++
			}
		})
		if !errors.Is(err, ErrDuplicate) {
			s.log.Debug("sync: message refused", "link", p.Link, "from", p.From, "err", err)
		}
		return
	}
	if m.From != s.cfg.Peer {
		return
	}
	s.lost(st, st.track(m.Generation, m.Seq, time.Now()))
	s.count(func(c *SyncCounters) {
		c.MessagesReceived++
		c.BytesReceived += uint64(len(p.Data))
		c.RecordsReceived += uint64(len(m.Records))
	})
	switch m.Kind {
	case SyncRequest:
		if s.active.Load() {
			s.pushFull(m.Epoch)
		}
	case SyncRecords:
		res, err := s.table.Install(m.Records)
		if err != nil {
			s.log.Error("sync: install", "err", err)
		}
		s.count(func(c *SyncCounters) {
			c.Installed += uint64(res.Installed)
			c.Unknown += uint64(res.Unknown)
			c.Conflicts += uint64(res.Conflicts)
		})
		if m.Epoch != 0 && m.Epoch == st.epoch {
			st.epochRecs += uint32(len(m.Records))
		}
	case SyncFullEnd:
		if m.Epoch == 0 || m.Epoch != st.epoch {
			return
		}
		if st.epochRecs != m.Count {
			s.log.Warn("sync: incomplete full table: asking again", "received", st.epochRecs, "sent", m.Count)
			st.asked = time.Time{}
			return
		}
		st.epoch = 0
		s.count(func(c *SyncCounters) { c.FullReceived++ })
		s.log.Info("sync: full table received: ready", "connections", m.Count)
		s.setReady(true)
	}
}
