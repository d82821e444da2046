package control

// Choosing and opening the daemon's data plane. The daemon drives the
// Dataplane port only; what differs between the implementations around
// it (pinned BPF state, interfaces attached to, what `director stop`
// removes, the IPVS sync daemon) sits behind runningPlane.
//
// Selection, from the configuration's dataplane key:
//   - xdp, xdp-generic: the BPF program, in that attach mode, or an error;
//   - ipvs: kernel IPVS, or an error saying why the kernel cannot do it;
//   - tc: the BPF program on the TC hook (TCX, or clsact; tc_attach);
//   - auto: the BPF program (the loader tries, per interface, XDP native,
//     then generic, then TC, and reports why each better one failed);
//     only when it cannot load at all (the kernel lacks what it needs, or
//     loading fails) kernel IPVS, and the reason is reported in status.
//     Pinned state of another layout, or another director holding this
//     node's state, are errors and no reason to fall back: IPVS would then
//     run next to a BPF program still forwarding.

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/director-lb/director/loader"
)

// runningPlane is a Dataplane as the daemon runs it.
type runningPlane interface {
	Dataplane
	// Attachments lists the interfaces the data plane is attached to
	// (none for IPVS, which hooks the whole network stack).
	Attachments() []InterfaceStatus
	// Describe gives log attributes about how it was opened.
	Describe() []any
	// Fallbacks lists, per interface, the better BPF hooks that could
	// not be used and why (none for IPVS).
	Fallbacks() []DataplaneFallback
	// SetActive tells the data plane whether this node holds the
	// floating addresses (active) or not (standby); without an ha
	// section it is never called.
	SetActive(active bool)
	// Remove removes what the data plane programmed (`director stop`);
	// its tracked connections are lost.
	Remove() error
	// Close releases the daemon's handles and leaves the data plane
	// forwarding (a restart adopts it).
	Close() error
}

// openPlane opens the data plane cfg asks for. fallback is not "" when
// auto fell back to IPVS, and says why.
func openPlane(cfg *Config, pinRoot string, log *slog.Logger) (p runningPlane, fallback string, err error) {
	if cfg.Dataplane == "ipvs" {
		p, err := OpenIPVS(cfg.IPVS, log)
		return p, "", err
	}
	dp, err := loader.Open(loader.Options{Node: cfg.Node, PinRoot: pinRoot, Interfaces: interfaces(cfg),
		Mode: loaderMode(cfg.Dataplane), TCAttach: cfg.TCAttach, FlowTableSize: cfg.FlowTableSize})
	if err == nil {
		return newBPFPlane(dp), "", nil
	}
	if cfg.Dataplane != "auto" || errors.Is(err, loader.ErrBusy) || errors.Is(err, loader.ErrIncompatible) {
		return nil, "", fmt.Errorf("open data plane: %w", err)
	}
	fallback = "BPF cannot load: " + err.Error()
	log.Warn("the BPF data plane cannot load; trying kernel IPVS", "error", err)
	ip, ierr := OpenIPVS(cfg.IPVS, log)
	if ierr != nil {
		return nil, "", fmt.Errorf("open data plane: BPF: %w; IPVS: %w", err, ierr)
	}
	return ip, fallback, nil
}

// bpfPlane is the BPF program and its maps, behind the loader.
type bpfPlane struct {
	*BPFDataplane
	dp *loader.Dataplane
}

func newBPFPlane(dp *loader.Dataplane) *bpfPlane {
	return &bpfPlane{BPFDataplane: NewBPFDataplane(dp.Maps, dp.Mode()), dp: dp}
}

func (b *bpfPlane) Attachments() []InterfaceStatus {
	var out []InterfaceStatus
	for _, a := range b.dp.Attachments {
		out = append(out, InterfaceStatus{Name: a.Interface, Mode: a.Mode})
	}
	return out
}

func (b *bpfPlane) Fallbacks() []DataplaneFallback {
	var out []DataplaneFallback
	for _, f := range b.dp.Fallbacks {
		out = append(out, DataplaneFallback{Interface: f.Interface, Mode: f.Mode, Reason: f.Reason})
	}
	return out
}

func (b *bpfPlane) Describe() []any {
	return []any{"adopted", b.dp.Adopted, "pinned", b.dp.Dir()}
}

// SetActive does nothing: the program runs on both nodes of a pair and
// only the addresses move.
func (b *bpfPlane) SetActive(bool) {}

func (b *bpfPlane) Remove() error { return b.dp.Remove() }
func (b *bpfPlane) Close() error  { return b.dp.Close() }
