//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_director.c: the XDP entry point. It runs the NAT pipeline of
 * director.h, counts the path (which implies the verdict), and turns the pipeline's
 * action into an XDP return code: XDP_TX when the next hop is out of the
 * interface the packet came in on, bpf_redirect otherwise. Built as part of
 * director.c.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "director.h"

SEC("xdp")
int xdp_director(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 out_ifindex = 0;
	__u32 path = PATH_NOT_IPV4;
	enum action act;

	act = director_process(ctx, data, data_end, ctx->data_end - ctx->data, ifindex, &out_ifindex,
			       &path, 0);
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
