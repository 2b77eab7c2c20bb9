/* SPDX-License-Identifier: MIT */
/*
 * test_move.c - hwbp_move on both paths (the modify ioctl and the forced
 * close + reopen fallback): the old placement stops hitting, the new one
 * hits, counts carry over, bad moves change nothing, and a hit that fired
 * before a move is reported with the placement it fired at.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

static uint64_t a, b;
static uint32_t c4[2] __attribute__((aligned(8)));

static void move_and_count(enum hwbp_rearm rearm)
{
	HWBP_OPTS(hwbp_opts, opts, .rearm = rearm);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *bp;
	uint64_t n = 0;

	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&a, 8, HWBP_WRITE, &opts), 0,
		     "%s", hwbp_last_error());
	for (int i = 0; i < 10; i++)
		TU_WRITE(a, i);
	cr_assert_eq(hwbp_move(bp, (uintptr_t)&b, 8, HWBP_WRITE), 0, "%s",
		     hwbp_last_error());
	for (int i = 0; i < 10; i++)
		TU_WRITE(a, i); /* the old placement: no hits */
	for (int i = 0; i < 7; i++)
		TU_WRITE(b, i);
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	cr_assert_eq(n, 17, "10 before the move + 7 after, got %llu",
		     (unsigned long long)n);
	/* Another type and length: RW on 4 bytes. */
	cr_assert_eq(hwbp_move(bp, (uintptr_t)&c4[1], 4, HWBP_RW), 0, "%s",
		     hwbp_last_error());
	TU_WRITE(c4[1], 1);
	(void)TU_READ(c4[1]);
	TU_WRITE(c4[0], 1); /* the neighbour */
	TU_WRITE(b, 1);
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	cr_assert_eq(n, 19);
	cr_assert_eq(hwbp_get_stats(bp, &st), 0);
	cr_assert_eq(st.moves, 2);
	cr_assert_eq(st.reopens, rearm == HWBP_REARM_REOPEN ? 2 : 0);
	hwbp_close(bp);
}

Test(move, modify_in_place)
{
	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_MODIFY();
	TU_REQUIRE_HITS();
	move_and_count(HWBP_REARM_MODIFY);
}

Test(move, reopen_fallback)
{
	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_HITS();
	move_and_count(HWBP_REARM_REOPEN);
}

Test(move, reopen_with_all_registers_taken)
{
	HWBP_OPTS(hwbp_opts, opts, .rearm = HWBP_REARM_REOPEN);
	struct hwbp *others[3], *bp;
	uint64_t spare[3], n;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_HITS();
	for (int i = 0; i < 3; i++)
		cr_assert_eq(hwbp_create(&others[i], (uintptr_t)&spare[i], 8,
					 HWBP_WRITE, NULL), 0);
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&a, 8, HWBP_WRITE, &opts), 0);
	/* No free register for "open new before closing old": it closes
	 * first and still ends up armed at the new place. */
	cr_assert_eq(hwbp_move(bp, (uintptr_t)&b, 8, HWBP_WRITE), 0, "%s",
		     hwbp_last_error());
	TU_WRITE(b, 1);
	TU_WRITE(a, 1);
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	cr_assert_eq(n, 1);
	hwbp_close(bp);
	for (int i = 0; i < 3; i++)
		hwbp_close(others[i]);
}

Test(move, bad_move_changes_nothing)
{
	struct hwbp *bp;
	uint64_t n;

	TU_REQUIRE_BREAKPOINTS();
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&a, 8, HWBP_WRITE, NULL), 0);
	TU_ASSERT_ERR(hwbp_move(bp, (uintptr_t)&c4[0] + 2, 4, HWBP_WRITE),
		      -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "not 4-byte aligned"), "%s",
		  hwbp_last_error());
	TU_ASSERT_ERR(hwbp_move(bp, (uintptr_t)&b, 3, HWBP_WRITE), -EINVAL);
	TU_ASSERT_ERR(hwbp_move(bp, (uintptr_t)&b, 8, HWBP_READ), -EOPNOTSUPP);
	TU_ASSERT_ERR(hwbp_move(bp, 0, 8, HWBP_WRITE), -EINVAL);
	TU_ASSERT_ERR(hwbp_move(bp, (uintptr_t)&b, 8, (enum hwbp_access)9),
		      -EINVAL);
	TU_ASSERT_ERR(hwbp_move(bp, 0xffffffff81000000ull, 8, HWBP_WRITE),
		      -EINVAL);
	TU_REQUIRE_HITS();
	TU_WRITE(a, 5);
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	cr_assert_eq(n, 1, "still armed at the old place");
	hwbp_close(bp);
}

/*
 * A thread writes only `a`; the main thread keeps moving the breakpoint
 * between `a` and `b`.  The kernel may send a signal for a hit on `a` after
 * the move to `b` (it reads sig_data at send time): every reported hit must
 * still say `a`, never `b`.
 */
static atomic_int stop, hits_a, hits_b;
static void record_place(const struct hwbp_hit *hit, void *uc)
{
	(void)uc;
	if (hit->bp_addr == (uintptr_t)&a && hit->addr == (uintptr_t)&a)
		atomic_fetch_add(&hits_a, 1);
	else
		atomic_fetch_add(&hits_b, 1);
}

static void *write_a(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		TU_WRITE(a, a + 1);
	return NULL;
}

static void moves_race_writes(enum hwbp_rearm rearm)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = record_place, .scope = HWBP_SCOPE_PROCESS,
		  .rearm = rearm);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *bp;
	pthread_t t;

	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&a, 8, HWBP_WRITE, &opts), 0,
		     "%s", hwbp_last_error());
	pthread_create(&t, NULL, write_a, NULL);
	for (int i = 0; i < 4000; i++)
		cr_assert_eq(hwbp_move(bp, i % 2 ? (uintptr_t)&a : (uintptr_t)&b,
				       8, HWBP_WRITE), 0, "%s",
			     hwbp_last_error());
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	cr_assert_eq(hwbp_get_stats(bp, &st), 0);
	hwbp_close(bp);
	cr_assert_gt(atomic_load(&hits_a), 0, "the writer was never caught");
	cr_assert_eq(atomic_load(&hits_b), 0, "%d hits on a were reported at "
		     "b (stale: %llu)", atomic_load(&hits_b),
		     (unsigned long long)st.stale);
	cr_log_info("%d hits, %llu delivered after their placement moved",
		    atomic_load(&hits_a), (unsigned long long)st.stale);
}

Test(move, inflight_hits_keep_old_placement_modify)
{
	TU_REQUIRE_SIGTRAP();
	TU_REQUIRE_MODIFY();
	TU_REQUIRE_HITS();
	moves_race_writes(HWBP_REARM_MODIFY);
}

Test(move, inflight_hits_keep_old_placement_reopen)
{
	TU_REQUIRE_SIGTRAP();
	TU_REQUIRE_HITS();
	moves_race_writes(HWBP_REARM_REOPEN);
}
