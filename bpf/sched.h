/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sched.h: how a new connection picks its real server (flow_pick in
 * conntrack.h dispatches here on svc_value.sched), and the per-real
 * connection counts the least-connection schedulers read.
 *
 * Counts. IPVS counts a real server's connections as active (TCP
 * established) or inactive (everything else: a connection starts inactive,
 * an established one that sees FIN or RST becomes inactive again). The
 * flow table calls sched_conn_new when it inserts a connection,
 * sched_conn_state when one changes state and sched_conn_gone when it
 * forgets one; each is one or two atomic adds on the real server's
 * real_conns entry, and only if the flow's real server still holds the
 * slot (same generation).
 *
 * Least-connection family (lc, wlc, sed, nq). The service's schedule
 * region lists its real servers with a positive weight, in IPVS list order
 * (newest first), and the walk follows IPVS's rules: skip a server that is
 * overloaded or has weight 0; lc keeps the first server of least overhead
 * active * 256 + inactive; wlc, sed and nq keep the first server of least
 * overhead / weight, compared as overhead_a * weight_b > overhead_b *
 * weight_a so that a later server must be strictly better to win; sed and
 * nq take active + 1 as overhead; nq takes the first server with no active
 * connection at once. The walk is bounded by SCHED_MAX_REALS (the
 * control plane refuses a larger service for these schedulers).
 *
 * Thresholds (ipvsadm -x/-y): a server whose connections (active +
 * inactive) reach its upper threshold is overloaded and gets no new
 * connection until they fall below its lower threshold (3/4 of the upper
 * one when no lower is set), IPVS's overload flag. IPVS updates the flag
 * when a connection is bound or unbound; here it is updated when a pick
 * looks at the server, which gives the same answers to every pick.
 */
#ifndef DIRECTOR_SCHED_H
#define DIRECTOR_SCHED_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "types.h"
#include "maps.h"

/* The most real servers a least-connection service may have. */
#define SCHED_MAX_REALS 256

/* Overhead weight of an active connection against an inactive one (IPVS). */
#define SCHED_ACTIVE_SHIFT 8

static __always_inline int conn_active(__u8 state)
{
	return state == STATE_ESTABLISHED;
}

/* sched_conns returns the counts of real rid if the real server in the
 * slot is still generation gen, else NULL. */
static __always_inline struct conn_counts *sched_conns(__u32 rid, __u32 gen)
{
	struct real *r = bpf_map_lookup_elem(&reals, &rid);

	if (!r || r->gen != gen)
		return 0;
	return bpf_map_lookup_elem(&real_conns, &rid);
}

/* sched_conn_new counts a new connection (inactive, like IPVS). */
static __always_inline void sched_conn_new(__u32 rid, __u32 gen)
{
	struct conn_counts *c = sched_conns(rid, gen);

	if (c)
		__sync_fetch_and_add(&c->inactive, 1);
}

/* sched_conn_state moves a connection between active and inactive. */
static __always_inline void sched_conn_state(__u32 rid, __u32 gen, __u8 from, __u8 to)
{
	struct conn_counts *c;

	if (conn_active(from) == conn_active(to))
		return;
	c = sched_conns(rid, gen);
	if (!c)
		return;
	if (conn_active(to)) {
		__sync_fetch_and_add(&c->inactive, -1);
		__sync_fetch_and_add(&c->active, 1);
	} else {
		__sync_fetch_and_add(&c->active, -1);
		__sync_fetch_and_add(&c->inactive, 1);
	}
}

/* sched_conn_gone uncounts a connection that the flow table forgets. */
static __always_inline void sched_conn_gone(__u32 rid, __u32 gen, __u8 state)
{
	struct conn_counts *c = sched_conns(rid, gen);

	if (!c)
		return;
	if (conn_active(state))
		__sync_fetch_and_add(&c->active, -1);
	else
		__sync_fetch_and_add(&c->inactive, -1);
}

static __always_inline __u64 count_of(__s64 v)
{
	return v > 0 ? (__u64)v : 0;
}

/* Connection counts of a real server as the schedulers see them: the
 * program's own (real_conns) less the control plane's correction
 * (real_conns_adj, see types.h), never below zero. */
struct conns_now {
	__u64 active;
	__u64 inactive;
};

static __always_inline void sched_counts(__u32 id, const struct conn_counts *c, struct conns_now *n)
{
	struct conn_adj *a = bpf_map_lookup_elem(&real_conns_adj, &id);
	__s64 active = c->active, inactive = c->inactive;

	if (a) {
		active -= a->active;
		inactive -= a->inactive;
	}
	n->active = count_of(active);
	n->inactive = count_of(inactive);
}

/* sched_overloaded applies IPVS's overload flag to real r (id) with counts
 * c, and says whether r is overloaded now. */
static __always_inline int sched_overloaded(const struct real *r, __u32 id, struct conn_counts *c)
{
	struct conns_now n;
	__u64 total;

	if (!r->upper && !c->overloaded)
		return 0;
	sched_counts(id, c, &n);
	total = n.active + n.inactive;
	if (r->upper && total >= r->upper) {
		if (!c->overloaded)
			c->overloaded = 1;
		return 1;
	}
	if (!c->overloaded)
		return 0;
	if (r->lower ? total < r->lower : total * 4 < (__u64)r->upper * 3 || !r->upper) {
		c->overloaded = 0;
		return 0;
	}
	return 1;
}

/* State of a least-connection walk (sched_least_step's context). */
struct least_walk {
	__u32 off;    /* svc_value.sched_off */
	__u32 kind;   /* enum sched_kind */
	__u32 found;  /* a server was found */
	__u32 best;   /* its id */
	__u64 loh;    /* its overhead */
	__u64 weight; /* its weight */
};

/* sched_least_step looks at the i-th server of the walk (a bpf_loop
 * callback, so that the verifier checks the body once, not once per
 * server). Returns 1 to end the walk. */
static long sched_least_step(__u32 i, void *ctx)
{
	struct least_walk *w = ctx;
	struct conn_counts *c;
	struct conns_now n;
	struct real *r;
	__u32 slot, id, *p;
	__u64 doh, active;

	slot = w->off + i;
	p = bpf_map_lookup_elem(&schedule, &slot);
	if (!p)
		return 1;
	id = *p;
	r = bpf_map_lookup_elem(&reals, &id);
	if (!r || r->gen == 0 || r->weight == 0)
		return 0;
	c = bpf_map_lookup_elem(&real_conns, &id);
	if (!c || sched_overloaded(r, id, c))
		return 0;
	sched_counts(id, c, &n);
	active = n.active;
	if (w->kind == SCHED_SED || w->kind == SCHED_NQ) {
		doh = active + 1;
		if (w->kind == SCHED_NQ && active == 0) {
			w->found = 1;
			w->best = id;
			return 1;
		}
	} else {
		doh = (active << SCHED_ACTIVE_SHIFT) + n.inactive;
	}
	if (!w->found || (w->kind == SCHED_LC ? doh < w->loh : w->loh * r->weight > doh * w->weight)) {
		w->found = 1;
		w->best = id;
		w->loh = doh;
		w->weight = r->weight;
	}
	return 0;
}

/* sched_least is lc, wlc, sed and nq: the walk described at the top. */
static __always_inline int sched_least(struct svc_value *svc, __u32 *rid, struct real **out)
{
	struct least_walk w = { .off = svc->sched_off, .kind = svc->sched };
	struct real *r;
	__u32 n = svc->sched_len;

	/* The walk starts from zeros read from the map (svc->pad is always
	 * zero): kernels before 6.7 check a bpf_loop callback once, with the
	 * caller's stack as it is at the call, and would take found = 0 and
	 * loh = 0 for constants, drop the comparison with the best server so
	 * far as dead code, and so pick the last available server. */
	w.found = svc->pad;
	w.loh = svc->pad;
	w.weight = svc->pad;

	if (n > SCHED_MAX_REALS)
		n = SCHED_MAX_REALS;
	bpf_loop(n, sched_least_step, &w, 0);
	if (!w.found)
		return PATH_NO_REAL;
	*rid = w.best;
	r = bpf_map_lookup_elem(&reals, rid);
	if (!r || r->gen == 0)
		return PATH_NO_REAL;
	*out = r;
	return 0;
}

/* State of a cursor walk (sched_cursor_step's context). */
struct cursor_walk {
	struct svc_value *svc;
	__u32 found; /* a server was found */
	__u32 best;  /* its id */
};

/* sched_cursor_step takes the next slot of the static schedule (one
 * atomic increment); it ends the walk unless the slot's server is
 * overloaded. A bpf_loop callback. */
static long sched_cursor_step(__u32 i, void *ctx)
{
	struct cursor_walk *w = ctx;
	struct svc_value *svc = w->svc;
	struct conn_counts *c;
	struct real *r;
	__u32 slot, id, *p;
	__u64 n;

	n = __sync_fetch_and_add(&svc->cursor, 1);
	slot = svc->sched_off + (__u32)(n % svc->sched_len);
	p = bpf_map_lookup_elem(&schedule, &slot);
	if (!p)
		return 1;
	id = *p;
	r = bpf_map_lookup_elem(&reals, &id);
	if (!r || r->gen == 0)
		return 1;
	if (r->upper) {
		c = bpf_map_lookup_elem(&real_conns, &id);
		if (c && sched_overloaded(r, id, c))
			return 0;
	}
	w->found = 1;
	w->best = id;
	return 1;
}

/* sched_cursor is rr and wrr: the next slot of the static schedule. An
 * overloaded server is passed over, trying at most SCHED_CURSOR_TRIES
 * slots, as IPVS's rr and wrr pass over it. */
#define SCHED_CURSOR_TRIES 16

static __always_inline int sched_cursor(struct svc_value *svc, __u32 *rid, struct real **out)
{
	struct cursor_walk w = { .svc = svc };
	struct real *r;

	/* The common case, a server that is not overloaded, without bpf_loop. */
	if (sched_cursor_step(0, &w) == 0)
		bpf_loop(SCHED_CURSOR_TRIES - 1, sched_cursor_step, &w, 0);
	if (!w.found)
		return PATH_NO_REAL;
	*rid = w.best;
	r = bpf_map_lookup_elem(&reals, rid);
	if (!r || r->gen == 0)
		return PATH_NO_REAL;
	*out = r;
	return 0;
}

/* sched_available says whether real r can take a new connection: in
 * use, a positive weight, not overloaded. */
static __always_inline int sched_available(struct real *r, __u32 id)
{
	struct conn_counts *c;

	if (r->gen == 0 || r->weight == 0)
		return 0;
	if (!r->upper)
		return 1;
	c = bpf_map_lookup_elem(&real_conns, &id);
	return !(c && sched_overloaded(r, id, c));
}

/* Source hashing: IPVS's table of SH_BUCKETS buckets, filled by the
 * control plane (each server in list order takes as many consecutive
 * buckets as its weight, one if 0, round and round), and its hash of the
 * client address (plus the client port with sh-port), hash_32 of the sum
 * of both in host order, with the golden-ratio multiplier. */
#define SH_BITS 8
#define SH_BUCKETS (1 << SH_BITS)
#define GOLDEN_RATIO_32 0x61C88647u

static __always_inline __u32 sh_hash(__be32 addr, __be16 port)
{
	return ((bpf_ntohl(addr) + bpf_ntohs(port)) * GOLDEN_RATIO_32) >> (32 - SH_BITS);
}

/* State of a fallback walk around the table (sh_fallback_step). */
struct sh_walk {
	__u32 off;   /* svc_value.sched_off */
	__u32 hash;  /* the client's bucket */
	__u32 found; /* a server was found */
	__u32 best;  /* its id */
};

/* sh_fallback_step tries the offset-th bucket after the client's, as
 * IPVS's sh-fallback does ((offset + 2 * hash) mod 256: IPVS adds the hash
 * twice). Ends the walk at a server that is available or at an empty
 * bucket. A bpf_loop callback. */
static long sh_fallback_step(__u32 offset, void *ctx)
{
	struct sh_walk *w = ctx;
	__u32 slot, id, *p;
	struct real *r;

	slot = w->off + ((offset + 2 * w->hash) & (SH_BUCKETS - 1));
	p = bpf_map_lookup_elem(&schedule, &slot);
	if (!p)
		return 1;
	id = *p;
	r = bpf_map_lookup_elem(&reals, &id);
	if (!r || r->gen == 0)
		return 1;
	if (!sched_available(r, id))
		return 0;
	w->found = 1;
	w->best = id;
	return 1;
}

/* sched_sh picks the server of the client's bucket; with sh-fallback, an
 * unavailable one is replaced by walking the table. */
static __always_inline int sched_sh(struct svc_value *svc, const struct flow_key *k, __u32 *rid,
				    struct real **out)
{
	struct sh_walk w = { .off = svc->sched_off };
	struct real *r;
	__u32 slot, *p;

	if (svc->sched_len != SH_BUCKETS)
		return PATH_NO_REAL;
	w.hash = sh_hash(k->saddr, (svc->flags & SCHED_F_PORT) ? k->sport : 0);
	slot = svc->sched_off + w.hash;
	p = bpf_map_lookup_elem(&schedule, &slot);
	if (!p)
		return PATH_NO_REAL;
	w.best = *p;
	r = bpf_map_lookup_elem(&reals, &w.best);
	if (!r || r->gen == 0)
		return PATH_NO_REAL;
	if (!sched_available(r, w.best)) {
		if (!(svc->flags & SCHED_F_FALLBACK))
			return PATH_NO_REAL;
		bpf_loop(SH_BUCKETS, sh_fallback_step, &w, 0);
		if (!w.found)
			return PATH_NO_REAL;
		r = bpf_map_lookup_elem(&reals, &w.best);
		if (!r || r->gen == 0)
			return PATH_NO_REAL;
	}
	*rid = w.best;
	*out = r;
	return 0;
}

/* Maglev hashing: the schedule region is the lookup table the control
 * plane built (control/model/sched_mh.go); a client goes to entry
 * mh_hash(address + port) mod its size, port 0 unless mh-port. With
 * mh-fallback an unavailable server's clients take the next entries'. */
static __always_inline __u32 mh_hash(__be32 addr, __be16 port)
{
	__u32 h = bpf_ntohl(addr) + bpf_ntohs(port);

	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* State of an mh fallback walk (mh_fallback_step). */
struct mh_walk {
	__u32 off;   /* svc_value.sched_off */
	__u32 len;   /* svc_value.sched_len */
	__u32 first; /* the client's entry */
	__u32 found; /* a server was found */
	__u32 best;  /* its id */
};

/* mh_fallback_step tries the i+1-th entry after the client's. A bpf_loop
 * callback. */
static long mh_fallback_step(__u32 i, void *ctx)
{
	struct mh_walk *w = ctx;
	__u32 slot, id, *p;
	struct real *r;

	if (w->len == 0)
		return 1;
	slot = w->off + (w->first + i + 1) % w->len;
	p = bpf_map_lookup_elem(&schedule, &slot);
	if (!p)
		return 1;
	id = *p;
	r = bpf_map_lookup_elem(&reals, &id);
	if (!r || !sched_available(r, id))
		return 0;
	w->found = 1;
	w->best = id;
	return 1;
}

/* The largest mh table (IPVS's largest prime, CONFIG_IP_VS_MH_TAB_INDEX 17). */
#define MH_MAX_TABLE 131071

static __always_inline int sched_mh(struct svc_value *svc, const struct flow_key *k, __u32 *rid,
				    struct real **out)
{
	struct mh_walk w = { .off = svc->sched_off, .len = svc->sched_len };
	struct real *r;
	__u32 slot, *p;

	w.first = mh_hash(k->saddr, (svc->flags & SCHED_F_PORT) ? k->sport : 0) % w.len;
	slot = w.off + w.first;
	p = bpf_map_lookup_elem(&schedule, &slot);
	if (!p)
		return PATH_NO_REAL;
	w.best = *p;
	r = bpf_map_lookup_elem(&reals, &w.best);
	if (!r || r->gen == 0)
		return PATH_NO_REAL;
	if (!sched_available(r, w.best)) {
		if (!(svc->flags & SCHED_F_FALLBACK))
			return PATH_NO_REAL;
		bpf_loop(w.len < MH_MAX_TABLE ? w.len : MH_MAX_TABLE, mh_fallback_step, &w, 0);
		if (!w.found)
			return PATH_NO_REAL;
		r = bpf_map_lookup_elem(&reals, &w.best);
		if (!r || r->gen == 0)
			return PATH_NO_REAL;
	}
	*rid = w.best;
	*out = r;
	return 0;
}

/* sched_dispatch runs the service's scheduler. */
static __always_inline int sched_dispatch(struct svc_value *svc, const struct flow_key *k, __u32 *rid,
					  struct real **out)
{
	switch (svc->sched) {
	case SCHED_LC:
	case SCHED_WLC:
	case SCHED_SED:
	case SCHED_NQ:
		return sched_least(svc, rid, out);
	case SCHED_SH:
		return sched_sh(svc, k, rid, out);
	case SCHED_MH:
		return sched_mh(svc, k, rid, out);
	default:
		return sched_cursor(svc, rid, out);
	}
}

/*
 * sched_persistent is persistence (ipvsadm -p, -M): a client (its address
 * masked) whose template is younger than the timeout goes to the template's
 * real server, as long as that server is configured (a weight 0 does not
 * stop it, as IPVS without expire_quiescent_template); otherwise the
 * scheduler picks and the template is (re)made. Only new connections read
 * templates; the control plane refreshes them from the live connections.
 */
static __always_inline int sched_persistent(struct svc_value *svc, const struct flow_key *k, __u64 now,
					    __u64 second, __u32 *rid, struct real **out)
{
	struct persist_key pk = { .svc_id = svc->id, .client = k->saddr & svc->pmask };
	struct persist_tmpl *t, nt = {};
	struct real *r;
	__u32 id;
	int rc;

	t = bpf_map_lookup_elem(&persist, &pk);
	if (t && now - t->last_seen <= (__u64)svc->ptimeout * second) {
		id = t->real_id;
		r = bpf_map_lookup_elem(&reals, &id);
		if (r && r->gen != 0 && r->gen == t->real_gen) {
			t->last_seen = now;
			*rid = id;
			*out = r;
			return 0;
		}
	}
	rc = sched_dispatch(svc, k, rid, out);
	if (rc)
		return rc;
	nt.real_id = *rid;
	nt.real_gen = (*out)->gen;
	nt.last_seen = now;
	bpf_map_update_elem(&persist, &pk, &nt, BPF_ANY);
	return 0;
}

/*
 * sched_pick schedules a new connection k of service svc at time now
 * (jiffies, second of them a second): it returns the real server's id and
 * slot, or an enum pkt_path drop reason.
 */
static __always_inline int sched_pick(struct svc_value *svc, const struct flow_key *k, __u64 now,
				      __u64 second, __u32 *rid, struct real **out)
{
	if (svc->sched_len == 0)
		return PATH_NO_REAL;
	if (svc->ptimeout)
		return sched_persistent(svc, k, now, second, rid, out);
	return sched_dispatch(svc, k, rid, out);
}

#endif /* DIRECTOR_SCHED_H */
