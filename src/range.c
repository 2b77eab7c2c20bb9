/* SPDX-License-Identifier: MIT */
/*
 * range.c - byte ranges onto debug registers: split any [addr, addr+len)
 * into aligned 1/2/4/8-byte pieces, either exactly (gdb's way: no byte
 * outside the range is watched) or with the fewest registers (one per
 * aligned 8-byte block touched, each piece the narrowest aligned block that
 * covers the range's bytes in it; hits on the extra bytes are strays that
 * the scheduler filters by decoding the access).
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

		if (flags & HWBP_SPLIT_EXACT) {
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
