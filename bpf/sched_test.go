package bpf

// The least-connection schedulers (sched.h) against the Go model of
// IPVS's rules (control/model's Pick), through both entry points: a
// scripted sequence of connections opened (SYN, then the handshake's ACK),
// held, and closed (FIN) in a fixed pseudo-random order; every new
// connection must go where the model sends it, and the program's counts
// (real_conns) must equal the model's after every step.

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/director-lb/director/control/model"
)

// lcReal is one real server of the least-connection tests.
type lcReal struct {
	id     uint32
	addr   string
	port   uint16
	mac    net.HardwareAddr
	weight uint32
	upper  uint32
	lower  uint32
}

// lcReals are four real servers in IPVS list order (the schedule region's).
var lcReals = []lcReal{
	{1, "192.168.200.11", 80, macRip1, 1, 0, 0},
	{2, "192.168.200.12", 80, macRip2, 2, 0, 0},
	{3, "192.168.200.11", 8080, macRip1, 3, 0, 0},
	{4, "192.168.200.12", 8080, macRip2, 1, 0, 0},
}

func lcEnv(t *testing.T, ent entry, kind SchedKind, reals []lcReal) *fibEnv {
	t.Helper()
	e := newFibEnv(t, ent)
	ids := make([]uint32, len(reals))
	for i, r := range reals {
		ids[i] = r.id
		if err := e.maps.PutReal(r.id, Real{Addr: Be32(ip4(r.addr)), Port: Be16(r.port), Gen: 10 + r.id,
			Weight: r.weight, Upper: r.upper, Lower: r.lower}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.maps.WriteSchedule(0, ids); err != nil {
		t.Fatal(err)
	}
	if err := e.maps.PutService(webKey, SvcValue{Id: 0, SchedOff: 0, SchedLen: uint32(len(ids)), Sched: uint32(kind)}); err != nil {
		t.Fatal(err)
	}
	return e
}

// lcConn is a connection of the script: its client port and real server.
type lcConn struct {
	sport uint16
	real  int
}

// lcModel mirrors the counts the program should hold.
type lcModel struct {
	reals []lcReal
	state []model.ConnState
}

func (m *lcModel) overload() {
	for i, r := range m.reals {
		s := &m.state[i]
		s.Overloaded = model.Overloaded(r.upper, r.lower, s.Overloaded, s.Active+s.Inactive)
	}
}

func (m *lcModel) check(t *testing.T, e *fibEnv, step string) {
	t.Helper()
	for i, r := range m.reals {
		c, err := e.maps.RealConns(r.id)
		if err != nil {
			t.Fatal(err)
		}
		if s := m.state[i]; c.Active != int64(s.Active) || c.Inactive != int64(s.Inactive) {
			t.Fatalf("%s: real %d counts active %d inactive %d, model %d / %d", step, r.id, c.Active, c.Inactive, s.Active, s.Inactive)
		}
	}
}

// runScript opens and closes n connections in a seeded order and checks
// every pick and every count against the model.
func runScript(t *testing.T, e *fibEnv, sched model.Scheduler, reals []lcReal, seed uint64, steps int) []int {
	m := &lcModel{reals: reals, state: make([]model.ConnState, len(reals))}
	for i, r := range reals {
		m.state[i].Weight = r.weight
	}
	rng := rand.New(rand.NewPCG(seed, 17))
	var open []lcConn
	var picks []int
	sport := uint16(30000)
	for step := range steps {
		if len(open) > 0 && rng.IntN(3) == 0 {
			// Close one: the client's FIN moves it to inactive.
			k := rng.IntN(len(open))
			c := open[k]
			open = append(open[:k], open[k+1:]...)
			fin := clientSYN(c.sport)
			fin.tcpFlags = tcpFIN | tcpACK
			r := reals[c.real]
			e.check(t, fmt.Sprintf("step %d fin", step), e.pub, fin.frame(), xdpRedirect, PathForward,
				toReal(fin, r.addr, r.mac, r.port).frame())
			m.state[c.real].Active--
			m.state[c.real].Inactive++
			m.check(t, e, fmt.Sprintf("step %d after fin", step))
			continue
		}
		sport++
		m.overload()
		want := sched.Pick(m.state)
		syn := clientSYN(sport)
		if want < 0 {
			e.check(t, fmt.Sprintf("step %d syn", step), e.pub, syn.frame(), xdpDrop, PathNoReal, nil)
			picks = append(picks, -1)
			continue
		}
		r := reals[want]
		e.check(t, fmt.Sprintf("step %d syn (model: real %d)", step, r.id), e.pub, syn.frame(), xdpRedirect, PathNewFlow,
			toReal(syn, r.addr, r.mac, r.port).frame())
		m.state[want].Inactive++
		m.check(t, e, fmt.Sprintf("step %d after syn", step))
		ack := clientSYN(sport)
		ack.tcpFlags = tcpACK
		e.check(t, fmt.Sprintf("step %d ack", step), e.pub, ack.frame(), xdpRedirect, PathForward,
			toReal(ack, r.addr, r.mac, r.port).frame())
		m.state[want].Inactive--
		m.state[want].Active++
		m.check(t, e, fmt.Sprintf("step %d after ack", step))
		open = append(open, lcConn{sport, want})
		picks = append(picks, want)
	}
	return picks
}

var lcKinds = []struct {
	name string
	kind SchedKind
}{{"lc", SchedLC}, {"wlc", SchedWLC}, {"sed", SchedSED}, {"nq", SchedNQ}}

func TestLeastConnSchedulers(t *testing.T) {
	for _, k := range lcKinds {
		t.Run(k.name, func(t *testing.T) {
			forEachEntry(t, func(t *testing.T, ent entry) {
				sched, _ := model.LookupScheduler(k.name)
				e := lcEnv(t, ent, k.kind, lcReals)
				picks := runScript(t, e, sched, lcReals, 1, 60)
				spread := map[int]int{}
				for _, p := range picks {
					spread[p]++
				}
				if len(spread) < 2 {
					t.Errorf("picks %v never changed server", picks)
				}
			})
		})
	}
}

// TestLeastConnWeightZero: a quiesced server gets nothing, even idle.
func TestLeastConnWeightZero(t *testing.T) {
	reals := []lcReal{lcReals[0], lcReals[1]}
	reals[0].weight = 0
	for _, k := range lcKinds {
		t.Run(k.name, func(t *testing.T) {
			forEachEntry(t, func(t *testing.T, ent entry) {
				sched, _ := model.LookupScheduler(k.name)
				e := lcEnv(t, ent, k.kind, reals)
				for _, p := range runScript(t, e, sched, reals, 2, 10) {
					if p != 1 {
						t.Fatalf("picked %d, want only the server with a weight", p)
					}
				}
			})
		})
	}
}

// TestThresholds: a server at its upper threshold gets no new connection
// until its connections fall below the lower one (IPVS's overload flag),
// for the least-connection family and for wrr's static schedule.
func TestThresholds(t *testing.T) {
	reals := []lcReal{lcReals[0], lcReals[1]}
	reals[0].upper, reals[0].lower = 3, 1
	reals[1].upper = 4 // lower: 3/4 of upper
	for _, k := range lcKinds {
		t.Run(k.name, func(t *testing.T) {
			forEachEntry(t, func(t *testing.T, ent entry) {
				sched, _ := model.LookupScheduler(k.name)
				e := lcEnv(t, ent, k.kind, reals)
				picks := runScript(t, e, sched, reals, 3, 40)
				dropped := 0
				for _, p := range picks {
					if p < 0 {
						dropped++
					}
				}
				if dropped == 0 {
					t.Errorf("picks %v: the thresholds never refused a connection", picks)
				}
			})
		})
	}
}

// TestThresholdsCursor: rr's and wrr's static schedule passes over an
// overloaded server and comes back to it once it is below its lower
// threshold.
func TestThresholdsCursor(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		reals := []lcReal{lcReals[0], lcReals[1]}
		reals[0].upper, reals[0].lower = 1, 1
		e := lcEnv(t, ent, SchedCursor, reals)
		open := func(sport uint16, r lcReal) {
			syn := clientSYN(sport)
			e.check(t, fmt.Sprintf("syn %d", sport), e.pub, syn.frame(), xdpRedirect, PathNewFlow,
				toReal(syn, r.addr, r.mac, r.port).frame())
		}
		open(100, reals[0]) // real 1 reaches its upper threshold
		open(101, reals[1])
		open(102, reals[1]) // real 1's slot passed over
		open(103, reals[1])
		// The first connection ends (RST): real 1 is below its lower threshold.
		rst := clientSYN(100)
		rst.tcpFlags = tcpRST
		e.check(t, "rst", e.pub, rst.frame(), xdpRedirect, PathForward, toReal(rst, reals[0].addr, reals[0].mac, reals[0].port).frame())
		// Still counted as inactive until the flow is forgotten: a new SYN
		// on the same tuple forgets it, and is scheduled afresh.
		open(100, reals[0])
	})
}

// TestSourceHashing: sh sends each client address (and port, with
// sh-port) to the server the Go model of IPVS's table and hash gives, and
// with sh-fallback replaces an unavailable server as IPVS does.
func TestSourceHashing(t *testing.T) {
	reals := []lcReal{lcReals[0], lcReals[1], lcReals[2], lcReals[3]}
	reals[1].weight = 0 // quiesced: its buckets refuse, or fall back
	weights := make([]uint32, len(reals))
	for i, r := range reals {
		weights[i] = r.weight
	}
	sh, _ := model.LookupScheduler(model.SchedSH)
	table, err := sh.Expand(weights, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	available := func(i int) bool { return reals[i].weight > 0 }
	for _, c := range []struct {
		name  string
		flags uint32
	}{{"plain", 0}, {"sh-fallback", SchedFlagFallback}, {"sh-port", SchedFlagPort}, {"both", SchedFlagFallback | SchedFlagPort}} {
		t.Run(c.name, func(t *testing.T) {
			forEachEntry(t, func(t *testing.T, ent entry) {
				e := lcEnv(t, ent, SchedSH, reals)
				ids := make([]uint32, len(table))
				for i, li := range table {
					ids[i] = reals[li].id
				}
				if err := e.maps.WriteSchedule(0, ids); err != nil {
					t.Fatal(err)
				}
				if err := e.maps.PutService(webKey, SvcValue{SchedLen: uint32(len(ids)), Sched: uint32(SchedSH), Flags: c.flags}); err != nil {
					t.Fatal(err)
				}
				refused, served := 0, map[int]int{}
				for n := range 300 {
					syn := clientSYN(uint16(20000 + 7*n))
					syn.src = netip.AddrFrom4([4]byte{10, byte(n >> 8), byte(n), byte(n * 13)})
					port := uint16(0)
					if c.flags&SchedFlagPort != 0 {
						port = syn.sport
					}
					want := model.PickSH(table, available, syn.src, port, c.flags&SchedFlagFallback != 0)
					name := fmt.Sprintf("client %s:%d", syn.src, syn.sport)
					if want < 0 {
						e.check(t, name, e.pub, syn.frame(), xdpDrop, PathNoReal, nil)
						refused++
						continue
					}
					r := reals[want]
					e.check(t, name, e.pub, syn.frame(), xdpRedirect, PathNewFlow, toReal(syn, r.addr, r.mac, r.port).frame())
					served[want]++
				}
				fallback := c.flags&SchedFlagFallback != 0
				if fallback != (refused == 0) || len(served) != 3 {
					t.Errorf("refused %d, served %v: want refusals only without sh-fallback, and the three servers with a weight", refused, served)
				}
			})
		})
	}
}

// TestLeastConnCorrection: the schedulers read the program's counts less
// the control plane's correction (real_conns_adj).
func TestLeastConnCorrection(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		reals := []lcReal{lcReals[0], lcReals[1]}
		e := lcEnv(t, ent, SchedLC, reals)
		// Real 1 holds two connections the program did not count.
		if err := e.maps.SetRealConnsAdj(1, ConnAdj{Active: -2}); err != nil {
			t.Fatal(err)
		}
		for i, want := range []lcReal{reals[1], reals[1], reals[0]} {
			syn := clientSYN(uint16(100 + i))
			e.check(t, fmt.Sprintf("syn %d", i), e.pub, syn.frame(), xdpRedirect, PathNewFlow,
				toReal(syn, want.addr, want.mac, want.port).frame())
			ack := syn
			ack.tcpFlags = tcpACK
			e.check(t, fmt.Sprintf("ack %d", i), e.pub, ack.frame(), xdpRedirect, PathForward,
				toReal(ack, want.addr, want.mac, want.port).frame())
		}
	})
}

// TestPersistence: a client (masked /24) keeps its real server for new
// connections while its template is younger than the timeout, whatever
// the scheduler would say; another network is scheduled; an expired
// template is replaced.
func TestPersistence(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		reals := []lcReal{lcReals[0], lcReals[1]}
		e := lcEnv(t, ent, SchedCursor, reals) // rr over [1, 2]
		mask := Be32(ip4("255.255.255.0"))
		if err := e.maps.PutService(webKey, SvcValue{Id: 7, SchedLen: 2, Pmask: mask, Ptimeout: 300}); err != nil {
			t.Fatal(err)
		}
		conn := func(src string, sport uint16, want lcReal) {
			t.Helper()
			syn := clientSYN(sport)
			syn.src = ip4(src)
			e.check(t, fmt.Sprintf("%s:%d", src, sport), e.pub, syn.frame(), xdpRedirect, PathNewFlow,
				toReal(syn, want.addr, want.mac, want.port).frame())
		}
		conn("10.1.1.1", 1000, reals[0])  // rr: real 1, template 10.1.1.0
		conn("10.1.1.1", 1001, reals[0])  // persistent (rr would say real 2)
		conn("10.1.1.77", 1002, reals[0]) // same /24
		conn("10.1.2.1", 1003, reals[1])  // another /24: rr goes on (cursor 1)
		conn("10.1.2.1", 1004, reals[1])
		n := 0
		if err := e.maps.Templates(func(k PersistKey, v Persist) bool {
			n++
			if k.SvcId != 7 || (AddrFromBe32(k.Client) != ip4("10.1.1.0") && AddrFromBe32(k.Client) != ip4("10.1.2.0")) {
				t.Errorf("template %+v -> %+v", k, v)
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d templates, want 2", n)
		}
		// The first template expires: 10.1.1.x is scheduled afresh (rr: real 1,
		// cursor 2) and keeps that.
		k := PersistKey{SvcId: 7, Client: Be32(ip4("10.1.1.0"))}
		if err := e.maps.PutTemplate(k, Persist{RealId: 2, RealGen: 12, LastSeen: 1}); err != nil {
			t.Fatal(err)
		}
		conn("10.1.1.1", 1005, reals[0])
		conn("10.1.1.1", 1006, reals[0])
	})
}

// TestMaglev: mh sends each client to the server the Go model's Maglev
// table and hash give, and with mh-fallback replaces an overloaded one, at
// the default table size and at the smallest and largest of IPVS's list
// (mh_table_size; the largest is the bound of the fallback walk).
func TestMaglev(t *testing.T) {
	for _, size := range []int{model.MHTableSize, model.MHTableSizes[0], model.MHTableSizes[len(model.MHTableSizes)-1]} {
		t.Run(fmt.Sprint(size), func(t *testing.T) { testMaglev(t, size) })
	}
}

func testMaglev(t *testing.T, size int) {
	reals := []lcReal{lcReals[0], lcReals[1], lcReals[2]}
	reals[1].upper = 1 // overloaded after its first connection
	keys := make([]model.RealKey, len(reals))
	weights := make([]uint32, len(reals))
	for i, r := range reals {
		keys[i], weights[i] = model.RealKey{Addr: ip4(r.addr), Port: r.port}, r.weight
	}
	table := model.MaglevTable(keys, weights, size)
	if len(table) != size {
		t.Fatalf("table of %d entries, want %d", len(table), size)
	}
	for _, c := range []struct {
		name  string
		flags uint32
	}{{"plain", 0}, {"mh-fallback", SchedFlagFallback}, {"mh-port", SchedFlagPort}} {
		t.Run(c.name, func(t *testing.T) {
			forEachEntry(t, func(t *testing.T, ent entry) {
				e := lcEnv(t, ent, SchedMH, reals)
				ids := make([]uint32, len(table))
				for i, li := range table {
					ids[i] = reals[li].id
				}
				if err := e.maps.WriteSchedule(0, ids); err != nil {
					t.Fatal(err)
				}
				if err := e.maps.PutService(webKey, SvcValue{SchedLen: uint32(len(ids)), Sched: uint32(SchedMH), Flags: c.flags}); err != nil {
					t.Fatal(err)
				}
				var conns1 uint64
				served := map[int]int{}
				for n := range 120 {
					syn := clientSYN(uint16(20000 + 11*n))
					syn.src = netip.AddrFrom4([4]byte{10, 7, byte(n >> 8), byte(n)})
					port := uint16(0)
					if c.flags&SchedFlagPort != 0 {
						port = syn.sport
					}
					available := func(i int) bool { return i != 1 || conns1 < uint64(reals[1].upper) }
					want := model.PickMH(table, available, syn.src.As4(), port, c.flags&SchedFlagFallback != 0)
					name := fmt.Sprintf("client %s:%d", syn.src, syn.sport)
					if want < 0 {
						e.check(t, name, e.pub, syn.frame(), xdpDrop, PathNoReal, nil)
						continue
					}
					r := reals[want]
					e.check(t, name, e.pub, syn.frame(), xdpRedirect, PathNewFlow, toReal(syn, r.addr, r.mac, r.port).frame())
					served[want]++
					if want == 1 {
						conns1++
					}
				}
				if len(served) != 3 || served[1] != 1 {
					t.Errorf("served %v: want all three servers, the one with a threshold of 1 once", served)
				}
			})
		})
	}
}
