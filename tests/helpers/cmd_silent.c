/* SPDX-License-Identifier: MIT */
/*
 * cmd_silent.c - known silent stores, for `hwbp silent`: `cmd_silent N`
 * runs N rounds, each storing
 *   same_value = 7       silent in every round but the first
 *   counter    = round   never silent
 *   half       = round/2 silent in odd rounds: exactly half
 * with a little work in between, and exits 0.
 */
#include <stdlib.h>

volatile long same_value, counter, half;
volatile long sink;

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;

	for (long round = 1; round <= n; round++) {
		same_value = 7;
		counter = round;
		half = round / 2;
		for (int i = 0; i < 200; i++)
			sink += i;
	}
	return 0;
}
