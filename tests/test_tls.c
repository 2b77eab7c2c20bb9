/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c - each thread's own copy watched: the library's thread watch
 * (hwbp_sched_add_thread: a register of one thread writing into the
 * process's per-CPU rings, hits of that thread only) and `hwbp watch` on
 * thread-locals (C __thread by gcc and clang, C++ thread_local, one in a
 * shared library), launched and attached, threads that exist at the start
 * and ones created later, exact counts and values per thread against the
 * program's own log.
 */
#include <pthread.h>
#include <sys/sysinfo.h>

#include "cmdutil.h"

static volatile uint64_t var;
static __thread volatile uint64_t tv;

/* Per cookie: hits, and the threads that made them. */
struct tally {
	int hits;
	pid_t tid;
	bool other_tid;
};
static struct tally tally[4];
static int unmatched_cookie;

static void on_rec(const struct hwbp_record *r, void *cookie)
{
	struct tally *t = cookie;

	if (r->kind != HWBP_REC_HIT)
		return;
	if (t < tally || t >= tally + 4) {
		unmatched_cookie++;
		return;
	}
	t->hits++;
	if (t->tid && t->tid != (pid_t)r->tid)
		t->other_tid = true;
}

struct worker {
	pthread_barrier_t *go, *done;
	pid_t tid;
	volatile uint64_t *copy;
	int writes, after;  /* writes before and after the second barrier */
};

static void *work(void *arg)
{
	struct worker *k = arg;

	k->tid = gettid();
	k->copy = &tv;
	pthread_barrier_wait(k->go);   /* the main thread arms */
	pthread_barrier_wait(k->go);
	for (int i = 0; i < k->writes; i++)
		tv = (uint64_t)i;
	if (k->writes == 10)
		var = 1;
	pthread_barrier_wait(k->done); /* the main thread removes */
	pthread_barrier_wait(k->done);
	for (int i = 0; i < k->after; i++)
		tv = (uint64_t)i;
	return NULL;
}

static int consume_all(struct hwbp_sched *s)
{
	int cpus[256], n = hwbp_sched_ring_cpus(s, cpus, NULL, 256), got = 0;

	for (int i = 0; i < n; i++)
		got += hwbp_sched_consume_cpu(s, cpus[i]);
	return got;
}

static struct hwbp_sched *ring_sched(void)
{
	HWBP_OPTS(hwbp_opts, bo, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING);
	HWBP_OPTS(hwbp_sched_opts, so, .bp_opts = &bo, .on_record = on_rec,
		  .raw_records = true);
	struct hwbp_sched *s = NULL;

	cr_assert_eq(hwbp_sched_create(&s, &so), 0, "%s", hwbp_last_error());
	return s;
}

Test(tls, sched_thread_watch_sees_its_thread_only, .timeout = 30)
{
	pthread_barrier_t go, done;
	struct worker k[2] = { { &go, &done, 0, NULL, 10, 5 },
			       { &go, &done, 0, NULL, 20, 0 } };
	HWBP_OPTS(hwbp_sched_stats, st);
	HWBP_OPTS(hwbp_watch_stats, ws);
	struct hwbp_watch *w[2];
	struct hwbp_sched *s;
	pthread_t th[2];
	int cpus[256];

	TU_REQUIRE_HITS();
	pthread_barrier_init(&go, NULL, 3);
	pthread_barrier_init(&done, NULL, 3);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, work, &k[i]);
	pthread_barrier_wait(&go);
	s = ring_sched();
	/* a thread watch first: the rings come without a register */
	for (int i = 0; i < 2; i++) {
		tally[i + 1] = (struct tally){ .tid = k[i].tid };
		cr_assert_eq(hwbp_sched_add_thread(s, k[i].tid,
						   (uintptr_t)k[i].copy, 8,
						   HWBP_WRITE, &tally[i + 1],
						   &w[i]), 0, "%s",
			     hwbp_last_error());
	}
	cr_assert_eq(hwbp_sched_ring_cpus(s, cpus, NULL, 256),
		     get_nprocs_conf(), "a ring per CPU: %s",
		     hwbp_last_error());
	cr_assert_eq(hwbp_sched_add(s, (uintptr_t)&var, 8, HWBP_WRITE,
				    &tally[0], NULL), 0, "%s",
		     hwbp_last_error());
	for (int i = 0; i < 7; i++)
		tv = (uint64_t)i; /* this thread's own copy: not watched */
	pthread_barrier_wait(&go);
	pthread_barrier_wait(&done);
	cr_assert_eq(consume_all(s), 31, "records: 10 + 20 + 1");
	cr_assert_eq(tally[0].hits, 1);
	cr_assert_eq(tally[1].hits, 10);
	cr_assert_eq(tally[2].hits, 20);
	cr_assert_not(tally[1].other_tid || tally[2].other_tid,
		      "a hit of another thread on a thread watch");
	cr_assert_eq(unmatched_cookie, 0);
	cr_assert_eq(hwbp_watch_get_stats(w[0], &ws), 0);
	cr_assert_eq(ws.hits, 10);
	cr_assert(ws.armed && ws.pieces_armed == 1 && ws.registers == 1);
	/* removed: its thread writes on, nothing comes */
	cr_assert_eq(hwbp_sched_remove(s, w[0]), 0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_watch_get_stats(w[0], &ws), 0);
	cr_assert_not(ws.armed);
	pthread_barrier_wait(&done);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(consume_all(s), 0, "hits after the removal");
	cr_assert_eq(hwbp_sched_get_stats(s, &st), 0);
	cr_assert_eq(st.counted, 31, "counted %llu",
		     (unsigned long long)st.counted);
	cr_assert_eq(st.records, 31);
	cr_assert_eq(st.lost + st.unmatched, 0);
	hwbp_sched_close(s);
}

Test(tls, sched_thread_watch_refusals, .timeout = 30)
{
	static volatile uint64_t four[4][2] __attribute__((aligned(16)));
	struct hwbp_sched *s;
	struct hwbp_watch *w = (void *)1;
	int slots = tu_probe().slots;

	TU_REQUIRE_BREAKPOINTS();
	s = ring_sched();
	cr_assert_eq(hwbp_sched_add_thread(s, getppid(), (uintptr_t)&tv, 8,
					   HWBP_WRITE, NULL, &w), -ESRCH);
	cr_assert(strstr(hwbp_last_error(), "is not one of process"), "%s",
		  hwbp_last_error());
	cr_assert_null(w);
	for (int i = 0; i < slots && i < 4; i++)
		cr_assert_eq(hwbp_sched_add(s, (uintptr_t)&four[i][0], 8,
					    HWBP_WRITE, NULL, NULL), 0, "%s",
			     hwbp_last_error());
	cr_assert_eq(hwbp_sched_add_thread(s, gettid(), (uintptr_t)&tv, 8,
					   HWBP_WRITE, NULL, &w), -ENOSPC);
	cr_assert(strstr(hwbp_last_error(), "has no free debug register"),
		  "%s", hwbp_last_error());
	hwbp_sched_close(s);
}
