// Package bpf holds the director's eBPF programs (C sources in this folder),
// their bpf2go-generated Go bindings (committed, so building needs no clang)
// and typed wrappers around the maps, so that callers never hold an
// *ebpf.Map.
package bpf

// The pinned clang is clang-19 from Debian bookworm (package clang-19); see
// the Makefile's generate target. -type writes the Go mirror of every shared
// struct, so none is written by hand.
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type svc_key -type svc_value -type real -type flow_key -type flow -type traffic_stats -type dp_config -type state_meta -type pkt_path -type flow_dir -type flow_state -type addr_flags -type ct_event -type frag_key -type frag -type frag_verdict -type conn_counts -type conn_adj -type persist_key -type persist_tmpl -type sched_kind -type sched_flags director director.c
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type redirect_if redirect redirect.c
