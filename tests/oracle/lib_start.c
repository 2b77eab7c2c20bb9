/* SPDX-License-Identifier: MIT */
/*
 * lib_start.c - liboracle_start.so, the library the oracle program is
 * linked with (loaded at start): a store made inside it, and lib_var, which
 * the program also writes directly (so the executable holds a copy
 * relocation of it: the live lib_var is the executable's copy).
 */
long lib_var;

__attribute__((noipa)) void lib_store(volatile long *p, long v)
{
	*p = v;
}

__attribute__((noipa)) void lib_set_var(long v)
{
	*(volatile long *)&lib_var = v;
}
