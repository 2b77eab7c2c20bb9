/* SPDX-License-Identifier: MIT */
/* tlslib.c - a library with a thread-local, loaded at start by tls.c. */
__thread volatile long lib_tv = 5;

void lib_tv_set(long v);
void lib_tv_set(long v)
{
	lib_tv = v;
}
