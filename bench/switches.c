/* SPDX-License-Identifier: MIT */
/*
 * switches.c - what opts.switch_events costs a program that switches a
 * lot.  A child process runs N ping-pong round trips between its two
 * threads over pipes (two blocking reads a round trip), both on CPU 0,
 * and says how long they took.  Four ways, taking turns `rounds` times
 * (so a busy machine's drift hits all): unwatched; watched by a
 * process-scope ring handle on a variable never written, with task_events
 * (as `hwbp watch`); the same with switch_events, the parent reading the
 * ring meanwhile on CPU 1; a plain ring (see run()).  Prints per mode the
 * median ns per round trip, the switch records read and those lost.
 *   usage: switches N [rounds]
 */
#include <hwbp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long untouched;
static int ab[2], ba[2];
static long n_trips;
static uint64_t switch_recs;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *pong(void *arg)
{
	char c;

	(void)arg;
	for (long i = 0; i < n_trips; i++)
		if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1)
			_exit(3);
	return NULL;
}

/* Child on CPU 0, reader on CPU 1: every switch is thread to thread on
 * one CPU, never through idle (whose wakeup latency, in a VM, would
 * swamp the cost of a record). */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* The child: wait for go, ping-pong, write the elapsed ns to out. */
static void child(int go, int out)
{
	pthread_t t;
	uint64_t t0, dt;
	char c = 'x';

	if (read(go, &c, 1) != 1)
		_exit(2);
	pin(0);
	pthread_create(&t, NULL, pong, NULL);
	t0 = now_ns();
	for (long i = 0; i < n_trips; i++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			_exit(3);
	dt = now_ns() - t0;
	pthread_join(t, NULL);
	_exit(write(out, &dt, sizeof(dt)) == sizeof(dt) ? 0 : 4);
}

static void count(const struct hwbp_record *r, void *cookie)
{
	(void)cookie;
	switch_recs += r->kind == HWBP_REC_SWITCH;
}

/* One run: mode 0 unwatched, 1 ring + task_events (as `hwbp watch`),
 * 2 the same + switch_events, 3 a plain ring (its event not inherited:
 * the threads' perf contexts differ, so every switch reloads the debug
 * registers instead of swapping equivalent contexts). */
static uint64_t run(int mode, uint64_t *lost)
{
	int go[2], out[2], status;
	struct hwbp *bp = NULL;
	uint64_t dt = 0;
	pid_t pid;

	if (pipe(go) || pipe(out) || pipe(ab) || pipe(ba))
		exit(1);
	pid = fork();
	if (pid == 0)
		child(go[0], out[1]);
	if (mode) {
		HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS, .pid = pid,
			  .delivery = HWBP_DELIVER_RING, .on_record = count,
			  .task_events = mode != 3,
			  .switch_events = mode == 2);

		if (hwbp_create(&bp, (uintptr_t)&untouched, 8, HWBP_WRITE, &o)) {
			fprintf(stderr, "switches: %s\n", hwbp_last_error());
			exit(1);
		}
	}
	if (write(go[1], "g", 1) != 1)
		exit(1);
	while (waitpid(pid, &status, WNOHANG) == 0)
		if (!bp || hwbp_ring_poll(bp, 10) < 0)
			usleep(10000);
	if (read(out[0], &dt, sizeof(dt)) != sizeof(dt) || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		exit(1);
	if (bp) {
		HWBP_OPTS(hwbp_stats, st);

		hwbp_ring_consume(bp);
		hwbp_get_stats(bp, &st);
		*lost += st.lost;
		hwbp_close(bp);
	}
	for (int i = 0; i < 2; i++) {
		close(go[i]);
		close(out[i]);
		close(ab[i]);
		close(ba[i]);
	}
	return dt;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const char *names[] = { "unwatched", "ring + task_events",
				       "+ switch_events", "plain ring" };
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	uint64_t t[4][64];

	n_trips = argc > 1 ? atol(argv[1]) : 100000;
	if (n_trips <= 0 || rounds <= 0 || rounds > 64) {
		fprintf(stderr, "usage: switches N [rounds <= 64]\n");
		return 2;
	}
	hwbp_set_print(NULL);
	pin(1);
	uint64_t lost[4] = { 0 }, recs[4] = { 0 };

	for (int r = 0; r < rounds; r++)
		for (int m = 0; m < 4; m++) {
			uint64_t before = switch_recs;

			t[m][r] = run(m, &lost[m]);
			recs[m] += switch_recs - before;
		}
	for (int m = 0; m < 4; m++) {
		qsort(t[m], (size_t)rounds, sizeof(t[m][0]), cmp);
		printf("%-22s %8.0f ns/round trip (median of %d x %ld), min "
		       "%.0f, %llu switch records, %llu lost\n", names[m],
		       (double)t[m][rounds / 2] / (double)n_trips, rounds,
		       n_trips, (double)t[m][0] / (double)n_trips,
		       (unsigned long long)recs[m],
		       (unsigned long long)lost[m]);
	}
	return 0;
}
