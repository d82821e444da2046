/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * csum.h: incremental Internet checksum updates (RFC 1624). Values are used
 * exactly as they sit in the packet: the one's complement sum does not depend
 * on byte order as long as the checksum and the data share it.
 */
#ifndef DIRECTOR_CSUM_H
#define DIRECTOR_CSUM_H

#include <linux/types.h>

/* One's complement addition of two 32-bit values, end-around carry. */
static __always_inline __u32 csum_add32(__u32 sum, __u32 v)
{
	sum += v;
	return sum + (sum < v);
}

/* Fold a 32-bit one's complement sum to 16 bits. */
static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Update checksum *sum for a 32-bit field changing from old to new. */
static __always_inline void csum_replace4(__u16 *sum, __u32 old, __u32 new)
{
	__u32 s = (__u16)~*sum;

	s = csum_add32(s, ~old);
	s = csum_add32(s, new);
	*sum = (__u16)~csum_fold32(s);
}

/* Update checksum *sum for a 16-bit field changing from old to new. */
static __always_inline void csum_replace2(__u16 *sum, __u16 old, __u16 new)
{
	__u32 s = (__u16)~*sum;

	s = csum_add32(s, (__u16)~old);
	s = csum_add32(s, new);
	*sum = (__u16)~csum_fold32(s);
}

/* Update a UDP checksum: 0 means "no checksum" and stays 0; a computed 0 is
 * sent as 0xffff (RFC 768). */
static __always_inline void udp_csum_replace4(__u16 *sum, __u32 old, __u32 new)
{
	if (*sum == 0)
		return;
	csum_replace4(sum, old, new);
	if (*sum == 0)
		*sum = 0xffff;
}

static __always_inline void udp_csum_replace2(__u16 *sum, __u16 old, __u16 new)
{
	if (*sum == 0)
		return;
	csum_replace2(sum, old, new);
	if (*sum == 0)
		*sum = 0xffff;
}

#endif /* DIRECTOR_CSUM_H */
