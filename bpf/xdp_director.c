//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_director.c: the XDP entry point. It runs the NAT pipeline of
 * director.h, counts the path (which implies the verdict), and turns the pipeline's
 * action into an XDP return code: XDP_TX when the next hop is out of the
 * interface the packet came in on, bpf_redirect otherwise.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "director.h"

/* Never used at run time: they only make the enums' BTF reach bpf2go's
 * -type, so that the Go constants are generated, not written by hand. */
const enum pkt_path *unused_pkt_path __attribute__((unused));
const enum flow_dir *unused_flow_dir __attribute__((unused));
const enum flow_state *unused_flow_state __attribute__((unused));
const enum addr_flags *unused_addr_flags __attribute__((unused));

SEC("xdp")
int xdp_director(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 out_ifindex = 0;
	__u32 path = PATH_NOT_IPV4;
	enum action act;

	act = director_process(ctx, data, data_end, ifindex, &out_ifindex, &path);
	count_path(path);
	switch (act) {
	case ACT_REDIRECT:
		if (out_ifindex == ifindex)
			return XDP_TX;
		return bpf_redirect(out_ifindex, 0);
	case ACT_DROP:
		return XDP_DROP;
	default:
		return XDP_PASS;
	}
}

char _license[] SEC("license") = "Dual BSD/GPL";
