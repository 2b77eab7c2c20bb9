/* SPDX-License-Identifier: MIT */
/*
 * lib.c - libnames.so, for uselib.c: a variable the executable uses
 * directly (foo_var, foo_state: built -no-pie, the executable has a copy
 * relocation for each and the library writes the copy), a thread-local
 * of an initially-loaded library (lib_tls).
 */
struct fstate {
	int a;
	long b;
};

int foo_var;
struct fstate foo_state;
__thread int lib_tls;

__attribute__((noinline)) void foo_set(int v)
{
	foo_var = v;
	foo_state.b = v * 10L;
	__asm__ volatile("" ::: "memory");
}

int *lib_tls_touch(int v)
{
	lib_tls = v;
	return &lib_tls;
}
