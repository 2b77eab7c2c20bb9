/* SPDX-License-Identifier: MIT */
/*
 * objects.c - a target for test_objects.c (`objects MODE [N]`): whole
 * objects, pointer paths and two names on one address.  Each mode prints
 * what it wrote, one "W member value" line per store (the oracle), and
 * where things are ("A name 0xADDR", and "A pid PID").
 *   members N  stores to members of cfg (nested too), elements of arr
 *              and small, a union's int and char, N rounds
 *   spin MS    arr[0..7] in turn for MS milliseconds (shared registers)
 *   big        big[4095] = 7 and big[1000] = 9 (a 4096-byte array)
 *   same N     counter = 1..N (an 8-byte store)
 *   ptr N      h.cur->v = 1..N into node a (h.cur = &a from the
 *              start: static data), then h.cur = &b, says
 *              "switched", waits for SIGUSR1, a.v = 99 (the old target),
 *              then h.cur->v = N+1..2N into b
 *   lazy N     lazy is NULL; after SIGUSR1 lazy = &a, says "set", waits
 *              for SIGUSR1, then lazy->v = 1..N
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BARRIER() __asm__ volatile("" ::: "memory")

struct limits {
	int soft, hard;
};
struct cfg {
	long limit;
	struct limits lim[2];
	short flags;
	char name[6];
} cfg;
long arr[8];
int small[8];
union word {
	int i;
	char c[4];
} word;
unsigned char big[4096];
long counter;
struct node {
	int v;
	struct node *next;
} a, b;
struct holder {
	long pad;
	struct node *cur;
} h = { 0, &a };
struct node *lazy;

static void say(const char *what, long v)
{
	printf("W %s %ld\n", what, v);
}

static void members(int n)
{
	for (int i = 1; i <= n; i++) {
		cfg.limit = i;
		BARRIER();
		say("cfg.limit", i);
		cfg.lim[1].hard = 10 * i;
		BARRIER();
		say("cfg.lim[1].hard", 10 * i);
		cfg.flags = (short)-i;
		BARRIER();
		say("cfg.flags", -i);
		cfg.name[2] = (char)('a' + i);
		BARRIER();
		say("cfg.name[2]", 'a' + i);
		arr[i % 8] = 100L * i;
		BARRIER();
		printf("W arr[%d] %ld\n", i % 8, 100L * i);
		small[5] = -7 * i;
		BARRIER();
		say("small[5]", -7 * i);
		word.i = 1000 + i;
		BARRIER();
		say("word.i", 1000 + i);
		word.c[2] = (char)i;
		BARRIER();
		say("word.c[2]", i);
	}
}

static void spin(int ms)
{
	struct timespec t0, t;
	long i = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		arr[i % 8] = i;
		BARRIER();
		i++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 +
		 (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static void wait_usr1(void)
{
	sigset_t usr1;
	int sig;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigwait(&usr1, &sig))
		exit(101);
}

static void ptr(int n)
{
	for (int i = 1; i <= n; i++) {
		h.cur->v = i;
		BARRIER();
		say("a.v", i);
	}
	h.cur = &b;
	BARRIER();
	printf("switched\n");
	fflush(stdout);
	wait_usr1();
	a.v = 99;
	BARRIER();
	say("a.v", 99);
	for (int i = n + 1; i <= 2 * n; i++) {
		h.cur->v = i;
		BARRIER();
		say("b.v", i);
	}
}

static void lazy_mode(int n)
{
	printf("ready\n");
	fflush(stdout);
	wait_usr1();
	lazy = &a;
	BARRIER();
	printf("set\n");
	fflush(stdout);
	wait_usr1();
	for (int i = 1; i <= n; i++) {
		lazy->v = i;
		BARRIER();
		say("a.v", i);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int n = argc > 2 ? atoi(argv[2]) : 1;
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	printf("A pid %d\nA cfg %p\nA arr %p\nA word %p\nA big %p\n"
	       "A counter %p\nA a.v %p\nA b.v %p\nA h.cur %p\nA small %p\n",
	       (int)getpid(), (void *)&cfg, (void *)arr, (void *)&word,
	       (void *)big, (void *)&counter, (void *)&a.v, (void *)&b.v,
	       (void *)&h.cur, (void *)small);
	fflush(stdout);
	if (!strcmp(mode, "members"))
		members(n);
	else if (!strcmp(mode, "big")) {
		big[4095] = 7;
		BARRIER();
		say("big[4095]", 7);
		big[1000] = 9;
		BARRIER();
		say("big[1000]", 9);
	} else if (!strcmp(mode, "same")) {
		for (int i = 1; i <= n; i++) {
			counter = i;
			BARRIER();
			say("counter", i);
		}
	} else if (!strcmp(mode, "ptr"))
		ptr(n);
	else if (!strcmp(mode, "lazy"))
		lazy_mode(n);
	else if (!strcmp(mode, "spin"))
		spin(n);
	else
		return 100;
	return 0;
}
