package health

// The http and https checks: a GET whose status (and, if asked, body) is
// checked. See the package comment for what is not verified and why.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/director-lb/director/control/model"
)

// healthMaxBody is how much of an http(s) response body is read to look
// for ExpectBody.
const healthMaxBody = 64 << 10

// httpChecker is the http or https check c, with its client.
type httpChecker struct {
	c      model.HealthCheck
	client *http.Client
}

func newHTTPChecker(c model.HealthCheck) Checker {
	return httpChecker{c: c, client: httpClient(c)}
}

// Close implements Checker.
func (h httpChecker) Close() { h.client.CloseIdleConnections() }

// httpClient returns the client of http(s) check c: no redirects, no
// keep-alives, no proxy, no certificate verification.
func httpClient(c model.HealthCheck) *http.Client {
	tlsConfig := &tls.Config{InsecureSkipVerify: true} // backends by IP: see the file's comment
	if c.Host != "" {
		if host, _, err := net.SplitHostPort(c.Host); err == nil {
			tlsConfig.ServerName = strings.Trim(host, "[]")
		} else {
			tlsConfig.ServerName = strings.Trim(c.Host, "[]")
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       (&net.Dialer{}).DialContext,
			TLSClientConfig:   tlsConfig,
			DisableKeepAlives: true,
			// The body is read, if at all, as it is.
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Check GETs the check's path from addr and checks the status and body.
func (h httpChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	c, client := h.c, h.client
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Type+"://"+addr.String()+c.Path, nil)
	if err != nil {
		return err
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	req.Header.Set("User-Agent", "director-health-check")
	resp, err := client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // without its "Get <url>: "
		}
		return err
	}
	// Closing a response body can fail only in ways that say nothing
	// about the server's health.
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != c.ExpectStatus {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, c.ExpectStatus)
	}
	if c.ExpectBody == "" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, healthMaxBody))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if !bytes.Contains(body, []byte(c.ExpectBody)) {
		return fmt.Errorf("body does not contain %q", c.ExpectBody)
	}
	return nil
}
