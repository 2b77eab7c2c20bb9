/* SPDX-License-Identifier: MIT */
/*
 * test_load.c - load with nothing lost: 16 threads writing at once give
 * exact counts (kernel counting and synchronous callbacks, per thread);
 * a fork storm of 200 short children is followed into the ring with every
 * child's hits and its FORK record.  The default sizes fit an emulated CPU
 * (scripts/qemu-check); HWBP_LOAD_HITS=N makes each thread write N times
 * (docs/RELIABILITY.md has the large runs: `./dev load`).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "testutil.h"

enum { THREADS = 16, CHILDREN = 200, CHILD_WRITES = 5 };

static volatile uint64_t hot;
static long writes = 2000; /* per thread: HWBP_LOAD_HITS */
static pthread_barrier_t start_line;
static atomic_long by_thread_hits[THREADS];
static _Thread_local int my_index = -1;

static void *hammer(void *arg)
{
	my_index = (int)(intptr_t)arg;
	pthread_barrier_wait(&start_line);
	for (long i = 0; i < writes; i++)
		TU_WRITE(hot, (uint64_t)i);
	return NULL;
}

static void run_threads(void)
{
	pthread_t t[THREADS];

	writes = tu_env_size("HWBP_LOAD_HITS", writes);
	cr_assert_eq(pthread_barrier_init(&start_line, NULL, THREADS), 0);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, hammer,
					    (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start_line);
}

Test(load, sixteen_threads_exact_count)
{
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS);
	struct hwbp *bp;
	uint64_t n = 0;

	TU_REQUIRE_BREAKPOINTS();
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&hot, 8, HWBP_WRITE, &o), 0,
		     "%s", hwbp_last_error());
	run_threads();
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	hwbp_close(bp);
	TU_REQUIRE_HITS();
	cr_assert_eq(n, (uint64_t)THREADS * writes, "%llu hits, want %d x %ld",
		     (unsigned long long)n, THREADS, writes);
}

/* async-signal-safe: a thread-local index and atomics */
static void per_thread(const struct hwbp_hit *hit, void *uc)
{
	(void)hit, (void)uc;
	if (my_index >= 0)
		atomic_fetch_add(&by_thread_hits[my_index], 1);
}

Test(load, sixteen_threads_callbacks_per_thread)
{
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_SIGNAL, .on_hit = per_thread);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *bp;

	TU_REQUIRE_SIGTRAP();
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&hot, 8, HWBP_WRITE, &o), 0,
		     "%s", hwbp_last_error());
	run_threads();
	cr_assert_eq(hwbp_get_stats(bp, &st), 0);
	hwbp_close(bp);
	TU_REQUIRE_HITS();
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(atomic_load(&by_thread_hits[i]), writes,
			     "thread %d: %ld callbacks", i,
			     atomic_load(&by_thread_hits[i]));
	cr_assert_eq(st.signals, (uint64_t)THREADS * writes);
}

struct storm {
	pid_t pids[CHILDREN];
	int hits[CHILDREN], forks, other;
};
static struct storm storm;

static void storm_record(const struct hwbp_record *r, void *cookie)
{
	(void)cookie;
	for (int i = 0; i < CHILDREN; i++)
		if ((pid_t)r->pid == storm.pids[i]) {
			if (r->kind == HWBP_REC_HIT)
				storm.hits[i]++;
			else if (r->kind == HWBP_REC_FORK && r->pid == r->tid)
				storm.forks++;
			return;
		}
	storm.other += r->kind == HWBP_REC_HIT;
}

Test(load, fork_storm_followed)
{
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING, .on_record = storm_record,
		  .task_events = true, .ring_pages = 64);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&hot, 8, HWBP_WRITE, &o), 0,
		     "%s", hwbp_last_error());
	for (int i = 0; i < CHILDREN; i++) {
		pid_t pid = fork();

		cr_assert_geq(pid, 0);
		if (pid == 0) {
			for (int k = 0; k < CHILD_WRITES; k++)
				TU_WRITE(hot, (uint64_t)k);
			_exit(0);
		}
		storm.pids[i] = pid;
		if (i % 20 == 19)
			hwbp_ring_consume(bp); /* keep the ring drained */
	}
	for (int i = 0; i < CHILDREN; i++)
		cr_assert_eq(waitpid(storm.pids[i], NULL, 0), storm.pids[i]);
	while (hwbp_ring_consume(bp) > 0)
		;
	cr_assert_eq(hwbp_get_stats(bp, &st), 0);
	hwbp_close(bp);
	cr_assert_eq(storm.forks, CHILDREN, "FORK records: %d", storm.forks);
	TU_REQUIRE_HITS();
	cr_assert_eq(st.lost, 0);
	cr_assert_eq(storm.other, 0);
	for (int i = 0; i < CHILDREN; i++)
		cr_assert_eq(storm.hits[i], CHILD_WRITES, "child %d: %d hits",
			     i, storm.hits[i]);
}
