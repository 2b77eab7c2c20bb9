/* SPDX-License-Identifier: MIT */
/* dl.c - libnames_dl.so, opened by uselib.c with dlopen: a thread-local
 * of a module loaded late (dl_tls), which a thread has only once it
 * touches it. */
__thread long dl_tls;

long *dl_tls_touch(long v)
{
	dl_tls = v;
	return &dl_tls;
}
