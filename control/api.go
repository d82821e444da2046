package control

// The control API: JSON over HTTP on the daemon's unix socket, and the
// client the command line uses. The socket is root-only (see
// listenControl), so the API itself has no authentication.
//
//	GET  /v1/status   Status
//	GET  /v1/flows    []Flow
//	POST /v1/reload   re-read the configuration file; 422 with the problems if it is refused
//	POST /v1/stop     remove the data plane and exit

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
)

// DefaultSocketDir holds the daemons' control sockets, <node>.sock.
const DefaultSocketDir = "/run/director"

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (d *Daemon) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.Status())
	})
	mux.HandleFunc("GET /v1/flows", func(w http.ResponseWriter, r *http.Request) {
		flows, err := d.plane.Flows()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
			return
		}
		if flows == nil {
			flows = []Flow{}
		}
		writeJSON(w, http.StatusOK, flows)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Reload(); err != nil {
			d.log.Error("reload rejected; the running configuration stays", "error", err)
			writeJSON(w, http.StatusUnprocessableEntity, apiError{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, r *http.Request) {
		if err := d.removeDataplane(); err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
			return
		}
		d.log.Info("data plane removed by director stop")
		writeJSON(w, http.StatusOK, struct{}{})
		d.stopOnce.Do(func() { close(d.stop) })
	})
	return mux
}

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
		dir = DefaultSocketDir
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
	defer resp.Body.Close()
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
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/v1/status", &s)
	return s, err
}

// Flows fetches the tracked connections.
func (c *Client) Flows(ctx context.Context) ([]Flow, error) {
	var f []Flow
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
