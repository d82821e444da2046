package lab

// The client loop of failover measurements: new HTTP connections to the
// VIP from the client node, one per pace, each with a timeout, recording
// when a real server answered. director lab, the end-to-end tests and the
// Heartbeat reference benchmark all measure blackouts with it, so their
// figures compare.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"
)

// Loop pace and per-connection timeout of StartClientLoop: the end of a
// blackout is seen within about their sum.
const (
	LoopPace    = 20 * time.Millisecond
	LoopTimeout = 200 * time.Millisecond
)

// ClientLoop is a running client loop.
type ClientLoop struct {
	mu      sync.Mutex
	ok      []time.Time
	failed  int
	fails   []Failure // each failed attempt, in the order they ended (concurrent loop)
	stop    chan struct{}
	stopped chan struct{}
}

// StartClientLoop starts the loop; Stop ends it.
func (l *Lab) StartClientLoop() *ClientLoop {
	c := &ClientLoop{stop: make(chan struct{}), stopped: make(chan struct{})}
	hc := l.HTTPClient(Client, false)
	hc.Timeout = LoopTimeout
	go func() {
		defer close(c.stopped)
		for range 100000 { // bounded: at least LoopPace each, Stop ends it long before
			select {
			case <-c.stop:
				return
			default:
			}
			err := loopGet(hc)
			c.mu.Lock()
			if err == nil {
				c.ok = append(c.ok, time.Now())
			} else {
				c.failed++
			}
			c.mu.Unlock()
			select {
			case <-c.stop:
				return
			case <-time.After(LoopPace):
			}
		}
	}()
	return c
}

// StartConcurrentClientLoop starts a loop that opens a new connection
// every LoopPace whether or not the previous ones have been answered (at
// most LoopTimeout/LoopPace+1 in flight). A connection sent into a
// blackout no longer hides the end of it for a whole LoopTimeout, so the
// blackout it measures is the outage to within one pace: the loop for
// figures below LoopTimeout (20 ms / 100 ms timers, hitless moves).
func (l *Lab) StartConcurrentClientLoop() *ClientLoop {
	c := &ClientLoop{stop: make(chan struct{}), stopped: make(chan struct{})}
	hc := l.HTTPClient(Client, false)
	hc.Timeout = LoopTimeout
	go func() {
		var wg sync.WaitGroup
		defer func() {
			wg.Wait()
			close(c.stopped)
		}()
		tick := time.NewTicker(LoopPace)
		defer tick.Stop()
		for range 100000 { // bounded: one per LoopPace, Stop ends it long before
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				err := loopGet(hc)
				c.mu.Lock()
				if err == nil {
					c.ok = append(c.ok, time.Now())
					slices.SortFunc(c.ok, time.Time.Compare) // answers may come out of order
				} else {
					c.failed++
					c.fails = append(c.fails, Failure{Start: start, Took: time.Since(start), Err: err.Error()})
				}
				c.mu.Unlock()
			}()
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return c
}

// loopGet makes one request on a new connection and checks that a real
// server answered.
func loopGet(hc *http.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), LoopTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+VIP+"/", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || (string(body) != Web1+"\n" && string(body) != Web2+"\n") {
		return fmt.Errorf("unexpected answer %d %q", resp.StatusCode, body)
	}
	return nil
}

// Stop ends the loop and waits for it.
func (c *ClientLoop) Stop() {
	close(c.stop)
	<-c.stopped
}

// Successes returns a copy of the success times and the failure count.
func (c *ClientLoop) Successes() ([]time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ok), c.failed
}

// WaitSuccesses waits until the loop has n successes after t.
func (c *ClientLoop) WaitSuccesses(after time.Time, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		ok, failed := c.Successes()
		got := len(ok) - sort.Search(len(ok), func(i int) bool { return ok[i].After(after) })
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("client loop: %d successes (%d failures) within %v, want %d", got, failed, within, n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// FailedSince lists when the failed attempts started after t (the
// concurrent loop only).
func (c *ClientLoop) FailedSince(t time.Time) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, f := range c.fails {
		if !f.Start.Before(t) {
			out = append(out, f.Start)
		}
	}
	return out
}

// Failure is one failed attempt of the concurrent loop: when it started,
// how long it took to fail and why (a timeout says a packet went missing or
// the client starved; a reset or refusal says a node answered wrongly).
type Failure struct {
	Start time.Time
	Took  time.Duration
	Err   string
}

// Failures lists the failed attempts that started after t (the concurrent
// loop only).
func (c *ClientLoop) Failures(t time.Time) []Failure {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Failure
	for _, f := range c.fails {
		if !f.Start.Before(t) {
			out = append(out, f)
		}
	}
	return out
}

// FailedBetween counts the failed attempts that started between a and b
// (the concurrent loop only).
func (c *ClientLoop) FailedBetween(a, b time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.fails {
		if !f.Start.Before(a) && f.Start.Before(b) {
			n++
		}
	}
	return n
}

// Outage is the longest gap between consecutive successes from the last
// one before t0 on in which an attempt started and failed (concurrent loop
// only): a service outage. A gap without a failed attempt is the loop
// itself not running (its process starved on a busy machine), which
// says nothing of the service; stalled is the longest such gap.
func (c *ClientLoop) Outage(t0 time.Time) (outage, stalled time.Duration, ok bool) {
	succ, _ := c.Successes()
	i := sort.Search(len(succ), func(i int) bool { return !succ[i].Before(t0) })
	if i == 0 || i == len(succ) {
		return 0, 0, false
	}
	for j := i; j < len(succ); j++ {
		g := succ[j].Sub(succ[j-1])
		if c.FailedBetween(succ[j-1], succ[j]) > 0 {
			outage = max(outage, g)
		} else {
			stalled = max(stalled, g)
		}
	}
	return outage, stalled, true
}

// LongestGap is Blackout with the time of the last success before the
// gap, to place it on a timeline.
func (c *ClientLoop) LongestGap(t0 time.Time) (from time.Time, d time.Duration, ok bool) {
	succ, _ := c.Successes()
	i := sort.Search(len(succ), func(i int) bool { return !succ[i].Before(t0) })
	if i == 0 || i == len(succ) {
		return time.Time{}, 0, false
	}
	for j := i; j < len(succ); j++ {
		if g := succ[j].Sub(succ[j-1]); g > d {
			from, d = succ[j-1], g
		}
	}
	return from, d, true
}

// Blackout is the longest gap between consecutive successes from the last
// one before t0 on; ok reports that there was a success before and one
// after t0.
func (c *ClientLoop) Blackout(t0 time.Time) (d time.Duration, ok bool) {
	succ, _ := c.Successes()
	i := sort.Search(len(succ), func(i int) bool { return !succ[i].Before(t0) })
	if i == 0 || i == len(succ) {
		return 0, false
	}
	for j := i; j < len(succ); j++ {
		d = max(d, succ[j].Sub(succ[j-1]))
	}
	return d, true
}
