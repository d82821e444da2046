package bpfplane

// The flow-table census: connection counts per real server and the
// number of entries, from one walk of the table (read in batches by
// bpf.Maps.Flows), which Status and Stats both read.
//
// A walk costs about half a second per million entries here. A table
// whose last walk took less than censusSyncLimit (some 100,000 entries)
// is walked afresh at every read, as before. A larger one is not walked
// in the reader's time: a census younger than ten walks is reused as it
// is, and an older one is served while the next walk runs in the
// background. The answer is then at most one walk plus ten walks' time
// old (seconds at millions of entries), a read costs next to nothing,
// and walks take at most a tenth of a core however often status and
// metrics are read.

import (
	"sync"
	"time"

	"github.com/director-lb/director/bpf"
)

// censusSyncLimit is the walk duration above which a census is reused,
// and an old one served while the next one is taken in the background.
const censusSyncLimit = 50 * time.Millisecond

// census is one walk's result.
type census struct {
	at   time.Time     // when the walk started
	took time.Duration // how long it took
	// conns counts forward entries by real server slot and generation.
	conns   map[realGen]*connCount
	entries int // all entries, both directions
	// table is the flow table's event counters, read just before the
	// walk, with the entries it found in each table.
	table bpf.FlowTableStats
}

type realGen struct{ id, gen uint32 }

type connCount struct{ active, inactive uint64 }

// freshFor is how long c is reused as it is.
func (c *census) freshFor() time.Duration {
	if c.took <= censusSyncLimit {
		return 0
	}
	return 10 * c.took
}

// censusCache holds the last census and at most one walk in flight.
type censusCache struct {
	mu      sync.Mutex
	last    *census
	walking chan struct{} // closed when the walk in flight ends; nil if none
	now     func() time.Time
}

// get returns a census according to the rules of the file comment.
func (c *censusCache) get(maps *bpf.Maps) (*census, error) {
	c.mu.Lock()
	now := c.clock()
	last := c.last
	if last != nil && now.Sub(last.at) < last.freshFor() {
		c.mu.Unlock()
		return last, nil
	}
	if last != nil && last.took > censusSyncLimit {
		if c.walking == nil {
			done := make(chan struct{})
			c.walking = done
			go func() {
				_, _ = c.walk(maps, done) // an error leaves the old census; the next read retries
			}()
		}
		c.mu.Unlock()
		return last, nil
	}
	if w := c.walking; w != nil {
		c.mu.Unlock()
		<-w
		c.mu.Lock()
		last = c.last
		c.mu.Unlock()
		if last != nil {
			return last, nil
		}
		return c.get(maps)
	}
	done := make(chan struct{})
	c.walking = done
	c.mu.Unlock()
	return c.walk(maps, done)
}

func (c *censusCache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// walk takes a census, stores it, and closes done.
func (c *censusCache) walk(maps *bpf.Maps, done chan struct{}) (*census, error) {
	defer func() {
		c.mu.Lock()
		c.walking = nil
		c.mu.Unlock()
		close(done)
	}()
	start := c.clock()
	n := &census{at: start, conns: map[realGen]*connCount{}}
	table, err := maps.FlowTableEvents()
	if err != nil {
		return nil, err
	}
	var established, halfOpen int
	err = maps.Flows(func(e bpf.FlowEntry) bool {
		n.entries++
		if e.HalfOpen {
			halfOpen++
		} else {
			established++
		}
		if e.Value.Dir != bpf.DirForward {
			return true
		}
		k := realGen{e.Value.RealId, e.Value.RealGen}
		cc := n.conns[k]
		if cc == nil {
			cc = &connCount{}
			n.conns[k] = cc
		}
		if e.Value.State == bpf.StateEstablished {
			cc.active++
		} else {
			cc.inactive++
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	table.Count(established, halfOpen)
	n.table = table
	n.took = c.clock().Sub(start)
	c.mu.Lock()
	c.last = n
	c.mu.Unlock()
	return n, nil
}
