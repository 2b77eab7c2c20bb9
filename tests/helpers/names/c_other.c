/* SPDX-License-Identifier: MIT */
/* c_other.c - the second file of the C target (c_main.c): its own
 * file static `count`. */
#define BARRIER() __asm__ volatile("" ::: "memory")

static int count;

int *other_count(void)
{
	return &count;
}

__attribute__((noinline)) void other_write(int v)
{
	count = v;
	BARRIER();
}
