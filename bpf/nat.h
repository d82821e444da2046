/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nat.h: packet rewriting. DNAT (client -> real server) and SNAT (real server
 * -> VIP) of TCP/UDP with incremental checksums, TTL decrement, next hop from
 * bpf_fib_lookup, and the translation of ICMP errors that quote a tracked
 * flow (outer address, inner header, inner ports and every checksum).
 * ICMP checksums cover the whole message and are never offloaded, so they
 * are updated in place by both entry points.
 */
#ifndef DIRECTOR_NAT_H
#define DIRECTOR_NAT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "csum.h"
#include "parse.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Decrement the TTL, updating the header checksum (RFC 1624: the TTL is the
 * high byte of its 16-bit word). */
static __always_inline void ip_decrease_ttl(struct iphdr *iph)
{
	__u32 check = iph->check;

	check += bpf_htons(0x0100);
	iph->check = (__u16)(check + (check >= 0xffff));
	iph->ttl--;
}

/*
 * struct tc_fix is the part of a rewrite that a TC entry point finishes. An
 * skb's TCP/UDP checksum may be CHECKSUM_PARTIAL (the packet holds only the
 * pseudo-header sum; the device or the stack adds the rest), where the
 * arithmetic of csum.h would corrupt it, and a CHECKSUM_COMPLETE skb carries
 * a sum that must follow the change. Only bpf_l4_csum_replace knows the
 * skb's state, and a helper that may change packet data invalidates every
 * packet pointer, so the pipeline writes the fields, records the change here
 * and leaves the checksum to the entry point, which applies it last. XDP
 * passes NULL: its frames always carry a full checksum.
 */
struct tc_fix {
	__u32 csum_off; /* TCP/UDP checksum from the frame's start; 0: nothing to do */
	__be32 old_addr, new_addr; /* pseudo-header address */
	__be16 old_port, new_port;
	__u8 udp;       /* UDP: a zero checksum means none and stays zero */
};

/* l4_addr_changed updates the TCP or UDP checksum at l4 for an address of the
 * pseudo-header changing from old to new. The caller checked the L4 header. */
static __always_inline void l4_addr_changed(struct pkt *p, __be32 old, __be32 new)
{
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = p->l4;

		if ((void *)(th + 1) <= p->data_end)
			csum_replace4(&th->check, old, new);
	} else {
		struct udphdr *uh = p->l4;

		if ((void *)(uh + 1) <= p->data_end)
			udp_csum_replace4(&uh->check, old, new);
	}
}

/* tc_record fills tc with a rewrite of one address and one port. */
static __always_inline void tc_record(struct tc_fix *tc, struct pkt *p, __be32 old_addr,
				      __be32 new_addr, __be16 old_port, __be16 new_port)
{
	tc->udp = p->proto == IPPROTO_UDP;
	tc->csum_off = p->l4_off + (tc->udp ? __builtin_offsetof(struct udphdr, check)
					    : __builtin_offsetof(struct tcphdr, check));
	tc->old_addr = old_addr;
	tc->new_addr = new_addr;
	tc->old_port = old_port;
	tc->new_port = new_port;
}

/* nat_dst rewrites the destination address and port (DNAT). With tc, the
 * TCP/UDP checksum is left to the caller (see struct tc_fix). */
static __always_inline void nat_dst(struct pkt *p, __be32 addr, __be16 port, struct tc_fix *tc)
{
	struct iphdr *iph = p->iph;
	__be32 old = iph->daddr;

	iph->daddr = addr;
	csum_replace4(&iph->check, old, addr);
	if (!tc)
		l4_addr_changed(p, old, addr);
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = p->l4;

		if ((void *)(th + 1) <= p->data_end) {
			if (tc)
				tc_record(tc, p, old, addr, th->dest, port);
			else
				csum_replace2(&th->check, th->dest, port);
			th->dest = port;
		}
	} else {
		struct udphdr *uh = p->l4;

		if ((void *)(uh + 1) <= p->data_end) {
			if (tc)
				tc_record(tc, p, old, addr, uh->dest, port);
			else
				udp_csum_replace2(&uh->check, uh->dest, port);
			uh->dest = port;
		}
	}
}

/* nat_src rewrites the source address and port (SNAT), as nat_dst. */
static __always_inline void nat_src(struct pkt *p, __be32 addr, __be16 port, struct tc_fix *tc)
{
	struct iphdr *iph = p->iph;
	__be32 old = iph->saddr;

	iph->saddr = addr;
	csum_replace4(&iph->check, old, addr);
	if (!tc)
		l4_addr_changed(p, old, addr);
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = p->l4;

		if ((void *)(th + 1) <= p->data_end) {
			if (tc)
				tc_record(tc, p, old, addr, th->source, port);
			else
				csum_replace2(&th->check, th->source, port);
			th->source = port;
		}
	} else {
		struct udphdr *uh = p->l4;

		if ((void *)(uh + 1) <= p->data_end) {
			if (tc)
				tc_record(tc, p, old, addr, uh->source, port);
			else
				udp_csum_replace2(&uh->check, uh->source, port);
			uh->source = port;
		}
	}
}

/* Result of a next-hop lookup. */
struct hop {
	__u32 ifindex;
	__u8 smac[ETH_ALEN];
	__u8 dmac[ETH_ALEN];
};

/*
 * next_hop asks the kernel's FIB where a packet from src to dst, arriving on
 * ifindex, goes. Returns 0 with *h filled, PATH_NO_NEIGH when the route exists
 * but the neighbour is unresolved, or a drop reason. For an skb (tc set) the
 * MTU is checked by the kernel against the skb itself: a GRO super-packet's
 * IP total length exceeds the MTU, yet it leaves as segments that fit.
 */
static __always_inline __u32 next_hop(void *ctx, struct pkt *p, __u32 ifindex, __be32 src,
				      __be32 dst, struct hop *h, struct tc_fix *tc)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	fib.family = AF_INET;
	fib.tos = p->iph->tos;
	fib.l4_protocol = p->proto;
	fib.tot_len = tc ? 0 : bpf_ntohs(p->iph->tot_len);
	fib.ipv4_src = src;
	fib.ipv4_dst = dst;
	fib.ifindex = ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		h->ifindex = fib.ifindex;
		__builtin_memcpy(h->smac, fib.smac, ETH_ALEN);
		__builtin_memcpy(h->dmac, fib.dmac, ETH_ALEN);
		return 0;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return PATH_NO_NEIGH;
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return PATH_FWD_DISABLED;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return PATH_FRAG_NEEDED;
	default:
		return PATH_NO_ROUTE;
	}
}

/* set_macs writes the next hop's addresses into the Ethernet header. */
static __always_inline void set_macs(struct pkt *p, const struct hop *h)
{
	__builtin_memcpy(p->eth->h_source, h->smac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_dest, h->dmac, ETH_ALEN);
}

/* The packet quoted by an ICMP error: its IPv4 header (no options) and the
 * first 8 bytes of its TCP/UDP header, which hold both ports. */
struct icmp_quote {
	struct icmp_hdr *icmp;
	struct iphdr *iph;
	__be16 *ports; /* ports[0] = source, ports[1] = destination */
	__u16 *l4_check; /* inner TCP/UDP checksum, NULL if not quoted */
};

/* parse_icmp_error finds the quoted packet of an ICMP destination-unreachable
 * or time-exceeded message. Returns 0, or an enum pkt_path for the caller. */
static __always_inline __u32 parse_icmp_error(struct pkt *p, struct icmp_quote *q)
{
	struct icmp_hdr *icmp = p->l4;
	struct iphdr *in;
	void *l4;

	if ((void *)(icmp + 1) > p->data_end)
		return PATH_ICMP_MALFORMED;
	if (icmp->type != ICMP_DEST_UNREACH && icmp->type != ICMP_TIME_EXCEEDED)
		return PATH_ICMP_OTHER;
	in = (void *)(icmp + 1);
	if ((void *)(in + 1) > p->data_end)
		return PATH_ICMP_MALFORMED;
	if (in->version != 4 || in->ihl != 5)
		return PATH_ICMP_MALFORMED;
	if (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP)
		return PATH_ICMP_OTHER;
	l4 = (void *)(in + 1);
	if (l4 + 8 > p->data_end)
		return PATH_ICMP_MALFORMED;
	q->icmp = icmp;
	q->iph = in;
	q->ports = l4;
	q->l4_check = 0;
	if (in->protocol == IPPROTO_UDP) {
		q->l4_check = l4 + 6;
	} else if (l4 + 18 <= p->data_end) {
		q->l4_check = l4 + 16;
	}
	return 0;
}

/*
 * icmp_quote_rewrite changes one address and one port of the quoted packet,
 * keeping the inner IP checksum, the inner TCP/UDP checksum (when quoted)
 * and the ICMP checksum correct. src selects the quoted source (1) or
 * destination (0).
 */
static __always_inline void icmp_quote_rewrite(struct pkt *p, struct icmp_quote *q, int src,
					       __be32 addr, __be16 port)
{
	struct iphdr *in = q->iph;
	struct icmp_hdr *icmp = q->icmp;
	__be32 *a = src ? &in->saddr : &in->daddr;
	__be16 *pp = src ? &q->ports[0] : &q->ports[1];
	__be32 old_addr = *a;
	__be16 old_port = *pp;
	__u16 old_check = in->check;

	if ((void *)(q->ports + 2) > p->data_end)
		return;

	*a = addr;
	csum_replace4(&icmp->checksum, old_addr, addr);
	csum_replace4(&in->check, old_addr, addr);
	csum_replace2(&icmp->checksum, old_check, in->check);

	*pp = port;
	csum_replace2(&icmp->checksum, old_port, port);

	if (q->l4_check && (void *)(q->l4_check + 1) <= p->data_end) {
		__u16 *c = q->l4_check;
		__u16 old = *c;

		if (in->protocol == IPPROTO_UDP) {
			udp_csum_replace4(c, old_addr, addr);
			udp_csum_replace2(c, old_port, port);
		} else {
			csum_replace4(c, old_addr, addr);
			csum_replace2(c, old_port, port);
		}
		csum_replace2(&icmp->checksum, old, *c);
	}
}

#endif /* DIRECTOR_NAT_H */
