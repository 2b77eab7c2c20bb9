/* SPDX-License-Identifier: MIT */
/* tlsdl.c - a library with a thread-local, dlopen'd by tls.c: each
 * thread's copy is made on that thread's first use. */
__thread volatile long dl_tv;

void dl_tv_set(long v);
void dl_tv_set(long v)
{
	dl_tv = v;
}
