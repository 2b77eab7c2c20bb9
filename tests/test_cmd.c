/* SPDX-License-Identifier: MIT */
/*
 * test_cmd.c - the `hwbp` command end to end: usage and runtime errors (exit
 * status, one line naming the problem), the launched command's exit status,
 * the JSON schema, attaching and detaching, the target surviving hwbp's
 * SIGKILL; and, where debug registers fire, exact hits, values, threads,
 * forks and each option.  HWBP_BIN is the command, HWBP_TEST_HELPERS the
 * directory of the targets (tests/helpers/cmd_*.c).
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cmdutil.h"

/* ---- usage: exit 2, one line naming the problem ---- */

struct usage_case {
	const char *args[10];
	const char *want;
};

static const struct usage_case usage_cases[] = {
	{ { "watch", "--", "true" }, "no LOCATION to watch" },
	{ { "watch", "counter" }, "give a COMMAND after --, -p PID" },
	{ { "watch", "counter", "--" }, "nothing after --" },
	{ { "watch", "--bogus", "counter", "-p", "1" }, "unknown option '--bogus'" },
	{ { "watch", "-x", "counter", "-p", "1" }, "unknown option '-x'" },
	{ { "watch", "counter", "--max" }, "--max: needs an argument" },
	{ { "watch", "--read", "--count", "counter", "-p", "1" },
	  "--count and --cpu count what the registers see" },
	{ { "watch", "--policy", "lru", "counter", "-p", "1" },
	  "--policy 'lru': pinned, rr or reservoir" },
	{ { "watch", "--quantum", "0", "counter", "-p", "1" },
	  "--quantum '0'" },
	{ { "watch", "--max", "0", "counter", "-p", "1" }, "--max '0'" },
	{ { "watch", "--max", "abc", "counter", "-p", "1" }, "--max 'abc'" },
	{ { "watch", "--max", "-3", "counter", "-p", "1" }, "--max '-3'" },
	{ { "watch", "--cpu", "1-0", "counter" }, "--cpu '1-0'" },
	{ { "watch", "--cpu", "x", "counter" }, "--cpu 'x'" },
	{ { "watch", "--tid", "5", "counter", "--", "true" }, "--tid needs -p PID" },
	{ { "watch", "-p", "abc", "counter" }, "-p 'abc'" },
	{ { "watch", "-p", "0", "counter" }, "-p '0'" },
	{ { "watch", "--rw", "--exec", "f", "-p", "1" },
	  "give one of --write, --read, --rw, --exec" },
	{ { "watch", "counter", "-p", "1", "--", "true" }, "not both" },
	{ { "watch", "--cpu", "0", "-p", "1", "counter" }, "--cpu watches CPUs" },
	{ { "watch", "--count", "--max", "3", "counter", "-p", "1" },
	  "--count only counts" },
	{ { "watch", "--count", "--bt", "counter", "-p", "1" },
	  "--count only counts" },
	{ { "watch", "--count", "--switches", "counter", "-p", "1" },
	  "--count only counts" },
	{ { "watch", "--exec", "--if", "== 0", "f", "-p", "1" },
	  "--exec has none" },
	{ { "watch", "--if", "=~ 3", "counter", "-p", "1" }, "--if '=~ 3'" },
	{ { "watch", "--ring-pages", "3", "counter", "-p", "1" },
	  "--ring-pages '3'" },
	{ { "probe", "extra" }, "unexpected 'extra'" },
	{ { "frobnicate" }, "unknown command 'frobnicate'" },
};

Test(cmd, usage_errors_exit_2_with_one_line, .timeout = 60)
{
	for (size_t i = 0; i < sizeof(usage_cases) / sizeof(*usage_cases); i++) {
		const struct usage_case *c = &usage_cases[i];
		struct run r = run_hwbp(c->args);

		assert_error(&r, 2, c->want);
		free_run(&r);
	}
}

Test(cmd, no_arguments_prints_usage_exit_2)
{
	struct run r = run_hwbp(ARGS(NULL));

	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "usage: hwbp watch"), "%s", r.err);
	free_run(&r);
}

Test(cmd, help_version_probe_exit_0)
{
	struct run r = HWBP("--help");

	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: hwbp watch"), "%s", r.out);
	free_run(&r);
	r = HWBP("watch", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "--rw") && strstr(r.out, "Exit status"), "%s",
		  r.out);
	free_run(&r);
	r = HWBP("--version");
	cr_assert_eq(r.status, 0);
	cr_assert(!strncmp(r.out, "hwbp ", 5) && r.out[5] >= '0' &&
		  r.out[5] <= '9', "%s", r.out);
	free_run(&r);
	r = HWBP("probe");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "debug registers") && strstr(r.out, "hits fire"),
		  "%s", r.out);
	free_run(&r);
}

/* ---- LOCATION and runtime errors ---- */

Test(cmd, unknown_symbol_suggests_a_name)
{
	struct run r = HWBP("watch", "countr", "--", helper("cmd_vars"),
			    "count", "1");

	/* man hwbp: an unknown LOCATION is a usage error (2). */
	assert_error(&r, 2, "unknown symbol 'countr'; did you mean: counter");
	free_run(&r);
}

/* The guard's ptrace of a child is allowed here (Yama, seccomp). */
static bool can_ptrace_children(void)
{
	pid_t child = fork();
	bool ok;

	if (child == 0) {
		pause();
		_exit(0);
	}
	ok = child > 0 && ptrace(PTRACE_SEIZE, child, NULL, NULL) == 0;
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, __WALL);
	}
	return ok;
}

static void assert_watched_two(struct run *r)
{
	cr_assert_eq(r->status, 0, "exit %d: %s", r->status, r->err);
	cr_assert(strstr(r->err, "which has the names: watching it"), "%s",
		  r->err);
	cr_assert(strstr(r->out, "write counter 0 -> 1") &&
		  strstr(r->out, "write counter 1 -> 2"), "%s", r->out);
	free_run(r);
}

/* A name the command's first program lacks, where that program is a
 * wrapper (env, taskset, sh) or a script's interpreter: followed, seized,
 * from exec to exec into the program that has it; one that forks first
 * is stopped and the error says why; a plain typo gets no hint. */
Test(cmd, a_wrapper_is_followed_into_the_program_it_execs, .timeout = 60)
{
	char script[] = "/tmp/hwbp-wrap-XXXXXX";
	int fd = mkstemp(script);
	struct run r;

	TU_REQUIRE_HITS();
	TU_REQUIRE(can_ptrace_children(), "no ptrace here: nothing is "
		   "followed (tested by the hint below)");
	cr_assert(fd >= 0);
	dprintf(fd, "#!/bin/sh\nexec %s count 2\n", helper("cmd_vars"));
	close(fd);
	chmod(script, 0700);
	r = HWBP("watch", "counter", "--", "env", helper("cmd_vars"), "count",
		 "2");
	assert_watched_two(&r);
	r = HWBP("watch", "counter", "--", script);
	assert_watched_two(&r);
	unlink(script);
}

Test(cmd, a_name_behind_a_forking_wrapper_says_what_is_watched,
     .timeout = 60)
{
	char cmd[4200];
	struct run r;

	TU_REQUIRE(can_ptrace_children(), "no ptrace here: nothing is "
		   "followed");
	snprintf(cmd, sizeof(cmd), "%s count 1; true", helper("cmd_vars"));
	r = HWBP("watch", "counter", "--", "sh", "-c", cmd);
	assert_error(&r, 2, "started a process, and was stopped before it "
		     "ran a program with the name");
	free_run(&r);
	r = HWBP("watch", "counter", "--", "env", "true");
	assert_error(&r, 2, "true, which /usr/bin/env ran)");
	free_run(&r);
	r = HWBP("watch", "--no-guard", "counter", "--", "env",
		 helper("cmd_vars"), "count", "1");
	assert_error(&r, 2, "env is what the command runs first; hwbp follows "
		     "a wrapper such as env, taskset or sh into the program it "
		     "execs only with its guard, which is off");
	free_run(&r);
	r = HWBP("watch", "countr", "--", helper("cmd_vars"), "count", "1");
	assert_error(&r, 2, "unknown symbol 'countr'");
	cr_assert_null(strstr(r.err, "runs first"), "%s", r.err);
	free_run(&r);
}

Test(cmd, bad_member_and_index)
{
	struct run r = HWBP("watch", "cfg.nosuch", "--", helper("cmd_vars"),
			    "count", "1");

	assert_error(&r, 2, "no member 'nosuch' in struct config");
	free_run(&r);
	r = HWBP("watch", "table[8]", "--", helper("cmd_vars"), "count", "1");
	assert_error(&r, 2, "index 8 is out of bounds (the array has 8 "
		     "elements)");
	free_run(&r);
	r = HWBP("watch", "counter.x", "--", helper("cmd_vars"), "count", "1");
	assert_error(&r, 2, "'.x': not a struct or union");
	free_run(&r);
}

static bool copy_file(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	return system(cmd) == 0;
}

Test(cmd, stripped_program_says_so_and_takes_addresses)
{
	struct tmp t;
	char cmd[256];
	struct run r;

	tmp_make(&t, "stripped_vars");
	cr_assert(copy_file(helper("cmd_vars"), t.path));
	snprintf(cmd, sizeof(cmd), "strip '%s' 2>/dev/null", t.path);
	if (system(cmd) != 0) {
		tmp_remove(&t);
		cr_skip_test("skipped: no working `strip` (binutils)");
	}
	r = HWBP("watch", "counter", "--", t.path, "count", "1");
	assert_error(&r, 2, "is stripped");
	cr_assert(strstr(r.err, "give an address (0x...)"), "%s", r.err);
	free_run(&r);
	/* An address needs no symbols (unmapped here: armed, never hit). */
	r = HWBP("watch", "--json", "0x1000", "--", t.path, "exit", "0");
	cr_assert_eq(r.status, 0, "%s", r.err);
	parse_json(r.out, false);
	free_run(&r);
	tmp_remove(&t);
}

Test(cmd, non_elf_command_is_a_runtime_error)
{
	struct tmp t;
	FILE *f;
	struct run r;

	tmp_make(&t, "not-a-program");
	f = fopen(t.path, "w");
	cr_assert(f);
	fputs("this is text, not ELF and not #!\n", f);
	fclose(f);
	chmod(t.path, 0755);
	r = HWBP("watch", "counter", "--", t.path);
	assert_error(&r, 1, "not an executable");
	free_run(&r);
	r = HWBP("watch", "counter", "--", "/nonexistent/hwbp-no-such-file");
	assert_error(&r, 1, "No such file");
	free_run(&r);
	tmp_remove(&t);
}

Test(cmd, no_such_pid_is_a_runtime_error)
{
	pid_t dead = fork();
	char pid[16], want[64];
	struct run r;

	if (dead == 0)
		_exit(0);
	cr_assert_eq(waitpid(dead, NULL, 0), dead);
	snprintf(pid, sizeof(pid), "%d", (int)dead);
	snprintf(want, sizeof(want), "no process %d", (int)dead);
	r = HWBP("watch", "counter", "-p", pid);
	assert_error(&r, 1, want);
	free_run(&r);
}

Test(cmd, tid_of_another_process_is_an_error, .timeout = 30)
{
	struct proc loop;
	pid_t target = start_loop(3000, &loop);
	char pid[16], tid[16];
	struct run r;

	snprintf(pid, sizeof(pid), "%d", (int)target);
	snprintf(tid, sizeof(tid), "%d", (int)getpid());
	r = HWBP("watch", "ticks", "-p", pid, "--tid", tid);
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
	assert_error(&r, 1, "has no such thread");
	free_run(&r);
}

/* hwbp as nobody (setpriv: no groups, no capabilities), or a skip. */
static struct run hwbp_as_nobody(const char *const *args)
{
	const char *argv[MAX_ARGS] = { "--reuid=65534", "--regid=65534",
				       "--clear-groups", env_or_skip("HWBP_BIN") };
	struct proc p;
	int n = 4;

	if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK))
		cr_skip_test("skipped: needs root and setpriv (util-linux) to "
			     "run hwbp as another user");
	while (*args && n < MAX_ARGS - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	p = spawn("/usr/bin/setpriv", argv, HWBP_ALARM_S);
	return finish(&p);
}

/* man hwbp: no permission is a runtime error (1); the line names the
 * kernel's rule (ptrace read access to the process). */
Test(cmd, no_permission_to_watch_a_root_process, .timeout = 30)
{
	struct proc loop;
	pid_t target = start_loop(3000, &loop);
	char pid[16], want[64];
	struct run r;

	snprintf(pid, sizeof(pid), "%d", (int)target);
	r = hwbp_as_nobody(ARGS("watch", "ticks", "-p", pid));
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
	snprintf(want, sizeof(want), "no permission to watch process %d",
		 (int)target);
	assert_error(&r, 1, want);
	cr_assert(strstr(r.err, "ptrace read access"), "%s", r.err);
	free_run(&r);
}

/* Kernel addresses unprivileged: refused, naming CAP_PERFMON and
 * perf_event_paranoid (exit 1: a permission, not a usage error). */
Test(cmd, kernel_address_unprivileged_is_refused, .timeout = 30)
{
	struct run r;

	TU_REQUIRE(tu_probe().paranoid >= 2,
		   "perf_event_paranoid <= 1 lets every user watch kernel "
		   "accesses");
	r = hwbp_as_nobody(ARGS("watch", "--kernel", "0xffffffff81000000",
				"--", "/bin/true"));
	assert_error(&r, 1, "CAP_PERFMON");
	cr_assert(strstr(r.err, "perf_event_paranoid"), "%s", r.err);
	free_run(&r);
	r = hwbp_as_nobody(ARGS("watch", "--cpu", "0", "--kernel",
				"0xffffffff81000000"));
	assert_error(&r, 1, "CAP_PERFMON");
	cr_assert(strstr(r.err, "perf_event_paranoid"), "%s", r.err);
	free_run(&r);
}

Test(cmd, unwritable_output_is_a_runtime_error)
{
	struct run r = HWBP("watch", "-o", "/nonexistent/hwbp/hits", "counter",
			    "--", helper("cmd_vars"), "count", "1");

	assert_error(&r, 1, "cannot write /nonexistent/hwbp/hits");
	free_run(&r);
}

/* --count needs a register per location (the kernel counts them). */
Test(cmd, count_five_locations_is_one_too_many)
{
	struct run r;

	TU_REQUIRE_BREAKPOINTS();
	r = HWBP("watch", "--count", "counter", "cfg.limit", "table[3]", "flag",
		 "letter", "--", helper("cmd_vars"), "count", "1");
	assert_error(&r, 1, "no free debug register");
	cr_assert(strstr(r.err, "without --count"), "%s", r.err);
	free_run(&r);
}

/* ---- the launched command's exit status ---- */

Test(cmd, exit_status_is_the_commands)
{
	struct run r;

	TU_REQUIRE_BREAKPOINTS();
	r = HWBP("watch", "counter", "--", helper("cmd_vars"), "exit", "3");
	cr_assert_eq(r.status, 3, "%s", r.err);
	cr_assert(strstr(r.err, "--- hwbp: 0 hits in"), "%s", r.err);
	free_run(&r);
	r = HWBP("watch", "counter", "--", helper("cmd_vars"), "exit", "0");
	cr_assert_eq(r.status, 0, "%s", r.err);
	free_run(&r);
	/* man hwbp, EXIT STATUS: 128 + the signal that ended it. */
	r = HWBP("watch", "counter", "--", helper("cmd_vars"), "signal", "10");
	cr_assert_eq(r.status, 128 + SIGUSR1, "%s", r.err);
	cr_assert(strstr(r.err, "--- hwbp: 0 hits in"), "%s", r.err);
	free_run(&r);
}

Test(cmd, json_summary_with_no_hits)
{
	struct run r;
	struct hits h;

	TU_REQUIRE_BREAKPOINTS();
	r = HWBP("watch", "--json", "counter", "--", helper("cmd_vars"), "exit",
		 "0");
	cr_assert_eq(r.status, 0, "%s", r.err);
	h = parse_json(r.out, false);
	cr_assert_eq(h.n, 0);
	cr_assert_eq(jint(h.summary, "hits"), 0);
	cr_assert_eq(json_object_array_length(jarray(h.summary, "by_location")),
		     0);
	cr_assert_eq(json_object_array_length(jarray(h.summary, "by_thread")),
		     0);
	free_run(&r);
}

/* ---- attaching, detaching, and hwbp's death ---- */

Test(cmd, attach_sigint_detaches_target_runs_on, .timeout = 30)
{
	struct proc loop, p;
	pid_t target = start_loop(1500, &loop);
	char pid[16];
	struct run r;
	struct hits h;

	TU_REQUIRE_BREAKPOINTS();
	snprintf(pid, sizeof(pid), "%d", (int)target);
	p = START("watch", "--json", "ticks", "-p", pid);
	wait_armed(p.pid);
	usleep(200000);
	kill(p.pid, SIGINT);
	r = finish(&p);
	cr_assert_eq(r.status, 0, "%s", r.err);
	h = parse_json(r.out, false);
	assert_running(target);
	assert_exits_0(target); /* ran its 1.5 s to the end */
	for (int i = 0; i < h.n; i++) {
		cr_assert_eq(jint(h.hit[i], "pid"), target);
		cr_assert_str_eq(jstr(h.hit[i], "location"), "ticks");
	}
	TU_REQUIRE_HITS();
	cr_assert_gt(h.n, 0, "200 ms of a store every 5 ms: no hit");
	free_run(&r);
}

static void sigkill_hwbp(struct proc *p, pid_t target)
{
	int wstatus;

	wait_armed(p->pid);
	usleep(100000);
	kill(p->pid, SIGKILL);
	cr_assert_eq(waitpid(p->pid, &wstatus, 0), p->pid);
	cr_assert(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
	close(p->out);
	close(p->err);
	assert_running(target);
	assert_exits_0(target); /* no SIGTRAP, no stop: its normal end */
}

Test(cmd, sigkill_of_hwbp_leaves_launched_target_unharmed, .timeout = 30)
{
	struct proc p;
	char line[64];
	int target = 0;

	TU_REQUIRE_BREAKPOINTS();
	/* hwbp's orphaned child is reparented to us: we can reap it. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	p = START("watch", "ticks", "--", helper("cmd_loop"), "800");
	read_line(p.out, line, sizeof(line));
	cr_assert_eq(sscanf(line, "ready %d", &target), 1, "'%s'", line);
	sigkill_hwbp(&p, target);
}

Test(cmd, sigkill_of_hwbp_leaves_attached_target_unharmed, .timeout = 30)
{
	/* 3 s: a sanitized hwbp under emulation takes over 1 s to arm, and
	 * the target must still be running when it is killed */
	struct proc loop, p;
	pid_t target = start_loop(3000, &loop);
	char pid[16];

	TU_REQUIRE_BREAKPOINTS();
	snprintf(pid, sizeof(pid), "%d", (int)target);
	p = START("watch", "ticks", "-p", pid);
	sigkill_hwbp(&p, target);
}

/* ---- hits: exact counts, values, sources (need working traps) ---- */

/* hits[from..from+n) store 1..n (times mul): chained old -> new, exact. */
static void assert_chain(json_object **hit, int n, int mul)
{
	for (int i = 0; i < n; i++) {
		const char *s = json_object_to_json_string(hit[i]);

		cr_assert_str_eq(jstr(hit[i], "access"), "write", "%s", s);
		cr_assert_eq(jint(hit[i], "new"), (int64_t)(i + 1) * mul, "%s", s);
		cr_assert_eq(jint(hit[i], "old"), (int64_t)i * mul, "%s", s);
		cr_assert(jbool(hit[i], "new_exact") && jbool(hit[i], "old_exact"),
			  "%s", s);
	}
}

Test(cmd, counter_1000_writes_exact, .timeout = 30)
{
	struct watched w = WATCH_JSON("counter", "--", helper("cmd_vars"),
				      "count", "1000");
	json_object *locs, *threads;
	int line = 0;
	const char *lp = strstr(w.run.out, "bump_line=");

	cr_assert(lp && sscanf(lp, "bump_line=%d", &line) == 1, "%s", w.run.out);
	cr_assert(strstr(w.run.out, "done counter=1000"), "%s", w.run.out);
	TU_REQUIRE_HITS();
	cr_assert_eq(w.h.n, 1000);
	assert_chain(w.h.hit, 1000, 1);
	for (int i = 0; i < w.h.n; i++) {
		json_object *o = w.h.hit[i];

		cr_assert_str_eq(jstr(o, "location"), "counter");
		cr_assert_str_eq(jstr(o, "function"), "bump");
		cr_assert(ends_with(jstr(o, "file"), "cmd_vars.c"), "%s",
			  jstr(o, "file"));
		cr_assert_eq(jint(o, "line"), line);
		cr_assert_eq(jint(o, "pid"), jint(o, "tid"));
		cr_assert_str_eq(jstr(o, "thread"), "cmd_vars");
	}
	locs = jarray(w.h.summary, "by_location");
	threads = jarray(w.h.summary, "by_thread");
	cr_assert_eq(json_object_array_length(locs), 1);
	cr_assert_eq(jint(json_object_array_get_idx(locs, 0), "hits"), 1000);
	cr_assert_eq(jint(json_object_array_get_idx(locs, 0), "line"), line);
	cr_assert_eq(json_object_array_length(threads), 1);
	cr_assert_eq(jint(json_object_array_get_idx(threads, 0), "hits"), 1000);
}

Test(cmd, human_line_format, .timeout = 30)
{
	struct tmp t;
	struct run r;
	char *text, want[160];
	regex_t re;
	int line = 0;

	tmp_make(&t, "hits.txt");
	r = HWBP("watch", "-o", t.path, "counter", "--", helper("cmd_vars"),
		 "count", "3");
	cr_assert_eq(r.status, 0, "%s", r.err);
	text = read_file(t.path);
	tmp_remove(&t);
	cr_assert(strstr(text, "--- hwbp: "), "no summary: %s", text);
	cr_assert(strstr(r.out, "bump_line=") &&
		  sscanf(strstr(r.out, "bump_line="), "bump_line=%d", &line),
		  "%s", r.out);
	TU_REQUIRE_HITS();
	/* "  0.000123 4242/4242 cmd_vars        write counter 0 -> 1  bump+10
	 * (tests/helpers/cmd_vars.c:36)" */
	snprintf(want, sizeof(want), "^ *[0-9]+\\.[0-9]{6} ([0-9]+)/\\1 "
		 "cmd_vars +write counter 0 -> 1  bump\\+[0-9]+ "
		 "\\([^ ]*cmd_vars\\.c:%d\\)$", line);
	cr_assert_eq(regcomp(&re, want, REG_EXTENDED | REG_NEWLINE), 0);
	cr_assert_eq(regexec(&re, text, 0, NULL, 0), 0, "no line like %s in:\n%s",
		     want, text);
	regfree(&re);
	cr_assert(strstr(text, "write counter 2 -> 3  bump+"), "%s", text);
	cr_assert(strstr(text, "--- hwbp: 3 hits in "), "%s", text);
}

static json_object *thread_row(json_object *summary, const char *name)
{
	json_object *rows = jarray(summary, "by_thread");

	for (size_t i = 0; i < json_object_array_length(rows); i++) {
		json_object *t = json_object_array_get_idx(rows, i);

		if (!strcmp(jstr(t, "thread"), name))
			return t;
	}
	cr_assert_fail("no thread %s in %s", name,
		       json_object_to_json_string(summary));
	return NULL;
}

Test(cmd, threads_by_name, .timeout = 30)
{
	struct watched w = WATCH_JSON("shared", "--", helper("cmd_threads"),
				      "named", "300", "500");
	int next[2] = { 1, 1 };

	TU_REQUIRE_HITS();
	cr_assert_eq(w.h.n, 800);
	cr_assert_eq(jint(thread_row(w.h.summary, "writer-a"), "hits"), 300);
	cr_assert_eq(jint(thread_row(w.h.summary, "writer-b"), "hits"), 500);
	cr_assert_eq(json_object_array_length(jarray(w.h.summary, "by_thread")),
		     2);
	/* Each thread's own stores come in its program order: 1, 2, ... */
	for (int i = 0; i < w.h.n; i++) {
		const char *name = jstr(w.h.hit[i], "thread");
		int k = !strcmp(name, "writer-b");

		cr_assert(k || !strcmp(name, "writer-a"), "thread %s", name);
		cr_assert_eq(jint(w.h.hit[i], "new"), next[k]++, "%s",
			     json_object_to_json_string(w.h.hit[i]));
	}
}

Test(cmd, atomic_race_values_exact, .timeout = 30)
{
	/* A 4 MiB ring: this test is about exact values, not overload. */
	struct watched w = WATCH_JSON("--ring-pages", "1024", "total", "--",
				      helper("cmd_threads"), "race", "2000");
	static bool seen[4001];

	cr_assert(strstr(w.run.out, "total=4000"), "%s", w.run.out);
	TU_REQUIRE_HITS();
	cr_assert_eq(jint(w.h.summary, "lost"), 0, "hits lost");
	cr_assert_eq(w.h.n, 4000);
	for (int i = 0; i < w.h.n; i++) {
		int64_t v = jint(w.h.hit[i], "new");

		cr_assert(v >= 1 && v <= 4000 && !seen[v], "new %lld twice or "
			  "out of 1..4000", (long long)v);
		seen[v] = true;
	}
	cr_assert_eq(jint(thread_row(w.h.summary, "racer-1"), "hits"), 2000);
	cr_assert_eq(jint(thread_row(w.h.summary, "racer-2"), "hits"), 2000);
}

static void count_by_pid(const struct hits *h, int parent, int child,
			 int *np, int *nc)
{
	*np = *nc = 0;
	for (int i = 0; i < h->n; i++) {
		int64_t pid = jint(h->hit[i], "pid");

		cr_assert(pid == parent || pid == child, "pid %lld",
			  (long long)pid);
		*(pid == parent ? np : nc) += 1;
	}
}

Test(cmd, fork_followed_or_not, .timeout = 30)
{
	struct watched w = WATCH_JSON("counter", "--", helper("cmd_fork"));
	int parent = 0, child = 0, np, nc;

	cr_assert_eq(sscanf(w.run.out, "parent=%d child=%d", &parent, &child),
		     2, "%s", w.run.out);
	TU_REQUIRE_HITS();
	count_by_pid(&w.h, parent, child, &np, &nc);
	cr_assert_eq(np, 20);
	cr_assert_eq(nc, 100);
	w = WATCH_JSON("--no-follow", "counter", "--", helper("cmd_fork"));
	cr_assert_eq(sscanf(w.run.out, "parent=%d child=%d", &parent, &child),
		     2, "%s", w.run.out);
	count_by_pid(&w.h, parent, child, &np, &nc);
	cr_assert_eq(np, 20);
	cr_assert_eq(nc, 0);
}

/* The hits at one location, in order. */
static int hits_at(const struct hits *h, const char *loc, json_object **out)
{
	int n = 0;

	for (int i = 0; i < h->n; i++)
		if (!strcmp(jstr(h->hit[i], "location"), loc))
			out[n++] = h->hit[i];
	return n;
}

Test(cmd, member_and_element_only_their_bytes, .timeout = 30)
{
	struct watched w = WATCH_JSON("cfg.limit", "table[3]", "--",
				      helper("cmd_vars"), "neighbours", "50");
	json_object *at[100];

	TU_REQUIRE_HITS();
	cr_assert_eq(w.h.n, 100, "neighbours' writes reported?");
	cr_assert_eq(hits_at(&w.h, "cfg.limit", at), 50);
	assert_chain(at, 50, 1);
	cr_assert_eq(hits_at(&w.h, "table[3]", at), 50);
	assert_chain(at, 50, 10);
}

/* new values of the two writes to loc, as JSON text. */
static void assert_two(const struct hits *h, const char *loc, const char *old0,
		       const char *new0, const char *new1)
{
	json_object *at[4];

	cr_assert_eq(hits_at(h, loc, at), 2, "%s", loc);
	cr_assert_str_eq(json_object_to_json_string(jget(at[0], "old")), old0);
	cr_assert_str_eq(json_object_to_json_string(jget(at[0], "new")), new0);
	cr_assert_str_eq(json_object_to_json_string(jget(at[1], "old")), new0);
	cr_assert_str_eq(json_object_to_json_string(jget(at[1], "new")), new1);
}

Test(cmd, typed_values_json, .timeout = 30)
{
	struct watched w = WATCH_JSON("flag", "letter", "color", "pointer", "--",
				      helper("cmd_vars"), "typed");
	char addr[64] = "", quoted[80];
	const char *p = strstr(w.run.out, "&counter=");
	json_object *at[4];

	cr_assert(p && sscanf(p, "&counter=%63s", addr) == 1, "%s", w.run.out);
	TU_REQUIRE_HITS();
	assert_two(&w.h, "flag", "false", "true", "false");
	assert_two(&w.h, "letter", "0", "65", "122");
	assert_two(&w.h, "color", "\"RED\"", "\"GREEN\"", "\"BLUE\"");
	snprintf(quoted, sizeof(quoted), "\"%s\"", addr);
	assert_two(&w.h, "pointer", "\"0x0\"", quoted, "\"0x0\"");
	/* A double stored from an xmm register (not sampled): read from
	 * memory, maybe approximate, but the value is still there. */
	w = WATCH_JSON("ratio", "--", helper("cmd_vars"), "typed");
	cr_assert_eq(hits_at(&w.h, "ratio", at), 2);
	cr_assert_float_eq(json_object_get_double(jget(at[0], "new")), 1.5, 1e-9);
	cr_assert_float_eq(json_object_get_double(jget(at[1], "new")), -2.25,
			   1e-9);
}

Test(cmd, typed_values_human, .timeout = 30)
{
	static const char *const want[] = {
		"write flag false -> true  typed+",
		"write flag true -> false  typed+",
		"write letter 0 -> 'A'  typed+",
		"write letter 'A' -> 'z'  typed+",
		"write color RED -> GREEN  typed+",
		"write color GREEN -> BLUE  typed+",
	};
	struct tmp t;
	struct run r;
	char *text;

	tmp_make(&t, "hits.txt");
	r = HWBP("watch", "-o", t.path, "flag", "letter", "color", "--",
		 helper("cmd_vars"), "typed");
	cr_assert_eq(r.status, 0, "%s", r.err);
	text = read_file(t.path);
	tmp_remove(&t);
	TU_REQUIRE_HITS();
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
		cr_assert(strstr(text, want[i]), "no '%s' in:\n%s", want[i], text);
}

/* ---- options ---- */

Test(cmd, count_mode, .timeout = 30)
{
	struct run r = HWBP("watch", "--count", "counter", "--",
			    helper("cmd_vars"), "count", "1000");
	json_object *row;
	struct hits h;

	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.err, "  counter (0x"), "%s", r.err);
	free_run(&r);
	r = HWBP("watch", "--count", "--json", "counter", "--",
		 helper("cmd_vars"), "count", "1000");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "{\"type\""), "no JSON: %s", r.out);
	h = parse_json(strstr(r.out, "{\"type\""), true);
	cr_assert_eq(h.n, 0, "--count prints no hit");
	row = json_object_array_get_idx(jarray(h.summary, "by_location"), 0);
	cr_assert_not_null(row);
	cr_assert_str_eq(jstr(row, "location"), "counter");
	cr_assert(!strncmp(jstr(row, "addr"), "0x", 2));
	TU_REQUIRE_HITS();
	cr_assert_eq(jint(row, "hits"), 1000);
	cr_assert_eq(jint(h.summary, "hits"), 1000);
}

Test(cmd, if_reports_only_matching_values, .timeout = 30)
{
	struct watched w = WATCH_JSON("--if", "== 0", "zeros", "--",
				      helper("cmd_vars"), "zeros", "30");

	TU_REQUIRE_HITS();
	cr_assert_eq(w.h.n, 10);
	for (int i = 0; i < w.h.n; i++)
		cr_assert_eq(jint(w.h.hit[i], "new"), 0);
	cr_assert_eq(jint(w.h.summary, "filtered"), 20);
}

Test(cmd, max_stops_and_command_runs_on, .timeout = 30)
{
	struct watched w = WATCH_JSON("--max", "10", "counter", "--",
				      helper("cmd_vars"), "count", "1000");

	cr_assert(strstr(w.run.out, "done counter=1000"), "%s", w.run.out);
	TU_REQUIRE_HITS();
	cr_assert_eq(w.h.n, 10);
	assert_chain(w.h.hit, 10, 1);
}

Test(cmd, rw_reports_reads, .timeout = 30)
{
	struct watched w = WATCH_JSON("--rw", "reads_me", "--",
				      helper("cmd_vars"), "reads", "5");

	TU_REQUIRE_HITS();
	cr_assert_eq(w.h.n, 6);
	cr_assert_str_eq(jstr(w.h.hit[0], "access"), "write");
	cr_assert_eq(jint(w.h.hit[0], "new"), 7);
	for (int i = 1; i < 6; i++) {
		cr_assert_str_eq(jstr(w.h.hit[i], "access"), "read");
		cr_assert_eq(jint(w.h.hit[i], "value"), 7);
		cr_assert_str_eq(jstr(w.h.hit[i], "function"), "reads");
	}
}

Test(cmd, exec_reports_each_call, .timeout = 30)
{
	struct run r = HWBP("watch", "--count", "--exec", "callee", "--",
			    helper("cmd_vars"), "calls", "25");
	struct watched w;

	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.err, "  callee (0x"), "%s", r.err);
	TU_REQUIRE_HITS();
	cr_assert(strstr(r.err, "          25  callee (0x"), "%s", r.err);
	free_run(&r);
	w = WATCH_JSON("--exec", "callee", "--", helper("cmd_vars"), "calls",
		       "25");
	cr_assert_eq(w.h.n, 25);
	for (int i = 0; i < w.h.n; i++) {
		cr_assert_str_eq(jstr(w.h.hit[i], "access"), "exec");
		cr_assert_str_eq(jstr(w.h.hit[i], "function"), "callee");
		cr_assert_eq(jint(w.h.hit[i], "offset"), 0);
	}
}

Test(cmd, attach_max_ends_watch_target_runs_on, .timeout = 30)
{
	struct proc loop;
	pid_t target;
	char pid[16];
	struct watched w;

	TU_REQUIRE_HITS(); /* without hits --max never ends the watch */
	target = start_loop(1500, &loop);
	snprintf(pid, sizeof(pid), "%d", (int)target);
	w = WATCH_JSON("--max", "5", "ticks", "-p", pid);
	cr_assert_eq(w.h.n, 5);
	for (int i = 1; i < 5; i++)
		cr_assert_eq(jint(w.h.hit[i], "new"),
			     jint(w.h.hit[i - 1], "new") + 1);
	assert_running(target);
	assert_exits_0(target);
}

/* ---- more locations than registers, and --read ---- */

/* --read: reads and read-modify-writes shown, plain writes left out (and
 * counted); each hit says which. */
Test(cmd, read_shows_reads_and_rmws, .timeout = 30)
{
	struct watched w = WATCH_JSON("--read", "reads_me", "--",
				      helper("cmd_vars"), "mixed", "20");
	int reads = 0, rmws = 0;

	cr_assert_eq(jint(w.h.summary, "strays"), 0);
	TU_REQUIRE_HITS();
	cr_assert_eq(jint(w.h.summary, "lost"), 0);
	cr_assert_eq(w.h.n, 60, "20 rounds x (2 reads + 1 rmw)");
	for (int i = 0; i < w.h.n; i++) {
		const char *a = jstr(w.h.hit[i], "access");

		reads += !strcmp(a, "read");
		rmws += !strcmp(a, "rmw");
	}
	cr_assert_eq(reads, 40);
	cr_assert_eq(rmws, 20);
	cr_assert_eq(jint(w.h.summary, "writes_dropped"), 40);
}

static const char *const six[] = { "spread[0]", "spread[16]", "spread[32]",
				   "spread[48]", "spread[64]", "spread[80]" };

#define SIX six[0], six[1], six[2], six[3], six[4], six[5]

/* Six locations on four registers: round-robin turns (2 ms), every
 * location armed part of the time, its coverage in the summary. */
Test(cmd, six_locations_round_robin, .timeout = 30)
{
	struct watched w = WATCH_JSON("--quantum", "2", SIX, "--",
				      helper("cmd_vars"), "spread", "200");
	json_object *cov = jarray(w.h.summary, "coverage");
	size_t n = json_object_array_length(cov);
	int64_t hits = 0;

	cr_assert_geq(n, 2, "at least 2 of 6 locations wait for a register");
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cov, i);

		cr_assert_gt(jint(c, "armed_ns"), 0, "%s never armed",
			     jstr(c, "location"));
		cr_assert_lt(jint(c, "armed_ns"), jint(c, "total_ns"));
	}
	TU_REQUIRE_HITS();
	cr_assert_eq(jint(w.h.summary, "lost"), 0);
	for (int i = 0; i < w.h.n; i++)
		hits++;
	cr_assert(hits > 0 && hits < 1200, "%lld of 1200 writes seen: some "
		  "while their location was unarmed", (long long)hits);
}

/* Pinned: the fifth location is refused with the reason. */
Test(cmd, pinned_policy_refuses_fifth, .timeout = 30)
{
	struct run r = HWBP("watch", "--policy", "pinned", SIX, "--",
			    helper("cmd_vars"), "spread", "1");

	cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "needs 1 debug register, 0 of 4 free"), "%s",
		  r.err);
	free_run(&r);
}

/* Reservoir: four of six armed, two wait; the run completes. */
Test(cmd, reservoir_policy_arms_four_of_six, .timeout = 30)
{
	struct watched w = WATCH_JSON("--policy", "reservoir", SIX, "--",
				      helper("cmd_vars"), "spread", "20");
	json_object *cov = jarray(w.h.summary, "coverage");

	cr_assert_geq(json_object_array_length(cov), 2);
}

/* ---- faults ---- */

/* The target crashes mid-watch: hwbp reports what it saw, prints the
 * summary and exits 128 + SIGSEGV, as the shell would. */
Test(cmd, target_crash_mid_watch, .timeout = 30)
{
	struct run r = HWBP("watch", "counter", "--", helper("cmd_vars"),
			    "crash", "10");

	cr_assert_eq(r.status, 128 + SIGSEGV, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "--- hwbp: "), "no summary: %s", r.err);
	TU_REQUIRE_HITS();
	cr_assert(strstr(r.err, "--- hwbp: 10 hits in"), "%s", r.err);
	free_run(&r);
}

/* Output piped into something that stops reading (hwbp ... | head -1):
 * hwbp stops watching and does not die of SIGPIPE; it exits with the
 * command's status, which shares the pipe: 0, or 128 + SIGPIPE if the
 * command printed after the reader left (as `cmd | head` would). */
Test(cmd, closed_output_ends_the_watch, .timeout = 30)
{
	struct proc p = START("watch", "counter", "--", helper("cmd_vars"),
			      "count", "20000");
	char line[512];
	int wstatus;

	TU_REQUIRE_HITS();
	read_line(p.out, line, sizeof(line));
	cr_assert(strstr(line, " write counter "), "'%s'", line);
	close(p.out);
	cr_assert_eq(waitpid(p.pid, &wstatus, 0), p.pid);
	cr_assert(WIFEXITED(wstatus), "hwbp killed by signal %d",
		  WTERMSIG(wstatus));
	cr_assert(WEXITSTATUS(wstatus) == 0 ||
		  WEXITSTATUS(wstatus) == 128 + SIGPIPE, "hwbp: exit %d",
		  WEXITSTATUS(wstatus));
	close(p.err);
}

/* ---- hwbp silent: the silent-store detector ---- */

struct site_row {
	int64_t writes, silent, unsure;
	bool seen;
};

/* The JSON site lines of `hwbp silent --json`, summed per variable. */
static void silent_sites(const char *text, const char *const *names, int n,
			 struct site_row *rows, json_object **summary)
{
	char *copy = strdup(text), *save = NULL;

	*summary = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(line);

		cr_assert(o, "not JSON: %s", line);
		if (!strcmp(jstr(o, "type"), "summary")) {
			*summary = o;
			continue;
		}
		cr_assert_str_eq(jstr(o, "type"), "site");
		for (int i = 0; i < n; i++)
			if (!strcmp(jstr(o, "variable"), names[i])) {
				rows[i].writes += jint(o, "writes");
				rows[i].silent += jint(o, "silent");
				rows[i].unsure += jint(o, "unsure");
				rows[i].seen = true;
			}
		json_object_put(o);
	}
	free(copy);
	cr_assert(*summary, "no summary line in: %s", text);
}

Test(silent, finds_the_known_silent_stores, .timeout = 120)
{
	static const char *const names[] = { "same_value", "counter", "half" };
	struct site_row rows[3] = { 0 };
	json_object *summary;
	struct run r;
	int64_t exact[3];

	TU_REQUIRE_HITS();
	r = HWBP("silent", "--json", "same_value", "counter", "half", "--",
		 helper("cmd_silent"), "100000");
	cr_assert_eq(r.status, 0, "%s", r.err);
	silent_sites(r.out, names, 3, rows, &summary);
	for (int i = 0; i < 3; i++) {
		exact[i] = rows[i].writes - rows[i].unsure;
		cr_assert_geq(exact[i], 10, "%s: %lld exact writes sampled: %s",
			      names[i], (long long)exact[i], r.out);
		/* a register is kept for a burst of writes: only the first of
		 * each burst may be unsure (was ~75 % with one write each) */
		cr_assert_leq(rows[i].unsure * 4, rows[i].writes,
			      "%s: %lld of %lld writes unsure: %s", names[i],
			      (long long)rows[i].unsure,
			      (long long)rows[i].writes, r.out);
	}
	/* same_value = 7: every write but the program's first is silent
	 * (a write is silent only with both values exact: the read at
	 * arming, racing the write, never counts as the old value) */
	cr_assert_geq(rows[0].silent, exact[0] - 1, "%s", r.out);
	/* counter = round: never */
	cr_assert_eq(rows[1].silent, 0, "%s", r.out);
	/* half = round / 2: exactly every other write; the sampled
	 * fraction within 0.15 of 0.5 (at 10+ samples over 2 sd, at the usual hundreds over 5) */
	cr_assert(fabs((double)rows[2].silent / (double)exact[2] - 0.5) <= 0.15,
		  "half: %lld of %lld silent: %s", (long long)rows[2].silent,
		  (long long)exact[2], r.out);
	cr_assert_eq(jint(summary, "writes"),
		     rows[0].writes + rows[1].writes + rows[2].writes);
	json_object_put(summary);
	free_run(&r);
}

Test(silent, every_variable_by_default)
{
	json_object *summary;
	struct site_row none[1];
	struct run r;

	TU_REQUIRE_BREAKPOINTS();
	r = HWBP("silent", "--json", "--", helper("cmd_silent"), "100");
	cr_assert_eq(r.status, 0, "%s", r.err);
	silent_sites(r.out, NULL, 0, none, &summary);
	/* same_value, counter, half, sink, and the C runtime's own */
	cr_assert_geq(jint(summary, "candidates"), 4, "%s", r.out);
	json_object_put(summary);
	free_run(&r);
}

Test(silent, usage_errors_name_silent_help)
{
	const char *const *cases[] = {
		ARGS("silent"),
		ARGS("silent", "-p", "1", "--", "true"),
		ARGS("silent", "--pmu", "x", "--", "true"),
		ARGS("silent", "--period", "0", "--", "true"),
		ARGS("silent", "--frobnicate", "--", "true"),
		ARGS("silent", "--"),
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r = run_hwbp(cases[i]);

		assert_error(&r, 2, "(hwbp silent --help)");
		free_run(&r);
	}
}

Test(silent, unknown_variable_and_missing_pmu_say_why)
{
	struct run r;

	TU_REQUIRE_BREAKPOINTS();
	r = HWBP("silent", "no_such_var", "--", helper("cmd_silent"), "10");
	assert_error(&r, 2, "unknown symbol 'no_such_var'");
	free_run(&r);
	if (access("/sys/bus/event_source/devices/cpu/events/mem-stores",
		   F_OK) == 0)
		return; /* this machine samples stores: --pmu works */
	r = HWBP("silent", "--pmu", "--", helper("cmd_silent"), "10");
	assert_error(&r, 1, "without --pmu");
	free_run(&r);
}

/* ---- --switches ---- */

/* Natively too: the key is there (empty without hits), the watch works. */
Test(cmd, switches_json_without_hits, .timeout = 30)
{
	struct watched w;

	TU_REQUIRE_BREAKPOINTS();
	w = WATCH_JSON("--switches", "shared", "--", helper("cmd_threads"),
		       "turns", "50");
	for (int i = 0; i < w.h.n; i++)
		(void)jarray(w.h.hit[i], "switches");
}

/*
 * turn-a and turn-b take turns on CPU 0: between a store of one and the
 * next store of the other, the one that stored left the CPU.  So every
 * hit after the first names, as the latest run on its CPU by another
 * turn-taking thread than its own, the other one (the main thread may
 * run in between too: it is not one of the two).
 */
Test(cmd, switches_name_the_thread_that_ran_before, .timeout = 60)
{
	struct watched w = WATCH_JSON("--switches", "shared", "--",
				      helper("cmd_threads"), "turns", "100");

	int filled = 0;

	TU_REQUIRE_HITS();
	cr_assert_eq(w.h.n, 200);
	for (int i = 1; i < w.h.n; i++) {
		json_object *sw = jarray(w.h.hit[i], "switches");
		const char *me = jstr(w.h.hit[i], "thread");
		const char *other = !strcmp(me, "turn-a") ? "turn-b" : "turn-a";
		const char *s = json_object_to_json_string(w.h.hit[i]);
		size_t k = 0;

		cr_assert(!strcmp(me, "turn-a") || !strcmp(me, "turn-b"), "%s", s);
		cr_assert_gt(json_object_array_length(sw), 0, "%s", s);
		/* its own runs, and the main thread's (it starts and joins
		 * them, and may run in between on CPU 0), are passed over */
		while (k < json_object_array_length(sw) &&
		       (jint(json_object_array_get_idx(sw, k), "tid") ==
			jint(w.h.hit[i], "tid") ||
			!strncmp(jstr(json_object_array_get_idx(sw, k),
				      "thread"), "cmd_threads", 11)))
			k++;
		/* on one CPU the main thread's runs can fill the 4 shown (the
		 * QEMU guest: 3 of them between two turns, now and then) */
		if (k == json_object_array_length(sw) && k == 4 && ++filled)
			continue;
		cr_assert_lt(k, json_object_array_length(sw), "%s", s);
		cr_assert_str_eq(jstr(json_object_array_get_idx(sw, k), "thread"),
				 other, "%s", s);
		cr_assert_gt(jint(json_object_array_get_idx(sw, k), "before_ns"),
			     0, "%s", s);
		/* sched_yield leaves it runnable: a preemption, not a wait */
		cr_assert(jbool(json_object_array_get_idx(sw, k), "preempted"),
			  "%s", s);
	}
	cr_assert_leq(filled, 10, "%d of 199 hits ran after only the main "
		      "thread's and their own runs", filled);
}

Test(cmd, switches_human_line, .timeout = 60)
{
	struct run r;

	TU_REQUIRE_HITS();
	r = HWBP("watch", "--switches", "shared", "--", helper("cmd_threads"),
		 "turns", "3");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "        ran before on this CPU: "), "%s",
		  r.out);
	cr_assert(strstr(r.out, " (turn-a) until "), "%s", r.out);
	free_run(&r);
}

/* --branches where the probe says no: exit 1, the probe's reason. */
Test(cmd, branches_unavailable_exit_1_with_the_reason, .timeout = 30)
{
	struct run r;

	TU_REQUIRE(!tu_probe().branches, "branch records are available here");
	r = HWBP("watch", "--branches", "shared", "--", helper("cmd_threads"),
		 "turns", "3");
	assert_error(&r, 1, "--branches: this machine cannot record the "
		     "branches before a hit: no (");
	cr_assert(strstr(r.err, "EOPNOTSUPP"), "%s", r.err);
	free_run(&r);
}

/* The launched command execs itself mid-watch: the watch ends with the
 * image it was set in (remove_on_exec), so the new image's writes are not
 * reported, hwbp does not crash, waits for the command, and exits with
 * its status. */
Test(cmd, target_exec_mid_watch, .timeout = 30)
{
	struct run r = HWBP("watch", "counter", "--", helper("cmd_vars"),
			    "exec", "10");

	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.out, "after exec &counter="), "%s", r.out);
	cr_assert(strstr(r.err, "--- hwbp: "), "no summary: %s", r.err);
	TU_REQUIRE_SIGTRAP(); /* remove_on_exec: the same kernels (5.13+) */
	TU_REQUIRE_HITS();
	cr_assert(strstr(r.err, "--- hwbp: 10 hits in"), "%s", r.err);
	free_run(&r);
}

/* hwbp watching `ticks` in a cmd_loop of 10 s it launched (*target its
 * pid), armed. */
static struct proc watch_launched_loop(int *target)
{
	struct proc p = START("watch", "ticks", "--", helper("cmd_loop"),
			      "10000");
	char line[64];

	read_line(p.out, line, sizeof(line));
	cr_assert_eq(sscanf(line, "ready %d", target), 1, "'%s'", line);
	wait_armed(p.pid);
	return p;
}

/* hwbp attached to a cmd_loop of `ms` (*target; *loop its pipes), armed. */
static struct proc watch_attached_loop(int ms, struct proc *loop, int *target)
{
	char pid[16];
	struct proc p;

	*target = start_loop(ms, loop);
	snprintf(pid, sizeof(pid), "%d", *target);
	p = START("watch", "ticks", "-p", pid);
	wait_armed(p.pid);
	return p;
}

/* The target killed by SIGKILL mid-watch: hwbp prints the summary and
 * ends; launched, with 128 + SIGKILL, as the shell would say. */
Test(cmd, target_sigkilled_mid_watch, .timeout = 30)
{
	struct proc p, loop;
	int target = 0;
	struct run r;

	TU_REQUIRE_BREAKPOINTS();
	p = watch_launched_loop(&target);
	kill(target, SIGKILL);
	r = finish(&p);
	cr_assert_eq(r.status, 128 + SIGKILL, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "--- hwbp: "), "no summary: %s", r.err);
	free_run(&r);
	/* attached: the watch ends with it, exit 0 */
	p = watch_attached_loop(10000, &loop, &target);
	usleep(300000); /* (its probe opens perf events too) */
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
	r = finish(&p);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "--- hwbp: "), "no summary: %s", r.err);
	free_run(&r);
}

/* man hwbp, SIGNALS: SIGTERM ends the watch as SIGINT does: the summary,
 * SIGTERM to a launched command and its status (128 + SIGTERM); attached,
 * exit 0 and the target runs on to its end. */
Test(cmd, sigterm_prints_summary, .timeout = 30)
{
	struct proc p, loop;
	int target = 0;
	struct run r;

	TU_REQUIRE_BREAKPOINTS();
	p = watch_launched_loop(&target);
	kill(p.pid, SIGTERM);
	r = finish(&p);
	cr_assert_eq(r.status, 128 + SIGTERM, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "--- hwbp: "), "no summary: %s", r.err);
	cr_assert_eq(kill(target, 0), -1, "the launched command runs on");
	free_run(&r);
	p = watch_attached_loop(1500, &loop, &target);
	usleep(200000);
	kill(p.pid, SIGTERM);
	r = finish(&p);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "--- hwbp: "), "no summary: %s", r.err);
	assert_running(target);
	assert_exits_0(target);
	free_run(&r);
}

/* --branches where intel_pt is: each hit lists its last branches. */
Test(cmd, branches_listed_under_each_hit, .timeout = 60)
{
	struct run r;

	TU_REQUIRE_HITS();
	TU_REQUIRE(tu_probe().branches, "no branch records here (the probe's "
		   "reason: hwbp probe)");
	r = HWBP("watch", "--json", "--branches", "shared", "--",
		 helper("cmd_threads"), "turns", "3");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "\"branches\":[{\"from\":\"0x"), "%s", r.out);
	cr_assert(strstr(r.out, "\"from_sym\":\""), "%s", r.out);
	cr_assert(strstr(r.out, "\"to_sym\":\""), "%s", r.out);
	free_run(&r);
}
