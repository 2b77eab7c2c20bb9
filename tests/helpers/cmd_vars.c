/* SPDX-License-Identifier: MIT */
/*
 * cmd_vars.c - a target for test_cmd.c: globals of each kind, written in a
 * fixed order by the mode given on the command line (`cmd_vars MODE [N]`),
 * so the tests know every hit hwbp must report.  No hwbp inside.
 * `exec N` writes N times and execs itself to write N more.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum color { RED, GREEN, BLUE };

struct config {
	int before;
	int limit;
	int after;
};

int counter;
struct config cfg;
int table[8];
bool flag;
char letter;
enum color color;
double ratio;
void *pointer;
int zeros;
int reads_me;
volatile int sink;

__attribute__((noinline)) void bump(int v)
{
	counter = v;
}
enum { BUMP_LINE = __LINE__ - 2 }; /* the store in bump() */

__attribute__((noinline)) void callee(void)
{
	sink++;
}

static void count(int n)
{
	for (int i = 1; i <= n; i++)
		bump(i);
	printf("bump_line=%d\ndone counter=%d\n", BUMP_LINE, counter);
}

/* cfg.limit and table[3] between written neighbours. */
static void neighbours(int n)
{
	for (int i = 1; i <= n; i++) {
		cfg.before = i;
		cfg.limit = i;
		cfg.after = i;
		table[2] = i;
		table[3] = 10 * i;
		table[4] = i;
	}
}

/* Two writes each; ratio's store is a vector one (approximate), so it
 * stays in memory a while for hwbp to read. */
static void typed(void)
{
	flag = true;
	letter = 'A';
	color = GREEN;
	pointer = &counter;
	ratio = 1.5;
	usleep(300000);
	flag = false;
	letter = 'z';
	color = BLUE;
	pointer = NULL;
	ratio = -2.25;
	usleep(300000);
	printf("&counter=%p\n", (void *)&counter);
}

/* Per round on reads_me: a read, a write, a read-modify-write, and a
 * same-value write after a read: 2 reads, 2 writes, 1 rmw. */
static void mixed(int n)
{
	int sum = 0;

	for (int i = 0; i < n; i++) {
		sum += reads_me;
		reads_me = i;
		__atomic_fetch_add(&reads_me, 1, __ATOMIC_SEQ_CST);
		reads_me = reads_me;
	}
	sink = sum;
}

/* Six locations written in turn, a millisecond apart, n rounds. */
int spread[6 * 16];

static void spread_writes(int n)
{
	for (int i = 1; i <= n; i++) {
		for (int k = 0; k < 6; k++)
			spread[16 * k] = i;
		usleep(1000);
	}
}

static void reads(int n)
{
	int sum = 0;

	reads_me = 7;
	for (int i = 0; i < n; i++)
		sum += reads_me;
	sink = sum;
}

/* n writes, then exec this program again (same personality: with
 * ADDR_NO_RANDOMIZE its counter is at the same address) to write n more
 * as "exec-after".  With "wait": say where counter is and wait for a
 * line on stdin first. */
static int exec_mode(const char *n, bool wait)
{
	char line[16];

	if (wait) {
		printf("&counter=%p\n", (void *)&counter);
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 101;
	}
	count(atoi(n));
	fflush(stdout);
	execl("/proc/self/exe", "cmd_vars", "exec-after", n, (char *)NULL);
	perror("cmd_vars: exec");
	return 102;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int n = argc > 2 ? atoi(argv[2]) : 0;

	if (!strcmp(mode, "count"))
		count(n);
	else if (!strcmp(mode, "neighbours"))
		neighbours(n);
	else if (!strcmp(mode, "typed"))
		typed();
	else if (!strcmp(mode, "zeros"))
		for (int i = 0; i < n; i++)
			zeros = i % 3;
	else if (!strcmp(mode, "mixed"))
		mixed(atoi(argv[2]));
	else if (!strcmp(mode, "spread"))
		spread_writes(atoi(argv[2]));
	else if (!strcmp(mode, "reads"))
		reads(n);
	else if (!strcmp(mode, "calls"))
		for (int i = 0; i < n; i++)
			callee();
	else if (!strcmp(mode, "exec") && argc > 2)
		return exec_mode(argv[2], argc > 3 && !strcmp(argv[3], "wait"));
	else if (!strcmp(mode, "exec-after")) {
		printf("after exec &counter=%p\n", (void *)&counter);
		count(n);
	} else if (!strcmp(mode, "exit"))
		return n;
	else if (!strcmp(mode, "signal"))
		kill(getpid(), n);
	else if (!strcmp(mode, "crash")) { /* n writes, then a real fault */
		count(n);
		fflush(stdout);
		*(volatile int *)(uintptr_t)8 = 1;
	}
	else
		return fprintf(stderr, "cmd_vars: unknown mode '%s'\n", mode), 100;
	return 0;
}
