/* SPDX-License-Identifier: MIT */
/*
 * hits.c - what the library adds to each hit, against raw perf_event_open
 * code doing the same: a synchronous callback vs a raw sigtrap handler,
 * counting vs a raw read(), a ring buffer vs a raw mmap reader.  Each
 * writes a variable N times under the watch; the figure is ns per hit
 * (the trap itself included: it dominates).  Only where traps fire.
 *   usage: hits [N]    prints "name  median-ns/hit  min  hits-seen"
 */
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <hwbp.h>

#define ROUNDS 5
static volatile uint64_t target;
static long n = 100000;
static atomic_long seen;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double write_n(void)
{
	double t0 = now();

	for (long i = 0; i < n; i++)
		target = (uint64_t)i;
	return (now() - t0) / n;
}

static int open_raw(bool sigtrap, bool sample)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_BREAKPOINT, .size = sizeof(a),
		.bp_type = HW_BREAKPOINT_W, .bp_addr = (uintptr_t)&target,
		.bp_len = HW_BREAKPOINT_LEN_8, .sample_period = 1,
		.exclude_kernel = 1, .exclude_hv = 1,
		.sigtrap = sigtrap, .remove_on_exec = sigtrap,
	};

	if (sample)
		a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID |
				PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1,
			    PERF_FLAG_FD_CLOEXEC);
}

/* ---- the raw side ---- */

static void raw_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si, (void)uc;
	atomic_fetch_add(&seen, 1);
}

static double raw_signal(void)
{
	struct sigaction sa = { .sa_sigaction = raw_handler,
				.sa_flags = SA_SIGINFO }, old;
	int fd;
	double t;

	sigaction(SIGTRAP, &sa, &old);
	fd = open_raw(true, false);
	t = write_n();
	close(fd);
	sigaction(SIGTRAP, &old, NULL);
	return t;
}

static double raw_count(void)
{
	int fd = open_raw(false, false);
	uint64_t c = 0;
	double t = write_n();

	if (read(fd, &c, sizeof(c)) == sizeof(c))
		atomic_store(&seen, (long)c);
	close(fd);
	return t;
}

/* A minimal mmap reader: count the samples as the ring fills. */
static double raw_ring(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = 65 * page;
	int fd = open_raw(false, true);
	struct perf_event_mmap_page *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
					      MAP_SHARED, fd, 0);
	double t0 = now();
	long recs = 0;

	for (long i = 0; i < n; i++) {
		target = (uint64_t)i;
		if ((i & 255) == 255 || i == n - 1) {
			uint64_t head = atomic_load((_Atomic uint64_t *)&m->data_head);
			uint64_t tail = m->data_tail;
			const uint8_t *data = (const uint8_t *)m + page;

			while (tail < head) {
				const struct perf_event_header *h =
					(const void *)(data + tail % (64 * page));

				recs += h->type == PERF_RECORD_SAMPLE;
				tail += h->size;
			}
			atomic_store((_Atomic uint64_t *)&m->data_tail, tail);
		}
	}
	atomic_store(&seen, recs);
	munmap(m, len);
	close(fd);
	return (now() - t0) / n;
}

/* ---- the library ---- */

static void lib_cb(const struct hwbp_hit *h, void *uc)
{
	(void)h, (void)uc;
	atomic_fetch_add(&seen, 1);
}

static void lib_rec(const struct hwbp_record *r, void *c)
{
	(void)c;
	atomic_fetch_add(&seen, r->kind == HWBP_REC_HIT);
}

static double lib_run(enum hwbp_delivery d)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = d, .on_hit = lib_cb,
		  .on_record = lib_rec, .ring_pages = 64, .wakeup_events = 1u << 30);
	struct hwbp *bp;
	double t0, t;
	uint64_t c;

	if (hwbp_create(&bp, (uintptr_t)&target, 8, HWBP_WRITE, &o))
		fprintf(stderr, "%s\n", hwbp_last_error()), exit(1);
	if (d != HWBP_DELIVER_RING) {
		t = write_n();
	} else {
		t0 = now();
		for (long i = 0; i < n; i++) {
			target = (uint64_t)i;
			if ((i & 255) == 255 || i == n - 1)
				hwbp_ring_consume(bp);
		}
		t = (now() - t0) / n;
	}
	if (d == HWBP_DELIVER_COUNT && hwbp_read_count(bp, &c) == 0)
		atomic_store(&seen, (long)c);
	hwbp_close(bp);
	return t;
}

static double lib_signal(void) { return lib_run(HWBP_DELIVER_SIGNAL); }
static double lib_count(void) { return lib_run(HWBP_DELIVER_COUNT); }
static double lib_ring(void) { return lib_run(HWBP_DELIVER_RING); }

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void measure(const char *name, double (*fn)(void))
{
	double r[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		atomic_store(&seen, 0);
		r[i] = fn();
	}
	qsort(r, ROUNDS, sizeof(r[0]), by_value);
	printf("%-20s %9.0f %9.0f %9ld\n", name, r[ROUNDS / 2], r[0],
	       atomic_load(&seen));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		n = atol(argv[1]);
	hwbp_set_print(NULL);
	measure("no watch", write_n);
	measure("raw sigtrap", raw_signal);
	measure("hwbp callback", lib_signal);
	measure("raw read()", raw_count);
	measure("hwbp count", lib_count);
	measure("raw mmap reader", raw_ring);
	measure("hwbp ring", lib_ring);
	return 0;
}
