//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc_director.c: the TC entry point, for interfaces where XDP cannot attach.
 * It runs the same pipeline as xdp_director.c on an skb at the ingress hook
 * (TCX or a clsact direct-action filter) and differs only where an skb does:
 *
 * - headers may sit in the skb's paged part: they are pulled into the linear
 *   part first, since the pipeline reads them through data..data_end; the
 *   payload may stay paged (the IPv4 length is checked against skb->len);
 * - the TCP/UDP checksum may be CHECKSUM_PARTIAL or CHECKSUM_COMPLETE: the
 *   pipeline leaves it to bpf_l4_csum_replace, which knows (struct tc_fix);
 * - the action becomes TC_ACT_OK, TC_ACT_SHOT or bpf_redirect to the next
 *   hop's egress (TC_ACT_REDIRECT), also when that is the ingress interface.
 *
 * Built as part of director.c.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "director.h"

/*
 * TC_PULL_LEN covers every header the pipeline reads: Ethernet (14), IPv4
 * with options (60), ICMP (8), the quoted IPv4 header (20) and 18 bytes of
 * its TCP header; TCP and UDP need less.
 */
#define TC_PULL_LEN 120

SEC("tc")
int tc_director(struct __sk_buff *skb)
{
	struct tc_fix fix = {};
	__u32 ifindex = skb->ifindex;
	__u32 out_ifindex = 0;
	__u32 path = PATH_NOT_IPV4;
	__u32 flags, len = skb->len;
	long linear = (long)skb->data_end - (long)skb->data;
	void *data, *data_end;
	enum action act;

	if (linear < TC_PULL_LEN && len > linear)
		bpf_skb_pull_data(skb, len < TC_PULL_LEN ? len : TC_PULL_LEN);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	act = director_process(skb, data, data_end, len, ifindex, &out_ifindex, &path, &fix);
	count_path(path);
	if (fix.csum_off) {
		/* After these calls no packet pointer may be used. */
		flags = fix.udp ? BPF_F_MARK_MANGLED_0 : 0;
		if (bpf_l4_csum_replace(skb, fix.csum_off, fix.old_addr, fix.new_addr,
					flags | BPF_F_PSEUDO_HDR | sizeof(fix.new_addr)) ||
		    bpf_l4_csum_replace(skb, fix.csum_off, fix.old_port, fix.new_port,
					flags | sizeof(fix.new_port)))
			return TC_ACT_SHOT; /* cannot happen: the bytes were just written */
	}
	switch (act) {
	case ACT_REDIRECT:
		return bpf_redirect(out_ifindex, 0);
	case ACT_DROP:
		return TC_ACT_SHOT;
	default:
		return TC_ACT_OK;
	}
}
