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
#include "sched.h"

/* HZ assumed until the loader has written dp_config.hz. */
#define FALLBACK_HZ 250ULL

/* dp_config returns the runtime settings (an inlined array lookup). */
static __always_inline struct dp_config *dp_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
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

/* flow_set_state moves both entries of a connection to state. */
static __always_inline void flow_set_state(const struct flow_key *k, struct flow *f, __u8 state,
					   __u64 now)
{
	struct flow_key tk;
	struct flow *twin;
	__u64 timeout = state_timeout(state);

	sched_conn_state(f->real_id, f->real_gen, f->state, state);
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
	sync_notify(f->dir == FLOW_FORWARD ? k : &tk);
}

/* flow_forget deletes both entries of a connection. */
static __always_inline void flow_forget(const struct flow_key *k, const struct flow *f)
{
	struct flow_key tk;

	__u32 rid = f->real_id, gen = f->real_gen;
	__u8 state = f->state;

	twin_key(k, f, &tk);
	bpf_map_delete_elem(&flows, &tk);
	/* Whoever deletes the entry uncounts the connection, once. */
	if (bpf_map_delete_elem(&flows, k) == 0)
		sched_conn_gone(rid, gen, state);
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

/*
 * flow_insert inserts both entries of a new connection; fwd is the forward
 * entry, already filled in. The reply entry starts without a next hop.
 * Returns 0 or PATH_FLOW_INSERT.
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

	/* Reply entry first: once the forward entry exists the real server
	 * may answer at once. */
	if (bpf_map_update_elem(&flows, &rk, &rf, BPF_ANY))
		return PATH_FLOW_INSERT;
	if (bpf_map_update_elem(&flows, k, fwd, BPF_ANY)) {
		bpf_map_delete_elem(&flows, &rk);
		return PATH_FLOW_INSERT;
	}
	sched_conn_new(fwd->real_id, fwd->real_gen);
	sync_notify(k);
	return 0;
}

#endif /* DIRECTOR_CONNTRACK_H */
