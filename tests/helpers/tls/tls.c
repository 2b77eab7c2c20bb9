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
 *                  "ready PID" and got SIGUSR1 (to attach)
 *   tls dl 0 0     dlopen's libtlsdl.so; the main thread sets dl_tv (1),
 *                  a worker waits; "ready PID"; on SIGUSR1 the worker
 *                  sets its dl_tv (50: its copy made then), the main
 *                  thread sets 2, 3: "log TID dl_tv 2 3", "log TID
 *                  dl_tv_late 1 50"
 *   tls fork 0 0   the main thread sets tcount 1, 2 and forks; the child's
 *                  sets its copy (2 at the fork) to 11, 12, 13 ("log TID
 *                  tcount_forked 3 13"), runs worker 1, forks a grandchild
 *                  that sets its copy (13) to 21, 22, 23 ("log TID
 *                  tcount_grand 3 23"), and exits; the parent then sets 3
 *
 * Worker j (1..K+M) writes tcount 3*j times (values 1000*j + 1, +2 ...)
 * and lib_tv j times (100*j + 1 ...); the main thread writes tcount twice
 * (1, 2) before the workers and once (3) after.  Plain stores: each
 * value is exact (volatile: every store stays at -O2).  tcount starts at 7 in every thread, lib_tv at 5.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __cplusplus
namespace app {
thread_local volatile long tcount = 7;
thread_local long tarr[5]; /* 5 registers per thread: too many */
}
using app::tcount;
extern "C" void lib_tv_set(long v);
#else
__thread volatile long tcount = 7;
__thread long tarr[5]; /* 5 registers per thread: too many */
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
		sigset_t usr1;
		int sig;

		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		if (sigwait(&usr1, &sig))
			exit(101);
		pthread_barrier_wait(&go);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	waiting = 0;
	free(t);
}

static void (*dl_set)(long);

static void *dl_worker(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&go);
	dl_set(50);
	say("dl_tv_late", 1, 50);
	return NULL;
}

static int dl_mode(void)
{
	void *h = dlopen("libtlsdl.so", RTLD_NOW);
	sigset_t usr1;
	pthread_t t;
	int sig;

	if (!h || !(dl_set = (void (*)(long))dlsym(h, "dl_tv_set"))) {
		fprintf(stderr, "tls: %s\n", dlerror());
		return 102;
	}
	pthread_barrier_init(&go, NULL, 2);
	pthread_create(&t, NULL, dl_worker, NULL);
	dl_set(1);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (sigwait(&usr1, &sig))
		return 101;
	pthread_barrier_wait(&go);
	dl_set(2);
	dl_set(3);
	pthread_join(t, NULL);
	say("dl_tv", 2, 3);
	return 0;
}

/* Its child's exit status was 0. */
static bool reaped(pid_t child)
{
	int status;

	return child > 0 && waitpid(child, &status, 0) == child &&
	       WIFEXITED(status) && !WEXITSTATUS(status);
}

/* tcount = first, first + 1, first + 2 in this (forked) process. */
static void three_from(long first, const char *what)
{
	for (long v = first; v < first + 3; v++)
		tcount = v;
	say(what, 3, tcount);
}

/* A child forked by the main thread, and its own child: their copies are
 * their own. */
static int fork_mode(void)
{
	pid_t child;

	tcount = 1;
	tcount = 2;
	child = fork();
	if (child == 0) {
		pid_t grandchild;

		three_from(11, "tcount_forked");
		spawn_joined(1, 1, false);
		grandchild = fork();
		if (grandchild == 0) {
			three_from(21, "tcount_grand");
			_exit(0);
		}
		_exit(reaped(grandchild) ? 0 : 1);
	}
	if (!reaped(child))
		return 103;
	tcount = 3;
	say("tcount", 3, tcount);
	return 0;
}

int main(int argc, char **argv)
{
	int k, m;
	bool attach;

	if (argc != 4)
		return 100;
	attach = strcmp(argv[1], "run") != 0;
	if (attach) { /* (blocked in every thread: sigwait takes it) */
		sigset_t usr1;

		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	}
	if (!strcmp(argv[1], "dl"))
		return dl_mode();
	if (!strcmp(argv[1], "fork"))
		return fork_mode();
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
