/* SPDX-License-Identifier: MIT */
/* test_basic.c - counting: exact hit counts per access type and length. */
#include "testutil.h"

static uint8_t buf[64] __attribute__((aligned(64)));

Test(basic, write_counts_exact)
{
	struct hwbp *bp;
	uint64_t n = 0;

	TU_REQUIRE_BREAKPOINTS();
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&buf[8], 8, HWBP_WRITE, NULL),
		     0, "%s", hwbp_last_error());
	for (int i = 0; i < 1000; i++)
		TU_WRITE(*(uint64_t *)&buf[8], i);
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	cr_assert_eq(n, 1000);
	cr_assert_eq(hwbp_close(bp), 0);
}
