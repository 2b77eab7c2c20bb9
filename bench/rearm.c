/* SPDX-License-Identifier: MIT */
/*
 * rearm.c - what re-arming a breakpoint costs: the raw syscalls
 * (PERF_EVENT_IOC_MODIFY_ATTRIBUTES; close + perf_event_open; the same with
 * a ring buffer's mmap/munmap) against hwbp_move on each of its paths.
 * Needs no hit, so it runs where debug registers never fire.
 *   usage: rearm [ITERATIONS]   prints "name  median-ns/op  min-ns/op"
 *   (5 rounds of ITERATIONS each; the median of the rounds is the figure)
 */
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <hwbp.h>

#ifndef PERF_EVENT_IOC_MODIFY_ATTRIBUTES
#define PERF_EVENT_IOC_MODIFY_ATTRIBUTES _IOW('$', 11, struct perf_event_attr *)
#endif

static volatile uint64_t slots[2];
static long iters = 20000;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void attr_at(struct perf_event_attr *a, int which)
{
	memset(a, 0, sizeof(*a));
	a->type = PERF_TYPE_BREAKPOINT;
	a->size = sizeof(*a);
	a->bp_type = HW_BREAKPOINT_W;
	a->bp_addr = (uintptr_t)&slots[which];
	a->bp_len = HW_BREAKPOINT_LEN_8;
	a->sample_period = 1;
	a->exclude_kernel = 1;
	a->exclude_hv = 1;
}

static int open_at(int which)
{
	struct perf_event_attr a;

	attr_at(&a, which);
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1,
			    PERF_FLAG_FD_CLOEXEC);
}

#define ROUNDS 5
static double rounds[ROUNDS];
static int round_no;

static void report(const char *name, double t0, long n)
{
	rounds[round_no] = (now() - t0) / n;
	(void)name;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Run one measurement ROUNDS times; print its median and minimum. */
static void measure(const char *name, void (*fn)(const void *), const void *arg)
{
	for (round_no = 0; round_no < ROUNDS; round_no++)
		fn(arg);
	qsort(rounds, ROUNDS, sizeof(rounds[0]), by_value);
	printf("%-28s %9.0f %9.0f\n", name, rounds[ROUNDS / 2], rounds[0]);
	fflush(stdout);
}

static void raw_modify(const void *unused)
{
	struct perf_event_attr a;
	int fd = open_at(0);
	double t0 = now();

	(void)unused;
	for (long i = 0; i < iters; i++) {
		attr_at(&a, (int)(i & 1));
		if (ioctl(fd, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &a))
			perror("modify"), exit(1);
	}
	report("raw modify", t0, iters);
	close(fd);
}

static void raw_reopen(const void *mmap_too)
{
	bool with_mmap = mmap_too != NULL;
	size_t len = 2 * (size_t)sysconf(_SC_PAGESIZE);
	int fd = open_at(0);
	void *ring = NULL;
	double t0 = now();

	for (long i = 0; i < iters; i++) {
		if (ring)
			munmap(ring, len);
		close(fd);
		fd = open_at((int)(i & 1));
		if (fd < 0)
			perror("perf_event_open"), exit(1);
		if (with_mmap) {
			ring = mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_SHARED, fd, 0);
			if (ring == MAP_FAILED)
				perror("mmap"), exit(1);
		}
	}
	report(with_mmap ? "raw close+open+mmap" : "raw close+open", t0, iters);
	if (ring)
		munmap(ring, len);
	close(fd);
}

static void on_hit(const struct hwbp_hit *h, void *uc) { (void)h, (void)uc; }
static void on_rec(const struct hwbp_record *r, void *c) { (void)r, (void)c; }

struct lib_case {
	const char *name;
	enum hwbp_delivery d;
	enum hwbp_rearm rearm;
};

static void lib_move(const void *arg)
{
	const struct lib_case *c = arg;
	const char *name = c->name;
	HWBP_OPTS(hwbp_opts, o, .delivery = c->d, .rearm = c->rearm,
		  .on_hit = on_hit, .on_record = on_rec, .ring_pages = 1);
	struct hwbp *bp;
	double t0;

	if (hwbp_create(&bp, (uintptr_t)&slots[0], 8, HWBP_WRITE, &o))
		fprintf(stderr, "%s: %s\n", name, hwbp_last_error()), exit(1);
	t0 = now();
	for (long i = 0; i < iters; i++)
		if (hwbp_move(bp, (uintptr_t)&slots[i & 1], 8, HWBP_WRITE))
			fprintf(stderr, "%s: %s\n", name, hwbp_last_error()),
				exit(1);
	report(name, t0, iters);
	hwbp_close(bp);
}

int main(int argc, char **argv)
{
	static const struct lib_case lib[] = {
		{ "hwbp_move count modify", HWBP_DELIVER_COUNT, HWBP_REARM_MODIFY },
		{ "hwbp_move signal modify", HWBP_DELIVER_SIGNAL, HWBP_REARM_MODIFY },
		{ "hwbp_move ring modify", HWBP_DELIVER_RING, HWBP_REARM_MODIFY },
		{ "hwbp_move count reopen", HWBP_DELIVER_COUNT, HWBP_REARM_REOPEN },
		{ "hwbp_move ring reopen", HWBP_DELIVER_RING, HWBP_REARM_REOPEN },
	};

	if (argc > 1)
		iters = atol(argv[1]);
	hwbp_set_print(NULL);
	measure("raw modify", raw_modify, NULL);
	measure("raw close+open", raw_reopen, NULL);
	measure("raw close+open+mmap", raw_reopen, "");
	for (size_t i = 0; i < sizeof(lib) / sizeof(lib[0]); i++)
		measure(lib[i].name, lib_move, &lib[i]);
	return 0;
}
