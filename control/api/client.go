package api

// The client of the control API, for the command line.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/director-lb/director/control/model"
)

// Client talks to a daemon's control socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return &Client{socket: socket, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// FindSocket returns the only control socket in dir, or an error that
// lists them when there are several.
func FindSocket(dir string) (string, error) {
	if dir == "" {
		dir = model.DefaultSocketDir
	}
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	switch len(socks) {
	case 0:
		return "", fmt.Errorf("no director running: no control socket in %s", dir)
	case 1:
		return socks[0], nil
	}
	return "", fmt.Errorf("several directors running (%s): say which with --socket", strings.Join(socks, ", "))
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://director"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the director at %s: %w", c.socket, err)
	}
	// The body is read in full below; closing it can report nothing useful.
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read the director's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("director answered %s", resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("decode the director's answer: %w", err)
		}
	}
	return nil
}

// Status fetches the daemon's status.
func (c *Client) Status(ctx context.Context) (model.Status, error) {
	var s model.Status
	err := c.do(ctx, http.MethodGet, "/v1/status", &s)
	return s, err
}

// Flows fetches the tracked connections.
func (c *Client) Flows(ctx context.Context) ([]model.Flow, error) {
	var f []model.Flow
	err := c.do(ctx, http.MethodGet, "/v1/flows", &f)
	return f, err
}

// Reload asks the daemon to apply its configuration file again; the error
// carries the file's problems when it is refused.
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reload", nil)
}

// Stop asks the daemon to remove the data plane and exit.
func (c *Client) Stop(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/stop", nil)
}
