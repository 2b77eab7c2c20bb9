/* SPDX-License-Identifier: MIT */
/*
 * lib_dl.c - liboracle_dl.so, the library the oracle program loads with
 * dlopen halfway through its writes: a store made inside it; and a
 * variable of its own, watched as liboracle_dl.so:dl_var before it is
 * loaded (initialized: ld.so's memset of .bss never touches it).
 */
volatile long dl_var = 5;

__attribute__((noipa)) void dl_store(volatile long *p, long v)
{
	*p = v;
}

__attribute__((noipa)) void dl_set_var(long v)
{
	dl_var = v;
}
