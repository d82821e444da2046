package heartbeat

// Conntrack sync messages on the wire. They are authenticated with the
// pair's key and method exactly as heartbeats are, and replay-protected
// the same way with sequence numbers of their own (a sync stream and the
// heartbeat stream of one node do not share a counter).
//
// Format (version 1; integers big-endian), 36 bytes of header, the
// sender's name, the records, then the MAC:
//
//	off len
//	  0   4  magic "DRSY"
//	  4   1  version, 1
//	  5   1  MAC method, as heartbeats (1 sha256, 2 sha1, 3 md5)
//	  6   1  kind: 1 records, 2 request (send me your full table),
//	         3 end of a full table
//	  7   1  flags, 0
//	  8   1  length F of the sender's name, 1-64
//	  9   3  reserved, 0
//	 12   8  generation (the sender's start time in ns)
//	 20   8  sequence number, from 1 in each generation
//	 28   4  epoch: the full table this message belongs to (the
//	         requester's number), 0 for live changes
//	 32   4  records: how many follow (kind 1); total records of the
//	         full table (kind 3); 0 (kind 2)
//	 36   F  sender's name
//	36+F 28n records
//	  ...    HMAC of every byte before it
//
// A record is one connection, by its client-side tuple:
//
//	off len
//	  0   1  op: 1 upsert, 2 delete
//	  1   1  protocol: 6 tcp, 17 udp
//	  2   1  state: 1 SYN, 2 ESTABLISHED, 3 FIN, 4 UDP (0 with delete)
//	  3   1  reserved, 0
//	  4   4  client address
//	  8   2  client port
//	 10   2  virtual port
//	 12   4  virtual address
//	 16   4  real server address
//	 20   2  real server port
//	 22   2  reserved, 0
//	 24   4  lifetime left, ms (0 with delete)
//
// A message fits one Ethernet frame (SyncMaxRecords records at most).

import (
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// SyncKind is a sync message's kind.
type SyncKind uint8

// The kinds of sync message.
const (
	// SyncRecords carries connections (live changes, or part of a full table).
	SyncRecords SyncKind = 1
	// SyncRequest asks the active node for its full table.
	SyncRequest SyncKind = 2
	// SyncFullEnd closes a full table and says how many records it had.
	SyncFullEnd SyncKind = 3
)

// SyncOp is what a record does.
type SyncOp uint8

// The record operations.
const (
	SyncUpsert SyncOp = 1
	SyncDelete SyncOp = 2
)

// Connection states of records (bpf's enum flow_state values).
const (
	SyncStateSYN         = 1
	SyncStateEstablished = 2
	SyncStateFIN         = 3
	SyncStateUDP         = 4
)

const (
	syncHeaderSize = 36
	syncRecordSize = 28
	syncVersion    = 1
	// SyncMaxRecords is the most records one message carries: with a
	// 64-byte name and a 32-byte MAC it stays under 1472 bytes, one
	// Ethernet frame of UDP payload.
	SyncMaxRecords = 47
	// SyncMaxMessage bounds an accepted sync packet.
	SyncMaxMessage = syncHeaderSize + 64 + SyncMaxRecords*syncRecordSize + 32
	// maxLifetime bounds a record's lifetime (a day; timeouts are hours at most).
	maxLifetime = 24 * time.Hour
)

var syncMagic = [4]byte{'D', 'R', 'S', 'Y'}

// SyncRecord is one connection as the pair exchanges it.
type SyncRecord struct {
	Op     SyncOp
	Proto  uint8
	State  uint8
	Client netip.AddrPort
	VIP    netip.AddrPort
	Real   netip.AddrPort
	// Left is how long the connection lives if idle from now.
	Left time.Duration
}

// SyncMessage is one decoded sync message.
type SyncMessage struct {
	Kind    SyncKind
	From    string
	Epoch   uint32
	Count   uint32 // SyncFullEnd: records in the full table
	Records []SyncRecord
	// Generation and Seq are set by Encode and reported by Decode.
	Generation uint64
	Seq        uint64
}

// SyncCodec encodes this node's sync messages and checks the peer's. It is
// safe for concurrent use.
type SyncCodec struct {
	method  *macMethod
	authErr error
	key     []byte
	gen     uint64

	mu     sync.Mutex // guards seq
	seq    uint64
	replay replayGuard
}

// NewSyncCodec returns a codec for auth (checked like NewCodec's), whose
// messages carry generation.
func NewSyncCodec(auth Auth, generation uint64) *SyncCodec {
	c := &SyncCodec{gen: generation, key: append([]byte(nil), auth.Key...)}
	if err := auth.Validate(); err != nil {
		c.authErr = err
		return c
	}
	c.method = methodByName(auth.method())
	return c
}

// Generation is the generation this codec's messages carry.
func (c *SyncCodec) Generation() uint64 { return c.gen }

func checkRecord(r SyncRecord) error {
	switch {
	case r.Op != SyncUpsert && r.Op != SyncDelete:
		return fmt.Errorf("unknown op %d", r.Op)
	case r.Proto != 6 && r.Proto != 17:
		return fmt.Errorf("protocol %d", r.Proto)
	case !r.Client.Addr().Is4() || !r.VIP.Addr().Is4() || !r.Real.Addr().Is4():
		return errors.New("addresses must be IPv4")
	case r.Client.Port() == 0 || r.VIP.Port() == 0 || r.Real.Port() == 0:
		return errors.New("port 0")
	case r.Left < 0 || r.Left > maxLifetime:
		return fmt.Errorf("lifetime %v out of range", r.Left)
	}
	if r.Op == SyncDelete {
		return nil
	}
	switch {
	case r.Proto == 6 && (r.State < SyncStateSYN || r.State > SyncStateFIN):
		return fmt.Errorf("tcp state %d", r.State)
	case r.Proto == 17 && r.State != SyncStateUDP:
		return fmt.Errorf("udp state %d", r.State)
	}
	return nil
}

// Encode gives m's packet with this codec's generation and the next
// sequence number.
func (c *SyncCodec) Encode(m SyncMessage) ([]byte, error) {
	if c.authErr != nil {
		return nil, fmt.Errorf("encode sync: %w", c.authErr)
	}
	if m.Kind < SyncRecords || m.Kind > SyncFullEnd {
		return nil, fmt.Errorf("encode sync: unknown kind %d", m.Kind)
	}
	if err := checkName(m.From); err != nil {
		return nil, fmt.Errorf("encode sync: sender: %w", err)
	}
	if len(m.Records) > SyncMaxRecords || (m.Kind != SyncRecords && len(m.Records) > 0) {
		return nil, fmt.Errorf("encode sync: %d records in a %d message", len(m.Records), m.Kind)
	}
	count := m.Count
	if m.Kind == SyncRecords {
		count = uint32(len(m.Records))
	}
	b := make([]byte, syncHeaderSize, syncHeaderSize+len(m.From)+len(m.Records)*syncRecordSize+c.method.size)
	copy(b[0:4], syncMagic[:])
	b[4] = syncVersion
	b[5] = c.method.id
	b[6] = byte(m.Kind)
	b[8] = byte(len(m.From))
	binary.BigEndian.PutUint64(b[12:], c.gen)
	binary.BigEndian.PutUint32(b[28:], m.Epoch)
	binary.BigEndian.PutUint32(b[32:], count)
	b = append(b, m.From...)
	for _, r := range m.Records {
		if err := checkRecord(r); err != nil {
			return nil, fmt.Errorf("encode sync: record %v: %w", r.Client, err)
		}
		var e [syncRecordSize]byte
		e[0], e[1], e[2] = byte(r.Op), r.Proto, r.State
		a := r.Client.Addr().As4()
		copy(e[4:8], a[:])
		binary.BigEndian.PutUint16(e[8:], r.Client.Port())
		binary.BigEndian.PutUint16(e[10:], r.VIP.Port())
		a = r.VIP.Addr().As4()
		copy(e[12:16], a[:])
		a = r.Real.Addr().As4()
		copy(e[16:20], a[:])
		binary.BigEndian.PutUint16(e[20:], r.Real.Port())
		binary.BigEndian.PutUint32(e[24:], uint32(r.Left/time.Millisecond))
		b = append(b, e[:]...)
	}
	c.mu.Lock()
	c.seq++
	binary.BigEndian.PutUint64(b[20:], c.seq)
	c.mu.Unlock()
	mac := hmac.New(c.method.hash, c.key)
	mac.Write(b)
	return mac.Sum(b), nil
}

// Decode checks and decodes a sync packet. Its errors wrap ErrMalformed,
// ErrAuth, ErrReplay or ErrDuplicate; it never panics, whatever b holds.
// The checks come in the order of Codec.Decode: layout, MAC, values,
// freshness.
func (c *SyncCodec) Decode(b []byte) (SyncMessage, error) {
	if len(b) > SyncMaxMessage {
		return SyncMessage{}, fmt.Errorf("%w: sync message of %d bytes, more than %d", ErrMalformed, len(b), SyncMaxMessage)
	}
	if len(b) < syncHeaderSize {
		return SyncMessage{}, fmt.Errorf("%w: sync message of %d bytes, shorter than the header", ErrMalformed, len(b))
	}
	if [4]byte(b[0:4]) != syncMagic {
		return SyncMessage{}, fmt.Errorf("%w: no DRSY magic", ErrMalformed)
	}
	if b[4] != syncVersion {
		return SyncMessage{}, fmt.Errorf("%w: sync version %d, want %d", ErrMalformed, b[4], syncVersion)
	}
	method := methodByID(b[5])
	if method == nil {
		return SyncMessage{}, fmt.Errorf("%w: unknown MAC method %d", ErrMalformed, b[5])
	}
	kind := SyncKind(b[6])
	fromLen := int(b[8])
	count := binary.BigEndian.Uint32(b[32:])
	n := 0
	if kind == SyncRecords {
		if count > SyncMaxRecords {
			return SyncMessage{}, fmt.Errorf("%w: %d records, more than %d", ErrMalformed, count, SyncMaxRecords)
		}
		n = int(count)
	}
	if want := syncHeaderSize + fromLen + n*syncRecordSize + method.size; len(b) != want {
		return SyncMessage{}, fmt.Errorf("%w: sync message of %d bytes, want %d", ErrMalformed, len(b), want)
	}
	if c.authErr != nil {
		return SyncMessage{}, fmt.Errorf("%w: %v", ErrAuth, c.authErr)
	}
	if method != c.method {
		return SyncMessage{}, fmt.Errorf("%w: signed with %s, this node uses %s", ErrAuth, method.name, c.method.name)
	}
	body := b[:len(b)-method.size]
	mac := hmac.New(method.hash, c.key)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), b[len(body):]) {
		return SyncMessage{}, fmt.Errorf("%w: bad MAC (another key, or altered)", ErrAuth)
	}

	m := SyncMessage{Kind: kind, From: string(b[syncHeaderSize : syncHeaderSize+fromLen]),
		Generation: binary.BigEndian.Uint64(b[12:]), Seq: binary.BigEndian.Uint64(b[20:]),
		Epoch: binary.BigEndian.Uint32(b[28:]), Count: count}
	switch {
	case kind < SyncRecords || kind > SyncFullEnd:
		return SyncMessage{}, fmt.Errorf("%w: unknown sync kind %d", ErrMalformed, b[6])
	case b[7] != 0 || b[9] != 0 || b[10] != 0 || b[11] != 0:
		return SyncMessage{}, fmt.Errorf("%w: reserved bytes set", ErrMalformed)
	case m.Seq == 0:
		return SyncMessage{}, fmt.Errorf("%w: sequence number 0", ErrMalformed)
	case kind == SyncRequest && (count != 0 || m.Epoch == 0):
		return SyncMessage{}, fmt.Errorf("%w: request without an epoch", ErrMalformed)
	}
	if err := checkName(m.From); err != nil {
		return SyncMessage{}, fmt.Errorf("%w: sender %v", ErrMalformed, err)
	}
	recs := b[syncHeaderSize+fromLen : len(body)]
	for i := 0; i < n; i++ {
		e := recs[i*syncRecordSize : (i+1)*syncRecordSize]
		r := SyncRecord{Op: SyncOp(e[0]), Proto: e[1], State: e[2],
			Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[4:8])), binary.BigEndian.Uint16(e[8:])),
			VIP:    netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[12:16])), binary.BigEndian.Uint16(e[10:])),
			Real:   netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[16:20])), binary.BigEndian.Uint16(e[20:])),
			Left:   time.Duration(binary.BigEndian.Uint32(e[24:])) * time.Millisecond}
		if e[3] != 0 || e[22] != 0 || e[23] != 0 {
			return SyncMessage{}, fmt.Errorf("%w: record %d: reserved bytes set", ErrMalformed, i)
		}
		if err := checkRecord(r); err != nil {
			return SyncMessage{}, fmt.Errorf("%w: record %d: %v", ErrMalformed, i, err)
		}
		m.Records = append(m.Records, r)
	}
	if err := c.replay.fresh(m.From, m.Generation, m.Seq); err != nil {
		return SyncMessage{}, err
	}
	return m, nil
}
