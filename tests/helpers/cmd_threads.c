/* SPDX-License-Identifier: MIT */
/*
 * cmd_threads.c - a target for test_cmd.c: two named threads writing one
 * variable.  `cmd_threads named A B`: writer-a stores `shared` A times,
 * writer-b B times.  `cmd_threads race N`: racer-1 and racer-2 each add 1 to
 * `total` N times with a locked add, at the same moment.  `cmd_threads
 * turns N`: turn-a and turn-b, both on CPU 0, take turns storing `shared`
 * N times each (a yields the CPU to b between its stores, and b to a).
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

int shared;
int total;

struct job {
	const char *name;
	int n;
	bool race;
	int turn;     /* turns: 0 or 1, whose turn `turn` says */
};

static volatile int turn = 0;

static void take_turns(const struct job *j)
{
	for (int i = 1; i <= j->n; i++) {
		while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) != j->turn)
			sched_yield();
		shared = i;
		__atomic_store_n(&turn, !j->turn, __ATOMIC_RELEASE);
	}
}

static pthread_barrier_t start;

static void *work(void *arg)
{
	const struct job *j = arg;

	prctl(PR_SET_NAME, j->name);
	pthread_barrier_wait(&start);
	if (j->turn >= 0) {
		take_turns(j);
		return NULL;
	}
	for (int i = 1; i <= j->n; i++) {
		if (j->race)
			__atomic_fetch_add(&total, 1, __ATOMIC_RELAXED);
		else
			shared = i;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	bool race = argc > 1 && !strcmp(argv[1], "race");
	bool turns = argc > 1 && !strcmp(argv[1], "turns");
	int a = argc > 2 ? atoi(argv[2]) : 0, b = argc > 3 ? atoi(argv[3]) : a;
	struct job jobs[2] = {
		{ race ? "racer-1" : "writer-a", a, race, -1 },
		{ race ? "racer-2" : "writer-b", b, race, -1 },
	};
	pthread_t t[2];

	if (turns) {
		cpu_set_t cpu0;

		CPU_ZERO(&cpu0);
		CPU_SET(0, &cpu0);
		sched_setaffinity(0, sizeof(cpu0), &cpu0); /* threads inherit */
		jobs[0] = (struct job){ "turn-a", a, false, 0 };
		jobs[1] = (struct job){ "turn-b", a, false, 1 };
	}

	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, work, &jobs[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("shared=%d total=%d\n", shared, total);
	return 0;
}
