//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * redirect.c: counts the director's XDP redirects that fail after the
 * program has returned, which the program itself cannot see: its path
 * counter already said "forward". The kernel reports them on two
 * tracepoints, read here through BTF (tp_btf):
 *
 * - xdp:xdp_redirect_err: bpf_redirect's target refused the frame at once
 *   (interface down, no XDP transmit support);
 * - xdp:xdp_devmap_xmit: the frames a redirect queued were flushed to the
 *   target and some were dropped (a veth whose peer has no NAPI, a full
 *   transmit ring): `drops` of them.
 *
 * Both fire for every XDP program on the host, so only events whose
 * receiving interface is one the director attached to (its network
 * namespace and ifindex, in redirect_ifs, written by the loader) count. A
 * separate object from director.c: the loader loads it only where the
 * kernel has BTF, and the data plane works without it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* The few kernel fields read, relocated against the running kernel's BTF
 * (CO-RE), so no vmlinux.h is needed. */
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

/* Key of redirect_ifs: an interface the director's XDP program is attached
 * to. */
struct redirect_if {
	__u32 netns;   /* inode number of its network namespace */
	__u32 ifindex; /* its index in that namespace */
};

/* The interfaces whose failed redirects count; the value is unused (1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct redirect_if);
	__type(value, __u32);
	__uint(max_entries, 64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} redirect_ifs SEC(".maps");

/* Frames redirected by the director and lost after it returned, one
 * counter, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} redirect_errs SEC(".maps");

static __always_inline void count_lost(const struct net_device *dev, __u64 n)
{
	struct redirect_if k = {};
	__u32 zero = 0;
	__u64 *c;

	k.ifindex = BPF_CORE_READ(dev, ifindex);
	k.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	if (!bpf_map_lookup_elem(&redirect_ifs, &k))
		return;
	c = bpf_map_lookup_elem(&redirect_errs, &zero);
	if (c)
		*c += n;
}

SEC("tp_btf/xdp_redirect_err")
int BPF_PROG(on_redirect_err, const struct net_device *dev)
{
	count_lost(dev, 1);
	return 0;
}

SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(on_devmap_xmit, const struct net_device *from_dev, const struct net_device *to_dev,
	     int sent, int drops)
{
	if (drops > 0)
		count_lost(from_dev, drops);
	return 0;
}

/* Only makes the key's BTF reach bpf2go's -type. */
const struct redirect_if *unused_redirect_if __attribute__((unused));

char _license[] SEC("license") = "Dual BSD/GPL";
