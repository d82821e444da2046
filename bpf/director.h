/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * director.h: the NAT pipeline, independent of the attach point. An entry
 * point (xdp_director.c, tc_director.c) hands it the packet and gets back an
 * action, the egress interface and the enum pkt_path that says what
 * happened; it then counts the path and converts the action to its hook's
 * return code. The one difference between the hooks inside the pipeline is
 * the struct tc_fix pointer (NULL for XDP): how TCP/UDP checksums are
 * updated and how the MTU is checked (see nat.h).
 *
 * One program serves both interfaces: a packet is classified by the flow
 * table (forward or reply entry) and the services map, not by where it came
 * in, so the same object also works one-armed.
 */
#ifndef DIRECTOR_DIRECTOR_H
#define DIRECTOR_DIRECTOR_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"
#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "nat.h"
#include "conntrack.h"

enum action {
	ACT_PASS = 0,
	ACT_DROP = 1,
	ACT_REDIRECT = 2, /* out of *out_ifindex (may be the ingress interface) */
};

static __always_inline void count_path(__u32 path)
{
	__u64 *c = bpf_map_lookup_elem(&path_stats, &path);

	if (c)
		*c += 1;
}

static __always_inline void count_traffic(__u32 real_id, int in, __u32 bytes, int new_conn)
{
	struct traffic_stats *r = bpf_map_lookup_elem(&real_stats, &real_id);

	if (!r)
		return;
	if (in) {
		r->pkts_in++;
		r->bytes_in += bytes;
		r->conns += new_conn;
	} else {
		r->pkts_out++;
		r->bytes_out += bytes;
	}
}

/* addr_has reports whether addr is in the addrs map with flag set. */
static __always_inline int addr_has(__be32 addr, __u32 flag)
{
	__u32 *f = bpf_map_lookup_elem(&addrs, &addr);

	return f && (*f & flag);
}

/*
 * resolve_hop makes sure f caches the next hop of its direction. A cached
 * hop is used for a second (one `second` of jiffies); then the kernel's FIB
 * is asked again, with the post-NAT addresses and before the packet is
 * touched, so a dropped packet leaves the director unmodified. Toward a
 * real server the hop is also cached in its reals entry (r), so that new
 * connections seldom pay for a FIB lookup. Returns 0, PATH_NO_NEIGH (route
 * found, neighbour unresolved) or a drop reason.
 */
static __always_inline __u32 resolve_hop(void *ctx, struct pkt *p, __u32 ifindex, struct flow *f,
					 struct real *r, __u64 now, __u64 second,
					 struct tc_fix *tc)
{
	struct hop h = {};
	__be32 src = p->iph->saddr, dst = p->iph->daddr;
	__u32 rc;

	if (f->hop_ifindex && now - f->hop_time <= second)
		return 0;
	if (f->dir == FLOW_FORWARD && r && r->hop_ifindex && now - r->hop_time <= second) {
		f->hop_ifindex = r->hop_ifindex;
		__builtin_memcpy(f->hop_smac, r->hop_smac, ETH_ALEN);
		__builtin_memcpy(f->hop_dmac, r->hop_dmac, ETH_ALEN);
		f->hop_time = r->hop_time;
		return 0;
	}
	if (f->dir == FLOW_FORWARD)
		dst = f->nat_addr;
	else
		src = f->nat_addr;
	rc = next_hop(ctx, p, ifindex, src, dst, &h, tc);
	if (rc) {
		f->hop_ifindex = 0;
		return rc;
	}
	f->hop_ifindex = h.ifindex;
	__builtin_memcpy(f->hop_smac, h.smac, ETH_ALEN);
	__builtin_memcpy(f->hop_dmac, h.dmac, ETH_ALEN);
	f->hop_time = now;
	if (f->dir == FLOW_FORWARD && r) {
		r->hop_ifindex = h.ifindex;
		__builtin_memcpy(r->hop_smac, h.smac, ETH_ALEN);
		__builtin_memcpy(r->hop_dmac, h.dmac, ETH_ALEN);
		r->hop_time = now;
	}
	return 0;
}

/*
 * emit_packet rewrites a TCP/UDP packet of connection f (DNAT forward, SNAT
 * reply), counts it, and sends it to the cached next hop, or to the stack
 * when the neighbour is unresolved (hop_rc == PATH_NO_NEIGH).
 */
static __always_inline enum action emit_packet(struct pkt *p, const struct flow *f, __u32 hop_rc,
					       int new_conn, __u32 *out_ifindex, __u32 *path,
					       struct tc_fix *tc)
{
	struct iphdr *iph = p->iph;
	__u32 bytes = bpf_ntohs(iph->tot_len);

	if (f->dir == FLOW_FORWARD) {
		nat_dst(p, f->nat_addr, f->nat_port, tc);
		count_traffic(f->real_id, 1, bytes, new_conn);
	} else {
		nat_src(p, f->nat_addr, f->nat_port, tc);
		count_traffic(f->real_id, 0, bytes, 0);
	}
	if (hop_rc == PATH_NO_NEIGH) {
		/* The kernel forwards it (and decrements the TTL) once
		 * it has resolved the neighbour. */
		*path = PATH_NO_NEIGH;
		return ACT_PASS;
	}
	ip_decrease_ttl(iph);
	__builtin_memcpy(p->eth->h_source, f->hop_smac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_dest, f->hop_dmac, ETH_ALEN);
	*out_ifindex = f->hop_ifindex;
	if (new_conn)
		*path = PATH_NEW_FLOW;
	else
		*path = f->dir == FLOW_FORWARD ? PATH_FORWARD : PATH_REPLY;
	return ACT_REDIRECT;
}

/* flow_real returns the real server of flow f, or NULL if it was removed. */
static __always_inline struct real *flow_real(const struct flow *f)
{
	__u32 id = f->real_id;
	struct real *r = bpf_map_lookup_elem(&reals, &id);

	return r && r->gen == f->real_gen ? r : 0;
}

/*
 * handle_icmp translates an ICMP error that quotes a tracked flow. The quoted
 * packet travelled in the opposite direction of the error, so the key of the
 * quoted packet's reverse is looked up: a forward entry means the error is
 * about a reply we sent to the client (send it to the real server, as IPVS
 * does), a reply entry means it is about a packet we sent to the real server
 * (send it to the client, outer source rewritten to the VIP).
 */
static __always_inline enum action handle_icmp(void *ctx, struct pkt *p, __u32 ifindex,
					       __u32 *out_ifindex, __u32 *path,
					       struct tc_fix *tc)
{
	struct icmp_quote q = {};
	struct flow_key k = {};
	struct iphdr *iph = p->iph;
	struct flow *f;
	struct hop h = {};
	__be32 src, dst, old;
	__u32 rc;
	int half;

	rc = parse_icmp_error(p, &q);
	if (rc) {
		*path = rc;
		return ACT_PASS;
	}
	if ((void *)(q.ports + 2) > p->data_end) {
		*path = PATH_ICMP_MALFORMED;
		return ACT_PASS;
	}
	k.saddr = q.iph->daddr;
	k.daddr = q.iph->saddr;
	k.sport = q.ports[1];
	k.dport = q.ports[0];
	k.proto = q.iph->protocol;
	f = flow_lookup(&k, &half);
	if (!f || !flow_real(f)) {
		*path = PATH_ICMP_OTHER;
		return ACT_PASS;
	}
	if (p->fragment || p->options) {
		*path = p->fragment ? PATH_FRAGMENT : PATH_IP_OPTIONS;
		return ACT_DROP;
	}
	if (iph->ttl <= 1) {
		*path = PATH_TTL_EXCEEDED;
		return ACT_DROP;
	}
	src = iph->saddr;
	dst = iph->daddr;
	if (f->dir == FLOW_FORWARD)
		dst = f->nat_addr; /* to the real server */
	else
		src = f->nat_addr; /* from the VIP, to the client */
	rc = next_hop(ctx, p, ifindex, src, dst, &h, tc);
	if (rc && rc != PATH_NO_NEIGH) {
		*path = rc;
		return ACT_DROP;
	}
	if (f->dir == FLOW_FORWARD) {
		old = iph->daddr;
		iph->daddr = dst;
		csum_replace4(&iph->check, old, dst);
		/* quoted packet: VIP:vport -> client becomes RIP:rport -> client */
		icmp_quote_rewrite(p, &q, 1, f->nat_addr, f->nat_port);
	} else {
		old = iph->saddr;
		iph->saddr = src;
		csum_replace4(&iph->check, old, src);
		/* quoted packet: client -> RIP:rport becomes client -> VIP:vport */
		icmp_quote_rewrite(p, &q, 0, f->nat_addr, f->nat_port);
	}
	if (rc == PATH_NO_NEIGH) {
		*path = PATH_NO_NEIGH;
		return ACT_PASS;
	}
	ip_decrease_ttl(iph);
	set_macs(p, &h);
	*out_ifindex = h.ifindex;
	*path = f->dir == FLOW_FORWARD ? PATH_ICMP_TO_REAL : PATH_ICMP_TO_CLIENT;
	return ACT_REDIRECT;
}

/* FRAG_TTL is how long (seconds) the first fragment's decision holds for
 * the rest of its datagram: the kernel's own reassembly timeout
 * (net.ipv4.ipfrag_time). */
#define FRAG_TTL 30

/*
 * frag_remember records, after the first fragment of a datagram (the one
 * with the ports) went through the pipeline, what its other fragments must
 * do: follow the flow it was NATed by (key k), or pass as it did. A dropped
 * first fragment leaves nothing: the rest is dropped (service traffic) or
 * passed (other traffic) by handle_frag_rest.
 */
static __always_inline void frag_remember(struct pkt *p, const struct flow_key *k, enum action act,
					  __u32 path)
{
	struct frag_key fk = {};
	struct frag v = {};

	if (act == ACT_REDIRECT || path == PATH_NO_NEIGH)
		v.verdict = FRAG_FOLLOW;
	else if (act == ACT_PASS)
		v.verdict = FRAG_PASS;
	else
		return;
	/* The addresses as they arrived (the pipeline may have rewritten
	 * them); NAT leaves the id alone. */
	fk.saddr = k->saddr;
	fk.daddr = k->daddr;
	fk.id = p->iph->id;
	fk.proto = p->proto;
	v.flow = *k;
	v.seen = bpf_jiffies64();
	bpf_map_update_elem(&frags, &fk, &v, BPF_ANY);
}

/*
 * handle_frag_rest handles a fragment after the first: it has no ports, so
 * it does what its datagram's first fragment did (frags). Following a flow,
 * only the IP address is rewritten (the TCP/UDP checksum, in the first
 * fragment, already covers the whole datagram) and the fragment goes to the
 * flow's next hop. Without a record, a TCP or UDP fragment to a VIP or from a
 * real server is dropped and counted (its first fragment has not been seen:
 * out of order, or recycled); anything else passes, as ICMP to the VIP does
 * (the kernel reassembles and answers a large ping itself).
 */
static __always_inline enum action handle_frag_rest(void *ctx, struct pkt *p, __u32 ifindex,
						    __u32 *out_ifindex, __u32 *path,
						    struct tc_fix *tc)
{
	struct iphdr *iph = p->iph;
	struct frag_key fk = {};
	struct frag *fr;
	struct flow *f;
	struct real *r;
	__u64 now = bpf_jiffies64(), second = hz(dp_config());
	__be32 old;
	__u32 rc;
	int half;

	fk.saddr = iph->saddr;
	fk.daddr = iph->daddr;
	fk.id = iph->id;
	fk.proto = p->proto;
	fr = bpf_map_lookup_elem(&frags, &fk);
	if (fr && now - fr->seen > FRAG_TTL * second)
		fr = 0;
	if (!fr) {
		if ((p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) &&
		    (addr_has(iph->daddr, ADDR_VIP) || addr_has(iph->saddr, ADDR_REAL))) {
			*path = PATH_FRAGMENT;
			return ACT_DROP;
		}
		*path = PATH_FRAGMENT_PASS;
		return ACT_PASS;
	}
	if (fr->verdict != FRAG_FOLLOW) {
		*path = PATH_FRAGMENT_PASS;
		return ACT_PASS;
	}
	f = flow_lookup(&fr->flow, &half);
	r = f ? flow_real(f) : 0;
	if (!f || !r) {
		*path = PATH_FRAGMENT;
		return ACT_DROP;
	}
	if (p->options) {
		*path = PATH_IP_OPTIONS;
		return ACT_DROP;
	}
	if (iph->ttl <= 1) {
		*path = PATH_TTL_EXCEEDED;
		return ACT_DROP;
	}
	rc = resolve_hop(ctx, p, ifindex, f, r, now, second, tc);
	if (rc && rc != PATH_NO_NEIGH) {
		*path = rc;
		return ACT_DROP;
	}
	if (f->dir == FLOW_FORWARD) {
		old = iph->daddr;
		iph->daddr = f->nat_addr;
		csum_replace4(&iph->check, old, f->nat_addr);
		count_traffic(f->real_id, 1, bpf_ntohs(iph->tot_len), 0);
	} else {
		old = iph->saddr;
		iph->saddr = f->nat_addr;
		csum_replace4(&iph->check, old, f->nat_addr);
		count_traffic(f->real_id, 0, bpf_ntohs(iph->tot_len), 0);
	}
	if (rc == PATH_NO_NEIGH) {
		*path = PATH_NO_NEIGH;
		return ACT_PASS;
	}
	ip_decrease_ttl(iph);
	__builtin_memcpy(p->eth->h_source, f->hop_smac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_dest, f->hop_dmac, ETH_ALEN);
	*out_ifindex = f->hop_ifindex;
	*path = PATH_FRAGMENT_FORWARD;
	return ACT_REDIRECT;
}

/*
 * peer_forward hands a packet this node has no flow for to the peer
 * director of an HA pair, at layer 2, while a handover window is open
 * (dp_config.peer_forward): during a planned move both directors forward,
 * and a connection opened then may have its SYN on one node and its next
 * packet (the client's ACK, the real server's SYN-ACK) on the other, whose
 * ARP entry moved in between. Only the Ethernet addresses change (the
 * peer's MAC on this link, this interface's MAC as source); the TTL is
 * left alone, the peer forwards it. A frame from the peer's MAC is never
 * sent back: it takes the path it would take outside the window, so a
 * packet neither node knows ends where it ends today. from_real asks for
 * one more check: a real server's packet to one of this node's own
 * addresses (a health check's reply) stays here. Returns 1 when sent.
 */
static __always_inline int peer_forward(void *ctx, struct pkt *p, __u32 ifindex, int from_real,
					__u32 *out_ifindex, __u32 *path)
{
	struct dp_config *c = dp_config();
	struct peer_link *l;
	struct bpf_fib_lookup fib = {};
	__u8 *src = p->eth->h_source;

	/* A first fragment keeps today's path: its other fragments follow
	 * what frag_remember records, which knows no peer. */
	if (!c || !c->peer_forward || p->fragment)
		return 0;
	l = bpf_map_lookup_elem(&peer_links, &ifindex);
	if (!l)
		return 0;
	if (src[0] == l->peer_mac[0] && src[1] == l->peer_mac[1] && src[2] == l->peer_mac[2] &&
	    src[3] == l->peer_mac[3] && src[4] == l->peer_mac[4] && src[5] == l->peer_mac[5])
		return 0;
	if (from_real) {
		if (!addr_has(p->iph->saddr, ADDR_REAL))
			return 0;
		fib.family = AF_INET;
		fib.ipv4_src = p->iph->saddr;
		fib.ipv4_dst = p->iph->daddr;
		fib.ifindex = ifindex;
		/* NOT_FWDED: a local, broadcast or multicast destination. */
		if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_NOT_FWDED)
			return 0;
	}
	__builtin_memcpy(p->eth->h_dest, l->peer_mac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, l->own_mac, ETH_ALEN);
	*out_ifindex = ifindex;
	*path = PATH_PEER_FORWARD;
	return 1;
}

/* process_flow is the pipeline of a TCP/UDP packet with ports (a whole
 * datagram or a first fragment) of flow key k. */
static __always_inline enum action process_flow(void *ctx, struct pkt *pp, const struct flow_key *kp,
						__u32 ifindex, __u32 *out_ifindex, __u32 *path,
						struct tc_fix *tc)
{
	struct pkt p = *pp;
	struct flow_key k = *kp;
	struct svc_key sk = {};
	struct svc_value *svc;
	struct flow *f, nf = {};
	struct real *r;
	__u8 state;
	__u64 now, second;
	__u32 rid = 0, hop_rc;
	int rc, half;

	now = bpf_jiffies64();
	second = hz(dp_config());
	f = flow_lookup(&k, &half);
	if (f && !half && f->dir == FLOW_REPLY && p.proto == IPPROTO_TCP &&
	    (p.tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
		f = flow_syn_ack_takeover(&k, f, &half);
	if (f) {
		int syn_only = p.proto == IPPROTO_TCP &&
			       (p.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;

		if (flow_alive(&k, f, now, half) && !(syn_only && f->state == STATE_FIN)) {
			if (p.options) {
				*path = PATH_IP_OPTIONS;
				return ACT_DROP;
			}
			r = flow_real(f);
			if (!r) {
				*path = PATH_REAL_REMOVED;
				return ACT_DROP;
			}
			state = f->state;
			if (p.proto == IPPROTO_TCP)
				state = tcp_next_state(f->state, f->dir, p.tcp_flags);
			if (half && (state == STATE_ESTABLISHED ||
				     (p.proto == IPPROTO_UDP && f->dir == FLOW_REPLY))) {
				/* Handshake completed, or the real server
				 * replied: the connection is established. */
				f = flow_promote(&k, f, state, now);
				if (!f) {
					*path = PATH_TABLE_FULL;
					return ACT_DROP;
				}
			} else {
				/* A half-open TCP connection's few handshake
				 * packets each touch the twin; a UDP flow
				 * nobody answers may stream, so it touches
				 * its reply entry once a second, with its
				 * last_seen (flow_touch). */
				if (half && (p.proto == IPPROTO_TCP || now - f->last_seen > second))
					half_open_ref_twin(&k, f);
				if (state != f->state)
					flow_set_state(&k, f, state, now, half);
				else
					flow_touch(f, now, second);
			}
			if (p.iph->ttl <= 1) {
				*path = PATH_TTL_EXCEEDED;
				return ACT_DROP;
			}
			rc = resolve_hop(ctx, &p, ifindex, f, r, now, second, tc);
			if (rc && rc != PATH_NO_NEIGH) {
				*path = rc;
				return ACT_DROP;
			}
			return emit_packet(&p, f, rc, 0, out_ifindex, path, tc);
		}
		/* Expired, or a new SYN reusing a closed connection's
		 * tuple: forget it and, for a client packet, schedule anew. */
		flow_forget(&k, f, half);
	}

	sk.vip = k.daddr;
	sk.port = k.dport;
	sk.proto = k.proto;
	svc = bpf_map_lookup_elem(&services, &sk);
	if (!svc) {
		if (peer_forward(ctx, &p, ifindex, 1, out_ifindex, path))
			return ACT_REDIRECT;
		*path = PATH_NO_SERVICE;
		return ACT_PASS;
	}
	if (p.options) {
		*path = PATH_IP_OPTIONS;
		return ACT_DROP;
	}
	if (p.proto == IPPROTO_TCP) {
		if ((p.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN) {
			if (peer_forward(ctx, &p, ifindex, 0, out_ifindex, path))
				return ACT_REDIRECT;
			*path = PATH_TCP_NOT_SYN;
			return ACT_PASS;
		}
		state = STATE_SYN;
	} else {
		state = STATE_UDP;
	}
	if (p.iph->ttl <= 1) {
		*path = PATH_TTL_EXCEEDED;
		return ACT_DROP;
	}
	rc = flow_pick(svc, &k, now, second, &rid, &r);
	if (rc) {
		*path = rc;
		return ACT_DROP;
	}
	nf.nat_addr = r->addr;
	nf.nat_port = r->port;
	nf.dir = FLOW_FORWARD;
	nf.state = state;
	nf.svc_id = svc->id;
	nf.real_id = rid;
	nf.real_gen = r->gen;
	nf.last_seen = now;
	nf.timeout = state_timeout(state);
	rc = resolve_hop(ctx, &p, ifindex, &nf, r, now, second, tc);
	if (rc && rc != PATH_NO_NEIGH) {
		*path = rc;
		return ACT_DROP;
	}
	hop_rc = rc;
	rc = flow_insert(&k, &nf);
	if (rc) {
		*path = rc;
		return ACT_DROP;
	}
	return emit_packet(&p, &nf, hop_rc, 1, out_ifindex, path, tc);
}

/* director_process is the whole pipeline for one packet, whose headers are
 * at data..data_end and whose length is frame_len (see parse_ipv4). tc is
 * NULL for XDP; from TC it receives the TCP/UDP checksum update to apply. */
static __always_inline enum action director_process(void *ctx, void *data, void *data_end,
						    __u32 frame_len, __u32 ifindex,
						    __u32 *out_ifindex, __u32 *path,
						    struct tc_fix *tc)
{
	struct pkt p = {};
	struct flow_key k = {};
	enum action act;
	__u32 why = 0;

	if (parse_ipv4(data, data_end, frame_len, &p, &why) < 0) {
		*path = why;
		return ACT_PASS;
	}
	if (p.frag_rest)
		return handle_frag_rest(ctx, &p, ifindex, out_ifindex, path, tc);
	if (p.proto == IPPROTO_ICMP)
		return handle_icmp(ctx, &p, ifindex, out_ifindex, path, tc);

	k.saddr = p.iph->saddr;
	k.daddr = p.iph->daddr;
	k.sport = p.sport;
	k.dport = p.dport;
	k.proto = p.proto;
	act = process_flow(ctx, &p, &k, ifindex, out_ifindex, path, tc);
	if (p.fragment)
		frag_remember(&p, &k, act, *path);
	return act;
}

#endif /* DIRECTOR_DIRECTOR_H */
