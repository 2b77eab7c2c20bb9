/* SPDX-License-Identifier: MIT */
/*
 * aux.c - the trace behind HWBP_SAMPLE_BRANCHES: per watched (thread, CPU)
 * an intel_pt event (user only, returns as TIP packets) with a small AUX
 * area mapped read-only, so the kernel keeps it in snapshot (overwrite)
 * mode; it leads a group that the breakpoint events of that target join
 * with PERF_SAMPLE_AUX, and each of their samples carries the last
 * aux_sample_size bytes of the trace (kernel 5.5+: perf_get_aux_event()
 * wants an AUX leader whose PMU has snapshot_aux; pt_buffer_setup_aux()
 * takes AUX sampling in snapshot mode only).  Only one PT event runs per
 * CPU, so the leaders are shared by every handle watching the same target
 * and counted; the last put closes it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define PT_DISRETC (1ull << 11) /* intel_pt/format/noretcomp: config:11 */
#define DATA_PAGES 1            /* the leader's own records: never read */

struct hwbp_aux {
	pid_t tid;
	int cpu;
	bool inherit;
	int fd;
	void *base, *aux;
	size_t base_size, aux_size;
	int refs;
	struct hwbp_aux *next;
};

static pthread_mutex_t aux_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hwbp_aux *leaders;

int hwbp_pt_type(void)
{
	FILE *f = fopen("/sys/bus/event_source/devices/intel_pt/type", "r");
	int type = -1;

	if (!f)
		return -ENOENT;
	if (fscanf(f, "%d", &type) != 1)
		type = -1;
	fclose(f);
	return type < 0 ? -ENOENT : type;
}

/* Pages for `bytes` of trace: a power of 2, at least one. */
static size_t aux_pages(uint32_t bytes, size_t page)
{
	size_t n = 1;

	while (n * page < bytes)
		n *= 2;
	return n;
}

static int map_areas(struct hwbp_aux *a, uint32_t bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct perf_event_mmap_page *pg;

	a->base_size = page * (1 + DATA_PAGES);
	a->base = mmap(NULL, a->base_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       a->fd, 0);
	if (a->base == MAP_FAILED)
		return hwbp_fail(errno, "mmap of the intel_pt event's ring "
				 "failed: %s", strerror(errno));
	pg = a->base;
	a->aux_size = aux_pages(bytes, page) * page;
	pg->aux_offset = a->base_size;
	pg->aux_size = a->aux_size;
	/* Read-only: the kernel overwrites it (snapshot mode), which is
	 * what AUX sampling needs. */
	a->aux = mmap(NULL, a->aux_size, PROT_READ, MAP_SHARED, a->fd,
		      (off_t)a->base_size);
	if (a->aux == MAP_FAILED) {
		int err = errno;

		munmap(a->base, a->base_size);
		return hwbp_fail(err, "mmap of a %zu-byte intel_pt AUX area "
				 "failed: %s (the limit is "
				 "kernel.perf_event_mlock_kb per user)",
				 a->aux_size, strerror(err));
	}
	return 0;
}

static int open_leader(struct hwbp_aux *a, uint32_t bytes)
{
	int type = hwbp_pt_type();
	struct perf_event_attr attr = {
		.size = sizeof(attr),
		.config = PT_DISRETC,
		.exclude_kernel = 1,
		.exclude_hv = 1,
		.inherit = a->inherit,
		/* The group's events share one clock (perf_event_open). */
		.use_clockid = 1,
		.clockid = CLOCK_MONOTONIC,
	};
	long fd;
	int err;

	if (type < 0)
		return hwbp_fail(EOPNOTSUPP, "HWBP_SAMPLE_BRANCHES needs an "
				 "intel_pt PMU: this machine has none");
	attr.type = (uint32_t)type;
	fd = hwbp_perf_event_open(&attr, a->tid, a->cpu, -1,
				  PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err == ESRCH)
			return -ESRCH;
		if (err == ENODEV && a->cpu >= 0)
			return -ENODEV;
		return hwbp_fail(err, "perf_event_open(intel_pt, tid %d, cpu "
				 "%d): %s%s", (int)a->tid, a->cpu,
				 strerror(err), err == EBUSY ? " (another "
				 "user of LBR, BTS or PT holds it)" : "");
	}
	a->fd = (int)fd;
	err = map_areas(a, bytes);
	if (err)
		close(a->fd);
	return err;
}

int hwbp_aux_get(pid_t tid, int cpu, bool inherit, uint32_t bytes,
		 struct hwbp_aux **out)
{
	struct hwbp_aux *a;
	int err = 0;

	pthread_mutex_lock(&aux_lock);
	for (a = leaders; a; a = a->next)
		if (a->tid == tid && a->cpu == cpu && a->inherit == inherit)
			break;
	if (a) {
		a->refs++;
	} else if (!(a = calloc(1, sizeof(*a)))) {
		err = hwbp_fail(ENOMEM, "out of memory for an intel_pt leader");
	} else {
		*a = (struct hwbp_aux){ .tid = tid, .cpu = cpu,
					.inherit = inherit, .refs = 1 };
		err = open_leader(a, bytes);
		if (err) {
			free(a);
			a = NULL;
		} else {
			a->next = leaders;
			leaders = a;
		}
	}
	pthread_mutex_unlock(&aux_lock);
	*out = a;
	return err;
}

void hwbp_aux_put(struct hwbp_aux *a)
{
	struct hwbp_aux **p;

	if (!a)
		return;
	pthread_mutex_lock(&aux_lock);
	if (--a->refs == 0) {
		for (p = &leaders; *p && *p != a; p = &(*p)->next)
			;
		if (*p)
			*p = a->next;
		munmap(a->aux, a->aux_size);
		munmap(a->base, a->base_size);
		close(a->fd);
		free(a);
	}
	pthread_mutex_unlock(&aux_lock);
}

int hwbp_aux_fd(const struct hwbp_aux *a)
{
	return a ? a->fd : -1;
}
