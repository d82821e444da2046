package heartbeat

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"
)

func syncRec(i int) SyncRecord {
	return SyncRecord{Op: SyncUpsert, Proto: 6, State: SyncStateEstablished,
		Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 56, byte(100 + i/1000)}), uint16(10000+i%1000)),
		VIP:    netip.MustParseAddrPort("192.168.56.10:80"),
		Real:   netip.MustParseAddrPort("192.168.200.11:80"),
		Left:   900 * time.Second}
}

func TestSyncCodecRoundTrip(t *testing.T) {
	for _, method := range []string{"sha256", "sha1", "md5"} {
		auth := Auth{Method: method, Key: testKey}
		tx, rx := NewSyncCodec(auth, 5), NewSyncCodec(auth, 1)
		recs := []SyncRecord{syncRec(1), {Op: SyncDelete, Proto: 17, Client: netip.MustParseAddrPort("10.0.0.1:53"),
			VIP: netip.MustParseAddrPort("10.0.0.2:53"), Real: netip.MustParseAddrPort("10.1.0.1:5353")},
			{Op: SyncUpsert, Proto: 17, State: SyncStateUDP, Client: netip.MustParseAddrPort("10.0.0.1:53"),
				VIP: netip.MustParseAddrPort("10.0.0.2:53"), Real: netip.MustParseAddrPort("10.1.0.1:5353"), Left: 1500 * time.Millisecond}}
		full := make([]SyncRecord, SyncMaxRecords)
		for i := range full {
			full[i] = syncRec(i)
		}
		for i, m := range []SyncMessage{
			{Kind: SyncRecords, From: "lb1", Records: recs},
			{Kind: SyncRecords, From: "lb1", Epoch: 7, Records: full},
			{Kind: SyncRequest, From: "lb1", Epoch: 9},
			{Kind: SyncFullEnd, From: "lb1", Epoch: 9, Count: 123456},
		} {
			b, err := tx.Encode(m)
			if err != nil {
				t.Fatalf("%s %d: %v", method, i, err)
			}
			if len(b) > SyncMaxMessage || len(b) > 1472 {
				t.Errorf("%s %d: %d bytes", method, i, len(b))
			}
			got, err := rx.Decode(b)
			if err != nil {
				t.Fatalf("%s %d: %v", method, i, err)
			}
			if m.Kind == SyncRecords {
				m.Count = uint32(len(m.Records))
			}
			m.Generation, m.Seq = 5, uint64(i+1)
			if !reflect.DeepEqual(got, m) {
				t.Errorf("%s %d:\ngot  %+v\nwant %+v", method, i, got, m)
			}
		}
	}
}

func TestSyncCodecRejects(t *testing.T) {
	auth := Auth{Key: testKey}
	tx := NewSyncCodec(auth, 5)
	valid, err := tx.Encode(SyncMessage{Kind: SyncRecords, From: "lb1", Records: []SyncRecord{syncRec(1)}})
	if err != nil {
		t.Fatal(err)
	}
	altered := bytes.Clone(valid)
	altered[syncHeaderSize+10] ^= 1 // a byte of the record
	// A record with protocol 1, correctly signed (a buggy peer with the key).
	badProto := bytes.Clone(valid)
	badProto[syncHeaderSize+3+1] = 1
	badProto = resign(badProto, testKey)
	otherKey, _ := NewSyncCodec(Auth{Key: []byte("another key of the same size!!!!")}, 5).Encode(
		SyncMessage{Kind: SyncRecords, From: "lb1", Records: []SyncRecord{syncRec(1)}})
	heartbeat, _ := NewCodec(auth, 1).Encode(sampleMessage())
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"altered", altered, ErrAuth},
		{"another key", otherKey, ErrAuth},
		{"bad record signed", badProto, ErrMalformed},
		{"truncated", valid[:len(valid)-1], ErrMalformed},
		{"a heartbeat", heartbeat, ErrMalformed},
		{"empty", nil, ErrMalformed},
	} {
		if _, err := NewSyncCodec(auth, 1).Decode(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	rx := NewSyncCodec(auth, 1)
	if _, err := rx.Decode(valid); err != nil {
		t.Fatal(err)
	}
	if _, err := rx.Decode(valid); !errors.Is(err, ErrDuplicate) {
		t.Errorf("the same message again: %v, want a duplicate", err)
	}
	for range replayWindow + 1 {
		b, err := tx.Encode(SyncMessage{Kind: SyncRequest, From: "lb1", Epoch: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rx.Decode(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rx.Decode(valid); !errors.Is(err, ErrReplay) {
		t.Errorf("an old message: %v, want a replay", err)
	}
	if _, err := tx.Encode(SyncMessage{Kind: SyncRecords, From: "lb1", Records: make([]SyncRecord, SyncMaxRecords+1)}); err == nil {
		t.Error("encoded more records than fit a message")
	}
}

func FuzzSyncDecode(f *testing.F) {
	tx := NewSyncCodec(Auth{Key: testKey}, 1)
	for _, m := range []SyncMessage{{Kind: SyncRecords, From: "lb1", Records: []SyncRecord{syncRec(1), syncRec(2)}},
		{Kind: SyncRequest, From: "lb2", Epoch: 3}, {Kind: SyncFullEnd, From: "lb1", Epoch: 3, Count: 2}} {
		b, err := tx.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(m SyncMessage, err error) {
			n := 0
			for _, e := range []error{ErrMalformed, ErrAuth, ErrReplay, ErrDuplicate} {
				if errors.Is(err, e) {
					n++
				}
			}
			if err != nil && n != 1 {
				t.Fatalf("error %v wraps %d sentinels", err, n)
			}
			if err == nil {
				for _, r := range m.Records {
					if checkRecord(r) != nil {
						t.Fatalf("accepted an invalid record %+v", r)
					}
				}
			}
		}
		check(NewSyncCodec(Auth{Key: testKey}, 1).Decode(b))
		if len(b) >= syncHeaderSize+32 && len(b) <= SyncMaxMessage {
			s := bytes.Clone(b)
			s[5] = 1
			check(NewSyncCodec(Auth{Key: testKey}, 1).Decode(resign(s, testKey)))
		}
	})
}

// memTable is a SyncTable in memory.
type memTable struct {
	mu      sync.Mutex
	flows   map[syncKey]SyncRecord
	changes chan []SyncRecord
}

func newMemTable(n int) *memTable {
	t := &memTable{flows: map[syncKey]SyncRecord{}, changes: make(chan []SyncRecord, 16)}
	for i := range n {
		t.put(syncRec(i))
	}
	return t
}

func (t *memTable) put(r SyncRecord) {
	t.mu.Lock()
	t.flows[r.key()] = r
	t.mu.Unlock()
}

func (t *memTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.flows)
}

func (t *memTable) has(r SyncRecord) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.flows[r.key()]
	return ok
}

// change adds r and reports it, as the data plane would.
func (t *memTable) change(r SyncRecord) {
	t.put(r)
	t.changes <- []SyncRecord{r}
}

func (t *memTable) Changed(ctx context.Context, max int) ([]SyncRecord, time.Time, error) {
	select {
	case <-ctx.Done():
		return nil, time.Time{}, nil
	case r := <-t.changes:
		return r, time.Now(), nil
	}
}

func (t *memTable) Dump(fn func(SyncRecord) bool) error {
	t.mu.Lock()
	recs := make([]SyncRecord, 0, len(t.flows))
	for _, r := range t.flows {
		recs = append(recs, r)
	}
	t.mu.Unlock()
	for _, r := range recs {
		if !fn(r) {
			break
		}
	}
	return nil
}

func (t *memTable) Install(recs []SyncRecord) (SyncInstalled, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range recs {
		k := r.key()
		if r.Op == SyncDelete {
			delete(t.flows, k)
		} else {
			t.flows[k] = r
		}
	}
	return SyncInstalled{Installed: len(recs)}, nil
}

// syncPair runs two syncers over a fakeNet.
type syncPair struct {
	net    *fakeNet
	s      map[string]*Syncer
	tables map[string]*memTable
	ready  map[string]chan bool
}

func startSyncPair(t *testing.T, active int) *syncPair {
	t.Helper()
	p := &syncPair{net: newFakeNet(), s: map[string]*Syncer{}, tables: map[string]*memTable{}, ready: map[string]chan bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, n := range []string{"lb1", "lb2"} {
		rows := 0
		if n == "lb1" {
			rows = active
		}
		p.tables[n] = newMemTable(rows)
		p.ready[n] = make(chan bool, 64)
		ch := p.ready[n]
		s, err := NewSyncer(SyncConfig{Node: n, Peer: peerOf(n), ScanInterval: time.Hour, RequestRetry: 50 * time.Millisecond,
			GapGrace: 50 * time.Millisecond}, Auth{Key: testKey}, p.net.endpoint(n), p.tables[n], func(r bool) { ch <- r }, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.s[n] = s
	}
	p.s["lb1"].SetActive(true)
	for _, s := range p.s {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				t.Errorf("syncer: %v", err)
			}
		}()
	}
	return p
}

// waitReady waits for node n's readiness to become want.
func (p *syncPair) waitReady(t *testing.T, n string, want bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case r := <-p.ready[n]:
			if r == want {
				return
			}
		case <-deadline:
			t.Fatalf("%s: readiness never became %v (status %+v)", n, want, p.s[n].Status())
		}
	}
}

// The standby asks for the full table at start and is ready once it has
// all of it; live changes follow.
func TestSyncerFullTableThenLive(t *testing.T) {
	const n = 500 // several messages
	p := startSyncPair(t, n)
	p.waitReady(t, "lb2", true)
	if got := p.tables["lb2"].len(); got != n {
		t.Fatalf("lb2 ready with %d connections, want %d", got, n)
	}
	st := p.s["lb2"].Status()
	if !st.Ready || st.Active || st.Counters.FullReceived != 1 || st.Counters.Installed != n {
		t.Errorf("lb2 status %+v", st)
	}
	if st := p.s["lb1"].Status(); st.Counters.FullSent != 1 || st.Tracked != n {
		t.Errorf("lb1 status %+v", st)
	}
	r := syncRec(n + 1)
	p.tables["lb1"].change(r)
	waitFor(t, 5*time.Second, "the live change reaches lb2", func() bool { return p.tables["lb2"].has(r) })
	if st := p.s["lb1"].Status(); st.MaxLag <= 0 {
		t.Errorf("no sync lag measured: %+v", st)
	}
}

// A lost message makes the standby unready and ask again; the full table
// brings back what was lost.
func TestSyncerGapResyncs(t *testing.T) {
	p := startSyncPair(t, 10)
	p.waitReady(t, "lb2", true)
	lost := syncRec(100)
	p.net.setCut("lb2", true)
	p.tables["lb1"].change(lost)
	waitFor(t, 5*time.Second, "lb1 sent the change", func() bool { return p.s["lb1"].Status().Counters.RecordsSent >= 11 })
	p.net.setCut("lb2", false)
	p.tables["lb1"].change(syncRec(101)) // its sequence number shows the gap
	p.waitReady(t, "lb2", false)
	p.waitReady(t, "lb2", true)
	if !p.tables["lb2"].has(lost) {
		t.Error("the lost connection is not back after the resync")
	}
	if st := p.s["lb2"].Status(); st.Counters.Gaps == 0 || st.Counters.FullReceived < 2 {
		t.Errorf("lb2 status %+v", st)
	}
}

// Packets that are not valid sync messages are dropped and counted.
func TestSyncerRejectsForgeries(t *testing.T) {
	p := startSyncPair(t, 1)
	p.waitReady(t, "lb2", true)
	forged, _ := NewSyncCodec(Auth{Key: []byte("not the pair's key, but long enough")}, 9).Encode(
		SyncMessage{Kind: SyncRecords, From: "lb1", Records: []SyncRecord{syncRec(7)}})
	ep := p.net.eps["lb2"]
	ep.ch <- Packet{Data: forged, Link: "link-a"}
	ep.ch <- Packet{Data: []byte("DRSY garbage"), Link: "link-a"}
	waitFor(t, 5*time.Second, "both counted", func() bool {
		c := p.s["lb2"].Status().Counters
		return c.AuthFailures == 1 && c.Malformed == 1
	})
	if p.tables["lb2"].has(syncRec(7)) {
		t.Error("a forged record was installed")
	}
}

// Releasing the group sends the whole table unasked; Settle processes
// what arrived before the caller takes over.
func TestSyncerReleasePushesTable(t *testing.T) {
	p := startSyncPair(t, 0)
	p.waitReady(t, "lb2", true)
	// lb2 takes over (lb1 released), creates connections, then hands back.
	p.s["lb1"].SetActive(false)
	if err := p.s["lb2"].Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.s["lb2"].SetActive(true)
	for i := range 60 {
		p.tables["lb2"].put(syncRec(i))
	}
	p.s["lb2"].SetActive(false)
	waitFor(t, 5*time.Second, "lb1 has lb2's table", func() bool { return p.tables["lb1"].len() == 60 })
	if err := p.s["lb1"].Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Pushed, not asked for: lb1 never received a complete full table
	// (a push has no end message), and lb2 sent one table.
	if st := p.s["lb1"].Status(); st.Counters.FullReceived != 0 {
		t.Errorf("lb1 got lb2's table by asking, not by lb2's push: %+v", st)
	}
	if st := p.s["lb2"].Status(); st.Counters.FullSent != 1 {
		t.Errorf("lb2 sent %d full tables, want the one pushed on release: %+v", st.Counters.FullSent, st)
	}
}
