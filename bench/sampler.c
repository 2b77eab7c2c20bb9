/* SPDX-License-Identifier: MIT */
/*
 * sampler.c - what the sampling API costs (hwbp_sampler_*):
 *  1. an offer that arms a free register (modify ioctl + enable), one the
 *     reservoir passes over (no system call), and the raw modify ioctl of
 *     the same register for reference;
 *  2. a program with no hits: a loop of stores and arithmetic, alone, with
 *     4 samples armed on other addresses, and with a 1 kHz SIGPROF timer
 *     whose handler offers a sample each tick (Witch's set-up), as ratios
 *     of the loop's time alone (and with the timer's signals only);
 *  3. with hits (only where debug registers fire): the loop storing to a
 *     sampled variable, on_hit keeping it armed: time per hit.
 *   usage: sampler [ROUNDS]     (prints "name value unit" lines)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#include <hwbp.h>

static volatile uint64_t vars[64];
static volatile uint64_t work[1024];
static struct hwbp_sampler *timer_sampler;
static uint64_t hits;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* SIGTRAP handler: async-signal-safe. */
static int keep(const struct hwbp_sampler_hit *h, void *cookie)
{
	(void)h, (void)cookie;
	hits++;
	return HWBP_SAMPLER_KEEP;
}

static struct hwbp_sampler *make(uint64_t seed)
{
	HWBP_OPTS(hwbp_sampler_opts, o, .on_hit = keep, .seed = seed);
	struct hwbp_sampler *s;

	if (hwbp_sampler_create(&s, &o))
		fprintf(stderr, "sampler: %s\n", hwbp_last_error()), exit(1);
	return s;
}

static struct hwbp_sample sample(int i)
{
	return (struct hwbp_sample){ .addr = (uintptr_t)&vars[i % 64],
				     .len = 8, .access = HWBP_WRITE };
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* 1. Median ns per offer that arms, per offer passed over, per raw
 * modify of a breakpoint of the same thread. */
static void offers(int rounds)
{
	struct hwbp_sampler *s = make(1);
	double *t = malloc((size_t)rounds * sizeof(*t)), t0;
	struct hwbp_sample m;
	struct hwbp *bp;

	for (int i = 0; i < rounds; i++) {
		hwbp_sampler_release_all(s);
		m = sample(i);
		t0 = now();
		hwbp_sampler_offer(s, &m);
		t[i] = now() - t0;
	}
	qsort(t, (size_t)rounds, sizeof(*t), cmp);
	printf("offer_arms %.0f ns\n", t[rounds / 2]);
	for (int i = 0; i < 4; i++) { /* full, then a huge window */
		m = sample(i);
		hwbp_sampler_offer(s, &m);
	}
	for (int i = 0; i < 100000; i++) {
		m = sample(4 + i % 60);
		hwbp_sampler_offer(s, &m);
	}
	for (int i = 0; i < rounds; i++) {
		m = sample(4 + i % 60);
		t0 = now();
		hwbp_sampler_offer(s, &m);
		t[i] = now() - t0;
	}
	qsort(t, (size_t)rounds, sizeof(*t), cmp);
	printf("offer_passed %.0f ns\n", t[rounds / 2]);
	hwbp_sampler_close(s);
	if (hwbp_create(&bp, (uintptr_t)&vars[0], 8, HWBP_WRITE, NULL))
		fprintf(stderr, "create: %s\n", hwbp_last_error()), exit(1);
	for (int i = 0; i < rounds; i++) {
		t0 = now();
		hwbp_move(bp, (uintptr_t)&vars[i % 64], 8, HWBP_WRITE);
		t[i] = now() - t0;
	}
	qsort(t, (size_t)rounds, sizeof(*t), cmp);
	printf("raw_modify %.0f ns\n", t[rounds / 2]);
	hwbp_close(bp);
	free(t);
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The program: stores to memory nobody watches, and arithmetic.  Its
 * thread's CPU time (user + system, signal handlers included), so other
 * load on the machine does not count. */
static double loop_ns(long n)
{
	double t0 = cpu_now();
	uint64_t x = 1;

	for (long i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		work[i & 1023] = x;
	}
	return cpu_now() - t0;
}

static void tick(int sig)
{
	static int i;
	struct hwbp_sample m = sample(i++);

	(void)sig;
	if (timer_sampler)
		hwbp_sampler_offer(timer_sampler, &m); /* async-signal-safe */
}

/* Best of 5 for each set-up, interleaved. */
static void no_hits(long n)
{
	struct itimerval on = { { 0, 1000 }, { 0, 1000 } }, off = { 0 };
	struct sigaction sa = { .sa_handler = tick, .sa_flags = SA_RESTART };
	double alone = 1e30, armed = 1e30, timer = 1e30, empty = 1e30;
	struct hwbp_sampler *s = make(2);
	struct hwbp_sample m;

	sigaction(SIGPROF, &sa, NULL);
	for (int i = 0; i < 4; i++) {
		m = sample(i);
		hwbp_sampler_offer(s, &m);
	}
	hwbp_sampler_release_all(s);
	for (int r = 0; r < 5; r++) {
		double t = loop_ns(n);

		alone = t < alone ? t : alone;
		for (int i = 0; i < 4; i++) {
			m = sample(i);
			hwbp_sampler_offer(s, &m);
		}
		t = loop_ns(n);
		armed = t < armed ? t : armed;
		hwbp_sampler_release_all(s);
		timer_sampler = NULL; /* the timer's signals alone */
		setitimer(ITIMER_PROF, &on, NULL);
		t = loop_ns(n);
		setitimer(ITIMER_PROF, &off, NULL);
		empty = t < empty ? t : empty;
		timer_sampler = s;
		setitimer(ITIMER_PROF, &on, NULL);
		t = loop_ns(n);
		setitimer(ITIMER_PROF, &off, NULL);
		timer = t < timer ? t : timer;
		hwbp_sampler_release_all(s);
	}
	printf("loop_alone %.1f ms\n", alone / 1e6);
	printf("loop_4_armed_ratio %.3f x\n", armed / alone);
	printf("loop_1khz_signals_ratio %.3f x\n", empty / alone);
	printf("loop_1khz_offers_ratio %.3f x\n", timer / alone);
	hwbp_sampler_close(s);
}

static void with_hits(long n)
{
	HWBP_OPTS(hwbp_probe, pr);
	struct hwbp_sampler *s;
	struct hwbp_sample m = sample(7);
	double t0;

	if (hwbp_probe(&pr) || !pr.fires) {
		printf("# per_hit skipped: debug registers do not fire here "
		       "(hwbp probe)\n");
		return;
	}
	s = make(4);
	hwbp_sampler_offer(s, &m);
	t0 = now();
	for (long i = 0; i < n; i++)
		vars[7] = (uint64_t)i;
	printf("per_hit %.0f ns\n", (now() - t0) / (double)n);
	printf("hits %llu of %ld\n", (unsigned long long)hits, n);
	hwbp_sampler_close(s);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 2000;

	if (rounds < 10)
		rounds = 10;
	offers(rounds);
	no_hits((long)rounds * 50000);
	with_hits(rounds * 10L);
	return 0;
}
