package loader

// The redirect-error counter: redirect.c's two tracing programs, attached
// by pinned links (trace_redirect_err, trace_devmap_xmit) next to the XDP
// links, and told which interfaces are the director's. It is optional:
// where it cannot load (no kernel BTF), the data plane works without it and
// Dataplane.Warnings says so.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/director-lb/director/bpf"
)

// openRedirectCounter loads, attaches and pins the counter, replacing the
// links an earlier run pinned, and registers the XDP attachments.
func (d *Dataplane) openRedirectCounter() error {
	spec, err := bpf.LoadRedirectSpec()
	if err != nil {
		return fmt.Errorf("load spec: %w", err)
	}
	var objs bpf.RedirectObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: d.dir}}); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	d.redirect = &objs
	for _, p := range []struct {
		name string
		prog *ebpf.Program
	}{{"trace_redirect_err", objs.OnRedirectErr}, {"trace_devmap_xmit", objs.OnDevmapXmit}} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.prog})
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.name, err)
		}
		d.links = append(d.links, l)
		// The old run's link is detached once unpinned (this
		// process holds no handle to it): until then both count,
		// for an instant.
		path := filepath.Join(d.dir, p.name)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unpin %s: %w", path, err)
		}
		if err := l.Pin(path); err != nil {
			return fmt.Errorf("pin %s: %w", path, err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/net", &st); err != nil {
		return fmt.Errorf("stat network namespace: %w", err)
	}
	var k bpf.RedirectIf
	var stale []bpf.RedirectIf
	it := objs.RedirectIfs.Iterate()
	var v uint32
	for it.Next(&k, &v) {
		stale = append(stale, k)
	}
	for _, k := range stale {
		_ = objs.RedirectIfs.Delete(k)
	}
	for _, a := range d.Attachments {
		if !strings.HasPrefix(a.Mode, "xdp") {
			continue
		}
		k := bpf.RedirectIf{Netns: uint32(st.Ino), Ifindex: uint32(a.Ifindex)}
		if err := objs.RedirectIfs.Put(k, uint32(1)); err != nil {
			return fmt.Errorf("register %s: %w", a.Interface, err)
		}
	}
	return nil
}

// RedirectErrors returns the frames the XDP program redirected and the
// kernel dropped after it returned; ok is false without the counter.
func (d *Dataplane) RedirectErrors() (n uint64, ok bool, err error) {
	if d.redirect == nil {
		return 0, false, nil
	}
	n, err = bpf.RedirectErrors(d.redirect.RedirectErrs)
	return n, err == nil, err
}
