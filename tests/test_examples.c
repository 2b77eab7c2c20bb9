/* SPDX-License-Identifier: MIT */
/*
 * test_examples.c - the programs in examples/ do what their comments say:
 * each checks its own outcome (exact counts, skipped instructions, the
 * forked child's writes) and exits 0 only when it holds.
 */
#include <stdlib.h>
#include <sys/wait.h>

#include "testutil.h"

/* Run build/examples/NAME; its exit status (or 128 + signal). */
static int run_example(const char *name)
{
	const char *dir = getenv("HWBP_EXAMPLES");
	char path[4096];
	int status;
	pid_t pid;

	cr_assert(dir, "HWBP_EXAMPLES is not set (make check sets it)");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		alarm(30);
		execl(path, name, (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

Test(examples, count_writes)
{
	TU_REQUIRE_SIGTRAP();
	TU_REQUIRE_HITS();
	cr_assert_eq(run_example("count_writes"), 0);
}

Test(examples, skip_insn)
{
	TU_REQUIRE_SIGTRAP();
	TU_REQUIRE(tu_probe().exec, "execute breakpoints refused here");
	TU_REQUIRE_HITS();
	cr_assert_eq(run_example("skip_insn"), 0);
}

Test(examples, follow_fork)
{
	TU_REQUIRE_HITS();
	cr_assert_eq(run_example("follow_fork"), 0);
}
