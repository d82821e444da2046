/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * parse.h: header parsing shared by the XDP and TC entry points. Parsing never
 * writes; every pointer is checked against data_end before it is used, and
 * what cannot be parsed is reported as an enum pkt_path for the caller to count.
 */
#ifndef DIRECTOR_PARSE_H
#define DIRECTOR_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "types.h"

/* A parsed IPv4 packet. Pointers are into the packet and bounds-checked. */
struct pkt {
	void *data_end;
	struct ethhdr *eth;
	struct iphdr *iph;
	void *l4;       /* TCP, UDP or ICMP header */
	__u32 l4_off;   /* offset of l4 from the start of the frame */
	__be16 sport;   /* TCP/UDP only */
	__be16 dport;   /* TCP/UDP only */
	__u8 proto;
	__u8 tcp_flags; /* TCP only: the flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10) */
	__u8 options;   /* IPv4 header longer than 20 bytes */
	__u8 fragment;  /* MF set or non-zero fragment offset */
	__u8 frag_rest; /* non-zero fragment offset: no L4 header (sport, dport unset) */
};

/* ICMP header; linux/icmp.h is not used because it pulls in libc headers. */
struct icmp_hdr {
	__u8 type;
	__u8 code;
	__u16 checksum; /* over the whole ICMP message */
	__be32 rest;    /* unused for errors, next-hop MTU for fragmentation needed */
};

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* The flags byte of a TCP header (byte 13). */
static __always_inline __u8 tcp_flags_of(struct tcphdr *th)
{
	return ((__u8 *)th)[13];
}

/*
 * parse_ipv4 fills p from data..data_end. It returns -1 with *why set when the
 * packet is not one the director rewrites (the caller passes it and counts
 * *why), 0 otherwise. Fragments and IP options are reported, not refused:
 * whether they matter depends on the service lookup. frame_len is the whole
 * frame's length, which the IPv4 total length must fit in: for XDP it is
 * data_end - data, for an skb its length, of which data..data_end is only
 * the linear part (the headers, which is all the pipeline touches).
 */
static __always_inline int parse_ipv4(void *data, void *data_end, __u32 frame_len, struct pkt *p,
				      __u32 *why)
{
	struct ethhdr *eth = data;
	struct iphdr *iph;
	__u32 ihl, tot_len;

	if ((void *)(eth + 1) > data_end) {
		*why = PATH_L3_MALFORMED;
		return -1;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		*why = PATH_NOT_IPV4;
		return -1;
	}
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end) {
		*why = PATH_L3_MALFORMED;
		return -1;
	}
	ihl = iph->ihl;
	if (iph->version != 4 || ihl < 5) {
		*why = PATH_L3_MALFORMED;
		return -1;
	}
	/* tot_len must cover the header and fit in the frame (trailing
	 * Ethernet padding is allowed). The comparison is of numbers, not
	 * packet pointers: the verifier before 6.3 refuses to add a byte-swapped
	 * value to a packet pointer, and an skb's payload may lie beyond
	 * data_end. */
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < ihl * 4 || sizeof(*eth) + tot_len > frame_len) {
		*why = PATH_L3_MALFORMED;
		return -1;
	}
	p->data_end = data_end;
	p->eth = eth;
	p->iph = iph;
	p->proto = iph->protocol;
	p->options = ihl > 5;
	p->fragment = (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
	p->frag_rest = (iph->frag_off & bpf_htons(IP_OFFSET)) != 0;
	p->l4 = (void *)iph + ihl * 4;
	p->l4_off = sizeof(*eth) + ihl * 4;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	/* A first fragment (offset 0) holds the L4 header: parsed as usual. */
	if (p->frag_rest)
		return 0;

	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = p->l4;

		if ((void *)(th + 1) > data_end) {
			*why = PATH_L4_TRUNCATED;
			return -1;
		}
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = tcp_flags_of(th);
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = p->l4;

		if ((void *)(uh + 1) > data_end) {
			*why = PATH_L4_TRUNCATED;
			return -1;
		}
		p->sport = uh->source;
		p->dport = uh->dest;
		return 0;
	}
	case IPPROTO_ICMP:
		if (p->l4 + sizeof(struct icmp_hdr) > data_end) {
			*why = PATH_ICMP_MALFORMED;
			return -1;
		}
		return 0;
	}
	*why = PATH_NOT_TCP_UDP;
	return -1;
}

#endif /* DIRECTOR_PARSE_H */
