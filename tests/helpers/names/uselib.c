/* SPDX-License-Identifier: MIT */
/*
 * uselib.c - a target using libnames.so (lib.c) and libnames_dl.so
 * (dl.c) for test_names.c and the unit tests.  Prints "LOCATION 0xADDR"
 * lines (the oracle: &foo_var is the executable's copy when built
 * -no-pie), then
 *   uselib write      foo_set(3), (6), (9), (12) and exits at once;
 *   uselib tls        thread-locals: the executable's (exe_tls), the
 *                     library's (lib_tls) in the main thread and one
 *                     more, the dlopen'd one's (dl_tls) in the main
 *                     thread only: "tls NAME TID 0xADDR" lines, then
 *                     "ready PID", and waits for a line on stdin.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct fstate {
	int a;
	long b;
};

extern int foo_var;
extern struct fstate foo_state;
void foo_set(int v);
int *lib_tls_touch(int v);

int main_only; /* in the executable alone */
__thread int exe_tls;

static pthread_barrier_t started;

static void *thread_main(void *arg)
{
	(void)arg;
	exe_tls = 22;
	printf("tls exe_tls %d %p\n", (int)gettid(), (void *)&exe_tls);
	printf("tls lib_tls %d %p\n", (int)gettid(), (void *)lib_tls_touch(2));
	printf("notls dl_tls %d\n", (int)gettid());
	fflush(stdout);
	pthread_barrier_wait(&started);
	pause();
	return NULL;
}

static int tls_mode(void)
{
	void *dl = dlopen("libnames_dl.so", RTLD_NOW);
	long *(*touch)(long);
	pthread_t t;

	if (!dl) {
		fprintf(stderr, "uselib: %s\n", dlerror());
		return 102;
	}
	touch = (long *(*)(long))dlsym(dl, "dl_tls_touch");
	pthread_barrier_init(&started, NULL, 2);
	/* The thread first: it exists before the main thread's dl_tls. */
	pthread_create(&t, NULL, thread_main, NULL);
	pthread_barrier_wait(&started);
	exe_tls = 11;
	printf("tls exe_tls %d %p\n", (int)gettid(), (void *)&exe_tls);
	printf("tls lib_tls %d %p\n", (int)gettid(), (void *)lib_tls_touch(1));
	printf("tls dl_tls %d %p\n", (int)gettid(), (void *)touch(3));
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	return getchar() == EOF ? 101 : 0;
}

int main(int argc, char **argv)
{
	printf("foo_var %p\n", (void *)&foo_var);
	printf("foo_state.b %p\n", (void *)&foo_state.b);
	fflush(stdout);
	if (argc > 1 && !strcmp(argv[1], "tls"))
		return tls_mode();
	if (argc < 2 || strcmp(argv[1], "write"))
		return 100;
	for (int i = 1; i <= 4; i++)
		foo_set(3 * i);
	return 0;
}
