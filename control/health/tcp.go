package health

import (
	"context"
	"net"
	"net/netip"
)

// The tcp check: a connect to the real server, closed at once.

// tcpChecker is the tcp check.
type tcpChecker struct{}

// Check connects to addr and closes the connection.
func (tcpChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return err
	}
	return conn.Close()
}

// Close implements Checker.
func (tcpChecker) Close() {}
