//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * director.c: the one object bpf2go builds. It holds both entry points, XDP
 * (xdp_director.c) and TC (tc_director.c), so that they share every map: the
 * loader pins one set of maps per node and attaches whichever program the
 * interface can run, and a flow created by one is continued by the other.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdp_director.c"
#include "tc_director.c"

/* Never used at run time: they only make the enums' BTF reach bpf2go's
 * -type, so that the Go constants are generated, not written by hand. */
const enum pkt_path *unused_pkt_path __attribute__((unused));
const enum flow_dir *unused_flow_dir __attribute__((unused));
const enum flow_state *unused_flow_state __attribute__((unused));
const enum addr_flags *unused_addr_flags __attribute__((unused));
const enum ct_event *unused_ct_event __attribute__((unused));
const enum frag_verdict *unused_frag_verdict __attribute__((unused));
const enum sched_kind *unused_sched_kind __attribute__((unused));
const enum sched_flags *unused_sched_flags __attribute__((unused));

char _license[] SEC("license") = "Dual BSD/GPL";
