/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * conntrack.h: the flow table. A connection has two entries, one per
 * direction, that can find each other (twin_key). The state machine follows
 * IPVS's coarse TCP states: SYN, ESTABLISHED, FIN (also after RST), and one
 * UDP state, each with its own idle timeout from the config map. A flow whose
 * both entries have been idle longer than their timeout is expired: a new
 * connection with the same tuple is scheduled afresh.
 */
#ifndef DIRECTOR_CONNTRACK_H
#define DIRECTOR_CONNTRACK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"
#include "maps.h"
#include "parse.h"

/* last_seen is written at most once per FLOW_TOUCH_NS per entry, so that a
 * busy flow does not bounce its cache line between CPUs on every packet. A
 * flow may therefore live up to this much longer than its timeout. */
#define FLOW_TOUCH_NS 1000000000ULL

/* Fallbacks if the config map was never written (IPVS defaults). */
#define DEFAULT_TIMEOUT_SYN (60ULL * 1000000000ULL)
#define DEFAULT_TIMEOUT_EST (900ULL * 1000000000ULL)
#define DEFAULT_TIMEOUT_FIN (120ULL * 1000000000ULL)
#define DEFAULT_TIMEOUT_UDP (300ULL * 1000000000ULL)

static __always_inline __u64 state_timeout(__u8 state)
{
	__u32 zero = 0;
	struct dp_config *c = bpf_map_lookup_elem(&config, &zero);
	__u64 t = 0;

	switch (state) {
	case STATE_SYN:
		t = c ? c->timeout_syn : 0;
		return t ? t : DEFAULT_TIMEOUT_SYN;
	case STATE_ESTABLISHED:
		t = c ? c->timeout_est : 0;
		return t ? t : DEFAULT_TIMEOUT_EST;
	case STATE_FIN:
		t = c ? c->timeout_fin : 0;
		return t ? t : DEFAULT_TIMEOUT_FIN;
	default:
		t = c ? c->timeout_udp : 0;
		return t ? t : DEFAULT_TIMEOUT_UDP;
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

static __always_inline int flow_idle(const struct flow *f, __u64 now)
{
	return now - f->last_seen > f->timeout;
}

/* flow_alive reports whether the connection of entry f is still alive: one of
 * its two entries was used within its timeout. Only an idle entry pays for the
 * twin lookup. */
static __always_inline int flow_alive(const struct flow_key *k, struct flow *f, __u64 now)
{
	struct flow_key tk;
	struct flow *twin;

	if (!flow_idle(f, now))
		return 1;
	twin_key(k, f, &tk);
	twin = bpf_map_lookup_elem(&flows, &tk);
	if (twin && !flow_idle(twin, now)) {
		f->last_seen = now;
		return 1;
	}
	return 0;
}

/* flow_touch refreshes last_seen, at most once per FLOW_TOUCH_NS. */
static __always_inline void flow_touch(struct flow *f, __u64 now)
{
	if (now - f->last_seen > FLOW_TOUCH_NS)
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

/* flow_set_state moves both entries of a connection to state. */
static __always_inline void flow_set_state(const struct flow_key *k, struct flow *f, __u8 state,
					   __u64 now)
{
	struct flow_key tk;
	struct flow *twin;
	__u64 timeout = state_timeout(state);

	f->state = state;
	f->timeout = timeout;
	f->last_seen = now;
	twin_key(k, f, &tk);
	twin = bpf_map_lookup_elem(&flows, &tk);
	if (twin) {
		twin->state = state;
		twin->timeout = timeout;
		twin->last_seen = now;
	}
}

/* flow_forget deletes both entries of a connection. */
static __always_inline void flow_forget(const struct flow_key *k, const struct flow *f)
{
	struct flow_key tk;

	twin_key(k, f, &tk);
	bpf_map_delete_elem(&flows, &tk);
	bpf_map_delete_elem(&flows, k);
}

/*
 * flow_create schedules a new connection of service svc: it takes the next
 * slot of the service's schedule (one atomic increment) and inserts both
 * entries. On success *out holds the forward entry. Returns 0 or an enum pkt_path
 * drop reason.
 */
static __always_inline int flow_create(const struct flow_key *k, struct svc_value *svc,
				       __u8 state, __u64 now, struct flow *out)
{
	struct flow_key rk = {};
	struct flow rf = {};
	struct real *r;
	__u32 slot, *real_id, rid;
	__u64 n;

	if (svc->sched_len == 0)
		return PATH_NO_REAL;
	n = __sync_fetch_and_add(&svc->cursor, 1);
	slot = svc->sched_off + (__u32)(n % svc->sched_len);
	real_id = bpf_map_lookup_elem(&schedule, &slot);
	if (!real_id)
		return PATH_NO_REAL;
	rid = *real_id;
	r = bpf_map_lookup_elem(&reals, &rid);
	if (!r || r->gen == 0)
		return PATH_NO_REAL;

	out->nat_addr = r->addr;
	out->nat_port = r->port;
	out->dir = FLOW_FORWARD;
	out->state = state;
	out->svc_id = svc->id;
	out->real_id = rid;
	out->real_gen = r->gen;
	out->last_seen = now;
	out->timeout = state_timeout(state);

	rk.saddr = r->addr;
	rk.daddr = k->saddr;
	rk.sport = r->port;
	rk.dport = k->sport;
	rk.proto = k->proto;
	rf = *out;
	rf.nat_addr = k->daddr;
	rf.nat_port = k->dport;
	rf.dir = FLOW_REPLY;

	/* Reply entry first: once the forward entry exists the real server
	 * may answer at once. */
	if (bpf_map_update_elem(&flows, &rk, &rf, BPF_ANY))
		return PATH_FLOW_INSERT;
	if (bpf_map_update_elem(&flows, k, out, BPF_ANY)) {
		bpf_map_delete_elem(&flows, &rk);
		return PATH_FLOW_INSERT;
	}
	return 0;
}

#endif /* DIRECTOR_CONNTRACK_H */
