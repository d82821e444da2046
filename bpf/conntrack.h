/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * conntrack.h: the flow table. A connection has two entries, one per
 * direction, that can find each other (twin_key), and both live in the same
 * one of two tables: half_open (an LRU) from the first packet until the
 * handshake completes or, for UDP, until the real server first replies;
 * then flows (a plain hash, never recycled). So a SYN flood churns only
 * half-open entries, an established connection is never traded for a new
 * one, and when flows is full a connection completing its handshake is
 * refused (flow_promote). The state machine follows IPVS's coarse TCP
 * states: SYN, ESTABLISHED, FIN (also after RST), and one UDP state, each
 * with its own idle timeout from the config map. A flow whose both entries
 * have been idle longer than their timeout is expired: a new connection
 * with the same tuple is scheduled afresh. Dead entries of flows that no
 * packet revisits are deleted by the control plane's sweep.
 */
#ifndef DIRECTOR_CONNTRACK_H
#define DIRECTOR_CONNTRACK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"
#include "maps.h"
#include "parse.h"
#include "sched.h"

/* HZ assumed until the loader has written dp_config.hz. */
#define FALLBACK_HZ 250ULL

/* dp_config returns the runtime settings (an inlined array lookup). */
static __always_inline struct dp_config *dp_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
}

/* ct_count adds one to flow-table event ev (enum ct_event). */
static __always_inline void ct_count(__u32 ev)
{
	__u64 *c = bpf_map_lookup_elem(&ct_stats, &ev);

	if (c)
		*c += 1;
}

/* ct_lookup returns the entry for k in table half (1: half_open, 0: flows). */
static __always_inline struct flow *ct_lookup(int half, const struct flow_key *k)
{
	if (half)
		return bpf_map_lookup_elem(&half_open, k);
	return bpf_map_lookup_elem(&flows, k);
}

/* ct_delete deletes k from table half, counting what leaves half_open.
 * Returns 0 when this call deleted the entry. */
static __always_inline long ct_delete(int half, const struct flow_key *k)
{
	long err;

	if (!half)
		return bpf_map_delete_elem(&flows, k);
	err = bpf_map_delete_elem(&half_open, k);
	if (err == 0)
		ct_count(CT_HALF_OPEN_REMOVED);
	return err;
}

/* flow_lookup finds the entry for k: in flows first (the established
 * connections, the common case), then in half_open; *half says where. */
static __always_inline struct flow *flow_lookup(const struct flow_key *k, int *half)
{
	struct flow *f = bpf_map_lookup_elem(&flows, k);

	*half = 0;
	if (f)
		return f;
	*half = 1;
	return bpf_map_lookup_elem(&half_open, k);
}

/* hz is jiffies per second. Both last_seen (flow_touch) and the cached next
 * hop (HOP_TTL) are renewed at most once a second: a busy flow does not
 * write its entry, and bounce its cache line between CPUs, on every packet.
 * A flow may therefore live up to a second longer than its timeout. */
static __always_inline __u64 hz(struct dp_config *c)
{
	return c && c->hz ? c->hz : FALLBACK_HZ;
}

static __always_inline __u64 state_timeout(__u8 state)
{
	struct dp_config *c = dp_config();
	__u64 t = 0;

	switch (state) {
	case STATE_SYN:
		t = c ? c->timeout_syn : 0;
		return t ? t : 60 * hz(c);
	case STATE_ESTABLISHED:
		t = c ? c->timeout_est : 0;
		return t ? t : 900 * hz(c);
	case STATE_FIN:
		t = c ? c->timeout_fin : 0;
		return t ? t : 120 * hz(c);
	default:
		t = c ? c->timeout_udp : 0;
		return t ? t : 300 * hz(c);
	}
}

/* twin_key computes the key of the other direction's entry. */
static __always_inline void twin_key(const struct flow_key *k, const struct flow *f,
				     struct flow_key *t)
{
	if (f->dir == FLOW_FORWARD) {
		/* k = (client, vip, cport, vport), nat = (rip, rport) */
		t->saddr = f->nat_addr;
		t->daddr = k->saddr;
		t->sport = f->nat_port;
		t->dport = k->sport;
	} else {
		/* k = (rip, client, rport, cport), nat = (vip, vport) */
		t->saddr = k->daddr;
		t->daddr = f->nat_addr;
		t->sport = k->dport;
		t->dport = f->nat_port;
	}
	t->proto = k->proto;
	t->pad[0] = 0;
	t->pad[1] = 0;
	t->pad[2] = 0;
}

/* flow_idle: f has been idle longer than its timeout at now. Another CPU
 * may have refreshed last_seen after this one read now: the difference is
 * then "negative", and the entry is not idle (an unsigned difference would
 * wrap around and call a busy connection dead). */
static __always_inline int flow_idle(const struct flow *f, __u64 now)
{
	return (__s64)(now - f->last_seen) > (__s64)f->timeout;
}

/* flow_alive reports whether the connection of entry f is still alive: one of
 * its two entries was used within its timeout. Only an idle entry pays for the
 * twin lookup. */
static __always_inline int flow_alive(const struct flow_key *k, struct flow *f, __u64 now, int half)
{
	struct flow_key tk;
	struct flow *twin;

	if (!flow_idle(f, now))
		return 1;
	twin_key(k, f, &tk);
	twin = ct_lookup(half, &tk);
	if (twin && !flow_idle(twin, now)) {
		f->last_seen = now;
		return 1;
	}
	return 0;
}

/* flow_touch refreshes last_seen, at most once a second (second = hz). */
static __always_inline void flow_touch(struct flow *f, __u64 now, __u64 second)
{
	if (now - f->last_seen > second)
		f->last_seen = now;
}

/* tcp_next_state is the state after a TCP packet with flags in direction dir. */
static __always_inline __u8 tcp_next_state(__u8 state, __u8 dir, __u8 flags)
{
	if (flags & (TCP_FIN | TCP_RST))
		return STATE_FIN;
	if (state == STATE_SYN && dir == FLOW_FORWARD && (flags & TCP_ACK) && !(flags & TCP_SYN))
		return STATE_ESTABLISHED;
	return state;
}

/* sync_notify reports the forward key of a connection that was created or
 * changed state, for the conntrack sync of a pair (one ring-buffer write,
 * only when sync is on; the default wake-up policy signals the reader only
 * when it has caught up, so a burst costs one wake-up). */
static __always_inline void sync_notify(const struct flow_key *fk)
{
	struct dp_config *c = dp_config();

	if (c && c->sync_events)
		bpf_ringbuf_output(&sync_events, (void *)fk, sizeof(*fk), 0);
}

/* flow_set_state moves both entries of a connection in table half to state.
 * Only established connections are reported to the sync: a half-open one
 * is not worth a failover (and a flood of them must not reach the peer). */
static __always_inline void flow_set_state(const struct flow_key *k, struct flow *f, __u8 state,
					   __u64 now, int half)
{
	struct flow_key tk;
	struct flow *twin;
	__u64 timeout = state_timeout(state);

	sched_conn_state(f->real_id, f->real_gen, f->state, state);
	f->state = state;
	f->timeout = timeout;
	f->last_seen = now;
	twin_key(k, f, &tk);
	twin = ct_lookup(half, &tk);
	if (twin) {
		twin->state = state;
		twin->timeout = timeout;
		twin->last_seen = now;
	}
	if (!half)
		sync_notify(f->dir == FLOW_FORWARD ? k : &tk);
}

/* flow_forget deletes both entries of a connection in table half. */
static __always_inline void flow_forget(const struct flow_key *k, const struct flow *f, int half)
{
	struct flow_key tk;

	__u32 rid = f->real_id, gen = f->real_gen;
	__u8 state = f->state;

	twin_key(k, f, &tk);
	ct_delete(half, &tk);
	/* Whoever deletes the entry uncounts the connection, once. */
	if (ct_delete(half, k) == 0)
		sched_conn_gone(rid, gen, state);
}

/*
 * flow_syn_ack_takeover is called for a TCP SYN-ACK that found the
 * established reply entry f under k. If a half-open entry exists under the
 * same key, the SYN-ACK answers a new connection whose reply tuple an older
 * connection still holds: the same client address and port to the same
 * real server through another virtual service (see flow_insert). The two
 * cannot both live (the real server sees one tuple for both), so the older
 * connection is forgotten and the half-open entry returned (*half = 1).
 * A half-open entry of the same connection (same VIP:port: another CPU is
 * promoting it, between its inserts into flows and its deletes from
 * half_open) is not a newer connection: f is kept. Only such a SYN-ACK,
 * which is rare, pays for the second lookup.
 */
static __always_inline struct flow *flow_syn_ack_takeover(const struct flow_key *k, struct flow *f,
							  int *half)
{
	struct flow *h = bpf_map_lookup_elem(&half_open, k);

	if (!h || (h->nat_addr == f->nat_addr && h->nat_port == f->nat_port))
		return f;
	flow_forget(k, f, 0);
	*half = 1;
	return h;
}

/*
 * flow_promote moves the half-open connection of entry (k, f) to flows, in
 * state: its handshake completed (TCP) or its real server replied (UDP).
 * Both entries are rebuilt from f, so a twin the LRU recycled is restored;
 * the twin's cached next hop is kept when it is still there. Returns the
 * entry for k in flows, or NULL when flows is full: the connection is then
 * refused (its half-open entries deleted, the caller drops the packet and
 * counts PATH_TABLE_FULL), never made room for.
 */
static __always_inline struct flow *flow_promote(const struct flow_key *k, struct flow *f,
						 __u8 state, __u64 now)
{
	struct flow_key tk;
	struct flow nf = *f, tf = *f, *twin;
	__u8 from = f->state;

	twin_key(k, f, &tk);
	tf.hop_ifindex = 0;
	twin = bpf_map_lookup_elem(&half_open, &tk);
	if (twin)
		tf = *twin;
	/* The twin of a forward entry (c, vip, cport, vport) -> (rip, rport)
	 * is the reply entry (rip, c, rport, cport) -> (vip, vport), and
	 * conversely. */
	tf.nat_addr = f->dir == FLOW_FORWARD ? k->daddr : k->saddr;
	tf.nat_port = f->dir == FLOW_FORWARD ? k->dport : k->sport;
	tf.dir = f->dir == FLOW_FORWARD ? FLOW_REPLY : FLOW_FORWARD;
	tf.svc_id = f->svc_id;
	tf.real_id = f->real_id;
	tf.real_gen = f->real_gen;
	nf.state = state;
	tf.state = state;
	nf.timeout = state_timeout(state);
	tf.timeout = nf.timeout;
	nf.last_seen = now;
	tf.last_seen = now;

	/* The reply entry first, as in flow_insert. BPF_ANY: a stale entry
	 * of an earlier connection with the same tuple is replaced. */
	if (f->dir == FLOW_FORWARD) {
		if (bpf_map_update_elem(&flows, &tk, &tf, BPF_ANY))
			goto refuse;
		if (bpf_map_update_elem(&flows, k, &nf, BPF_ANY)) {
			bpf_map_delete_elem(&flows, &tk);
			goto refuse;
		}
	} else {
		if (bpf_map_update_elem(&flows, k, &nf, BPF_ANY))
			goto refuse;
		if (bpf_map_update_elem(&flows, &tk, &tf, BPF_ANY)) {
			bpf_map_delete_elem(&flows, k);
			goto refuse;
		}
	}
	ct_count(CT_PROMOTED);
	sched_conn_state(nf.real_id, nf.real_gen, from, state);
	ct_delete(1, &tk);
	ct_delete(1, k);
	/* nf, not f: f was the half-open entry just deleted. */
	sync_notify(nf.dir == FLOW_FORWARD ? k : &tk);
	return bpf_map_lookup_elem(&flows, k);
refuse:
	ct_delete(1, &tk);
	if (ct_delete(1, k) == 0)
		sched_conn_gone(nf.real_id, nf.real_gen, from);
	return 0;
}

/*
 * flow_pick schedules a new connection k of service svc with the service's
 * scheduler (sched.h) and returns the real server's id and slot. Returns 0
 * or an enum pkt_path drop reason.
 */
static __always_inline int flow_pick(struct svc_value *svc, const struct flow_key *k, __u64 now,
				     __u64 second, __u32 *rid, struct real **out)
{
	return sched_pick(svc, k, now, second, rid, out);
}

/* half_open_ref_twin looks up the twin of half-open entry (k, f), only for
 * the LRU's reference bit: a connection that has seen packets in both
 * directions (a SYN and its SYN-ACK) then ranks above entries that saw one
 * packet (a spoofed SYN nobody answers), which the LRU recycles first. */
static __always_inline void half_open_ref_twin(const struct flow_key *k, const struct flow *f)
{
	struct flow_key tk;

	twin_key(k, f, &tk);
	bpf_map_lookup_elem(&half_open, &tk);
}

/* half_open_add adds entry (k, f) to half_open; an entry already there for k
 * (an orphan of a recycled connection) is replaced. The LRU makes room by
 * recycling its oldest entry, so this fails only on a kernel error. */
static __always_inline int half_open_add(const struct flow_key *k, const struct flow *f)
{
	if (bpf_map_update_elem(&half_open, k, f, BPF_NOEXIST) == 0) {
		ct_count(CT_HALF_OPEN_ADDED);
		return 0;
	}
	return bpf_map_update_elem(&half_open, k, f, BPF_EXIST) ? -1 : 0;
}

/*
 * flow_insert inserts both entries of a new connection into half_open; fwd
 * is the forward entry, already filled in. The reply entry starts without a
 * next hop. The sync hears of the connection when it is promoted. Returns 0
 * or PATH_FLOW_INSERT.
 */
static __always_inline int flow_insert(const struct flow_key *k, const struct flow *fwd)
{
	struct flow_key rk = {};
	struct flow rf = *fwd;

	rk.saddr = fwd->nat_addr;
	rk.daddr = k->saddr;
	rk.sport = fwd->nat_port;
	rk.dport = k->sport;
	rk.proto = k->proto;
	rf.nat_addr = k->daddr;
	rf.nat_port = k->dport;
	rf.dir = FLOW_REPLY;
	rf.hop_ifindex = 0;

	/* An established entry under the new reply key belongs to an older
	 * connection of the same client address and port to the same real
	 * server through another virtual service: the newer connection takes
	 * the tuple over (a single table overwrote it), or that stale entry,
	 * looked up first, would send this one's replies from the old VIP:port.
	 * For TCP the first reply is a SYN-ACK, which process_flow checks
	 * (flow_lookup_reply), so a new connection pays for no extra lookup;
	 * a UDP reply carries no such mark, so UDP looks now. Looked up
	 * before it is deleted: a lookup takes no lock, a delete takes the
	 * bucket's even when there is nothing to delete. */
	if (k->proto == IPPROTO_UDP && bpf_map_lookup_elem(&flows, &rk))
		bpf_map_delete_elem(&flows, &rk);
	/* Reply entry first: once the forward entry exists the real server
	 * may answer at once. */
	if (half_open_add(&rk, &rf))
		return PATH_FLOW_INSERT;
	if (half_open_add(k, fwd)) {
		ct_delete(1, &rk);
		return PATH_FLOW_INSERT;
	}
	sched_conn_new(fwd->real_id, fwd->real_gen);
	return 0;
}

#endif /* DIRECTOR_CONNTRACK_H */
