package heartbeat

// How well a node can serve, as its heartbeats tell the peer: the real
// servers its health checks find up, and the reference addresses (ping
// nodes, Heartbeat's ping/ping_group) it reaches. Both nodes compare the
// two scores alike, so that the better-placed node keeps or takes the
// group: a node cut off from the upstream router, or whose checks still
// read every real server down after a partition, gives way to its peer
// instead of serving nobody.

import (
	"cmp"
	"time"
)

// Score is what a node's heartbeats say of its readiness to serve.
type Score struct {
	// Reach counts the ping nodes this node reaches (0 without any).
	Reach uint8
	// Healthy counts the real servers whose health is known and up, plus
	// those without a check.
	Healthy uint16
}

// compare orders scores: reaching more ping nodes first (no real server
// helps a node clients cannot reach), then more healthy real servers. It
// returns -1, 0 or 1 as s is worse than, as good as, or better than o.
func (s Score) compare(o Score) int {
	switch {
	case s.Reach != o.Reach:
		return cmp.Compare(s.Reach, o.Reach)
	case s.Healthy != o.Healthy:
		return cmp.Compare(s.Healthy, o.Healthy)
	}
	return 0
}

// ScoreChanged gives the machine this node's new Score; its heartbeats
// carry it from now on (one goes out at once).
type ScoreChanged struct {
	Now   time.Time
	Score Score
}

func (ScoreChanged) isEvent() {}
