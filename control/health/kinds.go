package health

// The kinds of check: each is a Checker, made from the real server's
// effective check by its entry of kinds. Adding a kind is a file with its
// Checker, its entry here, its name in model.HealthTypes and, if it has
// keys of its own, their parsing in control/config.

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/director-lb/director/control/model"
)

// Checker is one kind of health check, set up for one real server.
type Checker interface {
	// Check runs one check of addr; ctx carries the check's timeout. A
	// nil error is a success.
	Check(ctx context.Context, addr netip.AddrPort) error
	// Close releases what the checker keeps from one check to the next.
	Close()
}

// kinds makes the Checker of each type of model.HealthTypes.
var kinds = map[string]func(model.HealthCheck) Checker{
	"tcp":     func(model.HealthCheck) Checker { return tcpChecker{} },
	"http":    newHTTPChecker,
	"https":   newHTTPChecker,
	"command": func(c model.HealthCheck) Checker { return commandChecker{argv: c.Command.Args()} },
}

// newChecker returns the Checker of c's type; one that always fails for a
// type without one (the configuration lets none through).
func newChecker(c model.HealthCheck) Checker {
	if k, ok := kinds[c.Type]; ok {
		return k(c)
	}
	return unknownChecker{c.Type}
}

// unknownChecker fails every check of a type no kind implements.
type unknownChecker struct{ typ string }

func (u unknownChecker) Check(context.Context, netip.AddrPort) error {
	return fmt.Errorf("unknown check type %q", u.typ)
}

func (unknownChecker) Close() {}
