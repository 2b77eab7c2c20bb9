/* SPDX-License-Identifier: MIT */
/*
 * writer.c - the program the per-hit benchmarks watch: writes `counter`
 * N times (one store each, -O0), then exits; with THREADS > 1, that many
 * threads share the N writes.  Built without PIE so perf, gdb and bpftrace
 * can be given its address as a number.
 *   usage: writer N [THREADS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

long counter;
static long per_thread;

static void *write_some(void *arg)
{
	(void)arg;
	for (long i = 1; i <= per_thread; i++)
		counter = i;
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int nthreads = argc > 2 ? atoi(argv[2]) : 1;
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
