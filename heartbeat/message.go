package heartbeat

// Heartbeat messages on the wire: their binary format, their
// authentication (an HMAC keyed with the pair's shared secret, as
// Heartbeat's authkeys) and the replay protection that keeps a recorded
// packet from being played back to make a node believe its peer is alive,
// holding, or gone. Also the key file: a raw secret, or Heartbeat's
// authkeys file as is.
//
// Format (version 2; integers big-endian), 40 bytes of header, then the
// names, then the MAC:
//
//	off len
//	  0   4  magic "DRHB"
//	  4   1  version, 2
//	  5   1  MAC method: 1 hmac-sha256, 2 hmac-sha1, 3 hmac-md5
//	  6   1  kind: 1 heartbeat, 2 leaving
//	  7   1  sender's state (State's values: 0 init ... 5 stopped)
//	  8   1  flags: 1 holding, 2 failed, 4 auto_failback, 8 syncing,
//	         16 handing over (stopping: take the group now), 32 link
//	         advertisements understood (see Message.LinkAware)
//	  9   1  length F of the sender's name, 1-64
//	 10   1  length O of the owner's name (as the sender is configured), 0-64
//	 11   1  resource group: its index in the pair's list of groups, 0
//	         for the first (or only) one; each group is a stream of its own
//	         (see groups.go)
//	 12   8  generation (the sender's start time in ns)
//	 20   8  sequence number, from 1 in each generation
//	 28   8  active since: wall-clock ns since 1970, 0 if not holding
//	 36   2  healthy: real servers the sender's checks find up (Score)
//	 38   1  reach: ping nodes the sender reaches (Score)
//	 39   1  N: link advertisements that follow the names, 0-16 (was a
//	         reserved zero byte: a sender that predates them sends none)
//	 40   F  sender's name
//	40+F  O  owner's name
//	  ...  N × 10: link advertisements (LinkAd): an IPv4 address of the
//	         group (4 bytes) and the MAC of the sender's interface that
//	         carries it (6 bytes), for peer forwarding in a handover
//	  ...  32, 20 or 16: HMAC (by method) of every byte before it
//
// So at most 40+64+64+160+32 = 360 bytes; anything above MaxMessageSize
// is refused unread. A node of an earlier release refuses a message with
// advertisements (its reserved byte is not zero) as malformed. The MAC covers the header, method byte included, so a
// message cannot be downgraded to a weaker method: a receiver accepts only
// its own configured method. Decode checks, in order: size and layout
// (ErrMalformed), method and MAC (ErrAuth, compared in constant time), the
// fields' values (ErrMalformed), then freshness (ErrReplay, ErrDuplicate).
// Only a message that passes everything updates the replay state, so
// forged or broken packets cannot disturb it.
//
// Replay protection. Each sender's messages carry its generation and a
// sequence number. Per sender, the Codec remembers the highest generation
// and, within it, the highest sequence number and which of the 64 below it
// were seen. A lower generation is a replay; a higher one is the peer
// restarted and starts afresh. In the current generation, a sequence number
// seen already is a duplicate if it is one of the 8 latest (the same
// packet arriving again over a second link, not an attack: the transport
// sends every message on every link) and a replay otherwise; one not seen
// yet is accepted if within the 64 latest (reordering between links) and a
// replay if older. The generation is the sender's start time in
// nanoseconds: if a node's clock goes back between two runs (a wrong RTC
// at boot, a large NTP step), its new generation is below the one its peer
// remembers and the peer refuses its messages as replays, and therefore
// takes it for dead, until the peer restarts too or the clock catches up;
// the runner logs such replays saying so.

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MaxMessageSize bounds an accepted packet; Decode refuses longer ones
// without reading them.
const MaxMessageSize = 1024

const (
	headerSize  = 40
	wireVersion = 2

	flagHolding      = 1 << 0
	flagFailed       = 1 << 1
	flagAutoFailback = 1 << 2
	flagSyncing      = 1 << 3
	flagHandover     = 1 << 4
	flagLinkAware    = 1 << 5
	knownFlags       = flagHolding | flagFailed | flagAutoFailback | flagSyncing | flagHandover | flagLinkAware

	// MaxLinkAds bounds the link advertisements of a message.
	MaxLinkAds = 16
	linkAdSize = 10

	// replayWindow is how many sequence numbers below the highest one are
	// remembered per sender.
	replayWindow = 64
	// duplicateSpan is how far behind the highest sequence number a
	// message seen already still counts as a duplicate (another link's
	// copy) rather than a replay.
	duplicateSpan = 8
	// maxSenders bounds the replay state: only key holders get there, so
	// this is a pair and perhaps a misconfigured neighbour.
	maxSenders = 16
	// maxKeyFile bounds the key file read.
	maxKeyFile = 64 << 10
)

var magic = [4]byte{'D', 'R', 'H', 'B'}

// Decode's errors; each returned error wraps exactly one of them, with the
// details.
var (
	// ErrMalformed: not a heartbeat of this format, truncated, oversized,
	// or with impossible values.
	ErrMalformed = errors.New("malformed heartbeat")
	// ErrAuth: a bad or forged MAC (another key), or another method.
	ErrAuth = errors.New("heartbeat authentication failed")
	// ErrReplay: an old generation, or a sequence number seen long ago or
	// too old to check.
	ErrReplay = errors.New("replayed heartbeat")
	// ErrDuplicate: a message just received, received again (another
	// link's copy). Not an attack; drop it silently.
	ErrDuplicate = errors.New("duplicate heartbeat")
)

// Kind is a message's kind.
type Kind uint8

// The kinds of message.
const (
	// KindHeartbeat is the periodic "I am here, in this state".
	KindHeartbeat Kind = 1
	// KindLeaving is the last word of a node stopping cleanly, sent after
	// it released the group: the peer may acquire at once.
	KindLeaving Kind = 2
)

// String gives "heartbeat" or "leaving".
func (k Kind) String() string {
	switch k {
	case KindHeartbeat:
		return "heartbeat"
	case KindLeaving:
		return "leaving"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Message is what a node says of itself, every Keepalive.
type Message struct {
	// Kind is KindHeartbeat or KindLeaving.
	Kind Kind
	// From is the sender's node name.
	From string
	// State is the sender's state.
	State State
	// Holding says the group's addresses are, or may be, configured on
	// the sender (acquiring, active, releasing, or found at start).
	Holding bool
	// Failed says the sender failed to acquire the group recently and
	// should not be handed it.
	Failed bool
	// Owner is the group's owner in the sender's configuration, and
	// AutoFailback its auto_failback: the split-brain rule needs both
	// sides' views to agree.
	Owner        string
	AutoFailback bool
	// Syncing says the sender is still receiving its peer's connection
	// table (conntrack sync): the peer must not hand it the group yet.
	Syncing bool
	// Handover says the sender is stopping while it holds the group and
	// forwards until the peer has taken it: the peer acquires at once,
	// and the sender's claim does not count as a split brain.
	Handover bool
	// Score is how well the sender can serve (healthy real servers,
	// ping nodes reached): the better node keeps or takes the group.
	Score Score
	// ActiveSince is when the sender became the group's holder, wall
	// clock; zero if it holds nothing.
	ActiveSince time.Time
	// LinkAware says the sender understands link advertisements (flag
	// 32). A node of an earlier release refuses a message with the flag
	// or with advertisements, so a node sends neither once it has heard
	// its peer without the flag (Machine.message): a pair of two
	// releases still hears each other, without peer forwarding.
	LinkAware bool
	// Links advertises, for each of the group's addresses, the MAC of the
	// sender's interface that carries it (or would carry it): the peer
	// hands packets without a flow there during a handover window. Empty
	// from a sender that predates it.
	Links []LinkAd
	// Generation and Seq are set by Codec.Encode (any value given is
	// ignored) and reported by Decode.
	Generation uint64
	Seq        uint64
}

// LinkAd is one link advertisement: an address of the resource group and
// the MAC of the sender's interface that carries it.
type LinkAd struct {
	Addr netip.Addr // IPv4
	MAC  [6]byte    // unicast, not zero
}

// String gives "192.168.56.10 02:00:00:00:56:0b".
func (a LinkAd) String() string {
	return a.Addr.String() + " " + net.HardwareAddr(a.MAC[:]).String()
}

// Check says what is wrong with a, if anything.
func (a LinkAd) Check() error {
	switch {
	case !a.Addr.Is4() || a.Addr.IsUnspecified():
		return fmt.Errorf("link advertisement: address %v is not a usable IPv4 address", a.Addr)
	case a.MAC[0]&1 != 0 || a.MAC == [6]byte{}:
		return fmt.Errorf("link advertisement: %s: MAC %s is not a unicast address", a.Addr, net.HardwareAddr(a.MAC[:]))
	}
	return nil
}

// checkLinkAds checks a message's advertisements: each valid, at most
// MaxLinkAds, no address twice.
func checkLinkAds(ads []LinkAd) error {
	if len(ads) > MaxLinkAds {
		return fmt.Errorf("%d link advertisements, at most %d", len(ads), MaxLinkAds)
	}
	for i, a := range ads {
		if err := a.Check(); err != nil {
			return err
		}
		for _, b := range ads[:i] {
			if b.Addr == a.Addr {
				return fmt.Errorf("link advertisement: address %s twice", a.Addr)
			}
		}
	}
	return nil
}

// macMethod is an HMAC construction.
type macMethod struct {
	name       string
	id         byte
	hash       func() hash.Hash
	size       int
	deprecated bool
}

var macMethods = []macMethod{
	{"sha256", 1, sha256.New, sha256.Size, false},
	{"sha1", 2, sha1.New, sha1.Size, true},
	{"md5", 3, md5.New, md5.Size, true},
}

func methodByName(name string) *macMethod {
	for i := range macMethods {
		if macMethods[i].name == name {
			return &macMethods[i]
		}
	}
	return nil
}

func methodByID(id byte) *macMethod {
	for i := range macMethods {
		if macMethods[i].id == id {
			return &macMethods[i]
		}
	}
	return nil
}

// Auth is how messages are authenticated: an HMAC method and the pair's
// shared key.
type Auth struct {
	// Method is "sha256" (the default when empty), or Heartbeat's "sha1"
	// or "md5", accepted for compatibility with an existing authkeys file
	// but deprecated.
	Method string
	// Key is the shared secret.
	Key []byte
	// FromAuthkeys is set by LoadAuthKeys when the file was in Heartbeat's
	// authkeys format, whose method then wins over a configured one.
	FromAuthkeys bool
}

// String describes the method and key length, never the key, so that an
// Auth can be logged.
func (a Auth) String() string {
	return fmt.Sprintf("%s (%d-byte key)", a.method(), len(a.Key))
}

func (a Auth) method() string {
	if a.Method == "" {
		return "sha256"
	}
	return strings.ToLower(a.Method)
}

// Validate checks the method and that there is a key.
func (a Auth) Validate() error {
	m := a.method()
	if m == "crc" {
		return errors.New("auth method crc: a checksum authenticates nothing: use sha256")
	}
	if methodByName(m) == nil {
		return fmt.Errorf("auth method %q: want sha256, sha1 or md5", a.Method)
	}
	if len(a.Key) == 0 {
		return errors.New("auth key: empty")
	}
	return nil
}

// Codec encodes this node's messages and decodes and checks its peer's.
// It is safe for concurrent use.
type Codec struct {
	method  *macMethod // nil if the Auth is invalid
	authErr error
	key     []byte
	gen     uint64
	warn    []string

	group  uint8      // the resource group's index, byte 11
	mu     sync.Mutex // guards seq
	seq    uint64
	replay replayGuard
}

// replayGuard is the replay state of every sender of one message stream
// (heartbeats, or conntrack sync: each has its own sequence numbers).
type replayGuard struct {
	mu    sync.Mutex
	peers map[string]*replayState
}

// replayState is what a Codec remembers of one sender (see the file's
// comment).
type replayState struct {
	gen  uint64
	top  uint64 // highest sequence number accepted in gen
	seen uint64 // bit i: top-i was accepted
}

// NewCodec returns a codec for auth, whose messages carry generation (the
// runner uses its start time in ns). With an invalid auth, Encode fails and
// Decode refuses everything with ErrAuth; check Auth.Validate first.
func NewCodec(auth Auth, generation uint64) *Codec {
	c := &Codec{gen: generation, key: append([]byte(nil), auth.Key...)}
	if err := auth.Validate(); err != nil {
		c.authErr = err
		return c
	}
	c.method = methodByName(auth.method())
	if c.method.deprecated {
		c.warn = append(c.warn, fmt.Sprintf("auth method %s is deprecated: use sha256 (a raw key file, or `1 sha256 <secret>` in authkeys) on both nodes", c.method.name))
	}
	if len(c.key) < 16 {
		c.warn = append(c.warn, fmt.Sprintf("auth key is %d bytes: use at least 16 random bytes (head -c 32 /dev/urandom | base64)", len(c.key)))
	}
	return c
}

// Warnings lists what is weak in the codec's Auth (a deprecated method, a
// short key), for the daemon to log at start.
func (c *Codec) Warnings() []string { return append([]string(nil), c.warn...) }

// Generation is the generation this codec's messages carry.
func (c *Codec) Generation() uint64 { return c.gen }

// Encode gives m's packet, with this codec's generation and the next
// sequence number.
func (c *Codec) Encode(m Message) ([]byte, error) {
	if c.authErr != nil {
		return nil, fmt.Errorf("encode heartbeat: %w", c.authErr)
	}
	if m.Kind != KindHeartbeat && m.Kind != KindLeaving {
		return nil, fmt.Errorf("encode heartbeat: unknown kind %d", m.Kind)
	}
	if m.State >= numStates {
		return nil, fmt.Errorf("encode heartbeat: unknown state %d", m.State)
	}
	if err := checkName(m.From); err != nil {
		return nil, fmt.Errorf("encode heartbeat: sender: %w", err)
	}
	if m.Owner != "" {
		if err := checkName(m.Owner); err != nil {
			return nil, fmt.Errorf("encode heartbeat: owner: %w", err)
		}
	}
	if err := checkLinkAds(m.Links); err != nil {
		return nil, fmt.Errorf("encode heartbeat: %w", err)
	}
	if len(m.Links) > 0 && !m.LinkAware {
		return nil, errors.New("encode heartbeat: link advertisements without the link-aware flag")
	}
	c.mu.Lock()
	c.seq++
	seq := c.seq
	c.mu.Unlock()

	b := make([]byte, headerSize, headerSize+len(m.From)+len(m.Owner)+linkAdSize*len(m.Links)+c.method.size)
	copy(b[0:4], magic[:])
	b[4] = wireVersion
	b[5] = c.method.id
	b[6] = byte(m.Kind)
	b[7] = byte(m.State)
	var flags byte
	if m.Holding {
		flags |= flagHolding
	}
	if m.Failed {
		flags |= flagFailed
	}
	if m.AutoFailback {
		flags |= flagAutoFailback
	}
	if m.Syncing {
		flags |= flagSyncing
	}
	if m.Handover {
		flags |= flagHandover
	}
	if m.LinkAware {
		flags |= flagLinkAware
	}
	b[8] = flags
	b[9] = byte(len(m.From))
	b[10] = byte(len(m.Owner))
	b[11] = c.group
	binary.BigEndian.PutUint64(b[12:], c.gen)
	binary.BigEndian.PutUint64(b[20:], seq)
	binary.BigEndian.PutUint64(b[28:], uint64(unixNano(m.ActiveSince)))
	binary.BigEndian.PutUint16(b[36:], m.Score.Healthy)
	b[38] = m.Score.Reach
	b[39] = byte(len(m.Links))
	b = append(b, m.From...)
	b = append(b, m.Owner...)
	for _, a := range m.Links {
		ip := a.Addr.As4()
		b = append(b, ip[:]...)
		b = append(b, a.MAC[:]...)
	}
	mac := hmac.New(c.method.hash, c.key)
	mac.Write(b)
	return mac.Sum(b), nil
}

// Decode checks and decodes a packet. Its errors wrap ErrMalformed,
// ErrAuth, ErrReplay or ErrDuplicate. It never panics, whatever b holds.
func (c *Codec) Decode(b []byte) (Message, error) {
	if len(b) > MaxMessageSize {
		return Message{}, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), MaxMessageSize)
	}
	if len(b) < headerSize {
		return Message{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(b), headerSize)
	}
	if [4]byte(b[0:4]) != magic {
		return Message{}, fmt.Errorf("%w: no DRHB magic", ErrMalformed)
	}
	if b[4] != wireVersion {
		return Message{}, fmt.Errorf("%w: version %d, want %d", ErrMalformed, b[4], wireVersion)
	}
	method := methodByID(b[5])
	if method == nil {
		return Message{}, fmt.Errorf("%w: unknown MAC method %d", ErrMalformed, b[5])
	}
	fromLen, ownerLen, nAds := int(b[9]), int(b[10]), int(b[39])
	if want := headerSize + fromLen + ownerLen + linkAdSize*nAds + method.size; len(b) != want {
		return Message{}, fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(b), want)
	}
	if c.authErr != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrAuth, c.authErr)
	}
	if method != c.method {
		return Message{}, fmt.Errorf("%w: signed with %s, this node uses %s", ErrAuth, method.name, c.method.name)
	}
	body := b[:len(b)-method.size]
	mac := hmac.New(method.hash, c.key)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), b[len(body):]) {
		return Message{}, fmt.Errorf("%w: bad MAC (another key, or altered)", ErrAuth)
	}

	m := Message{
		Kind:         Kind(b[6]),
		State:        State(b[7]),
		Holding:      b[8]&flagHolding != 0,
		Failed:       b[8]&flagFailed != 0,
		AutoFailback: b[8]&flagAutoFailback != 0,
		Syncing:      b[8]&flagSyncing != 0,
		Handover:     b[8]&flagHandover != 0,
		LinkAware:    b[8]&flagLinkAware != 0,
		Score:        Score{Healthy: binary.BigEndian.Uint16(b[36:]), Reach: b[38]},
		Generation:   binary.BigEndian.Uint64(b[12:]),
		Seq:          binary.BigEndian.Uint64(b[20:]),
		From:         string(b[headerSize : headerSize+fromLen]),
		Owner:        string(b[headerSize+fromLen : headerSize+fromLen+ownerLen]),
	}
	if ns := int64(binary.BigEndian.Uint64(b[28:])); ns != 0 {
		m.ActiveSince = time.Unix(0, ns)
	}
	for i, off := 0, headerSize+fromLen+ownerLen; i < nAds; i, off = i+1, off+linkAdSize {
		a := LinkAd{Addr: netip.AddrFrom4([4]byte(b[off : off+4]))}
		copy(a.MAC[:], b[off+4:off+linkAdSize])
		m.Links = append(m.Links, a)
	}
	switch {
	case m.Kind != KindHeartbeat && m.Kind != KindLeaving:
		return Message{}, fmt.Errorf("%w: unknown kind %d", ErrMalformed, b[6])
	case m.State >= numStates:
		return Message{}, fmt.Errorf("%w: unknown state %d", ErrMalformed, b[7])
	case b[8]&^knownFlags != 0:
		return Message{}, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, b[8])
	case b[11] != c.group:
		return Message{}, fmt.Errorf("%w: resource group %d, this stream is group %d", ErrMalformed, b[11], c.group)
	case m.Seq == 0:
		return Message{}, fmt.Errorf("%w: sequence number 0", ErrMalformed)
	}
	if err := checkName(m.From); err != nil {
		return Message{}, fmt.Errorf("%w: sender %v", ErrMalformed, err)
	}
	if m.Owner != "" {
		if err := checkName(m.Owner); err != nil {
			return Message{}, fmt.Errorf("%w: owner %v", ErrMalformed, err)
		}
	}
	if err := checkLinkAds(m.Links); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(m.Links) > 0 && !m.LinkAware {
		return Message{}, fmt.Errorf("%w: link advertisements without the link-aware flag", ErrMalformed)
	}
	if err := c.replay.fresh(m.From, m.Generation, m.Seq); err != nil {
		return Message{}, err
	}
	return m, nil
}

// fresh checks a sender's (generation, seq) against what was seen and
// records it if it is new.
func (g *replayGuard) fresh(from string, gen, seq uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.peers[from]
	switch {
	case !ok:
		if len(g.peers) >= maxSenders {
			return fmt.Errorf("%w: more than %d senders with this key; %q ignored", ErrMalformed, maxSenders, from)
		}
		if g.peers == nil {
			g.peers = map[string]*replayState{}
		}
		g.peers[from] = &replayState{gen: gen, top: seq, seen: 1}
		return nil
	case gen < st.gen:
		return fmt.Errorf("%w: %s generation %d, older than %d (or %s restarted with its clock set back)", ErrReplay, from, gen, st.gen, from)
	case gen > st.gen:
		*st = replayState{gen: gen, top: seq, seen: 1} // the sender restarted
		return nil
	case seq > st.top:
		if d := seq - st.top; d >= replayWindow {
			st.seen = 0
		} else {
			st.seen <<= d
		}
		st.seen |= 1
		st.top = seq
		return nil
	}
	d := st.top - seq
	if d >= replayWindow {
		return fmt.Errorf("%w: %s sequence %d, %d behind the latest", ErrReplay, from, seq, d)
	}
	bit := uint64(1) << d
	if st.seen&bit != 0 {
		if d < duplicateSpan {
			return fmt.Errorf("%w: %s sequence %d", ErrDuplicate, from, seq)
		}
		return fmt.Errorf("%w: %s sequence %d seen %d messages ago", ErrReplay, from, seq, d)
	}
	st.seen |= bit // late, through a slower link: new all the same
	return nil
}

// LoadKeyFile reads the shared key from path (see LoadAuthKeys): the raw
// key, or the selected secret of an authkeys file.
func LoadKeyFile(path string) ([]byte, error) {
	a, err := LoadAuthKeys(path)
	if err != nil {
		return nil, err
	}
	return a.Key, nil
}

// LoadAuthKeys reads the authentication from path, which must be a regular
// file owned by this process's user with no group or other permission bits
// (mode 0600 or 0400): a readable key would let anyone on the host forge
// heartbeats and move the VIPs. Two formats:
//
//   - Heartbeat's authkeys: an "auth N" line selects the "N method secret"
//     line to use (method sha1, md5 or sha256; "#" starts a comment line);
//   - anything else is a raw key, the whole file with its trailing line
//     ends removed, for sha256.
func LoadAuthKeys(path string) (Auth, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return Auth{}, err
	}
	a, err := parseKeyFile(data)
	if err != nil {
		return Auth{}, fmt.Errorf("load key file %s: %w", path, err)
	}
	return a, nil
}

// readKeyFile opens path (non-blocking, so that a FIFO cannot hang the
// daemon), checks the opened file's type, mode and owner, and reads it.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load key file %s: not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load key file %s: mode %04o lets group or others at the key: chmod 600 %s", path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if euid := os.Geteuid(); euid >= 0 && st.Uid != uint32(euid) {
			return nil, fmt.Errorf("load key file %s: owned by uid %d, not by this process's uid %d: chown %d %s", path, st.Uid, euid, euid, path)
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("load key file %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("load key file %s: larger than %d bytes", path, maxKeyFile)
	}
	return data, nil
}

// parseKeyFile tells authkeys from a raw key and parses it.
func parseKeyFile(data []byte) (Auth, error) {
	lines := strings.Split(string(data), "\n")
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if f := strings.Fields(l); len(f) == 2 && f[0] == "auth" {
			if _, err := strconv.Atoi(f[1]); err == nil {
				return parseAuthKeys(lines)
			}
		}
		break
	}
	key := strings.TrimRight(string(data), "\r\n")
	if strings.TrimSpace(key) == "" {
		return Auth{}, errors.New("empty key")
	}
	return Auth{Method: "sha256", Key: []byte(key)}, nil
}

// parseAuthKeys parses Heartbeat's authkeys format.
func parseAuthKeys(lines []string) (Auth, error) {
	type entry struct {
		line   int
		method string
		secret string
	}
	entries := map[int]entry{}
	selected, selLine := -1, 0
	for i, l := range lines {
		n := i + 1
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if f[0] == "auth" {
			if selLine != 0 {
				return Auth{}, fmt.Errorf("line %d: a second auth line (first at line %d)", n, selLine)
			}
			if len(f) != 2 {
				return Auth{}, fmt.Errorf("line %d: want \"auth N\"", n)
			}
			v, err := strconv.Atoi(f[1])
			if err != nil || v < 0 {
				return Auth{}, fmt.Errorf("line %d: auth %q: want a key number", n, f[1])
			}
			selected, selLine = v, n
			continue
		}
		idx, err := strconv.Atoi(f[0])
		if err != nil || idx < 0 {
			return Auth{}, fmt.Errorf("line %d: want \"auth N\" or \"N method secret\", got %q", n, f[0])
		}
		if len(f) < 2 {
			return Auth{}, fmt.Errorf("line %d: key %d has no method", n, idx)
		}
		if prev, dup := entries[idx]; dup {
			return Auth{}, fmt.Errorf("line %d: key %d defined twice (first at line %d)", n, idx, prev.line)
		}
		// The secret is the rest of the line after the method.
		rest := strings.TrimSpace(l[len(f[0]):])
		rest = strings.TrimSpace(rest[len(f[1]):])
		entries[idx] = entry{line: n, method: strings.ToLower(f[1]), secret: rest}
	}
	e, ok := entries[selected]
	if !ok {
		return Auth{}, fmt.Errorf("line %d: auth %d selects no key line", selLine, selected)
	}
	a := Auth{Method: e.method, Key: []byte(e.secret), FromAuthkeys: true}
	if err := a.Validate(); err != nil {
		return Auth{}, fmt.Errorf("line %d: %w", e.line, err)
	}
	return a, nil
}
