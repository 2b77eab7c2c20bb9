/* SPDX-License-Identifier: MIT */
/*
 * sched.c - what sharing the debug registers costs: for 8, 16 and 64
 * watches on 4 registers, the time of one round-robin turn (disarm 4,
 * re-arm 4 in place), the share of time each watch is armed under the
 * timer with a 2 ms quantum (coverage; 4/n is the most a fair rotation
 * can give), the CPU the default 10 ms quantum spends on turns, and the
 * cost of offering a candidate to the reservoir.  Needs no hit.
 *   usage: sched [TURNS [COVERAGE-MS]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <hwbp.h>

static volatile uint64_t vars[64];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static struct hwbp_sched *make(enum hwbp_policy policy, uint64_t seed,
			       uint32_t quantum_us)
{
	HWBP_OPTS(hwbp_sched_opts, o, .policy = policy, .manual = !quantum_us,
		  .seed = seed, .quantum_us = quantum_us);
	struct hwbp_sched *s;

	if (hwbp_sched_create(&s, &o))
		fprintf(stderr, "sched: %s\n", hwbp_last_error()), exit(1);
	return s;
}

static void add_all(struct hwbp_sched *s, int n, struct hwbp_watch **w)
{
	for (int i = 0; i < n; i++)
		if (hwbp_sched_add(s, (uintptr_t)&vars[i], 8, HWBP_WRITE, NULL,
				   &w[i]))
			fprintf(stderr, "add: %s\n", hwbp_last_error()), exit(1);
}

static void coverage(struct hwbp_watch **w, int n, double *lo, double *hi)
{
	*lo = 1, *hi = 0;
	for (int i = 0; i < n; i++) {
		HWBP_OPTS(hwbp_watch_stats, st);
		double c;

		hwbp_watch_get_stats(w[i], &st);
		c = st.total_ns ? (double)st.armed_ns / st.total_ns : 0;
		*lo = c < *lo ? c : *lo;
		*hi = c > *hi ? c : *hi;
	}
}

static double reservoir_add_ns(int n)
{
	struct hwbp_watch *w[64];
	const int trials = 50;
	double t0 = now();

	for (int t = 1; t <= trials; t++) {
		struct hwbp_sched *s = make(HWBP_POLICY_RESERVOIR, (uint64_t)t, 0);

		add_all(s, n, w);
		hwbp_sched_close(s);
	}
	return (now() - t0) / (trials * (double)n);
}

/* Coverage under the timer: n watches, quantum 2 ms, for ms. */
static void timed_coverage(int n, long ms, double *lo, double *hi)
{
	struct hwbp_watch *w[64];
	struct hwbp_sched *s = make(HWBP_POLICY_RR, 1, 2000);

	add_all(s, n, w);
	usleep((useconds_t)ms * 1000);
	coverage(w, n, lo, hi);
	hwbp_sched_close(s);
}

int main(int argc, char **argv)
{
	static const int sizes[] = { 8, 16, 64 };
	long turns = argc > 1 ? atol(argv[1]) : 2000;
	long ms = argc > 2 ? atol(argv[2]) : 1000;

	hwbp_set_print(NULL);
	printf("%-4s %10s %11s %9s %9s %9s %11s\n", "n", "turn-ns",
	       "overhead-%", "cov-min", "cov-max", "cov-4/n", "res-add-ns");
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct hwbp_watch *w[64];
		struct hwbp_sched *s = make(HWBP_POLICY_RR, 1, 0);
		int n = sizes[k];
		double t0, turn, lo, hi;

		add_all(s, n, w);
		t0 = now();
		for (long i = 0; i < turns; i++)
			if (hwbp_sched_rotate(s))
				fprintf(stderr, "rotate: %s\n",
					hwbp_last_error()), exit(1);
		turn = (now() - t0) / turns;
		hwbp_sched_close(s); /* its registers, for the next ones */
		timed_coverage(n, ms, &lo, &hi);
		printf("%-4d %10.0f %11.3f %9.3f %9.3f %9.3f %11.0f\n", n, turn,
		       100 * turn / 10e6, lo, hi, 4.0 / n, reservoir_add_ns(n));
	}
	return 0;
}
