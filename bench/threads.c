/* SPDX-License-Identifier: MIT */
/*
 * threads.c - hits/s as threads are added: 1, 2, 4, 8, 16 threads write one
 * watched variable, N writes in all, under one process-wide breakpoint
 * counting, calling back (SIGTRAP in each thread), or writing a ring that
 * a consumer thread drains.  Each row says how many hits arrived of how
 * many writes and how many records the kernel dropped: a fast row that
 * lost hits is not fast.  Only where traps fire.
 *   usage: threads [N]   prints "path threads seconds hits expected lost"
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <hwbp.h>

static volatile uint64_t target;
static long per_thread;
static pthread_barrier_t start_line;
static atomic_long seen;
static atomic_bool writers_done;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start_line);
	for (long i = 0; i < per_thread; i++)
		target = (uint64_t)i;
	return NULL;
}

/* async-signal-safe: one atomic add */
static void on_hit(const struct hwbp_hit *h, void *uc)
{
	(void)h, (void)uc;
	atomic_fetch_add(&seen, 1);
}

static void on_rec(const struct hwbp_record *r, void *c)
{
	(void)c;
	atomic_fetch_add(&seen, r->kind == HWBP_REC_HIT);
}

static void *consumer(void *arg)
{
	struct hwbp *bp = arg;

	while (!atomic_load(&writers_done))
		hwbp_ring_poll(bp, 10);
	while (hwbp_ring_consume(bp) > 0)
		;
	return NULL;
}

/* One row: nthreads writers under a breakpoint delivering d. */
static void run(const char *name, enum hwbp_delivery d, int nthreads, long n)
{
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS, .delivery = d,
		  .on_hit = on_hit, .on_record = on_rec, .ring_pages = 256);
	HWBP_OPTS(hwbp_stats, st);
	pthread_t t[16], cons;
	struct hwbp *bp;
	uint64_t count = 0;
	double t0, t1;

	per_thread = n / nthreads;
	atomic_store(&seen, 0);
	atomic_store(&writers_done, false);
	if (hwbp_create(&bp, (uintptr_t)&target, 8, HWBP_WRITE, &o))
		fprintf(stderr, "%s: %s\n", name, hwbp_last_error()), exit(1);
	if (d == HWBP_DELIVER_RING &&
	    pthread_create(&cons, NULL, consumer, bp))
		perror("consumer"), exit(1);
	pthread_barrier_init(&start_line, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, writer, NULL))
			perror("writer"), exit(1);
	pthread_barrier_wait(&start_line);
	t0 = now();
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	t1 = now(); /* the ring's last records are drained after: counted,
		     * not timed */
	atomic_store(&writers_done, true);
	if (d == HWBP_DELIVER_RING)
		pthread_join(cons, NULL);
	pthread_barrier_destroy(&start_line);
	if (d == HWBP_DELIVER_COUNT && hwbp_read_count(bp, &count) == 0)
		atomic_store(&seen, (long)count);
	hwbp_get_stats(bp, &st);
	hwbp_close(bp);
	printf("%-8s %2d %9.4f %9ld %9ld %6llu\n", name, nthreads, t1 - t0,
	       atomic_load(&seen), per_thread * nthreads,
	       (unsigned long long)st.lost);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const int sizes[] = { 1, 2, 4, 8, 16 };
	long n = argc > 1 ? atol(argv[1]) : 160000;

	hwbp_set_print(NULL);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		run("count", HWBP_DELIVER_COUNT, sizes[k], n);
		run("callback", HWBP_DELIVER_SIGNAL, sizes[k], n);
		run("ring", HWBP_DELIVER_RING, sizes[k], n);
	}
	return 0;
}
