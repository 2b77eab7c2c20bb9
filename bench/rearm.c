/* SPDX-License-Identifier: MIT */
/*
 * rearm.c - what re-arming a breakpoint costs: the raw syscalls
 * (PERF_EVENT_IOC_MODIFY_ATTRIBUTES; close + perf_event_open; the same with
 * a ring buffer's mmap/munmap) against hwbp_move on each of its paths.
 * The raw modify is measured on the attributes each delivery uses (a
 * counting event; a sigtrap event; a sampling event with its ring mapped)
 * so each hwbp_move row has a raw ioctl doing the same kernel work.
 * Needs no hit, so it runs where debug registers never fire.
 *   usage: rearm [ITERATIONS [modify]]   prints "name  median-ns/op  min-ns/op"
 *   ("modify": only the in-place rows; with the ioctl stubbed by an
 *   LD_PRELOAD that returns 0, they measure the user-space part alone)
 *   (ROUNDS rounds of ITERATIONS each; within a round the cases run one
 *   after another, in the opposite order every other round, so a noisy
 *   neighbour slows all of them alike; the median of the rounds is the
 *   figure).  Time is this thread's CPU time
 *   (CLOCK_THREAD_CPUTIME_ID): the ioctl's work runs in the caller, and
 *   time the machine gives to other processes is not counted.
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

#define ROUNDS 21
static volatile uint64_t slots[2];
static long iters = 20000;

/* The attributes of one of the library's deliveries, raw. */
enum kind { PLAIN, SIGTRAP, RING };

struct bcase {
	const char *name;
	double (*fn)(const struct bcase *);
	enum kind kind;          /* raw cases */
	bool reopen, with_mmap;  /* raw cases */
	bool counted;            /* raw reopen the library's way: open the new
				  * event, read the old one's count, close it */
	enum hwbp_delivery d;    /* library cases */
	enum hwbp_rearm rearm;   /* library cases */
	double r[ROUNDS];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void attr_at(struct perf_event_attr *a, int which, enum kind k)
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
	if (k == SIGTRAP) {
		a->sigtrap = 1;
		a->remove_on_exec = 1;
		a->sig_data = (uint64_t)which;
	}
	if (k == RING) {
		a->sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID |
				 PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR |
				 PERF_SAMPLE_CPU;
		a->wakeup_events = 1;
		a->use_clockid = 1;
		a->clockid = CLOCK_MONOTONIC;
		a->sample_id_all = 1;
	}
}

static int open_at(int which, enum kind k)
{
	struct perf_event_attr a;

	attr_at(&a, which, k);
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1,
			    PERF_FLAG_FD_CLOEXEC);
}

static void *map_ring(int fd, size_t len)
{
	void *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (ring == MAP_FAILED)
		perror("mmap"), exit(1);
	return ring;
}

static double raw_modify(const struct bcase *c)
{
	size_t len = 2 * (size_t)sysconf(_SC_PAGESIZE);
	struct perf_event_attr a;
	int fd = open_at(0, c->kind);
	void *ring = c->with_mmap ? map_ring(fd, len) : NULL;
	double t0 = now(), t;

	for (long i = 0; i < iters; i++) {
		attr_at(&a, (int)(i & 1), c->kind);
		if (ioctl(fd, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &a))
			perror("modify"), exit(1);
	}
	t = (now() - t0) / iters;
	if (ring)
		munmap(ring, len);
	close(fd);
	return t;
}

static double raw_reopen(const struct bcase *c)
{
	size_t len = 2 * (size_t)sysconf(_SC_PAGESIZE);
	int fd = open_at(0, c->kind);
	void *ring = NULL;
	double t0 = now(), t;

	for (long i = 0; i < iters; i++) {
		int old = fd;
		uint64_t count;

		if (ring)
			munmap(ring, len);
		if (!c->counted)
			close(old);
		fd = open_at((int)(i & 1), c->kind);
		if (fd < 0)
			perror("perf_event_open"), exit(1);
		if (c->counted && (read(old, &count, sizeof(count)) < 0 ||
				   close(old)))
			perror("read"), exit(1);
		if (c->with_mmap)
			ring = map_ring(fd, len);
	}
	t = (now() - t0) / iters;
	if (ring)
		munmap(ring, len);
	close(fd);
	return t;
}

static void on_hit(const struct hwbp_hit *h, void *uc) { (void)h, (void)uc; }
static void on_rec(const struct hwbp_record *r, void *c) { (void)r, (void)c; }

static double lib_move(const struct bcase *c)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = c->d, .rearm = c->rearm,
		  .on_hit = on_hit, .on_record = on_rec, .ring_pages = 1);
	struct hwbp *bp;
	double t0, t;

	if (hwbp_create(&bp, (uintptr_t)&slots[0], 8, HWBP_WRITE, &o))
		fprintf(stderr, "%s: %s\n", c->name, hwbp_last_error()), exit(1);
	t0 = now();
	for (long i = 0; i < iters; i++)
		if (hwbp_move(bp, (uintptr_t)&slots[i & 1], 8, HWBP_WRITE))
			fprintf(stderr, "%s: %s\n", c->name, hwbp_last_error()),
				exit(1);
	t = (now() - t0) / iters;
	hwbp_close(bp);
	return t;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#define RAW(n, k, re, mm, cnt) \
	{ n, (re) ? raw_reopen : raw_modify, k, re, mm, cnt, 0, 0, { 0 } }
#define LIB(n, d, re) { n, lib_move, PLAIN, 0, 0, 0, d, re, { 0 } }

int main(int argc, char **argv)
{
	static struct bcase cases[] = {
		RAW("raw modify", PLAIN, false, false, false),
		RAW("raw modify sigtrap", SIGTRAP, false, false, false),
		RAW("raw modify ring", RING, false, true, false),
		RAW("raw close+open", PLAIN, true, false, false),
		RAW("raw open+read+close", PLAIN, true, false, true),
		RAW("raw close+open+mmap", RING, true, true, false),
		LIB("hwbp_move count modify", HWBP_DELIVER_COUNT, HWBP_REARM_MODIFY),
		LIB("hwbp_move signal modify", HWBP_DELIVER_SIGNAL, HWBP_REARM_MODIFY),
		LIB("hwbp_move ring modify", HWBP_DELIVER_RING, HWBP_REARM_MODIFY),
		LIB("hwbp_move count reopen", HWBP_DELIVER_COUNT, HWBP_REARM_REOPEN),
		LIB("hwbp_move ring reopen", HWBP_DELIVER_RING, HWBP_REARM_REOPEN),
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);

	if (argc > 1)
		iters = atol(argv[1]);
	if (argc > 2 && !strcmp(argv[2], "modify")) {
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			if (!cases[i].reopen && cases[i].rearm != HWBP_REARM_REOPEN)
				cases[k++] = cases[i];
		n = k;
	}
	hwbp_set_print(NULL);
	for (size_t i = 0; i < n; i++) /* warm-up: page faults, caches */
		iters /= 10, cases[i].fn(&cases[i]), iters *= 10;
	for (int r = 0; r < ROUNDS; r++) /* forward, then backward */
		for (size_t k = 0; k < n; k++) {
			size_t i = r % 2 ? n - 1 - k : k;

			cases[i].r[r] = cases[i].fn(&cases[i]);
		}
	for (size_t i = 0; i < n; i++) {
		qsort(cases[i].r, ROUNDS, sizeof(double), by_value);
		printf("%-28s %9.0f %9.0f\n", cases[i].name,
		       cases[i].r[ROUNDS / 2], cases[i].r[0]);
	}
	return 0;
}
