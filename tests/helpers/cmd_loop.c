/* SPDX-License-Identifier: MIT */
/*
 * cmd_loop.c - a target for test_cmd.c to attach to or kill hwbp under:
 * `cmd_loop MS` prints "ready PID", then stores `ticks` every 5 ms for MS
 * milliseconds and exits 0 (it never runs on forever).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int ticks;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	long long end = now_ms() + (argc > 1 ? atoi(argv[1]) : 1000);

	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (now_ms() < end) {
		ticks++;
		usleep(5000);
	}
	return 0;
}
