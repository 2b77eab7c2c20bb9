/* SPDX-License-Identifier: MIT */
/*
 * hits.c - what the library adds to each hit, against raw perf_event_open
 * code doing the same: a synchronous callback vs a raw sigtrap handler,
 * counting vs a raw counting event read() (no sample period, as perf stat
 * counts; "raw read() period 1" is the same with the period every hit
 * then overflows on), a ring buffer vs a raw mmap reader.  Each writes a
 * variable N times under the watch; the figure is ns per hit (the trap
 * itself included: it dominates), this thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID: the trap runs in the writing thread, and what
 * the machine gives other processes is not counted), the median of
 * ROUNDS rounds in which the cases run one after another, in the opposite
 * order every other round.  Only where traps fire.
 * "raw mmap reader +regs" samples the 18 user registers `hwbp watch` asks
 * for (its exact values come from them): the kernel's cost of copying
 * them, which perf record pays too when asked (--user-regs).  "hwbp ring
 * +regs bpf" samples the same registers with the BPF program libhwbp
 * attaches at the trap (opts.bpf_samples: a process's per-CPU rings, as
 * hwbp watch uses them); 0 hits where the kernel refuses it (said on
 * stderr).
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

#include "../tools/tool.h" /* SAMPLED_REGS_MASK */

#define ROUNDS 7
static volatile uint64_t target;
static long n = 100000;
static atomic_long seen;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double write_n(void)
{
	double t0 = now();

	for (long i = 0; i < n; i++)
		target = (uint64_t)i;
	return (now() - t0) / n;
}

/* Whether the raw ring asks for the user registers hwbp watch samples
 * (SAMPLED_REGS_MASK: AX..FLAGS, R8..R15). */
static bool raw_regs;

static int open_raw(bool sigtrap, bool sample, uint64_t period)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_BREAKPOINT, .size = sizeof(a),
		.bp_type = HW_BREAKPOINT_W, .bp_addr = (uintptr_t)&target,
		.bp_len = HW_BREAKPOINT_LEN_8, .sample_period = period,
		.exclude_kernel = 1, .exclude_hv = 1,
		.sigtrap = sigtrap, .remove_on_exec = sigtrap,
	};

	if (sample)
		a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID |
				PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR;
	if (sample && raw_regs) {
		a.sample_type |= PERF_SAMPLE_REGS_USER;
		a.sample_regs_user = SAMPLED_REGS_MASK;
	}
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
	fd = open_raw(true, false, 1);
	t = write_n();
	close(fd);
	sigaction(SIGTRAP, &old, NULL);
	return t;
}

static double raw_count_period(uint64_t period)
{
	int fd = open_raw(false, false, period);
	uint64_t c = 0;
	double t = write_n();

	if (read(fd, &c, sizeof(c)) == sizeof(c))
		atomic_store(&seen, (long)c);
	close(fd);
	return t;
}

static double raw_count(void) { return raw_count_period(0); }
static double raw_count_sampling(void) { return raw_count_period(1); }

/* A minimal mmap reader: count the samples as the ring fills. */
static double raw_ring(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = 65 * page;
	int fd = open_raw(false, true, 1);
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

static double raw_ring_regs(void)
{
	double t;

	raw_regs = true;
	t = raw_ring();
	raw_regs = false;
	return t;
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

static double lib_run_bpf(enum hwbp_delivery d, bool bpf)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = d, .on_hit = lib_cb,
		  .on_record = lib_rec, .ring_pages = 64, .wakeup_events = 1u << 30);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *bp;
	double t0, t;
	uint64_t c;

	if (bpf) {
		o.scope = HWBP_SCOPE_PROCESS;
		o.sample = HWBP_SAMPLE_REGS;
		o.regs_mask = SAMPLED_REGS_MASK;
		o.bpf_samples = true;
	}
	if (hwbp_create(&bp, (uintptr_t)&target, 8, HWBP_WRITE, &o))
		fprintf(stderr, "%s\n", hwbp_last_error()), exit(1);
	if (bpf && (hwbp_get_stats(bp, &st) || st.bpf != 1)) {
		fprintf(stderr, "hits: no BPF samples: %s\n",
			st.bpf_why ? st.bpf_why : hwbp_last_error());
		hwbp_close(bp);
		return 0;
	}
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

static double lib_run(enum hwbp_delivery d) { return lib_run_bpf(d, false); }
static double lib_signal(void) { return lib_run(HWBP_DELIVER_SIGNAL); }
static double lib_count(void) { return lib_run(HWBP_DELIVER_COUNT); }
static double lib_ring(void) { return lib_run(HWBP_DELIVER_RING); }
static double lib_ring_bpf(void)
{
	return lib_run_bpf(HWBP_DELIVER_RING, true);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct bcase {
	const char *name;
	double (*fn)(void);
	double r[ROUNDS];
	long seen;
};

int main(int argc, char **argv)
{
	static struct bcase cases[] = {
		{ "no watch", write_n },
		{ "raw sigtrap", raw_signal },
		{ "hwbp callback", lib_signal },
		{ "raw read()", raw_count },
		{ "raw read() period 1", raw_count_sampling },
		{ "hwbp count", lib_count },
		{ "raw mmap reader", raw_ring },
		{ "hwbp ring", lib_ring },
		{ "raw mmap reader +regs", raw_ring_regs },
		{ "hwbp ring +regs bpf", lib_ring_bpf },
	};
	const size_t nc = sizeof(cases) / sizeof(cases[0]);

	if (argc > 1)
		n = atol(argv[1]);
	hwbp_set_print(NULL);
	for (int r = 0; r < ROUNDS; r++) /* forward, then backward */
		for (size_t k = 0; k < nc; k++) {
			struct bcase *c = &cases[r % 2 ? nc - 1 - k : k];

			atomic_store(&seen, 0);
			c->r[r] = c->fn();
			c->seen = atomic_load(&seen);
		}
	for (size_t i = 0; i < nc; i++) {
		qsort(cases[i].r, ROUNDS, sizeof(double), by_value);
		printf("%-22s %9.0f %9.0f %9ld\n", cases[i].name,
		       cases[i].r[ROUNDS / 2], cases[i].r[0], cases[i].seen);
	}
	return 0;
}
