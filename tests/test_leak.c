/* SPDX-License-Identifier: MIT */
/*
 * test_leak.c - open/close cycles leave fds, mappings and debug registers
 * as they were: a missed close or munmap is a register leak (ENOSPC later).
 * HWBP_LOAD_CYCLES=N runs N create/close cycles (default 10,000; `./dev
 * load` runs 100,000).
 */
#include "testutil.h"

static uint64_t word[4];

static void noop_hit(const struct hwbp_hit *h, void *uc)
{
	(void)h, (void)uc;
}

static void cycles(const struct hwbp_opts *opts, long n)
{
	int fds = tu_open_fds(), maps = tu_mappings();

	n = tu_env_size("HWBP_LOAD_CYCLES", n);
	for (long i = 0; i < n; i++) {
		struct hwbp *bp;

		cr_assert_eq(hwbp_create(&bp, (uintptr_t)&word[i % 4], 8,
					 HWBP_WRITE, opts), 0, "cycle %ld: %s",
			     i, hwbp_last_error());
		if (i % 3 == 0)
			cr_assert_eq(hwbp_move(bp, (uintptr_t)&word[(i + 1) % 4],
					       8, HWBP_RW), 0);
		cr_assert_eq(hwbp_close(bp), 0);
	}
	tu_assert_nothing_left(fds, maps);
}

Test(leak, count_cycles)
{
	TU_REQUIRE_BREAKPOINTS();
	cycles(NULL, 10000);
}

Test(leak, signal_cycles)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = noop_hit);

	TU_REQUIRE_SIGTRAP();
	cycles(&opts, 10000);
}

Test(leak, reopen_cycles)
{
	HWBP_OPTS(hwbp_opts, opts, .rearm = HWBP_REARM_REOPEN);

	TU_REQUIRE_BREAKPOINTS();
	cycles(&opts, 2000);
}

Test(leak, failed_creates_leave_nothing)
{
	struct hwbp *held[4], *bp;
	int fds, maps;

	TU_REQUIRE_BREAKPOINTS(); /* probes first: its thread's stack stays */
	fds = tu_open_fds();
	maps = tu_mappings();
	for (int i = 0; i < 4; i++)
		cr_assert_eq(hwbp_create(&held[i], (uintptr_t)&word[i], 8,
					 HWBP_WRITE, NULL), 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(hwbp_create(&bp, (uintptr_t)&word[0], 8,
					 HWBP_WRITE, NULL), -ENOSPC);
	for (int i = 0; i < 4; i++)
		hwbp_close(held[i]);
	cr_assert_eq(tu_open_fds(), fds);
	cr_assert_eq(tu_mappings(), maps);
}
