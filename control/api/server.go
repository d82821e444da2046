// Package api is the control API of a running director: JSON over HTTP on
// a unix socket that only root may use, the client the command line uses,
// and the command line's human output, laid out as ipvsadm's.
//
//	GET  /v1/status   model.Status
//	GET  /v1/flows    []model.Flow
//	POST /v1/reload   re-read the configuration file; 422 with the problems if it is refused
//	POST /v1/stop     remove the data plane and exit
//	POST /v1/ipvsadm, GET /v1/services: live changes (live.go)
//
// The socket is root-only (see Listen), so the API itself has no
// authentication. The API changes nothing itself: every request is handed
// to the daemon through Backend.
package api

import (
	"encoding/json"
	"net/http"

	"github.com/director-lb/director/control/model"
)

// Backend is what the API serves: the daemon.
type Backend interface {
	// Status gathers what `director status` shows.
	Status() model.Status
	// Flows lists the tracked connections.
	Flows() ([]model.Flow, error)
	// Reload applies the configuration file again; the error says why
	// it was refused (the running configuration stays).
	Reload() error
	// Stop removes the data plane.
	Stop() error
	// Stopped is called once the answer to a successful Stop has been
	// written: the daemon may exit.
	Stopped()
	// LiveBackend: director ipvsadm's live changes (live.go).
	LiveBackend
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// The status is already sent, so an error here (the client went away;
	// the API's values are all encodable) has no one left to tell: the
	// client sees a short answer and says so.
	_ = json.NewEncoder(w).Encode(v)
}

// Handler serves the API of b.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Status())
	})
	mux.HandleFunc("GET /v1/flows", func(w http.ResponseWriter, r *http.Request) {
		flows, err := b.Flows()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
			return
		}
		if flows == nil {
			flows = []model.Flow{}
		}
		writeJSON(w, http.StatusOK, flows)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := b.Reload(); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, apiError{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, r *http.Request) {
		if err := b.Stop(); err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
		b.Stopped()
	})
	liveHandlers(mux, b)
	return mux
}
