/* SPDX-License-Identifier: MIT */
/*
 * cmd_fork.c - a target for test_cmd.c: the parent stores `counter` 10
 * times, forks a child that stores it 100 times, waits for it, and stores it
 * 10 more times; then prints both pids.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int counter;

static void store(int from, int n)
{
	for (int i = 0; i < n; i++)
		counter = from + i;
}

int main(void)
{
	pid_t child;
	int status;

	store(1, 10);
	child = fork();
	if (child == 0) {
		store(1000, 100);
		_exit(0);
	}
	waitpid(child, &status, 0);
	store(11, 10);
	printf("parent=%d child=%d\n", (int)getpid(), (int)child);
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
