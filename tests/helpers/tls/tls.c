/* SPDX-License-Identifier: MIT */
/*
 * tls.c - a target for test_tls.c: thread-locals written by threads that
 * exist at the start and by threads created later, each thread logging
 * its own writes (the oracle).  Built as C (__thread) by gcc and clang and
 * as C++ (thread_local, in a namespace) by g++; lib_tv is a thread-local
 * of a library loaded at start (tlslib.c).
 *
 *   tls run K M    K threads, then (joined) M more; each prints
 *                  "log TID tcount N LAST" and "log TID lib_tv N LAST"
 *   tls wait K M   the same, after the K threads exist and it printed
 *                  "ready PID" and read a line on stdin (to attach)
 *
 * Worker j (1..K+M) writes tcount 3*j times (values 1000*j + 1, +2 ...)
 * and lib_tv j times (100*j + 1 ...); the main thread writes tcount twice
 * (1, 2) before the workers and once (3) after.  Plain stores: each
 * value is exact (volatile: every store stays at -O2).  tcount starts at 7 in every thread, lib_tv at 5.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __cplusplus
namespace app {
thread_local volatile long tcount = 7;
}
using app::tcount;
extern "C" void lib_tv_set(long v);
#else
__thread volatile long tcount = 7;
void lib_tv_set(long v);
#endif

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t go;
static int waiting; /* threads that wait on `go` */

static void say(const char *what, int n, long last)
{
	pthread_mutex_lock(&log_lock);
	printf("log %d %s %d %ld\n", (int)gettid(), what, n, last);
	fflush(stdout);
	pthread_mutex_unlock(&log_lock);
}

static void *worker(void *arg)
{
	long j = (long)(intptr_t)arg;

	if (waiting)
		pthread_barrier_wait(&go);
	for (long i = 1; i <= 3 * j; i++)
		tcount = 1000 * j + i;
	for (long i = 1; i <= j; i++)
		lib_tv_set(100 * j + i);
	say("tcount", (int)(3 * j), tcount);
	say("lib_tv", (int)j, 100 * j + j);
	return NULL;
}

static void spawn_joined(long first, int n, bool wait_first)
{
	pthread_t *t = (pthread_t *)calloc((size_t)n + 1, sizeof(*t));

	if (wait_first) {
		waiting = 1;
		pthread_barrier_init(&go, NULL, (unsigned)n + 1);
	}
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)(first + i));
	if (wait_first) {
		char line[16];

		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			exit(101);
		pthread_barrier_wait(&go);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	waiting = 0;
	free(t);
}

int main(int argc, char **argv)
{
	int k, m;
	bool attach;

	if (argc != 4)
		return 100;
	attach = !strcmp(argv[1], "wait");
	k = atoi(argv[2]);
	m = atoi(argv[3]);
	spawn_joined(1, k, attach);
	tcount = 1;
	tcount = 2;
	spawn_joined(k + 1, m, false);
	tcount = 3;
	say("tcount", 3, tcount);
	return 0;
}
