package model

import (
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"
)

// ipvsModel is the reference for ExpandSchedule: one IPVS virtual service
// as the kernel keeps it, driven call by call. It models the destination
// list (ipvsadm -a links a server in at the head), rr's cursor
// (ip_vs_rr.c) and wrr's mark (ip_vs_wrr.c: cursor cl, current weight cw,
// max weight mw, step di) with the hooks that change them: init_service
// when the scheduler is bound, add_dest/upd_dest on ipvsadm -a/-e, and one
// schedule call per new connection. Overload is not modelled. It shares
// no code with the implementation.
type ipvsModel struct {
	sched string
	list  []int // weights, list order (head first)
	// rr: index of the last server taken, -1 = the list head.
	rrLast int
	// wrr: cl is the index of the last server taken, -1 = the list head.
	cl, cw, mw, di int
}

// newIPVSService is `ipvsadm -A -s sched`: an empty service whose
// scheduler is bound (init_service) at once.
func newIPVSService(sched string) *ipvsModel {
	m := &ipvsModel{sched: sched}
	m.bind()
	return m
}

// bind is init_service, as on service creation or `ipvsadm -E -s`.
func (m *ipvsModel) bind() {
	m.rrLast = -1
	m.cl = -1
	m.di = m.refGCD()
	m.mw = m.refMax() - (m.di - 1)
	m.cw = m.mw
}

func (m *ipvsModel) refGCD() int {
	g := 0
	for _, w := range m.list {
		if w > 0 {
			a, b := w, g
			for b != 0 {
				a, b = b, a%b
			}
			g = a
		}
	}
	if g == 0 {
		return 1
	}
	return g
}

func (m *ipvsModel) refMax() int {
	top := 0
	for _, w := range m.list {
		top = max(top, w)
	}
	return top
}

// wrrChanged is wrr's add_dest/upd_dest hook: back to the list head, new
// di and mw, and cw kept unless it is out of range (or realigned to the
// new step).
func (m *ipvsModel) wrrChanged() {
	m.cl = -1
	m.di = m.refGCD()
	m.mw = m.refMax() - (m.di - 1)
	if m.cw > m.mw || m.cw == 0 {
		m.cw = m.mw
	} else if m.di > 1 {
		m.cw = m.cw/m.di*m.di + 1
	}
}

// add is `ipvsadm -a ... -w w`: the new server goes to the list head.
func (m *ipvsModel) add(w int) {
	m.list = slices.Insert(m.list, 0, w)
	switch m.sched {
	case SchedRR: // rr has no add hook; its cursor points at a server, which moved one place
		if m.rrLast >= 0 {
			m.rrLast++
		}
	case SchedWRR:
		m.wrrChanged()
	}
}

// next is one schedule call: the list index of the chosen server, or -1
// when none is available.
func (m *ipvsModel) next() int {
	n := len(m.list)
	switch m.sched {
	case SchedRR:
		// After the last server taken to the end of the list, then,
		// unless the cursor is at the head, from the start up to and
		// including the last server taken.
		for k := 1; k <= n; k++ {
			i := m.rrLast + k
			if m.rrLast >= 0 {
				i %= n
			} else if i >= n {
				break
			}
			if m.list[i] > 0 {
				m.rrLast = i
				return i
			}
		}
		return -1
	case SchedWRR:
		if m.mw == 0 {
			return -1
		}
		i := m.cl
		for wraps := 0; wraps <= 2*(m.mw/m.di+2); wraps++ {
			for i++; i < n; i++ {
				if m.list[i] >= m.cw {
					m.cl = i
					return i
				}
			}
			i = -1 // past the end, back at the head
			m.cw -= m.di
			if m.cw <= 0 {
				m.cw = m.mw
			}
		}
		panic("wrr model: no server taken in a full sweep")
	}
	panic("model: unknown scheduler " + m.sched)
}

func (m *ipvsModel) calls(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = m.next()
	}
	return out
}

// schedConfigFor returns the configuration order whose `ipvsadm -a` run gives
// the IPVS list listWeights, through ListOrder.
func schedConfigFor(listWeights []uint32) []uint32 {
	order := ListOrder(len(listWeights))
	config := make([]uint32, len(listWeights))
	for i, ci := range order {
		config[ci] = listWeights[i]
	}
	return config
}

// schedFresh builds the service as the director's configuration describes it:
// ipvsadm -A, then ipvsadm -a for each server in configuration order.
func schedFresh(t *testing.T, sched string, listWeights []uint32) *ipvsModel {
	t.Helper()
	m := newIPVSService(sched)
	for _, w := range schedConfigFor(listWeights) {
		m.add(int(w))
	}
	got := make([]uint32, len(m.list))
	for i, w := range m.list {
		got[i] = uint32(w)
	}
	if !slices.Equal(got, listWeights) {
		t.Fatalf("ipvsadm -a in ListOrder's configuration order built the list %v, want %v", got, listWeights)
	}
	return m
}

func schedRepeated(s []uint32, times int) []int {
	out := make([]int, 0, times*len(s))
	for range times {
		for _, x := range s {
			out = append(out, int(x))
		}
	}
	return out
}

func schedShort[S ~[]E, E any](s S) S { return s[:min(len(s), 24)] }

func schedWeightSets() [][]uint32 {
	sets := [][]uint32{
		{3, 1}, {1, 3}, {1, 1}, {5, 0, 2}, {0, 0}, {4, 6}, {2, 2, 2}, {7, 3, 1},
		{1}, {0}, {0, 1}, {1, 0}, {10, 10, 5}, {100, 1}, {6, 9, 12}, {0, 4, 0, 6, 0},
		{65535, 65534}, {65535, 1}, {65535, 65535}, {1, 2, 3, 4, 5, 6, 7, 8},
	}
	r := rand.New(rand.NewSource(20250601))
	for range 200 {
		w := make([]uint32, 1+r.Intn(8))
		f := uint32(1 + r.Intn(4)) // common factors exercise the gcd step
		for j := range w {
			if r.Intn(5) > 0 {
				w[j] = f * uint32(r.Intn(13))
			}
		}
		sets = append(sets, w)
	}
	return sets
}

// TestExpandScheduleMatchesIPVS: three periods of ExpandSchedule are
// IPVS's first connections on a service built by ipvsadm -A and -a.
func TestExpandScheduleMatchesIPVS(t *testing.T) {
	for _, sched := range []string{SchedRR, SchedWRR} {
		for _, w := range schedWeightSets() {
			got, err := ExpandSchedule(sched, w, 1<<20)
			if err != nil {
				t.Fatalf("%s %v: %v", sched, w, err)
			}
			m := schedFresh(t, sched, w)
			if len(got) == 0 {
				if first := m.next(); first != -1 {
					t.Errorf("%s %v: empty schedule, but IPVS schedules server %d", sched, w, first)
				}
				continue
			}
			want := m.calls(3 * len(got))
			if g := schedRepeated(got, 3); !slices.Equal(g, want) {
				t.Errorf("%s %v: 3 periods %v..., IPVS %v...", sched, w, schedShort(g), schedShort(want))
			}
		}
	}
}

// TestExpandScheduleRotationOfBoundScheduler: a wrr scheduler bound to a
// service that already has its servers (ipvsadm -E -s wrr) starts its
// sweep at cw = mw, not at the level-1 pass: the same cycle, rotated by
// the number of servers with a positive weight.
func TestExpandScheduleRotationOfBoundScheduler(t *testing.T) {
	for _, w := range schedWeightSets() {
		got, _ := ExpandSchedule(SchedWRR, w, 1<<20)
		if len(got) == 0 {
			continue
		}
		m := schedFresh(t, SchedRR, w) // the list, without wrr's history
		m.sched = SchedWRR
		m.bind()
		k := len(schedPositive(w))
		rot := append(slices.Clone(got[k:]), got[:k]...)
		if want := m.calls(2 * len(got)); !slices.Equal(schedRepeated(rot, 2), want) {
			t.Errorf("wrr %v bound with servers: %v..., want the rotation %v...", w, schedShort(want), schedShort(rot))
		}
	}
}

func schedPositive(w []uint32) []uint32 {
	var out []uint32
	for i, x := range w {
		if x > 0 {
			out = append(out, uint32(i))
		}
	}
	return out
}

func TestExpandScheduleGolden(t *testing.T) {
	for _, c := range []struct {
		sched string
		w     []uint32 // list order
		want  []uint32
	}{
		// List [A:3, B:1]: the level-1 pass A B, then A (cw 3), A (cw 2);
		// from the third connection on the steady A A A B.
		{SchedWRR, []uint32{3, 1}, []uint32{0, 1, 0, 0}},
		{SchedWRR, []uint32{1, 3}, []uint32{0, 1, 1, 1}},
		// gcd 2, reduced 2:3, period 5: level 1, then 3, then 2.
		{SchedWRR, []uint32{4, 6}, []uint32{0, 1, 1, 0, 1}},
		{SchedWRR, []uint32{7, 3, 1}, []uint32{0, 1, 2, 0, 0, 0, 0, 0, 1, 0, 1}},
		{SchedWRR, []uint32{5, 0, 2}, []uint32{0, 2, 0, 0, 0, 0, 2}},
		{SchedWRR, []uint32{2, 2, 2}, []uint32{0, 1, 2}},
		{SchedWRR, []uint32{0, 1}, []uint32{1}},
		{SchedWRR, []uint32{0, 0}, nil},
		{SchedWRR, nil, nil},
		{SchedRR, []uint32{1, 1}, []uint32{0, 1}},
		{SchedRR, []uint32{1, 0, 1}, []uint32{0, 2}},
		{SchedRR, []uint32{5, 1, 3}, []uint32{0, 1, 2}},
		{SchedRR, []uint32{0, 0}, nil},
	} {
		got, err := ExpandSchedule(c.sched, c.w, 100)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s %v: %v (%v), want %v", c.sched, c.w, got, err, c.want)
		}
	}
}

// TestExpandScheduleCounts: in one wrr period every server appears w/gcd
// times, and the period is sum(w/gcd).
func TestExpandScheduleCounts(t *testing.T) {
	for _, c := range []struct {
		w    []uint32
		g    uint32
		size int
	}{
		{[]uint32{65535, 65534}, 1, 131069},
		{[]uint32{4, 6}, 2, 5},
		{[]uint32{300, 0, 200, 100}, 100, 6},
		{[]uint32{65535, 1}, 1, 65536},
	} {
		got, err := ExpandSchedule(SchedWRR, c.w, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.size {
			t.Errorf("wrr %v: period %d, want %d", c.w, len(got), c.size)
		}
		counts := make([]uint32, len(c.w))
		for _, i := range got {
			counts[i]++
		}
		for i, w := range c.w {
			if counts[i] != w/c.g {
				t.Errorf("wrr %v: server %d appears %d times, want %d", c.w, i, counts[i], w/c.g)
			}
		}
	}
}

// TestExpandScheduleLarge: many servers with large weights expand in time
// linear in the period.
func TestExpandScheduleLarge(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	w := make([]uint32, 512)
	var sum int
	for i := range w {
		w[i] = uint32(1 + r.Intn(65535))
		sum += int(w[i])
	}
	start := time.Now()
	got, err := ExpandSchedule(SchedWRR, w, 1<<25)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("expanding %d servers (period %d) took %v", len(w), len(got), d)
	}
	// One server of weight 1 (gcd 1) guarantees the full sum.
	w[0] = 1
	sum = 0
	for _, x := range w {
		sum += int(x)
	}
	if got, err = ExpandSchedule(SchedWRR, w, 1<<25); err != nil || len(got) != sum {
		t.Fatalf("period %d (%v), want %d", len(got), err, sum)
	}
	counts := make([]uint32, len(w))
	for _, i := range got {
		counts[i]++
	}
	if !slices.Equal(counts, w) {
		t.Error("counts differ from the weights")
	}
}

func TestListOrderSchedule(t *testing.T) {
	for n, want := range [][]int{{}, {0}, {1, 0}, {2, 1, 0}} {
		if got := ListOrder(n); !slices.Equal(got, want) {
			t.Errorf("ListOrder(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestScheduleSeed is the seed end to end: ipvsadm added 192.168.200.11
// (weight 3) and then 192.168.200.12 (weight 1), so IPVS's list is
// [.12, .11].
//
// wrr: the first addition leaves cw at 1 and the second keeps it there, so
// the first connection is the level-1 pass (.12 then .11) and only then
// the sweep from cw = 3 (.11) and cw = 2 (.11): .12 .11 .11 .11, again and
// again — 3:1, and the cycle A A A B of .11 .11 .11 .12 seen from the
// third connection. Had the scheduler been bound with both servers in
// place (ipvsadm -E -s wrr), the sweep would start at cw = 3 instead: .11
// .11 .12 .11.
//
// rr: IPVS's rr starts with the most recently added server, .12.
func TestScheduleSeed(t *testing.T) {
	config := []string{"192.168.200.11", "192.168.200.12"}
	weights := []uint32{3, 1}
	order := ListOrder(len(config))
	if !slices.Equal(order, []int{1, 0}) {
		t.Fatalf("list order %v, want [1 0]", order)
	}
	listW := make([]uint32, len(order))
	for i, ci := range order {
		listW[i] = weights[ci]
	}
	names := func(s []uint32) string {
		var out []string
		for range 2 {
			for _, i := range s {
				out = append(out, strings.TrimPrefix(config[order[i]], "192.168.200"))
			}
		}
		return strings.Join(out, " ")
	}

	wrr, err := ExpandSchedule(SchedWRR, listW, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(wrr), ".12 .11 .11 .11 .12 .11 .11 .11"; got != want {
		t.Errorf("seed wrr: %s, want %s", got, want)
	}
	m := newIPVSService(SchedWRR)
	for _, w := range weights {
		m.add(int(w))
	}
	var model []string
	for _, i := range m.calls(8) {
		model = append(model, strings.TrimPrefix(config[order[i]], "192.168.200"))
	}
	if got := strings.Join(model, " "); got != names(wrr) {
		t.Errorf("seed wrr: IPVS model %s, ExpandSchedule %s", got, names(wrr))
	}

	rr, err := ExpandSchedule(SchedRR, []uint32{weights[order[0]], weights[order[1]]}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(rr), ".12 .11 .12 .11"; got != want {
		t.Errorf("seed rr: %s, want %s (the last added first)", got, want)
	}
}

func TestExpandScheduleErrors(t *testing.T) {
	for _, s := range []string{"", "lc", "WRR", "mh", "dh"} {
		if _, err := ExpandSchedule(s, []uint32{1}, 10); err == nil || !strings.Contains(err.Error(), "unknown scheduler") {
			t.Errorf("scheduler %q: %v, want an unknown-scheduler error", s, err)
		}
	}
	for _, c := range []struct {
		sched  string
		w      []uint32
		maxLen int
		msg    string // "" = no error
	}{
		{SchedWRR, []uint32{7, 3}, 9, "wrr schedule of 10 entries per period exceeds the limit of 9 entries"},
		{SchedWRR, []uint32{7, 3}, 10, ""},
		{SchedWRR, []uint32{65535, 65534}, 131068, "wrr schedule of 131069 entries per period exceeds the limit of 131068 entries"},
		{SchedRR, []uint32{1, 1, 1}, 2, "rr schedule of 3 entries per period exceeds the limit of 2 entries"},
		{SchedRR, []uint32{1, 0, 1}, 2, ""},
		{SchedRR, []uint32{1}, -1, "rr schedule of 1 entries per period exceeds the limit of -1 entries"},
		{SchedWRR, []uint32{0, 0}, 0, ""},
	} {
		_, err := ExpandSchedule(c.sched, c.w, c.maxLen)
		switch {
		case c.msg == "" && err != nil:
			t.Errorf("%s %v limit %d: %v", c.sched, c.w, c.maxLen, err)
		case c.msg != "" && (err == nil || err.Error() != c.msg):
			t.Errorf("%s %v limit %d: %v, want %q", c.sched, c.w, c.maxLen, err, c.msg)
		}
	}
}

func BenchmarkExpandSchedule(b *testing.B) {
	w := []uint32{65535, 65534, 40000, 1, 0, 12345}
	for b.Loop() {
		if _, err := ExpandSchedule(SchedWRR, w, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSchedulerRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Schedulers() {
		if s.Name == "" || s.Summary == "" || seen[s.Name] {
			t.Errorf("registry entry %+v: want a unique name and a summary", s)
		}
		seen[s.Name] = true
		if s.Counts != (s.Pick != nil) || (s.Counts && s.Expand != nil) {
			t.Errorf("registry entry %s: Counts needs Pick and no Expand", s.Name)
		}
		if got, ok := LookupScheduler(s.Name); !ok || got.Name != s.Name {
			t.Errorf("LookupScheduler(%q) = %+v, %v", s.Name, got, ok)
		}
	}
	if got := strings.Join(SchedulerNames(true), " "); got != "rr wrr lc wlc sh sed nq mh" {
		t.Errorf("BPF schedulers %q, want %q", got, "rr wrr lc wlc sh sed nq mh")
	}
	if got := JoinNames(SchedulerNames(false), "or"); got != "rr, wrr, lc, wlc, sh, dh, sed, nq, lblc, lblcr, mh, fo, ovf or twos" {
		t.Errorf("all schedulers %q", got)
	}
	if _, ok := LookupScheduler("WRR"); ok {
		t.Error("LookupScheduler is case-sensitive, as ipvsadm is")
	}
}
