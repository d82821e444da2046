package api

// Live changes (director ipvsadm):
//
//	POST /v1/ipvsadm    an ipvsadm.Command applied at once; 422 with ipvsadm's message and exit status if refused
//	GET  /v1/services   the running services (the file's, with the live changes), timeouts and rates

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/director-lb/director/control/ipvsadm"
	"github.com/director-lb/director/control/model"
)

// LiveBackend is what the live endpoints need of the daemon.
type LiveBackend interface {
	// Live applies one ipvsadm change; a refusal is an *ipvsadm.Error and
	// changes nothing.
	Live(c *ipvsadm.Command) error
	// Services returns the running services and timeouts.
	Services() ([]model.Service, model.Timeouts)
	// Rates returns the estimator's rates (ipvsadm --rate).
	Rates() []model.ServiceRates
	// Zeroed returns the counters at each service's last ipvsadm -Z.
	Zeroed() []model.ServiceStatus
}

// liveError is a refused live change: ipvsadm's message and status.
type liveError struct {
	Error string `json:"error"`
	Code  int    `json:"exit_code"`
}

// Table is GET /v1/services's answer.
type Table struct {
	Services []model.Service      `json:"services"`
	Timeouts model.Timeouts       `json:"timeouts"`
	Rates    []model.ServiceRates `json:"rates"`
	// Zeroed are the counters at each service's last -Z, which
	// listings subtract.
	Zeroed []model.ServiceStatus `json:"zeroed"`
}

func liveHandlers(mux *http.ServeMux, b LiveBackend) {
	mux.HandleFunc("POST /v1/ipvsadm", func(w http.ResponseWriter, r *http.Request) {
		var c ipvsadm.Command
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&c); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{"decode the command: " + err.Error()})
			return
		}
		if err := b.Live(&c); err != nil {
			e := liveError{Error: err.Error() + "\n", Code: 255}
			var ie *ipvsadm.Error
			if errors.As(err, &ie) {
				e = liveError{Error: ie.Msg, Code: ie.Code}
			}
			writeJSON(w, http.StatusUnprocessableEntity, e)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("GET /v1/services", func(w http.ResponseWriter, r *http.Request) {
		s, t := b.Services()
		if s == nil {
			s = []model.Service{}
		}
		writeJSON(w, http.StatusOK, Table{Services: s, Timeouts: t, Rates: b.Rates(), Zeroed: b.Zeroed()})
	})
}

// Live sends one ipvsadm change; a refusal is an *ipvsadm.Error with
// ipvsadm's message and exit status.
func (c *Client) Live(ctx context.Context, cmd *ipvsadm.Command) error {
	body, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://director/v1/ipvsadm", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the director at %s: %w", c.socket, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read the director's answer: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e liveError
	if json.Unmarshal(data, &e) == nil && e.Code != 0 {
		return &ipvsadm.Error{Msg: e.Error, Code: e.Code}
	}
	return fmt.Errorf("director answered %s: %s", resp.Status, bytes.TrimSpace(data))
}

// Services fetches the running services and timeouts.
func (c *Client) Services(ctx context.Context) (Table, error) {
	var t Table
	err := c.do(ctx, http.MethodGet, "/v1/services", &t)
	return t, err
}
