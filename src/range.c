/* SPDX-License-Identifier: MIT */
/*
 * range.c - byte ranges onto debug registers: split any [addr, addr+len)
 * into aligned 1/2/4/8-byte pieces, either exactly (gdb's way: no byte
 * outside the range is watched) or with the fewest registers (one per
 * aligned 8-byte block touched, each piece the narrowest aligned block that
 * covers the range's bytes in it; hits on the extra bytes are strays that
 * the scheduler filters by decoding the access), and whether a decoded
 * access touched a range.  Where the CPU selects any bytes of an aligned
 * 8-byte window (arm64), both splits are exact: one piece per window.
 */
#include <errno.h>

#include "internal.h"

/* The largest power of two <= max that addr is aligned to and fits n. */
static uint32_t exact_piece(uint64_t addr, uint64_t n, uint32_t max)
{
	uint32_t size = max;

	while (size > 1 && ((addr & (size - 1)) || size > n))
		size >>= 1;
	return size;
}

/* The narrowest aligned block (<= max) holding [lo, hi). */
static uint32_t covering_piece(uint64_t lo, uint64_t hi, uint32_t max,
			       uint64_t *start)
{
	uint32_t size = 1;

	while (size < max && (lo & ~(uint64_t)(size - 1)) + size < hi)
		size <<= 1;
	*start = lo & ~(uint64_t)(size - 1);
	return size;
}

static int check_split_args(uint64_t addr, uint64_t len, unsigned flags,
			    const struct hwbp_piece *out, int max)
{
	if (!len)
		return hwbp_fail(EINVAL, "hwbp_range_split: len 0");
	if (addr + len < addr)
		return hwbp_fail(EINVAL, "hwbp_range_split: [0x%llx, +%llu) "
				 "wraps around the address space",
				 (unsigned long long)addr,
				 (unsigned long long)len);
	if (flags & ~HWBP_SPLIT_EXACT)
		return hwbp_fail(EINVAL, "hwbp_range_split: unknown flags 0x%x",
				 flags);
	if (max < 0 || (max > 0 && !out))
		return hwbp_fail(EINVAL, "hwbp_range_split: out is NULL or "
				 "max < 0");
	return 0;
}

HWBP_API int hwbp_range_split(uint64_t addr, uint64_t len, unsigned flags,
			      struct hwbp_piece *out, int max)
{
	uint32_t widest = (uint32_t)hwbp_arch.max_len;
	uint64_t end = addr + len, at = addr;
	int n = 0, err = check_split_args(addr, len, flags, out, max);

	if (err)
		return err;
	while (at < end) {
		struct hwbp_piece p;

		if (hwbp_arch.byte_select) {
			uint64_t block_end = (at | (widest - 1)) + 1;

			p.addr = at;
			p.len = (uint32_t)((end < block_end ? end : block_end) - at);
			at += p.len;
		} else if (flags & HWBP_SPLIT_EXACT) {
			p.addr = at;
			p.len = exact_piece(at, end - at, widest);
			at += p.len;
		} else {
			uint64_t block_end = (at | (widest - 1)) + 1;
			uint64_t hi = end < block_end ? end : block_end;

			p.len = covering_piece(at, hi, widest, &p.addr);
			at = hi;
		}
		if (n < max)
			out[n] = p;
		n++;
	}
	return n;
}

HWBP_API bool hwbp_range_overlaps(uint64_t a, uint64_t alen, uint64_t b,
				  uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* async-signal-safe */
HWBP_API int hwbp_insn_touches(const struct hwbp_insn_info *info,
			       uint64_t addr, uint64_t len)
{
	int how = 0;

	if (!info)
		return -EINVAL;
	for (int i = 0; i < info->nmem; i++) {
		const struct hwbp_mem_access *m = &info->mem[i];

		if (m->addr_known && !hwbp_range_overlaps(m->addr, m->len,
							  addr, len))
			continue;
		how |= (m->reads ? HWBP_TOUCH_READ : 0) |
		       (m->writes ? HWBP_TOUCH_WRITE : 0) |
		       (m->addr_known ? 0 : HWBP_TOUCH_UNSURE);
	}
	return how;
}
