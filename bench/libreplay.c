/* SPDX-License-Identifier: MIT */
/*
 * libreplay.c - bench/replay_gen's library: two of its watched variables,
 * and frames of a second module on the way to each store made through it.
 */
volatile long lib_flag, lib_sum;

__attribute__((noinline)) void lib_recurse(int depth, void (*leaf)(void))
{
	if (depth > 0) {
		lib_recurse(depth - 1, leaf);
		__asm__ volatile("" ::: "memory"); /* not a tail call */
		return;
	}
	leaf();
}
