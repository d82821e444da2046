package bpf

// The redirect-error counter (redirect.c): its own object, loaded by the
// loader where the kernel has BTF; see RedirectCounter.

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// RedirectObjects are redirect.c's programs and maps (generated).
type RedirectObjects = redirectObjects

// RedirectIf is the key of redirect_ifs.
type RedirectIf = redirectRedirectIf

// LoadRedirectSpec returns redirect.c's collection spec.
func LoadRedirectSpec() (*ebpf.CollectionSpec, error) {
	return loadRedirect()
}

// RedirectErrors sums redirect_errs: frames the director redirected that
// the kernel dropped after the program returned.
func RedirectErrors(m *ebpf.Map) (uint64, error) {
	n, err := sumCounters(m, 1)
	if err != nil {
		return 0, fmt.Errorf("read redirect errors: %w", err)
	}
	return n[0], nil
}
