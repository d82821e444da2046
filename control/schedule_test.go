package control

import (
	"math/rand"
	"slices"
	"testing"
)

// ipvsWRR simulates IPVS's wrr scheduler call by call (the state machine of
// ip_vs_wrr.c: list cursor, current weight, max weight, gcd), as the
// reference for ExpandSchedule. -1 means no server available.
type ipvsWRR struct {
	w          []uint32
	cl         int // -1 = list head
	cw, mw, di int64
}

func newIPVSWRR(w []uint32) *ipvsWRR {
	s := &ipvsWRR{w: w, cl: -1}
	var g, m uint32
	for _, x := range w {
		if x > 0 {
			g = gcd(g, x)
			m = max(m, x)
		}
	}
	if g == 0 {
		g = 1
	}
	s.di = int64(g)
	s.mw = int64(m) - (s.di - 1)
	if m == 0 {
		s.mw = 0
	}
	s.cw = s.mw
	return s
}

func (s *ipvsWRR) next() int {
	if s.mw == 0 {
		return -1
	}
	i := s.cl
	for steps := 0; steps < 1<<24; steps++ {
		i++
		if i == len(s.w) { // back at the list head
			i = -1
			s.cw -= s.di
			if s.cw <= 0 {
				s.cw = s.mw
			}
			continue
		}
		if int64(s.w[i]) >= s.cw {
			s.cl = i
			return i
		}
	}
	panic("wrr reference did not converge")
}

// ipvsRR simulates IPVS's rr: the next server after the last one taken,
// skipping weight 0.
func ipvsRR(w []uint32, n int) []int {
	var out []int
	last := -1
	for len(out) < n {
		found := false
		for k := 1; k <= len(w); k++ {
			i := (last + k) % len(w)
			if last == -1 {
				i = k - 1
			}
			if w[i] > 0 {
				out, last, found = append(out, i), i, true
				break
			}
		}
		if !found {
			return nil
		}
	}
	return out
}

func repeat(s []uint32, times int) []int {
	var out []int
	for t := 0; t < times; t++ {
		for _, x := range s {
			out = append(out, int(x))
		}
	}
	return out
}

func TestExpandScheduleMatchesIPVS(t *testing.T) {
	sets := [][]uint32{{3, 1}, {1, 3}, {1, 1}, {5, 0, 2}, {0, 0}, {4, 6}, {2, 2, 2}, {7, 3, 1},
		{1}, {0, 1}, {10, 10, 5}, {100, 1}, {65535, 65534}, {6, 9, 12}}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 30; i++ {
		w := make([]uint32, 1+r.Intn(6))
		for j := range w {
			w[j] = uint32(r.Intn(12))
		}
		sets = append(sets, w)
	}
	for _, w := range sets {
		sched, err := ExpandSchedule(SchedWRR, w, 1<<20)
		if err != nil {
			t.Fatalf("wrr %v: %v", w, err)
		}
		ref := newIPVSWRR(w)
		n := 3 * len(sched)
		if len(sched) == 0 {
			if ref.next() != -1 {
				t.Errorf("wrr %v: empty schedule but IPVS schedules", w)
			}
			continue
		}
		var want []int
		for k := 0; k < n; k++ {
			want = append(want, ref.next())
		}
		if got := repeat(sched, 3); !slices.Equal(got, want) {
			t.Errorf("wrr %v: 3 periods %v, IPVS %v", w, got[:min(len(got), 24)], want[:min(len(want), 24)])
		}
		rr, _ := ExpandSchedule(SchedRR, w, 1<<20)
		if got, want := repeat(rr, 3), ipvsRR(w, 3*len(rr)); !slices.Equal(got, want) {
			t.Errorf("rr %v: %v, IPVS %v", w, got, want)
		}
	}
}

func TestExpandScheduleGolden(t *testing.T) {
	for _, c := range []struct {
		sched string
		w     []uint32
		want  []uint32
	}{
		{SchedWRR, []uint32{3, 1}, []uint32{0, 0, 0, 1}},
		{SchedWRR, []uint32{4, 6}, []uint32{1, 0, 1, 0, 1}},
		{SchedWRR, []uint32{0, 0}, nil},
		{SchedRR, []uint32{1, 1}, []uint32{0, 1}},
		{SchedRR, []uint32{1, 0, 1}, []uint32{0, 2}},
		{SchedRR, []uint32{0}, nil},
	} {
		got, err := ExpandSchedule(c.sched, c.w, 100)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s %v: %v (%v), want %v", c.sched, c.w, got, err, c.want)
		}
	}
	got, _ := ExpandSchedule(SchedWRR, []uint32{65535, 65534}, 1<<20)
	if len(got) != 131069 {
		t.Errorf("wrr 65535:65534 period %d, want 131069", len(got))
	}
}

// The seed: ipvsadm adds .11 (weight 3) then .12 (weight 1), so IPVS's
// list is [.12, .11]. wrr's sweeps at cw = 3, 2, 1 take .11, .11, then
// .12 and .11: the seed's real order is .11 .11 .12 .11 (3:1 per period;
// A A A B is the order of a list [A:3, B:1]). rr starts with .12, the most
// recently added server.
func TestSeedOrder(t *testing.T) {
	config := []string{"192.168.200.11", "192.168.200.12"}
	weights := []uint32{3, 1}
	order := ListOrder(len(config))
	if !slices.Equal(order, []int{1, 0}) {
		t.Fatalf("list order %v, want [1 0]", order)
	}
	lw := []uint32{weights[order[0]], weights[order[1]]}
	name := func(s []uint32) []string {
		var out []string
		for _, i := range s {
			out = append(out, config[order[i]])
		}
		return out
	}
	wrr, _ := ExpandSchedule(SchedWRR, lw, 100)
	if got := name(wrr); !slices.Equal(got, []string{config[0], config[0], config[1], config[0]}) {
		t.Errorf("seed wrr %v", got)
	}
	rr, _ := ExpandSchedule(SchedRR, []uint32{1, 1}, 100)
	if got := name(rr); got[0] != "192.168.200.12" {
		t.Errorf("seed rr starts with %s, want the last added, 192.168.200.12", got[0])
	}
}

func TestExpandScheduleErrors(t *testing.T) {
	if _, err := ExpandSchedule("lc", []uint32{1}, 10); err == nil {
		t.Error("unknown scheduler accepted")
	}
	if _, err := ExpandSchedule(SchedWRR, []uint32{7, 3}, 9); err == nil {
		t.Error("period 10 accepted with 9 slots")
	}
	if _, err := ExpandSchedule(SchedRR, []uint32{1, 1, 1}, 2); err == nil {
		t.Error("rr of 3 accepted with 2 slots")
	}
}
