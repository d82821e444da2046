package daemon

// Choosing and opening the daemon's data plane. The daemon drives the
// dataplane.Dataplane port only; what only some implementations have
// (interfaces attached to, the IPVS sync daemon's role, a flow table for
// conntrack sync) it asks for through the port's capability interfaces.
//
// Selection, from the configuration's dataplane key:
//   - xdp, xdp-generic: the BPF program, in that attach mode, or an error;
//   - ipvs: kernel IPVS, or an error saying why the kernel cannot do it;
//   - tc: the BPF program on the TC hook (TCX, or clsact; tc_attach);
//   - auto: the BPF program (the loader tries, per interface, XDP native,
//     then generic, then TC, and reports why each better one failed; on a
//     veth or tun/tap, where XDP can lose packets, it goes straight to TC
//     and says so);
//     only when it cannot load at all (the kernel lacks what it needs, or
//     loading fails) kernel IPVS, and the reason is reported in status.
//     Pinned state of another layout, or another director holding this
//     node's state, are errors and no reason to fall back: IPVS would then
//     run next to a BPF program still forwarding.

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/dataplane/bpfplane"
	"github.com/director-lb/director/control/dataplane/ipvsplane"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/loader"
)

// loaderMode is the loader's mode of a dataplane key.
func loaderMode(name string) loader.Mode {
	switch name {
	case "xdp":
		return loader.ModeNative
	case "xdp-generic":
		return loader.ModeGeneric
	case "tc":
		return loader.ModeTC
	}
	return loader.ModeAuto
}

// openPlane opens the data plane cfg asks for. fallback is not "" when
// auto fell back to IPVS, and says why.
func openPlane(cfg *model.Config, pinRoot string, log *slog.Logger) (p dataplane.Dataplane, fallback string, err error) {
	if cfg.Dataplane == "ipvs" {
		ip, err := ipvsplane.Open(cfg.IPVS, log)
		if err != nil {
			return nil, "", err
		}
		return ip, "", nil
	}
	dp, err := loader.Open(loader.Options{Node: cfg.Node, PinRoot: pinRoot, Interfaces: interfaces(cfg),
		Mode: loaderMode(cfg.Dataplane), TCAttach: cfg.TCAttach, FlowTableSize: cfg.FlowTableSize})
	if err == nil {
		if n := loader.PinRootNote(); n != "" {
			log.Info("pinned state in the host's bpffs", "why", n, "pinned", dp.Dir())
		}
		for _, w := range dp.Warnings {
			log.Warn("data plane may lose packets", "warning", w)
		}
		return bpfplane.Wrap(dp), "", nil
	}
	if cfg.Dataplane != "auto" || errors.Is(err, loader.ErrBusy) || errors.Is(err, loader.ErrIncompatible) {
		return nil, "", fmt.Errorf("open data plane: %w", err)
	}
	fallback = "BPF cannot load: " + err.Error()
	log.Warn("the BPF data plane cannot load; trying kernel IPVS", "error", err)
	ip, ierr := ipvsplane.Open(cfg.IPVS, log)
	if ierr != nil {
		return nil, "", fmt.Errorf("open data plane: BPF: %w; IPVS: %w", err, ierr)
	}
	return ip, fallback, nil
}
