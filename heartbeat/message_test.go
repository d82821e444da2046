package heartbeat

// Tests of the wire format, authentication, replay protection and key
// files, and a fuzz target for Decode.

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func sampleMessage() Message {
	return Message{
		Kind: KindHeartbeat, From: "lb1", State: Active, Holding: true, Failed: false,
		Owner: "lb1", AutoFailback: true, ActiveSince: time.Unix(1740830400, 123456789),
	}
}

func TestCodecRoundTrip(t *testing.T) {
	cases := []struct {
		method     string
		macSize    int
		deprecated bool
	}{
		{"", 32, false},
		{"sha256", 32, false},
		{"SHA256", 32, false},
		{"sha1", 20, true},
		{"md5", 16, true},
	}
	msgs := []Message{
		sampleMessage(),
		{Kind: KindHeartbeat, From: "lb2", State: Standby, Owner: "lb1", Failed: true},
		{Kind: KindLeaving, From: "director-b", State: Stopped},
		{Kind: KindHeartbeat, From: "lb1", State: Active, Holding: true, Handover: true, Owner: "lb1", ActiveSince: time.Unix(0, 9),
			Score: Score{Reach: 255, Healthy: 65535}},
		{Kind: KindHeartbeat, From: strings.Repeat("n", 64), State: Init, Holding: true, Owner: strings.Repeat("o", 64), ActiveSince: time.Unix(0, 1)},
		{Kind: KindHeartbeat, From: "lb1", State: Standby, Owner: "lb1", LinkAware: true, Links: sampleLinks()},
		{Kind: KindHeartbeat, From: "lb1", State: Standby, Owner: "lb1", LinkAware: true},
	}
	for _, c := range cases {
		t.Run("method "+c.method, func(t *testing.T) {
			auth := Auth{Method: c.method, Key: testKey}
			enc, dec := NewCodec(auth, 42), NewCodec(auth, 7)
			for i, m := range msgs {
				b, err := enc.Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				if want := headerSize + len(m.From) + len(m.Owner) + linkAdSize*len(m.Links) + c.macSize; len(b) != want {
					t.Fatalf("message %d: %d bytes, want %d", i, len(b), want)
				}
				got, err := dec.Decode(b)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				want := m
				want.Generation, want.Seq = 42, uint64(i+1)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("message %d: got %+v, want %+v", i, got, want)
				}
			}
			warned := strings.Contains(strings.Join(enc.Warnings(), "\n"), "deprecated")
			if warned != c.deprecated {
				t.Fatalf("warnings %q: deprecated %v, want %v", enc.Warnings(), warned, c.deprecated)
			}
		})
	}
}

// resign replaces b's MAC with a valid one for key (sha256), as a peer
// with the key but a bug would send.
func resign(b []byte, key []byte) []byte {
	body := b[:len(b)-32]
	mac := hmac.New(methodByName("sha256").hash, key)
	mac.Write(body)
	return mac.Sum(append([]byte(nil), body...))
}

func TestCodecRejects(t *testing.T) {
	auth := Auth{Key: testKey}
	valid, err := NewCodec(auth, 1).Encode(sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	otherKey, _ := NewCodec(Auth{Key: []byte("another key, same length.......!")}, 1).Encode(sampleMessage())
	md5Msg, _ := NewCodec(Auth{Method: "md5", Key: testKey}, 1).Encode(sampleMessage())

	cases := []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"forged MAC", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrAuth, "bad MAC"},
		{"altered state, old MAC", mutate(func(b []byte) []byte { b[7] = byte(Standby); return b }), ErrAuth, "bad MAC"},
		{"altered holding flag, old MAC", mutate(func(b []byte) []byte { b[8] &^= flagHolding; return b }), ErrAuth, "bad MAC"},
		{"wrong key", otherKey, ErrAuth, "bad MAC"},
		{"wrong method", md5Msg, ErrAuth, "signed with md5, this node uses sha256"},
		{"method downgraded in the header", mutate(func(b []byte) []byte { b[5] = 3; return b[:len(b)-16] }), ErrAuth, "signed with md5"},
		{"empty", nil, ErrMalformed, "shorter than"},
		{"header only", valid[:headerSize], ErrMalformed, "want"},
		{"truncated by one byte", valid[:len(valid)-1], ErrMalformed, "want"},
		{"one byte too many", append(append([]byte(nil), valid...), 0), ErrMalformed, "want"},
		{"oversized", make([]byte, MaxMessageSize+1), ErrMalformed, "more than 1024"},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), ErrMalformed, "magic"},
		{"version 1", mutate(func(b []byte) []byte { b[4] = 1; return b }), ErrMalformed, "version 1"},
		{"unknown method", mutate(func(b []byte) []byte { b[5] = 9; return b }), ErrMalformed, "unknown MAC method"},
		{"name length past the end", mutate(func(b []byte) []byte { b[9] = 255; return b }), ErrMalformed, "want"},
		{"signed, unknown kind", mutate(func(b []byte) []byte { b[6] = 9; return resign(b, testKey) }), ErrMalformed, "unknown kind"},
		{"signed, unknown state", mutate(func(b []byte) []byte { b[7] = 6; return resign(b, testKey) }), ErrMalformed, "unknown state"},
		{"signed, unknown flag", mutate(func(b []byte) []byte { b[8] |= 0x80; return resign(b, testKey) }), ErrMalformed, "unknown flags"},
		{"signed, another group's", mutate(func(b []byte) []byte { b[11] = 1; return resign(b, testKey) }), ErrMalformed, "resource group 1, this stream is group 0"},
		{"signed, link advertisement count past the end", mutate(func(b []byte) []byte { b[39] = 1; return resign(b, testKey) }), ErrMalformed, "want"},
		{"signed, sequence 0", mutate(func(b []byte) []byte { clear(b[20:28]); return resign(b, testKey) }), ErrMalformed, "sequence number 0"},
		{"signed, bad sender name", mutate(func(b []byte) []byte { b[headerSize] = ' '; return resign(b, testKey) }), ErrMalformed, "sender"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewCodec(auth, 2).Decode(c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q, want it to say %q", err, c.msg)
			}
			for _, other := range []error{ErrAuth, ErrMalformed, ErrReplay, ErrDuplicate} {
				if other != c.want && errors.Is(err, other) {
					t.Fatalf("error %v wraps %v too", err, other)
				}
			}
		})
	}
}

func TestCodecReplay(t *testing.T) {
	auth := Auth{Key: testKey}
	enc := NewCodec(auth, 1000)
	var pkts [][]byte // pkts[i] has sequence i+1
	for range 200 {
		b, err := enc.Encode(sampleMessage())
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, b)
	}
	seq := func(n int) []byte { return pkts[n-1] }
	restarted, _ := NewCodec(auth, 2000).Encode(sampleMessage())
	older, _ := NewCodec(auth, 999).Encode(sampleMessage())

	type delivery struct {
		b    []byte
		want error // nil: accepted
	}
	cases := []struct {
		name  string
		steps []delivery
	}{
		{"in order", []delivery{{seq(1), nil}, {seq(2), nil}, {seq(3), nil}}},
		{"the same packet on a second link", []delivery{{seq(1), nil}, {seq(1), ErrDuplicate}, {seq(2), nil}, {seq(2), ErrDuplicate}}},
		{"the second link lags a few messages", []delivery{{seq(1), nil}, {seq(2), nil}, {seq(3), nil}, {seq(1), ErrDuplicate}, {seq(4), nil}, {seq(2), ErrDuplicate}}},
		{"replayed later", func() []delivery {
			var d []delivery
			for n := 1; n <= 20; n++ {
				d = append(d, delivery{seq(n), nil})
			}
			return append(d, delivery{seq(1), ErrReplay}, delivery{seq(10), ErrReplay}, delivery{seq(13), ErrDuplicate})
		}()},
		{"reordered between links: late but new", []delivery{{seq(5), nil}, {seq(3), nil}, {seq(4), nil}, {seq(3), ErrDuplicate}, {seq(6), nil}}},
		{"too old to check", []delivery{{seq(100), nil}, {seq(30), ErrReplay}, {seq(37), nil}}},
		{"a jump past the window forgets it", []delivery{{seq(1), nil}, {seq(150), nil}, {seq(149), nil}, {seq(1), ErrReplay}}},
		{"old generation", []delivery{{seq(1), nil}, {older, ErrReplay}}},
		{"peer restart: a new generation is accepted, the old one is then a replay", []delivery{{seq(1), nil}, {seq(2), nil}, {restarted, nil}, {seq(3), ErrReplay}, {restarted, ErrDuplicate}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := NewCodec(auth, 1)
			for i, d := range c.steps {
				m, err := dec.Decode(d.b)
				if d.want == nil {
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					if m.From != "lb1" {
						t.Fatalf("step %d: %+v", i, m)
					}
					continue
				}
				if !errors.Is(err, d.want) {
					t.Fatalf("step %d: error %v, want %v", i, err, d.want)
				}
			}
		})
	}
}

func TestCodecSenders(t *testing.T) {
	auth := Auth{Key: testKey}
	dec := NewCodec(auth, 1)
	for i := range maxSenders + 1 {
		m := sampleMessage()
		m.From = "n" + string(rune('a'+i))
		b, _ := NewCodec(auth, 1).Encode(m)
		_, err := dec.Decode(b)
		if i < maxSenders && err != nil {
			t.Fatalf("sender %d: %v", i, err)
		}
		if i == maxSenders && !errors.Is(err, ErrMalformed) {
			t.Fatalf("sender %d: error %v, want a refusal", i, err)
		}
	}
}

func TestCodecInvalidAuth(t *testing.T) {
	for _, a := range []Auth{{Key: nil}, {Method: "crc", Key: testKey}, {Method: "sha512", Key: testKey}} {
		if a.Validate() == nil {
			t.Fatalf("%v: valid", a)
		}
		c := NewCodec(a, 1)
		if _, err := c.Encode(sampleMessage()); err == nil {
			t.Fatalf("%v: Encode succeeded", a)
		}
		b, _ := NewCodec(Auth{Key: testKey}, 1).Encode(sampleMessage())
		if _, err := c.Decode(b); !errors.Is(err, ErrAuth) {
			t.Fatalf("%v: Decode error %v, want ErrAuth", a, err)
		}
	}
	if s := (Auth{Key: []byte("motdepasse")}).String(); strings.Contains(s, "motdepasse") {
		t.Fatalf("Auth.String shows the key: %s", s)
	}
	if w := NewCodec(Auth{Key: []byte("motdepasse")}, 1).Warnings(); len(w) != 1 || !strings.Contains(w[0], "10 bytes") {
		t.Fatalf("short key warnings %q", w)
	}
}

func TestEncodeRejects(t *testing.T) {
	c := NewCodec(Auth{Key: testKey}, 1)
	for _, m := range []Message{
		{Kind: 0, From: "lb1"},
		{Kind: KindHeartbeat, From: ""},
		{Kind: KindHeartbeat, From: strings.Repeat("x", 65)},
		{Kind: KindHeartbeat, From: "lb1", Owner: "a b"},
		{Kind: KindHeartbeat, From: "lb1", State: numStates},
	} {
		if _, err := c.Encode(m); err == nil {
			t.Fatalf("%+v encoded", m)
		}
	}
}

func writeKey(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadAuthKeys(t *testing.T) {
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		method  string
		key     string
		err     string // "" if it loads; %s is the path
	}{
		{name: "raw key with a newline", content: "s3cr3t-key-of-the-pair\n", mode: 0o600, method: "sha256", key: "s3cr3t-key-of-the-pair"},
		{name: "raw key, CRLF, mode 0400", content: "k e y\r\n", mode: 0o400, method: "sha256", key: "k e y"},
		{name: "raw binary key", content: "\x00\x01\x02\xff", mode: 0o600, method: "sha256", key: "\x00\x01\x02\xff"},
		{name: "the seed's authkeys", content: "auth 1\n1 md5 motdepasse", mode: 0o600, method: "md5", key: "motdepasse"},
		{name: "authkeys with comments and several keys", content: "# authkeys\n\nauth 2\n1 crc\n2 sha1 another secret\n3 md5 x\n", mode: 0o600, method: "sha1", key: "another secret"},
		{name: "authkeys with sha256", content: "auth 3\n3 SHA256 longer-secret\n", mode: 0o600, method: "sha256", key: "longer-secret"},
		{name: "mode 0644", content: "key\n", mode: 0o644, err: "load key file %s: mode 0644 lets group or others at the key: chmod 600 %s"},
		{name: "mode 0640", content: "key\n", mode: 0o640, err: "mode 0640"},
		{name: "mode 0604", content: "key\n", mode: 0o604, err: "chmod 600 %s"},
		{name: "empty", content: "\n", mode: 0o600, err: "empty key"},
		{name: "authkeys selecting nothing", content: "auth 3\n1 md5 a\n", mode: 0o600, err: "line 1: auth 3 selects no key line"},
		{name: "authkeys selecting crc", content: "auth 1\n1 crc\n", mode: 0o600, err: "line 2: auth method crc"},
		{name: "authkeys with an unknown method", content: "auth 1\n1 sha3 x\n", mode: 0o600, err: `line 2: auth method "sha3"`},
		{name: "authkeys without a secret", content: "auth 1\n1 md5\n", mode: 0o600, err: "line 2: auth key: empty"},
		{name: "authkeys, a key twice", content: "auth 1\n1 md5 a\n1 sha1 b\n", mode: 0o600, err: "line 3: key 1 defined twice (first at line 2)"},
		{name: "authkeys, two auth lines", content: "auth 1\nauth 2\n1 md5 a\n", mode: 0o600, err: "line 2: a second auth line"},
		{name: "authkeys, garbage", content: "auth 1\n1 md5 a\nfoo bar\n", mode: 0o600, err: "line 3: want"},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeKey(t, dir, "key"+string(rune('a'+i)), c.content, c.mode)
			a, err := LoadAuthKeys(p)
			if c.err != "" {
				want := strings.ReplaceAll(c.err, "%s", p)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
				if _, err := LoadKeyFile(p); err == nil {
					t.Fatal("LoadKeyFile accepted it")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if wantAuthkeys := strings.Contains(c.content, "auth "); a.FromAuthkeys != wantAuthkeys {
				t.Errorf("FromAuthkeys %v, want %v", a.FromAuthkeys, wantAuthkeys)
			}
			if a.Method != c.method || string(a.Key) != c.key {
				t.Fatalf("got %s %q, want %s %q", a.Method, a.Key, c.method, c.key)
			}
			key, err := LoadKeyFile(p)
			if err != nil || string(key) != c.key {
				t.Fatalf("LoadKeyFile: %q, %v", key, err)
			}
			if err := a.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadKeyFileKinds(t *testing.T) {
	dir := t.TempDir()
	good := writeKey(t, dir, "good", "key\n", 0o600)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadKeyFile(link); err != nil || string(k) != "key" {
		t.Fatalf("through a symlink: %q, %v", k, err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(sub); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a directory: %v", err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
	big := writeKey(t, dir, "big", strings.Repeat("k", maxKeyFile+1), 0o600)
	if _, err := LoadKeyFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a big file: %v", err)
	}
	if os.Geteuid() == 0 {
		other := writeKey(t, dir, "other", "key\n", 0o600)
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeyFile(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Fatalf("another owner: %v", err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, method := range []string{"sha256", "sha1", "md5"} {
		c := NewCodec(Auth{Method: method, Key: testKey}, 1)
		for _, m := range []Message{sampleMessage(), {Kind: KindLeaving, From: "lb2", State: Stopped}} {
			b, err := c.Encode(m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			f.Add(b[:len(b)/2])
		}
	}
	f.Add([]byte{})
	f.Add([]byte("DRHB"))
	f.Add(make([]byte, MaxMessageSize+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		check := func(m Message, err error) {
			n := 0
			for _, e := range []error{ErrMalformed, ErrAuth, ErrReplay, ErrDuplicate} {
				if errors.Is(err, e) {
					n++
				}
			}
			if err != nil && n != 1 {
				t.Fatalf("error %v wraps %d of the sentinels, want 1", err, n)
			}
			if err == nil {
				if checkName(m.From) != nil || m.State >= numStates || (m.Kind != KindHeartbeat && m.Kind != KindLeaving) || m.Seq == 0 {
					t.Fatalf("accepted an invalid message %+v", m)
				}
			}
		}
		check(NewCodec(Auth{Key: testKey}, 1).Decode(b))
		if !bytes.Equal(b, orig) {
			t.Fatal("Decode modified its input")
		}
		// Past the MAC: the same bytes correctly signed, as a buggy peer
		// holding the key would send them.
		if len(b) >= headerSize+32 && len(b) <= MaxMessageSize {
			s := resign(bytes.Clone(b), testKey)
			s[5] = 1
			s = resign(s, testKey)
			check(NewCodec(Auth{Key: testKey}, 1).Decode(s))
		}
	})
}

func sampleLinks() []LinkAd {
	return []LinkAd{
		{Addr: netip.MustParseAddr("192.168.56.10"), MAC: [6]byte{2, 0, 0, 0, 0x56, 0x0b}},
		{Addr: netip.MustParseAddr("192.168.200.250"), MAC: [6]byte{2, 0, 0, 0, 0xc8, 0xfb}},
	}
}

// TestLinkAdvertisements: a heartbeat carries the MAC of the interface of
// each group address; a malformed advertisement is refused as a malformed
// message (and counted so by the runner), and a message without any, as a
// node of an earlier release sends, is understood.
func TestLinkAdvertisements(t *testing.T) {
	auth := Auth{Key: testKey}
	m := sampleMessage()
	m.LinkAware, m.Links = true, sampleLinks()
	b, err := NewCodec(auth, 1).Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewCodec(auth, 2).Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Links, m.Links) {
		t.Fatalf("links %v, want %v", got.Links, m.Links)
	}
	if b[39] != 2 {
		t.Fatalf("byte 39 is %d, want the count 2", b[39])
	}

	// Absent: a node of an earlier release sends byte 39 = 0 and nothing
	// after the names; byte for byte the message without Links.
	old, err := NewCodec(auth, 1).Encode(sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != headerSize+len("lb1")+len("lb1")+32 || old[39] != 0 {
		t.Fatalf("message without links: %d bytes, byte 39 = %d", len(old), old[39])
	}
	got, err = NewCodec(auth, 2).Decode(old)
	if err != nil || got.Links != nil {
		t.Fatalf("message without links: %v, links %v", err, got.Links)
	}

	// Malformed, each signed with the key: refused as ErrMalformed.
	off := headerSize + len("lb1") + len("lb1")
	mutate := func(f func(b []byte) []byte) []byte { return resign(f(append([]byte(nil), b...)), testKey) }
	for _, c := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"multicast MAC", mutate(func(b []byte) []byte { b[off+4] = 1; return b }), "unicast"},
		{"zero MAC", mutate(func(b []byte) []byte { clear(b[off+4 : off+10]); return b }), "unicast"},
		{"zero address", mutate(func(b []byte) []byte { clear(b[off : off+4]); return b }), "IPv4"},
		{"address twice", mutate(func(b []byte) []byte { copy(b[off+10:off+14], b[off:off+4]); return b }), "twice"},
		{"count one short", mutate(func(b []byte) []byte { b[39] = 1; return b }), "want"},
		{"without the link-aware flag", mutate(func(b []byte) []byte { b[8] &^= flagLinkAware; return b }), "link-aware"},
		{"count one over", mutate(func(b []byte) []byte { b[39] = 3; return b }), "want"},
		{"too many", func() []byte {
			var body []byte
			body = append(body, b[:off]...)
			body[39] = MaxLinkAds + 1
			for i := range MaxLinkAds + 1 {
				body = append(body, 10, 0, 0, byte(i+1), 2, 0, 0, 0, 0, byte(i+1))
			}
			return resign(append(body, make([]byte, 32)...), testKey)
		}(), "at most 16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewCodec(auth, 2).Decode(c.b)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want ErrMalformed saying %q", err, c.msg)
			}
		})
	}

	// Encode refuses what Decode would.
	bad := sampleMessage()
	bad.LinkAware = true
	bad.Links = []LinkAd{{Addr: netip.MustParseAddr("192.168.56.10"), MAC: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}
	if _, err := NewCodec(auth, 1).Encode(bad); err == nil {
		t.Fatal("Encode accepted a broadcast MAC")
	}
	bad = sampleMessage()
	bad.Links = sampleLinks()
	if _, err := NewCodec(auth, 1).Encode(bad); err == nil {
		t.Fatal("Encode accepted advertisements without the link-aware flag")
	}
}
