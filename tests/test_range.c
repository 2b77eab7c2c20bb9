/* SPDX-License-Identifier: MIT */
/*
 * test_range.c - hwbp_range_split against a brute-force model: for every
 * range of 1..64 bytes at every alignment in a 64-byte block, the pieces
 * are legal debug registers, every access that touches the range triggers
 * one of them, the exact split never watches an outside byte and uses the
 * fewest registers an exact cover can, and the default split uses one
 * register per aligned 8-byte block.  Pure computation: no traps needed.
 */
#include "testutil.h"

#define BASE 0x10000ull /* 64-byte aligned */

static bool piece_legal(const struct hwbp_piece *p)
{
	return (p->len == 1 || p->len == 2 || p->len == 4 || p->len == 8) &&
	       p->addr % p->len == 0;
}

static bool any_piece_overlaps(const struct hwbp_piece *p, int n,
			       uint64_t a, uint64_t len)
{
	for (int i = 0; i < n; i++)
		if (hwbp_range_overlaps(p[i].addr, p[i].len, a, len))
			return true;
	return false;
}

/* Fewest aligned blocks that partition [a, a+len) exactly (DP). */
static int min_exact_cover(uint64_t a, uint64_t len)
{
	int best[200];

	best[len] = 0;
	for (int i = (int)len - 1; i >= 0; i--) {
		best[i] = 1 << 20;
		for (uint32_t s = 1; s <= 8; s <<= 1)
			if ((a + (uint64_t)i) % s == 0 && i + s <= len &&
			    best[i + s] + 1 < best[i])
				best[i] = best[i + s] + 1;
	}
	return best[0];
}

static int blocks_touched(uint64_t a, uint64_t len)
{
	return (int)((a + len - 1) / 8 - a / 8 + 1);
}

/* Every access of 1/2/4/8 bytes, aligned or not, around the range. */
static void check_accesses(const struct hwbp_piece *p, int n, uint64_t a,
			   uint64_t len, bool exact)
{
	for (uint64_t x = a - 16; x < a + len + 16; x++)
		for (uint32_t s = 1; s <= 8; s <<= 1) {
			bool wanted = hwbp_range_overlaps(x, s, a, len);
			bool traps = any_piece_overlaps(p, n, x, s);

			cr_assert(!wanted || traps, "access %u@+%llu missed "
				  "(range +%llu len %llu)", s,
				  (unsigned long long)(x - BASE),
				  (unsigned long long)(a - BASE),
				  (unsigned long long)len);
			cr_assert(!exact || wanted == traps,
				  "exact split traps an outside access");
		}
}

static void check_split(uint64_t a, uint64_t len, unsigned flags)
{
	struct hwbp_piece p[64];
	bool exact = flags & HWBP_SPLIT_EXACT;
	int n = hwbp_range_split(a, len, flags, p, 64);

	cr_assert_gt(n, 0, "%s", hwbp_last_error());
	cr_assert_eq(n, exact ? min_exact_cover(a, len) : blocks_touched(a, len),
		     "+%llu len %llu exact %d: %d pieces",
		     (unsigned long long)(a - BASE), (unsigned long long)len,
		     exact, n);
	for (int i = 0; i < n; i++) {
		cr_assert(piece_legal(&p[i]));
		for (int j = 0; j < i; j++)
			cr_assert(!hwbp_range_overlaps(p[i].addr, p[i].len,
						       p[j].addr, p[j].len));
		/* Narrowest: the half-size aligned block would not do. */
		if (!exact && p[i].len > 1) {
			uint64_t lo = p[i].addr > a ? p[i].addr : a;
			uint64_t hi = p[i].addr + p[i].len < a + len ?
				      p[i].addr + p[i].len : a + len;
			uint64_t half = p[i].len / 2;

			cr_assert(lo / half != (hi - 1) / half,
				  "piece %u@+%llu wider than needed", p[i].len,
				  (unsigned long long)(p[i].addr - BASE));
		}
	}
	check_accesses(p, n, a, len, exact);
}

Test(range, every_alignment_and_length_1_to_64)
{
	for (uint64_t off = 0; off < 64; off++)
		for (uint64_t len = 1; len <= 64; len++) {
			check_split(BASE + off, len, 0);
			check_split(BASE + off, len, HWBP_SPLIT_EXACT);
		}
}

Test(range, known_splits)
{
	struct hwbp_piece p[8];

	/* 3 bytes at +1: exact 1@1 + 2@2; fewest: one 4-byte register. */
	cr_assert_eq(hwbp_range_split(BASE + 1, 3, HWBP_SPLIT_EXACT, p, 8), 2);
	cr_assert(p[0].addr == BASE + 1 && p[0].len == 1);
	cr_assert(p[1].addr == BASE + 2 && p[1].len == 2);
	cr_assert_eq(hwbp_range_split(BASE + 1, 3, 0, p, 8), 1);
	cr_assert(p[0].addr == BASE && p[0].len == 4);
	/* A 16-byte aligned struct: two 8-byte registers either way. */
	cr_assert_eq(hwbp_range_split(BASE, 16, 0, p, 8), 2);
	cr_assert_eq(hwbp_range_split(BASE, 16, HWBP_SPLIT_EXACT, p, 8), 2);
}

Test(range, count_only_and_short_array)
{
	struct hwbp_piece p[2];

	cr_assert_eq(hwbp_range_split(BASE + 1, 64, HWBP_SPLIT_EXACT, NULL, 0),
		     min_exact_cover(BASE + 1, 64));
	cr_assert_eq(hwbp_range_split(BASE, 64, 0, p, 2), 8);
	cr_assert(p[1].addr == BASE + 8 && p[1].len == 8);
}

Test(range, bad_arguments)
{
	struct hwbp_piece p[4];

	TU_ASSERT_ERR(hwbp_range_split(BASE, 0, 0, p, 4), -EINVAL);
	TU_ASSERT_ERR(hwbp_range_split(~0ull - 2, 8, 0, p, 4), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "wraps"));
	TU_ASSERT_ERR(hwbp_range_split(BASE, 8, 0x80, p, 4), -EINVAL);
	TU_ASSERT_ERR(hwbp_range_split(BASE, 8, 0, NULL, 4), -EINVAL);
	TU_ASSERT_ERR(hwbp_range_split(BASE, 8, 0, p, -1), -EINVAL);
	cr_assert(!hwbp_range_overlaps(BASE, 0, BASE, 8));
	cr_assert(!hwbp_range_overlaps(BASE, 8, BASE + 8, 8));
	cr_assert(hwbp_range_overlaps(BASE, 9, BASE + 8, 8));
}
