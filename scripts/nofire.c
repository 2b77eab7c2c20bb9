/* SPDX-License-Identifier: MIT */
/*
 * scripts/nofire.c - an LD_PRELOAD library that makes a machine whose
 * debug registers trap behave as one whose hypervisor never delivers a
 * trap (`hwbp probe`: "hits fire no"): every user-space breakpoint event
 * is opened, and modified, at address 0x1000 instead of its own.  Nothing
 * is mapped there (vm.mmap_min_addr), so the kernel arms it and it never
 * fires.  Kernel addresses are left alone (their refusals are tested).
 *
 * `./dev test-nofire` runs the suite under it: every test that needs a
 * hit must skip with its reason, none may fail, as on such a machine.
 * It wraps libc's syscall() and ioctl(), which libhwbp calls; a program
 * that makes the system call itself is not covered.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>

#define NOWHERE 0x1000ull
#define USER_END 0x0000800000000000ull

/* A copy of the caller's attr (any size up to ours), re-aimed. */
static const void *reaimed(const void *arg, struct perf_event_attr *copy)
{
	const struct perf_event_attr *a = arg;

	if (!a || a->size == 0 || a->size > sizeof(*copy) ||
	    a->type != PERF_TYPE_BREAKPOINT || a->bp_addr >= USER_END)
		return arg;
	memset(copy, 0, sizeof(*copy));
	memcpy(copy, a, a->size);
	copy->bp_addr = NOWHERE;
	return copy;
}

long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	struct perf_event_attr copy;
	va_list ap;
	long a[6];

	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	va_start(ap, nr);
	for (int i = 0; i < 6; i++) /* as glibc's syscall() takes them */
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_perf_event_open)
		a[0] = (long)reaimed((const void *)a[0], &copy);
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	struct perf_event_attr copy;
	va_list ap;
	void *arg;

	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT,
							       "ioctl");
	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == PERF_EVENT_IOC_MODIFY_ATTRIBUTES)
		arg = (void *)reaimed(arg, &copy);
	return real(fd, req, arg);
}
