/* SPDX-License-Identifier: MIT */
/*
 * watch_targets.c - targets for test_watch.c (`watch_targets MODE [N]`),
 * each the shape of a fault seen on hardware whose traps fire:
 *   range N   arr[3], arr[4] and then buf[0..39] byte by byte, N rounds,
 *             exiting at once after the last store (its records are read
 *             after it is gone)
 *   count N   counter = 1..N, as fast as it can (a ring overflows)
 *   burst N   prints "ready PID", waits for SIGUSR1, then counter = 1..N
 *             and prints "done"; at the next SIGUSR1 counter = N+1..2N
 *   rename N  names itself "before", writes counter N times, execs itself
 *             (now named after its file) and writes N more
 *   race N    4 threads, each `lock xadd` 1 to counter N times
 *   exitnear  counter = 1; then 50 ms later counter = 2 from a thread on
 *             CPU 0 while another thread exits on CPU 1 (exit 3: not
 *             pinned there)
 *   twovars N counter = 1..N from a thread on CPU 0 while another on CPU 1
 *             writes other = 1..N, a write every ~0.2 ms (exit 3: not
 *             pinned there)
 *   chatty N  counter = 1..N, and "chatty I" on stdout (one write) after
 *             every 100th store: hwbp's output and the program's share it
 *   hop N     counter = 1..N from one thread that moves between CPUs 0
 *             and 1 every 1,000 writes, now and then resting 30 ms
 *             (exit 3: not pinned there)
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

long arr[8];
unsigned char buf[64] __attribute__((aligned(64)));
volatile long counter, other;

static void range(int n)
{
	for (int r = 0; r < n; r++) {
		arr[3] = 100 + r;
		arr[4] = 200 + r;
		__asm__ volatile("" ::: "memory");
	}
	for (int i = 0; i < 40; i++)
		((volatile unsigned char *)buf)[i] = (unsigned char)(i + 1);
}

static void count(int n)
{
	for (int i = 1; i <= n; i++)
		counter = i;
}

static void chatty(int n)
{
	char line[32];

	for (int i = 1; i <= n; i++) {
		counter = i;
		if (i % 100 == 0 &&
		    write(1, line, (size_t)snprintf(line, sizeof(line),
						    "chatty %d\n", i)) < 0)
			exit(4);
	}
}

static void burst(int n)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	sigwait(&set, &sig);
	count(n);
	printf("done\n");
	fflush(stdout);
	sigwait(&set, &sig);
	for (int i = n + 1; i <= 2 * n; i++)
		counter = i;
}

static void *adder(void *arg)
{
	int n = *(int *)arg;

	for (int i = 0; i < n; i++)
		__atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void race(int n)
{
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, adder, &n);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("counter=%ld\n", counter);
}

static bool on_cpu(long cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

/* Sleep 50 ms on CPU arg, then write 2 (CPU 0) or just end (CPU 1). */
static void *near(void *arg)
{
	long cpu = (long)arg;

	if (!on_cpu(cpu))
		return (void *)1;
	usleep(50000);
	if (cpu == 0)
		counter = 2;
	return NULL;
}

static int two_n;

/* On CPU arg: counter (CPU 0) or other (CPU 1) = 1..two_n. */
static void *one_var(void *arg)
{
	volatile long *v = (long)arg ? &other : &counter;

	if (!on_cpu((long)arg))
		return (void *)1;
	for (long i = 1; i <= two_n; i++) {
		*v = i;
		usleep(200);
	}
	return NULL;
}

/* fn on CPU 0 and on CPU 1, a thread each: 0, or 3 where one could not
 * run there. */
static int on_cpus_0_and_1(void *(*fn)(void *))
{
	pthread_t t[2];
	void *res[2];

	for (long i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, fn, (void *)i))
			return 3;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], &res[i]);
	return res[0] || res[1] ? 3 : 0;
}

/* counter = 1..n, on CPU 0 and 1 in turns: each CPU's ring busy, then
 * idle, then busy again, its records read from elsewhere and then on it
 * (stream.c's readers and fences). */
static int hop(int n)
{
	for (int i = 1; i <= n; i++) {
		if (i % 1000 == 1 && !on_cpu(i / 1000 % 2))
			return 3;
		if (i % 5000 == 1)
			usleep(30000);
		counter = i;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 3;

	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "range")) {
		range(n);
	} else if (!strcmp(argv[1], "count")) {
		count(n);
	} else if (!strcmp(argv[1], "burst")) {
		burst(n);
	} else if (!strcmp(argv[1], "rename")) {
		prctl(PR_SET_NAME, "before");
		count(n);
		execl("/proc/self/exe", argv[0], "count", argv[2], (char *)NULL);
		return 127;
	} else if (!strcmp(argv[1], "race")) {
		race(n);
	} else if (!strcmp(argv[1], "exitnear")) {
		counter = 1;
		return on_cpus_0_and_1(near);
	} else if (!strcmp(argv[1], "twovars")) {
		two_n = n;
		return on_cpus_0_and_1(one_var);
	} else if (!strcmp(argv[1], "chatty")) {
		chatty(n);
	} else if (!strcmp(argv[1], "hop")) {
		return hop(n);
	} else {
		return 2;
	}
	return 0;
}
