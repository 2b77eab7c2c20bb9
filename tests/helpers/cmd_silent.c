/* SPDX-License-Identifier: MIT */
/*
 * cmd_silent.c - known silent stores, for `hwbp silent`: `cmd_silent N`
 * runs N rounds, each storing
 *   same_value = 7       silent in every round but the first
 *   counter    = round   never silent
 *   half       = round/2 silent in odd rounds: exactly half
 * with a little work in between, and exits 0.  It stays on the CPU it
 * starts on: a burst's records then come from one CPU's ring, in time
 * order, and an arming's before the next one's (moved between CPUs, a
 * record read out of time order or after the next arming makes the rest
 * of its burst unsure, as it should: the test's bound on unsure writes
 * failed once in a loaded CI run, 400 of 499).
 */
#include <sched.h>
#include <stdlib.h>

volatile long same_value, counter, half;
volatile long sink;

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	int cpu = sched_getcpu();
	cpu_set_t one;

	CPU_ZERO(&one);
	if (cpu >= 0) {
		CPU_SET(cpu, &one);
		sched_setaffinity(0, sizeof(one), &one); /* (best effort) */
	}

	for (long round = 1; round <= n; round++) {
		same_value = 7;
		counter = round;
		half = round / 2;
		for (int i = 0; i < 200; i++)
			sink += i;
	}
	return 0;
}
