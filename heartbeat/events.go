package heartbeat

// The machine's vocabulary: the states a node is in, the events it is
// stepped with, and the actions it answers with.

import (
	"fmt"
	"time"
)

// State is a node's state in the protocol. Its values travel on the wire:
// do not renumber them.
type State uint8

// The states. Init is the start-up grace; Acquiring and Releasing last as
// long as the runner takes to add or remove the addresses.
const (
	Init State = iota
	Standby
	Acquiring
	Active
	Releasing
	Stopped
	numStates
)

var stateNames = [...]string{"init", "standby", "acquiring", "active", "releasing", "stopped"}

// String gives the state's name: "init", "standby", "acquiring", "active",
// "releasing", "stopped".
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText gives String, so that a status encodes as JSON with names.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Event is something that happened, fed to Machine.Step: Tick, Received,
// Acquired, Released or Shutdown. Each carries its time: the Machine has no
// clock of its own.
type Event interface{ isEvent() }

// Tick is the passing of time: send a heartbeat if one is due, notice a
// silent peer. The runner ticks at Machine.Deadline.
type Tick struct{ Now time.Time }

// Received is an authenticated message from the network (Codec.Decode
// accepted it).
type Received struct {
	Msg Message
	Now time.Time
}

// Acquired reports the end of an Acquire: the addresses are up and the
// gratuitous ARPs sent, or Err says why not.
type Acquired struct {
	Now time.Time
	Err error
}

// Released reports the end of a Release: the addresses are gone, or Err
// says why not.
type Released struct {
	Now time.Time
	Err error
}

// Shutdown asks for a clean stop: release the group if held, tell the
// peer, stop.
type Shutdown struct{ Now time.Time }

// SyncPending says whether this node is still receiving its peer's
// connection table. While it is, its heartbeats say so and the peer does
// not hand it the group back (auto_failback); a takeover of a dead peer's
// group does not wait.
type SyncPending struct {
	Now     time.Time
	Pending bool
}

func (Tick) isEvent() {}

func (Received) isEvent() {}

func (Acquired) isEvent() {}

func (Released) isEvent() {}

func (Shutdown) isEvent() {}

func (SyncPending) isEvent() {}

// Action is something Step asks the runner to do, in the order given: Send,
// Acquire, Release, Announce, Warn, PeerDead, PeerAlive, Transition,
// SplitBrain or Mismatch.
type Action interface{ isAction() }

// Send asks to send Msg to the peer on every link (the runner's Codec fills
// in the generation and sequence number).
type Send struct{ Msg Message }

// Acquire asks to add the group's addresses and announce them (gratuitous
// ARPs), then to report Acquired. Heartbeats go on meanwhile.
type Acquire struct{}

// Release asks to remove the group's addresses, then to report Released.
type Release struct{}

// Announce asks to re-send gratuitous ARPs for the held addresses: once
// the peer has let go of the group after a split brain won by this node,
// or when keeping addresses found configured at start, neighbours may
// still point at the other node.
type Announce struct{ Reason string }

// SplitBrain reports that both nodes hold the group, and which one keeps
// it by the rule both apply (see splitWinner). Once per episode, on both
// nodes.
type SplitBrain struct {
	Peer   string
	Winner string
	Reason string
}

// Warn reports a late peer: nothing heard from it for Late (at least
// Warntime). Once per late episode.
type Warn struct {
	Peer string
	Late time.Duration
}

// PeerDead reports that the peer is considered gone: silent for Deadtime
// (Initdead if never heard), or Left (it said it was stopping).
type PeerDead struct {
	Peer string
	Left bool
}

// PeerAlive reports that the peer is heard: first contact, or its return
// after PeerDead.
type PeerAlive struct{ Peer string }

// Transition reports a change of this node's state and why.
type Transition struct {
	From, To State
	Reason   string
}

// Mismatch reports that the peer's configuration disagrees with this one's
// on something both must agree on (owner, auto_failback). Split brains are
// still resolved the same way on both sides, but failback may not happen
// as configured. Once per distinct disagreement.
type Mismatch struct {
	Peer   string
	Detail string
}

func (Send) isAction() {}

func (Acquire) isAction() {}

func (Release) isAction() {}

func (Announce) isAction() {}

func (Warn) isAction() {}

func (PeerDead) isAction() {}

func (PeerAlive) isAction() {}

func (Transition) isAction() {}

func (Mismatch) isAction() {}

func (SplitBrain) isAction() {}
