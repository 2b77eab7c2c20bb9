/* SPDX-License-Identifier: MIT */
/*
 * idle.c - what armed breakpoints cost a program when nothing hits them:
 * writes and reads to unwatched memory, a compute loop and a context-switch
 * loop (pipe round trips with a second thread), run with nothing armed,
 * with 4 write watches on other variables (every debug register; the
 * library's, then 4 raw perf_event_open events for comparison), with a
 * scheduler rotating 16 watches at its default quantum, and with an execute
 * breakpoint on a function never called.  Needs no hit.
 *   usage: idle [N]   prints "setup workload  median-ms  cpu-ms  ratio
 *   cpu-ratio" (ROUNDS rounds, the setups interleaved within each round;
 *   ratio: wall time against no breakpoint; cpu-ratio: the process's CPU
 *   time, the scheduler's timer thread included, against no breakpoint)
 */
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <hwbp.h>

#define ROUNDS 7
#define NSETUP 5
#define NWORK 4
static long n = 2000000;
/* Each on its own page: an emulator (QEMU's TCG) slows every access to a
 * page holding a watched address; a CPU compares addresses only. */
static volatile uint64_t mem[512] __attribute__((aligned(4096)));
static volatile uint64_t other[16] __attribute__((aligned(4096)));
static int ping[2], pong[2];

__attribute__((noinline)) void never_called(void)
{
	other[0]++;
}

static double clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- the workloads ---- */

static void w_writes(void)
{
	for (long i = 0; i < n; i++)
		mem[i & 511] = (uint64_t)i;
}

static void w_reads(void)
{
	uint64_t sum = 0;

	for (long i = 0; i < n; i++)
		sum += mem[i & 511];
	mem[0] = sum;
}

static void w_compute(void)
{
	uint64_t x = 88172645463325252ull;

	for (long i = 0; i < n; i++)
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	mem[1] = x;
}

static void *echo(void *arg)
{
	char c;

	(void)arg;
	while (read(ping[0], &c, 1) == 1 && c)
		if (write(pong[1], &c, 1) != 1)
			break;
	return NULL;
}

/* Round trips through a second thread: every one a context switch or
 * two, where an armed thread's debug registers are saved and restored. */
static void w_switch(void)
{
	char c = 1;

	for (long i = 0; i < n / 4000; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			perror("pipe"), exit(1);
}

static const struct { const char *name; void (*fn)(void); } work[NWORK] = {
	{ "writes", w_writes }, { "reads", w_reads },
	{ "compute", w_compute }, { "switches", w_switch },
};

/* ---- the setups ---- */

struct armed {
	struct hwbp *bp[4];
	struct hwbp_sched *s;
	int fd[4];
};

static void die(const char *what)
{
	fprintf(stderr, "idle: %s: %s\n", what, hwbp_last_error());
	exit(1);
}

static int open_raw(volatile uint64_t *at)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_BREAKPOINT, .size = sizeof(attr),
		.bp_type = HW_BREAKPOINT_W, .bp_addr = (uintptr_t)at,
		.bp_len = HW_BREAKPOINT_LEN_8, .sample_period = 1,
		.exclude_kernel = 1, .exclude_hv = 1,
	};
	return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1,
			    PERF_FLAG_FD_CLOEXEC);
}

static void disarm(struct armed *a)
{
	for (int i = 0; i < 4; i++) {
		hwbp_close(a->bp[i]);
		if (a->fd[i] >= 0)
			close(a->fd[i]);
	}
	hwbp_sched_close(a->s);
}

static const char *const setups[NSETUP] = {
	"none", "4 watches armed", "sched 16 watches rr", "exec bp unused",
	"4 raw events armed",
};

/* 0 or the first error (what was armed stays in *a for disarm). */
static int try_arm(int setup, struct armed *a)
{
	HWBP_OPTS(hwbp_sched_opts, o, .policy = HWBP_POLICY_RR);
	struct hwbp_watch *w;
	int err = 0;

	*a = (struct armed){ .fd = { -1, -1, -1, -1 } };
	for (int i = 0; setup == 4 && i < 4 && !err; i++)
		if ((a->fd[i] = open_raw(&other[i])) < 0)
			err = -errno;
	for (int i = 0; setup == 1 && i < 4 && !err; i++)
		err = hwbp_create(&a->bp[i], (uintptr_t)&other[i], 8,
				  HWBP_WRITE, NULL);
	if (setup == 2 && !(err = hwbp_sched_create(&a->s, &o)))
		for (int i = 0; i < 16 && !err; i++)
			err = hwbp_sched_add(a->s, (uintptr_t)&other[i], 8,
					     HWBP_WRITE, NULL, &w);
	if (setup == 3)
		err = hwbp_create(&a->bp[0], (uintptr_t)never_called, 0,
				  HWBP_EXEC, NULL);
	return err;
}

/* A CPU-wide breakpoint elsewhere on the machine (a debugger, perf, a
 * test) takes a register from every thread for a while: wait for it. */
static void arm(int setup, struct armed *a)
{
	int err;

	for (int tries = 0; (err = try_arm(setup, a)) == -ENOSPC &&
			    tries < 300; tries++) {
		disarm(a);
		usleep(100000);
	}
	if (err)
		die(setups[setup]);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *r)
{
	qsort(r, ROUNDS, sizeof(*r), by_value);
	return r[ROUNDS / 2];
}

int main(int argc, char **argv)
{
	static double wall[NSETUP][NWORK][ROUNDS], cpu[NSETUP][NWORK][ROUNDS];
	pthread_t t;
	char stop = 0;

	if (argc > 1)
		n = atol(argv[1]);
	hwbp_set_print(NULL);
	if (pipe(ping) || pipe(pong) || pthread_create(&t, NULL, echo, NULL))
		perror("setup"), exit(1);
	for (int r = 0; r < ROUNDS; r++)
		for (int s = 0; s < NSETUP; s++) {
			struct armed a;

			arm(s, &a);
			for (int w = 0; w < NWORK; w++) {
				double t0 = clock_ns(CLOCK_MONOTONIC);
				double c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);

				work[w].fn();
				wall[s][w][r] = clock_ns(CLOCK_MONOTONIC) - t0;
				cpu[s][w][r] =
					clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
			}
			disarm(&a);
		}
	if (write(ping[1], &stop, 1) != 1 || pthread_join(t, NULL))
		perror("stop"), exit(1);
	for (int s = 0; s < NSETUP; s++)
		for (int w = 0; w < NWORK; w++) {
			double m = median(wall[s][w]), c = median(cpu[s][w]);

			printf("%-20s %-9s %9.3f %9.3f %6.3f %6.3f\n", setups[s],
			       work[w].name, m / 1e6, c / 1e6,
			       m / median(wall[0][w]), c / median(cpu[0][w]));
		}
	return 0;
}
