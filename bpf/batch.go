package bpf

// Reading a whole hash map in batches. Walking one with Map.Iterate costs
// two system calls per entry (next key, then lookup): 0.6 s for 262,144
// flows. BPF_MAP_LOOKUP_BATCH copies thousands of entries per call
// instead. Kernels without it (before 5.6), or map types that refuse it,
// fall back to the entry-by-entry walk.

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// batchEntries is how many entries one batch call asks for. A hash map
// answers ENOSPC when one bucket holds more entries than the batch has
// room for; the batch then doubles.
const batchEntries = 8192

// maxBatchEntries bounds the doubling.
const maxBatchEntries = 1 << 20

// walkBatched calls fn for each entry of m, batch by batch, until fn
// returns false. The slices passed to fn are reused by the next batch.
// Entries changed while the walk runs may be seen or missed, as with
// Map.Iterate, but no entry is seen twice within one walk of an
// unchanged table.
func walkBatched[K, V any](m *ebpf.Map, fn func(keys []K, vals []V) bool) error {
	return walkBatchedFrom(m, batchEntries, fn)
}

// walkBatchedFrom is walkBatched starting with batches of n entries.
func walkBatchedFrom[K, V any](m *ebpf.Map, n int, fn func(keys []K, vals []V) bool) error {
	keys, vals := make([]K, n), make([]V, n)
	var cursor ebpf.MapBatchCursor
	first := true
	for {
		got, err := m.BatchLookup(&cursor, keys, vals, nil)
		switch {
		case errors.Is(err, unix.ENOSPC) && n < maxBatchEntries && got == 0:
			n *= 2
			keys, vals = make([]K, n), make([]V, n)
			continue
		case errors.Is(err, ebpf.ErrNotSupported) && first:
			return walkIterate(m, fn)
		}
		first = false
		if got > 0 && !fn(keys[:got], vals[:got]) {
			return nil
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil // the end of the map
		}
		if err != nil {
			return fmt.Errorf("batch lookup %s: %w", m, err)
		}
	}
}

// walkIterate is walkBatched's fallback: one entry at a time, handed to
// fn as batches of one.
func walkIterate[K, V any](m *ebpf.Map, fn func(keys []K, vals []V) bool) error {
	keys, vals := make([]K, 1), make([]V, 1)
	it := m.Iterate()
	for it.Next(&keys[0], &vals[0]) {
		if !fn(keys, vals) {
			return nil
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate %s: %w", m, err)
	}
	return nil
}
