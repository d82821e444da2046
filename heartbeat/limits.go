package heartbeat

// The limits and defaults of a pair's settings, defined once: the
// configuration file's checks (control/config) and Config.Validate both
// use them, so that a file the configuration accepts is one the pair runs.

import (
	"fmt"
	"regexp"
	"time"
)

// Defaults and limits of the pair's settings, as Heartbeat's ha.cf has
// them where it has them.
const (
	// DefaultKeepalive is the heartbeat interval (ha.cf keepalive).
	DefaultKeepalive = time.Second
	// DefaultDeadtime is how long a peer may stay silent before it is
	// declared dead (ha.cf deadtime).
	DefaultDeadtime = 5 * time.Second
	// MinTimer and MaxTimer bound keepalive, deadtime, warntime and
	// initdead: a shorter keepalive would only burn CPU, and timer
	// granularity makes shorter deadtimes meaningless.
	MinTimer = 10 * time.Millisecond
	MaxTimer = time.Hour
	// DefaultPort is the UDP port of heartbeats (ha.cf udpport), also
	// that of a link whose Port is 0; connection sync uses the next one
	// by default.
	DefaultPort = 694
	// MaxNameLen bounds a node name, as it travels in every message
	// (one length byte, checked to be at most this).
	MaxNameLen = 64
)

// NodeNameRule says what a node name may be, for error messages.
const NodeNameRule = "1-64 letters, digits, '-' or '_', not starting with '_'"

// nodeName matches NodeNameRule. No dot: the name also names the node's
// pinned state directory under bpffs and its control socket, where the
// loader refuses dots; '_' first is the loader's temporary names'.
var nodeName = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9-][A-Za-z0-9_-]{0,%d}$`, MaxNameLen-1))

// ValidNodeName says whether s is a node name (NodeNameRule).
func ValidNodeName(s string) bool { return nodeName.MatchString(s) }

// checkName is ValidNodeName as an error.
func checkName(n string) error {
	if !ValidNodeName(n) {
		return fmt.Errorf("%q: want %s", n, NodeNameRule)
	}
	return nil
}
