/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * maps.h: the maps of the director program. Sizes here are defaults; the
 * loader rewrites max_entries from its options before loading. All maps are
 * pinned by name under /sys/fs/bpf/director/<node>/ so that forwarding and
 * flows survive the control plane.
 */
#ifndef DIRECTOR_MAPS_H
#define DIRECTOR_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"

/* Virtual services: (vip, port, proto) -> schedule and stats index. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct svc_key);
	__type(value, struct svc_value);
	__uint(max_entries, 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services SEC(".maps");

/* Real servers, indexed by id (allocated by the control plane). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct real);
	__uint(max_entries, 8192);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reals SEC(".maps");

/* Connection counts per real server (struct conn_counts), indexed by
 * real id like reals. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct conn_counts);
	__uint(max_entries, 8192);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_conns SEC(".maps");

/* Persistence templates (struct persist_key -> struct persist_tmpl): a client
 * of a persistent service keeps its real server until ptimeout after its
 * last connection. An LRU: under pressure the least recently used
 * templates go first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct persist_key);
	__type(value, struct persist_tmpl);
	__uint(max_entries, 65536);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} persist SEC(".maps");

/* Corrections of real_conns (struct conn_adj), by real id, written by the
 * control plane only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct conn_adj);
	__uint(max_entries, 8192);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_conns_adj SEC(".maps");

/* Schedules of all services, one slab: slot -> real-server id. Each service
 * owns [sched_off, sched_off + sched_len). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} schedule SEC(".maps");

/* Established connections: one entry per direction (see struct flow). A
 * plain (preallocated) hash, not an LRU: an entry leaves only when the
 * program finds its connection dead (flow_alive) or the control plane's
 * sweep deletes it, so no new connection can push an established one out.
 * When it is full a connection completing its handshake is refused
 * (PATH_TABLE_FULL). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow);
	__uint(max_entries, 262144);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

/* Half-open connections (TCP SYN seen, handshake not completed; UDP without
 * a reply yet), same entries as flows. An LRU: a SYN flood recycles its
 * own oldest entries and nothing else. One LRU list per CPU
 * (BPF_F_NO_COMMON_LRU), each holding an equal share of the entries: an
 * insert recycles only within its own CPU's share, takes no lock shared
 * by all CPUs, and never recycles an entry while the table has room (a
 * common list may, to refill a CPU's cache of free entries). A lookup
 * still finds an entry whichever CPU inserted it. The loader sizes it
 * (HalfOpenSize in maps.go). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} half_open SEC(".maps");

/* Fragmented datagrams in flight (struct frag_key -> struct frag): how the
 * fragments after the first are handled. An LRU of 8192 datagrams: the
 * oldest are recycled, and an entry older than FRAG_TTL is ignored. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct frag_key);
	__type(value, struct frag);
	__uint(max_entries, 8192);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} frags SEC(".maps");

/* Flow-table events per enum ct_event. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, CT_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct_stats SEC(".maps");

/* Connection sync: the forward key (struct flow_key) of every connection
 * created or changing state, when dp_config.sync_events is set. The
 * control plane reads the current entry itself, so a lost or stale
 * notification only delays what it sends to the peer; nothing else is
 * written on the packet path. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sync_events SEC(".maps");

/* VIP and real-server addresses (addr_flags), consulted for fragments and,
 * in a handover window, for packets from real servers without a flow. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, __u32);
	__uint(max_entries, 9216);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} addrs SEC(".maps");

/* Per-real-server counters, indexed by real id. A service's counters are
 * the sum of its real servers': one counter update per packet instead of
 * two (the control plane keeps the totals of removed real servers). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct traffic_stats);
	__uint(max_entries, 8192);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_stats SEC(".maps");

/* Packets per enum pkt_path (what happened, including every drop reason).
 * Every path has one verdict (see types.h), so the per-verdict counts are
 * sums of these, computed by the control plane, not a second update. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, PATH_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} path_stats SEC(".maps");

/* The peer director of an HA pair, per link of this node (ifindex ->
 * struct peer_link): where a packet without a flow goes during a handover
 * window (dp_config.peer_forward). Empty without a pair, or while the
 * peer has not advertised its interfaces. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct peer_link);
	__uint(max_entries, 64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} peer_links SEC(".maps");

/* Runtime settings (struct dp_config), one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct dp_config);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

/* ABI stamp of the pinned state (struct state_meta), one entry. Never read by the
 * program; the loader checks it before adopting pinned maps. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct state_meta);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} meta SEC(".maps");

#endif /* DIRECTOR_MAPS_H */
