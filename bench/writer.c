/* SPDX-License-Identifier: MIT */
/*
 * writer.c - the program the per-hit benchmarks watch: writes `counter`
 * N times (one store each, -O0), then exits; with THREADS > 1, that many
 * threads share the N writes.  Built without PIE so perf, gdb and bpftrace
 * can be given its address as a number.
 *   usage: writer N [THREADS]
 * With WRITER_TIME_FILE set, it writes there the seconds its writes took
 * (first store to last, threads created and joined included): the cost a
 * tool puts on the program, apart from the tool's own start and end
 * (perf record waits up to 1 s for a helper thread's poll at exit).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

long counter;
static long per_thread;

static void *write_some(void *arg)
{
	(void)arg;
	for (long i = 1; i <= per_thread; i++)
		counter = i;
	return NULL;
}

static int write_all(long n, int nthreads)
{
	pthread_t t[64];

	if (nthreads <= 1) {
		for (long i = 1; i <= n; i++)
			counter = i;
		return counter == n ? 0 : 1;
	}
	if (nthreads > 64)
		nthreads = 64;
	per_thread = n / nthreads;
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, write_some, NULL))
			return 1;
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int nthreads = argc > 2 ? atoi(argv[2]) : 1;
	const char *time_file = getenv("WRITER_TIME_FILE");
	double start = now();
	int status = write_all(n, nthreads);
	double took = now() - start;
	FILE *f;

	if (time_file && (f = fopen(time_file, "w"))) {
		fprintf(f, "%.9f\n", took);
		fclose(f);
	}
	return status;
}
