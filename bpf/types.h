/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * types.h: every structure shared between the BPF program and the Go control
 * plane. This file is the only definition: bpf2go's -type flag writes the Go
 * mirror (bpf/director_bpfel.go), and TestGeneratedSizes (bpf/types_test.go)
 * checks that the generated sizes equal the map specs'. Byte order is stated
 * per field: "be" fields hold network byte order exactly as on the wire.
 */
#ifndef DIRECTOR_TYPES_H
#define DIRECTOR_TYPES_H

#include <linux/types.h>

/* ABI version of the pinned maps. Bump it whenever the meaning of a map
 * changes without its key or value size changing, so that a new binary never
 * adopts maps it would misread. */
#define DIRECTOR_ABI 3

/* Key of the services map: one virtual service, as `ipvsadm -A -t|-u`. */
struct svc_key {
	__be32 vip;   /* virtual address, network order */
	__be16 port;  /* virtual port, network order */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;     /* always zero */
};

/* Value of the services map. The control plane replaces the whole value to
 * switch a service to a new schedule; the replacement resets the cursor, so
 * the new schedule starts from its beginning as IPVS restarts wrr. */
struct svc_value {
	__u32 id;        /* service index, allocated by the control plane (reals.svc_id) */
	__u32 sched_off; /* first slot of this service's schedule in the schedule map */
	__u32 sched_len; /* schedule length; 0 means no real server takes new connections */
	__u32 flags;     /* enum sched_flags */
	__u64 cursor;    /* new connections scheduled since this value was written (atomic) */
	__u32 sched;     /* enum sched_kind: how flow_pick uses the schedule (sched.h) */
	__u32 pad;       /* always zero */
	__be32 pmask;    /* persistence netmask (ipvsadm -M), network order */
	__u32 ptimeout;  /* persistence timeout in seconds (ipvsadm -p); 0 = not persistent */
};

/* Key of the persist map: a persistence template, one client (masked
 * address) of one persistent service, as IPVS's templates. */
struct persist_key {
	__u32 svc_id;  /* svc_value.id */
	__be32 client; /* client address & svc_value.pmask, network order */
};

/* Value of the persist map: the real server the client keeps. */
struct persist_tmpl {
	__u32 real_id;   /* reals index */
	__u32 real_gen;  /* reals[real_id].gen when the template was made */
	__u64 last_seen; /* jiffies: the client's last new connection, or the
	                  * control plane's last sight of one of its live
	                  * connections (it refreshes templates every few seconds) */
};

/* How a service picks the real server of a new connection (sched.h).
 * SCHED_CURSOR walks a static schedule (rr, wrr: the control plane's
 * expansion); the least-connection family reads the per-real connection
 * counts (real_conns) of the service's real servers, whose ids the
 * service's schedule region lists in IPVS list order. */
enum sched_kind {
	SCHED_CURSOR = 0, /* rr, wrr */
	SCHED_LC = 1,     /* least connection: active * 256 + inactive */
	SCHED_WLC = 2,    /* the same overhead, divided by the weight */
	SCHED_SED = 3,    /* shortest expected delay: (active + 1) / weight */
	SCHED_NQ = 4,     /* never queue: an idle server first, else as sed */
	SCHED_SH = 5,     /* source hashing: the schedule region is IPVS's 256-bucket table */
	SCHED_MH = 6,     /* Maglev hashing: the schedule region is the Maglev lookup table */
};

/* Scheduler flags (svc_value.flags), ipvsadm -b. */
enum sched_flags {
	SCHED_F_FALLBACK = 1, /* sh-/mh-fallback: an unavailable server's clients go to another bucket's */
	SCHED_F_PORT = 2,     /* sh-/mh-port: the client's port is hashed with its address */
};


/* Value of the reals map (array indexed by real-server id). */
struct real {
	__be32 addr; /* real server address, network order */
	__be16 port; /* real server port, network order */
	__u16 pad;   /* always zero */
	__u32 gen;   /* generation of this slot; 0 = free. Flows remember the
	              * generation they were created with: a flow whose real server
	              * was removed (slot freed or reused) no longer matches. */
	__u32 svc_id; /* service this real server belongs to */
	__u32 weight; /* IPVS weight (least-connection schedulers); 0 = quiesced */
	__u32 upper;  /* upper connection threshold (ipvsadm -x); 0 = none */
	__u32 lower;  /* lower connection threshold (ipvsadm -y); 0 = 3/4 of upper */
	/* Next hop toward this real server, cached by the program for new
	 * connections (see struct flow); the control plane writes zeros. */
	__u32 hop_ifindex;
	__u8 hop_smac[6];
	__u8 hop_dmac[6];
	__u64 hop_time; /* jiffies */
};

/* Value of the real_conns map (array indexed by real-server id): the
 * connections of a real server, as IPVS counts them (ActiveConn and
 * InActConn of ipvsadm -L): active are established TCP connections,
 * inactive every other tracked connection (TCP handshake, closing; UDP).
 * Written only by the program, with atomic adds, when a connection is
 * created, changes state or is forgotten; the control plane resets it
 * when it allocates the slot. Signed: a stray decrement (a flow table
 * entry evicted by the LRU and then re-created) reads as zero, not as 2^64. */
struct conn_counts {
	__s64 active;
	__s64 inactive;
	__u32 overloaded; /* IPVS's overload flag: upper threshold reached, lower not yet crossed */
	__u32 pad;        /* always zero */
};

/* Value of the real_conns_adj map (indexed by real id): what to subtract
 * from real_conns to get the connections the flow table really holds.
 * Written only by the control plane, which recounts the flow table every
 * few seconds: a connection that expired without a packet to notice it, an
 * entry the LRU evicted, or a flow installed by connection sync is not
 * seen by the program's own counting. */
struct conn_adj {
	__s64 active;
	__s64 inactive;
};

/* Key of the flows map: the 5-tuple of one direction of a connection, as it
 * arrives at the director. */
struct flow_key {
	__be32 saddr; /* source address, network order */
	__be32 daddr; /* destination address, network order */
	__be16 sport; /* source port, network order */
	__be16 dport; /* destination port, network order */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[3];  /* always zero */
};

/* Direction of a flow entry. */
enum flow_dir {
	FLOW_FORWARD = 1, /* client -> VIP: destination rewritten to the real server */
	FLOW_REPLY = 2,   /* real server -> client: source rewritten to the VIP */
};

/* Connection state, shared by both entries of a connection. Which table
 * holds the entries ranks them: half_open (LRU, recycled under pressure)
 * until the handshake completes (TCP) or the real server first replies
 * (UDP), flows (never recycled) after that. */
enum flow_state {
	STATE_SYN = 1,         /* TCP: client SYN seen, handshake not complete */
	STATE_ESTABLISHED = 2, /* TCP: client ACK seen after the SYN */
	STATE_FIN = 3,         /* TCP: FIN or RST seen in either direction */
	STATE_UDP = 4,         /* UDP: any datagram */
};

/* Value of the flows map. Times are jiffies: bpf_jiffies64() is inlined by
 * the verifier, where every clock helper is a call that costs more than the
 * rest of the fast path; the loader measures HZ once (dp_config.hz). The
 * next hop (bpf_fib_lookup, the most expensive step
 * of the packet path) is cached per direction and looked up again after
 * HOP_TTL (one second), so a route or neighbour change is followed within that time,
 * whether or not the control plane is alive. The two entries of a connection point at each other:
 * forward key (c, vip, cport, vport) holds nat = (rip, rport); the reply key is
 * then (rip, c, rport, cport) and holds nat = (vip, vport). */
struct flow {
	__be32 nat_addr;  /* forward: real server address; reply: VIP (network order) */
	__be16 nat_port;  /* forward: real server port; reply: virtual port (network order) */
	__u8 dir;         /* enum flow_dir */
	__u8 state;       /* enum flow_state */
	__u32 svc_id;     /* service index (svc_value.id) */
	__u32 real_id;    /* real server index (reals, real_stats) */
	__u32 real_gen;   /* reals[real_id].gen when the flow was created */
	__u32 hop_ifindex; /* cached next hop of this direction: egress interface, 0 = none */
	__u8 hop_smac[6];  /* cached next hop: source MAC */
	__u8 hop_dmac[6];  /* cached next hop: destination MAC */
	__u64 hop_time;    /* when the next hop was looked up (jiffies) */
	__u64 last_seen;   /* last packet (jiffies), refreshed at most once a second */
	__u64 timeout;     /* idle timeout of the current state (jiffies) */
};

/* Per-CPU traffic counters of a real server. "in" is client ->
 * real server, "out" is real server -> client, bytes are IP bytes. */
struct traffic_stats {
	__u64 pkts_in;
	__u64 bytes_in;
	__u64 pkts_out;
	__u64 bytes_out;
	__u64 conns; /* new connections scheduled */
};

/* Key of the frags map: one IP datagram in fragments, as it arrives (RFC 791
 * identifies a datagram by source, destination, protocol and id). */
struct frag_key {
	__be32 saddr; /* network order */
	__be32 daddr; /* network order */
	__be16 id;    /* IP identification, network order */
	__u8 proto;
	__u8 pad;     /* always zero */
};

/* What the rest of a fragmented datagram does (struct frag.verdict). */
enum frag_verdict {
	FRAG_FOLLOW = 1, /* NAT and send like the flow of the first fragment (frag.flow) */
	FRAG_PASS = 2,   /* pass to the kernel, as the first fragment was */
};

/* Value of the frags map, written when the first fragment (offset 0, which
 * holds the ports) is handled. */
struct frag {
	struct flow_key flow; /* the first fragment's flow key (FRAG_FOLLOW) */
	__u64 seen;           /* when the first fragment was handled (jiffies) */
	__u32 verdict;        /* enum frag_verdict */
	__u32 pad;            /* always zero */
};

/* Runtime settings, one entry in the config map, written by the control
 * plane (ipvsadm --set tcp tcpfin udp). The lookup of this one-entry array
 * is inlined by the verifier, so reading it costs a load. */
struct dp_config {
	__u64 hz;          /* jiffies per second, measured by the loader */
	__u64 timeout_syn; /* jiffies; IPVS syn_recv default 60 s */
	__u64 timeout_est; /* jiffies; IPVS established default 900 s */
	__u64 timeout_fin; /* jiffies; IPVS fin_wait default 120 s, also used after RST */
	__u64 timeout_udp; /* jiffies; IPVS udp default 300 s */
	__u32 sync_events; /* nonzero: report new flows and state changes in sync_events */
	/* Nonzero while this node is in a handover window of the HA pair (an
	 * address group moving between the two directors, and a settle time
	 * after): a TCP/UDP packet without a flow that would go to this
	 * node's stack goes to the peer director instead (peer_links,
	 * PATH_PEER_FORWARD). Was an always-zero pad before: a program that
	 * predates it reads it as padding, so the ABI is unchanged. */
	__u32 peer_forward;
};

/* Value of the peer_links map (key: __u32 ifindex of this node): the
 * layer-2 addresses to hand a packet to the peer director on that link,
 * written by the control plane from the peer's heartbeat advertisements. */
struct peer_link {
	__u8 peer_mac[6]; /* the peer director's interface on this link */
	__u8 own_mac[6];  /* this node's interface (the frame's new source) */
	__u32 pad;        /* always zero */
};

/* One entry in the meta map (struct state_meta), written when the pinned state is created. */
struct state_meta {
	__u32 abi;   /* DIRECTOR_ABI of the program that created the maps */
	__u32 flags; /* reserved, zero */
};

/* Flags of the addrs map (key: __be32 address). */
enum addr_flags {
	ADDR_VIP = 1,  /* address of at least one virtual service */
	ADDR_REAL = 2, /* address of at least one real server */
};

/*
 * What happened to a packet (enum pkt_path), counted per CPU in path_stats. Each path has one
 * verdict, documented here and in README.md ("Packet rules").
 */
enum pkt_path {
	PATH_NOT_IPV4 = 0,      /* pass: not IPv4 (ARP, IPv6, ...) */
	PATH_L3_MALFORMED,      /* pass: truncated or invalid IPv4 header; the kernel drops it */
	PATH_NOT_TCP_UDP,       /* pass: IPv4 but not TCP, UDP or ICMP */
	PATH_L4_TRUNCATED,      /* pass: TCP/UDP header truncated; the kernel drops it */
	PATH_NO_SERVICE,        /* pass: no flow and no service (the director's own traffic) */
	PATH_TCP_NOT_SYN,       /* pass: TCP to a service, no flow and not a SYN (stack answers RST, like IPVS) */
	PATH_FRAGMENT,          /* drop: non-first TCP/UDP fragment to a VIP or from a real server whose first fragment was not seen */
	PATH_FRAGMENT_PASS,     /* pass: IP fragment of other traffic */
	PATH_IP_OPTIONS,        /* drop: IP options on service traffic */
	PATH_NO_REAL,           /* drop: service has no real server with weight > 0 */
	PATH_REAL_REMOVED,      /* drop: flow's real server was removed (like IPVS without expire_nodest_conn) */
	PATH_FLOW_INSERT,       /* drop: flow table update failed */
	PATH_TTL_EXCEEDED,      /* drop: TTL <= 1 on service traffic */
	PATH_NO_ROUTE,          /* drop: bpf_fib_lookup found no usable route */
	PATH_FWD_DISABLED,      /* drop: forwarding disabled on the ingress interface (net.ipv4.ip_forward) */
	PATH_FRAG_NEEDED,       /* drop: packet larger than the egress MTU */
	PATH_NO_NEIGH,          /* pass: rewritten, neighbour unresolved; the kernel resolves and forwards */
	PATH_NEW_FLOW,          /* redirect: first packet of a new connection, DNATed */
	PATH_FORWARD,           /* redirect: client packet of a tracked connection, DNATed */
	PATH_REPLY,             /* redirect: real server packet of a tracked connection, SNATed */
	PATH_ICMP_TO_REAL,      /* redirect: ICMP error about a reply, translated toward the real server */
	PATH_ICMP_TO_CLIENT,    /* redirect: ICMP error about a forwarded packet, translated toward the client */
	PATH_ICMP_OTHER,        /* pass: ICMP that is not an error about a tracked flow */
	PATH_ICMP_MALFORMED,    /* pass: ICMP error whose quoted packet is truncated or has IP options */
	PATH_TABLE_FULL,        /* drop: handshake completed but the established table is full: connection refused */
	PATH_FRAGMENT_FORWARD,  /* redirect: non-first fragment, NATed and sent where its first fragment went */
	PATH_PEER_FORWARD,      /* redirect: no flow, in an HA handover window: sent unchanged but for its MACs to the peer director on the same link */
	PATH_MAX,
};

/*
 * Flow-table events (enum ct_event), counted per CPU in ct_stats. The
 * half-open table is an LRU: the kernel recycles its oldest entries when it
 * is full and tells nobody, so the control plane derives evictions as
 * added - removed - present. Slots from CT_CP_FIRST on are written by the
 * control plane only (the program never touches them, so a read-modify-write
 * from user space cannot lose the program's increments).
 */
enum ct_event {
	CT_HALF_OPEN_ADDED = 0,  /* entries added to half_open (two per new connection) */
	CT_HALF_OPEN_REMOVED,    /* entries the program deleted from half_open (promoted, expired, refused) */
	CT_PROMOTED,             /* connections moved from half_open to flows */
	CT_CP_FIRST,
	CT_SWEPT = CT_CP_FIRST,  /* entries of dead connections the control plane deleted from flows */
	CT_MAX,
};

#endif /* DIRECTOR_TYPES_H */
