/* SPDX-License-Identifier: MIT */
/*
 * c_main.c (with c_other.c) - a C target for test_names.c: a static local
 * (`calls` in bump: `bump::calls`, nm's `calls.0` from gcc, `bump.calls`
 * from clang), a file static that both files define (`count`: ambiguous
 * alone, `c_main.c::count` and `c_other.c::count`), a global and a
 * function.  Prints "LOCATION 0xADDR" for each (the oracle), then
 *   c write N   writes each N times (counter = i, count = i, calls = i,
 *               c_other.c's count = 10 * i) and exits at once;
 *   c wait      says "ready PID" and waits for a line on stdin;
 *   c heap N    puts a node on the heap (head->v), says where and "ready
 *               PID", waits for SIGUSR1, then writes head->v = 1..N.
 * Built by gcc and clang at -O0 and -O2 (Makefile).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BARRIER() __asm__ volatile("" ::: "memory")

int counter;
static int count;
struct node {
	int v;
	struct node *next;
} *head;
int grid[3][5];
union word {
	int i;
	char c[4];
} word;

int *other_count(void);
void other_write(int v);

__attribute__((noinline)) int *bump(int v)
{
	static int calls;

	calls = v;
	BARRIER();
	return &calls;
}

static int heap_mode(int n)
{
	sigset_t usr1;
	int sig;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	head = calloc(1, sizeof(*head));
	printf("head->v %p\nready %d\n", (void *)&head->v, (int)getpid());
	fflush(stdout);
	if (sigwait(&usr1, &sig))
		return 101;
	for (int i = 1; i <= n; i++) {
		head->v = i;
		BARRIER();
	}
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 1;
	int *calls = bump(0);

	printf("counter %p\n", (void *)&counter);
	printf("bump::calls %p\n", (void *)calls);
	printf("calls %p\n", (void *)calls);
	printf("c_main.c::count %p\n", (void *)&count);
	printf("c_other.c::count %p\n", (void *)other_count());
	printf("grid[1][2] %p\n", (void *)&grid[1][2]);
	printf("grid %p\n", (void *)grid);
	printf("word.c[2] %p\n", (void *)&word.c[2]);
	fflush(stdout);
	if (argc > 1 && !strcmp(argv[1], "heap"))
		return heap_mode(n);
	if (argc > 1 && !strcmp(argv[1], "wait")) {
		char line[16];

		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		return fgets(line, sizeof(line), stdin) ? 0 : 101;
	}
	if (argc < 2 || strcmp(argv[1], "write"))
		return 100;
	for (int i = 1; i <= n; i++) {
		counter = i;
		BARRIER();
		count = i;
		BARRIER();
		bump(i);
		other_write(10 * i);
	}
	return 0;
}
