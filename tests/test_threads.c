/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - handles created, moved and closed from several threads
 * at once, with signal hits arriving meanwhile: counts stay exact and
 * nothing leaks.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#define THREADS 4
#define ROUNDS 500

static atomic_int cb_hits[THREADS];
static atomic_int wrong_tid;
static __thread pid_t my_tid;

static void on_hit(const struct hwbp_hit *hit, void *uc)
{
	int idx = (int)(intptr_t)hit->cookie;

	(void)uc;
	if (hit->tid != my_tid)
		atomic_fetch_add(&wrong_tid, 1);
	atomic_fetch_add(&cb_hits[idx], 1);
}

static void *churn(void *arg)
{
	int idx = (int)(intptr_t)arg, bad = 0;
	uint64_t vars[2] = { 0, 0 };

	my_tid = tu_gettid();
	for (int r = 0; r < ROUNDS && !bad; r++) {
		HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_SIGNAL,
			  .on_hit = on_hit, .cookie = (void *)(intptr_t)idx,
			  .rearm = r % 2 ? HWBP_REARM_REOPEN : HWBP_REARM_AUTO);
		struct hwbp *bp;
		uint64_t n = 0;

		if (hwbp_create(&bp, (uintptr_t)&vars[0], 8, HWBP_WRITE, &opts))
			return (void *)1;
		TU_WRITE(vars[0], r);
		bad |= hwbp_move(bp, (uintptr_t)&vars[1], 8, HWBP_WRITE) != 0;
		TU_WRITE(vars[0], r);
		TU_WRITE(vars[1], r);
		bad |= hwbp_read_count(bp, &n) != 0 || n != 2;
		bad |= hwbp_close(bp) != 0;
	}
	return (void *)(intptr_t)bad;
}

Test(threads, concurrent_create_move_close)
{
	pthread_t t[THREADS];
	int fds;

	TU_REQUIRE_SIGTRAP();
	TU_REQUIRE_HITS();
	fds = tu_open_fds();
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, churn, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		cr_assert_null(ret, "thread %d: a count was off or a call "
			       "failed: %s", i, hwbp_last_error());
	}
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(atomic_load(&cb_hits[i]), 2 * ROUNDS, "thread %d",
			     i);
	cr_assert_eq(atomic_load(&wrong_tid), 0);
	cr_assert_eq(tu_open_fds(), fds);
}
