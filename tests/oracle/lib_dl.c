/* SPDX-License-Identifier: MIT */
/*
 * lib_dl.c - liboracle_dl.so, the library the oracle program loads with
 * dlopen halfway through its writes: a store made inside it.
 */
__attribute__((noipa)) void dl_store(volatile long *p, long v)
{
	*p = v;
}
