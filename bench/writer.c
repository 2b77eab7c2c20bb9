/* SPDX-License-Identifier: MIT */
/*
 * writer.c - the program the per-hit benchmarks watch: writes `counter`
 * N times (one store each, -O0), then exits.  Built without PIE so perf,
 * gdb and bpftrace can be given its address as a number.
 *   usage: writer N
 */
#include <stdio.h>
#include <stdlib.h>

long counter;

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;

	for (long i = 1; i <= n; i++)
		counter = i;
	return counter == n ? 0 : 1;
}
