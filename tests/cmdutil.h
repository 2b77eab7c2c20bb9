/* SPDX-License-Identifier: MIT */
/*
 * cmdutil.h - what the tests of the `hwbp` command share: running hwbp and
 * the programs it watches (tests/helpers/), reading their output, the JSON
 * schema's accessors, temporary files.  HWBP_BIN is the command,
 * HWBP_TEST_HELPERS the directory of the targets (make check sets both).
 */
#ifndef HWBP_CMDUTIL_H
#define HWBP_CMDUTIL_H

#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

#define HWBP_ALARM_S 20 /* hwbp is killed after this: a hang fails */
#define MAX_ARGS 32

/* ---- running processes ---- */

struct proc {
	pid_t pid;
	int out, err; /* read ends of its stdout and stderr */
};

struct run {
	int status; /* exit status, 128 + signal if killed */
	char *out, *err;
};

static const char *env_or_skip(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		cr_skip_test("skipped: %s is not set (run the suite with "
			     "make check)", name);
	return v;
}

static const char *helper(const char *name)
{
	static char paths[4][4096];
	static int k;
	char *p = paths[k++ % 4];

	snprintf(p, sizeof(paths[0]), "%s/%s", env_or_skip("HWBP_TEST_HELPERS"),
		 name);
	return p;
}

/* argv[0] with args, stdout and stderr piped to us. */
static struct proc spawn(const char *path, const char *const *args,
			 unsigned alarm_s)
{
	const char *argv[MAX_ARGS + 2] = { path };
	int o[2], e[2], n = 1;
	struct proc p;

	while (*args && n <= MAX_ARGS)
		argv[n++] = *args++;
	cr_assert(!pipe2(o, O_CLOEXEC) && !pipe2(e, O_CLOEXEC));
	p.pid = fork();
	cr_assert_geq(p.pid, 0, "fork: %s", strerror(errno));
	if (p.pid == 0) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		if (alarm_s)
			alarm(alarm_s);
		execv(path, (char **)argv);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	p.out = o[0];
	p.err = e[0];
	return p;
}

static struct proc start_hwbp(const char *const *args)
{
	return spawn(env_or_skip("HWBP_BIN"), args, HWBP_ALARM_S);
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	cr_assert(*buf);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

static int status_of(int wstatus)
{
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus)
				  : 128 + WTERMSIG(wstatus);
}

/* Read stdout and stderr to their end, then reap. */
static struct run finish(struct proc *p)
{
	struct pollfd fds[2] = { { p->out, POLLIN, 0 }, { p->err, POLLIN, 0 } };
	char *bufs[2] = { NULL, NULL }, chunk[4096];
	size_t lens[2] = { 0, 0 };
	int open = 2, wstatus;
	struct run r;

	append(&bufs[0], &lens[0], "", 0);
	append(&bufs[1], &lens[1], "", 0);
	while (open) {
		int n = poll(fds, 2, (HWBP_ALARM_S + 5) * 1000);

		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_gt(n, 0, "no end of output after %d s",
			     HWBP_ALARM_S + 5);
		for (int i = 0; i < 2; i++) {
			ssize_t got;

			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			got = read(fds[i].fd, chunk, sizeof(chunk));
			if (got > 0) {
				append(&bufs[i], &lens[i], chunk, (size_t)got);
				continue;
			}
			close(fds[i].fd);
			fds[i].fd = -1;
			open--;
		}
	}
	cr_assert_eq(waitpid(p->pid, &wstatus, 0), p->pid);
	r.status = status_of(wstatus);
	r.out = bufs[0];
	r.err = bufs[1];
	return r;
}

static struct run run_hwbp(const char *const *args)
{
	struct proc p = start_hwbp(args);

	return finish(&p);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define HWBP(...) run_hwbp(ARGS(__VA_ARGS__))
#define START(...) start_hwbp(ARGS(__VA_ARGS__))

static void free_run(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* A line from fd (up to '\n'), waiting at most 10 s. */
static void read_line(int fd, char *line, size_t len)
{
	size_t n = 0;
	struct pollfd pf = { fd, POLLIN, 0 };

	while (n + 1 < len) {
		cr_assert_gt(poll(&pf, 1, 10000), 0, "no line after 10 s");
		cr_assert_eq(read(fd, &line[n], 1), 1, "EOF before a line");
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
}

/* cmd_loop for `ms` milliseconds, started and ready (its main runs). */
static pid_t start_loop(int ms, struct proc *p)
{
	char arg[16], line[64];
	int pid = 0;

	snprintf(arg, sizeof(arg), "%d", ms);
	*p = spawn(helper("cmd_loop"), ARGS(arg), 0);
	read_line(p->out, line, sizeof(line));
	cr_assert_eq(sscanf(line, "ready %d", &pid), 1, "cmd_loop: '%s'", line);
	return pid;
}

/* Has pid opened a perf event (armed a watch)?  Waits up to 10 s. */
static void wait_armed(pid_t pid)
{
	char dir[64], path[320], link[128];

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	/* 60 s: sanitizers under an emulated CPU (scripts/qemu-check) are
	 * slow to start; a working hwbp arms in milliseconds. */
	for (int tries = 0; tries < 6000; tries++) {
		DIR *d = opendir(dir);
		struct dirent *e;

		cr_assert(d, "hwbp %d is gone", (int)pid);
		while ((e = readdir(d))) {
			ssize_t n;

			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n > 0 && (link[n] = '\0', strstr(link, "perf_event"))) {
				closedir(d);
				return;
			}
		}
		closedir(d);
		usleep(10000);
	}
	cr_assert_fail("hwbp %d armed nothing in 60 s", (int)pid);
}

/* Has pid mapped a perf ring (anon_inode:[perf_event] in its maps)? */
static bool has_perf_ring(pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	cr_assert(f, "hwbp %d is gone", (int)pid);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "[perf_event]") != NULL;
	fclose(f);
	return found;
}

static int perf_fd_count(pid_t pid)
{
	char dir[64], path[320], link[128];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	cr_assert(d, "hwbp %d is gone", (int)pid);
	while ((e = readdir(d))) {
		ssize_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		n += len > 0 && (link[len] = '\0', strstr(link, "perf_event"));
	}
	closedir(d);
	return n;
}

/* hwbp watch (not --count) has armed its watch: its rings are mapped and
 * its perf events stay as many for 100 ms.  Stricter than wait_armed, whose
 * first perf event may be one of hwbp_probe's (opened and closed at once):
 * under an emulated CPU the target was let go before the watch was armed. */
static void wait_watching(pid_t pid)
{
	int last = -1, stable = 0;

	for (int tries = 0; tries < 6000 && stable < 10; tries++) {
		int n = has_perf_ring(pid) ? perf_fd_count(pid) : 0;

		stable = n > 0 && n == last ? stable + 1 : 0;
		last = n;
		usleep(10000);
	}
	cr_assert_geq(stable, 10, "hwbp %d: no ring mapped and steady in "
		      "60 s (%d perf events open)", (int)pid, last);
}

/* hwbp attached to a target waiting for SIGUSR1 whose next line is
 * "ready PID": `hwbp watch WATCH_ARGS... -p PID` started, armed (steady:
 * wait_watching; else its first perf event, for a watch that may arm
 * nothing yet), the target let go, both ended with exit 0.  *tr gets the
 * target's run; hwbp's is returned. */
static struct run attach_and_go(struct proc *target,
				const char *const *watch_args, bool steady,
				struct run *tr)
{
	const char *argv[MAX_ARGS + 1] = { "watch" };
	char line[128], pid[16];
	struct proc hw;
	struct run r;
	int tpid = 0, n = 1;

	read_line(target->out, line, sizeof(line));
	cr_assert_eq(sscanf(line, "ready %d", &tpid), 1, "%s", line);
	snprintf(pid, sizeof(pid), "%d", tpid);
	while (*watch_args && n < MAX_ARGS - 2)
		argv[n++] = *watch_args++;
	argv[n++] = "-p";
	argv[n] = pid;
	hw = start_hwbp(argv);
	if (steady)
		wait_watching(hw.pid);
	else
		wait_armed(hw.pid);
	kill(target->pid, SIGUSR1);
	*tr = finish(target);
	cr_assert_eq(tr->status, 0, "%s", tr->err);
	r = finish(&hw);
	cr_assert_eq(r.status, 0, "%s", r.err);
	return r;
}

/* The state letter in a /proc stat file ('R', 'S', 't', 'Z', ...; 0: the
 * task is gone). */
static char stat_state(const char *path)
{
	char buf[512], *paren;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	paren = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	return paren && paren[1] == ' ' ? paren[2] : 0;
}

/* The state letter of process pid (0: gone). */
static char proc_state(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_state(path);
}

/* The process runs on: not stopped (ptrace or SIGSTOP), not a zombie. */
static void assert_running(pid_t pid)
{
	char state = proc_state(pid);

	cr_assert(state, "target %d is gone", (int)pid);
	cr_assert(!strchr("tTZX", state), "target %d is in state %c",
		  (int)pid, state);
}

static void assert_exits_0(pid_t pid)
{
	int wstatus;

	cr_assert_eq(waitpid(pid, &wstatus, 0), pid, "waitpid %d: %s",
		     (int)pid, strerror(errno));
	cr_assert(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0,
		  "target %d ended with status %d (want exit 0)", (int)pid,
		  status_of(wstatus));
}

/* ---- output ---- */

/* Exit `status`, nothing on stdout, and one line "hwbp: ...want...". */
static void assert_error(const struct run *r, int status, const char *want)
{
	const char *nl = strchr(r->err, '\n');

	cr_assert_eq(r->status, status, "[%s] exit %d, want %d; stderr: %s",
		     want, r->status, status, r->err);
	cr_assert_str_empty(r->out, "[%s] stdout: %s", want, r->out);
	cr_assert(!strncmp(r->err, "hwbp: ", 6), "[%s] stderr: %s", want,
		  r->err);
	cr_assert(nl && !nl[1], "[%s] not one line: %s", want, r->err);
	cr_assert(strstr(r->err, want), "'%s' not in: %s", want, r->err);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, chunk[4096];
	size_t len = 0, n;

	cr_assert(f, "%s: %s", path, strerror(errno));
	append(&buf, &len, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)))
		append(&buf, &len, chunk, n);
	fclose(f);
	return buf;
}

struct hits {
	json_object **hit;
	int n;
	json_object *summary;
	json_object **moved;    /* --follow-pointers: {"type":"moved"} */
	int nmoved;
};

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	cr_assert(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s",
		  key, json_object_to_json_string(o));
	return v;
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	cr_assert(json_object_is_type(v, json_type_int), "\"%s\" in %s",
		  key, json_object_to_json_string(o));
	return json_object_get_int64(v);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	cr_assert(json_object_is_type(v, json_type_string), "\"%s\" in %s",
		  key, json_object_to_json_string(o));
	return json_object_get_string(v);
}

static json_object *jarray(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	cr_assert(json_object_is_type(v, json_type_array), "\"%s\" in %s",
		  key, json_object_to_json_string(o));
	return v;
}

/* The summary's schema (man hwbp, JSON OUTPUT). */
static void check_summary(json_object *s, int hit_lines, bool count_mode)
{
	json_object *locs = jarray(s, "by_location");
	json_object *threads = jarray(s, "by_thread");

	cr_assert_str_eq(jstr(s, "type"), "summary");
	cr_assert_geq(jint(s, "hits"), 0);
	/* (hits the host lost, the guard's SIGTRAPs with no cause, are
	 * lost_uncounted: the tests that make them say how many) */
	cr_assert_eq(jint(s, "lost"), jint(s, "lost_uncounted"), "%s",
		     json_object_to_json_string(s));
	cr_assert_geq(jint(s, "lost_uncounted"), 0);
	cr_assert_geq(jint(s, "recovered"), 0);
	cr_assert_geq(jint(s, "filtered"), 0);
	cr_assert_geq(jint(s, "wall_ns"), 0);
	if (!count_mode)
		cr_assert_eq(jint(s, "hits"), hit_lines);
	for (size_t i = 0; i < json_object_array_length(locs); i++) {
		json_object *l = json_object_array_get_idx(locs, i);

		(void)jstr(l, "location");
		cr_assert_geq(jint(l, "hits"), count_mode ? 0 : 1);
		(void)jstr(l, count_mode ? "addr" : "function");
		if (!count_mode) /* where the code is */
			(void)jstr(l, "ip"), (void)jstr(l, "module");
	}
	for (size_t i = 0; i < json_object_array_length(threads); i++) {
		json_object *t = json_object_array_get_idx(threads, i);

		cr_assert_gt(jint(t, "tid"), 0);
		(void)jstr(t, "thread");
		cr_assert_gt(jint(t, "hits"), 0);
	}
}

/* Every line one JSON object: hits, then the summary last. */
static struct hits parse_json(const char *text, bool count_mode)
{
	struct hits h = { calloc(1, sizeof(json_object *)), 0, NULL,
			  calloc(1, sizeof(json_object *)), 0 };
	char *copy = strdup(text), *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(l);

		cr_assert(o && json_object_is_type(o, json_type_object),
			  "not a JSON object: %s", l);
		cr_assert_null(h.summary, "a line after the summary: %s", l);
		if (!strcmp(jstr(o, "type"), "summary")) {
			h.summary = o;
			continue;
		}
		if (!strcmp(jstr(o, "type"), "moved")) {
			h.moved = realloc(h.moved, (size_t)(h.nmoved + 1) *
						   sizeof(*h.moved));
			h.moved[h.nmoved++] = o;
			continue;
		}
		cr_assert_str_eq(jstr(o, "type"), "hit", "%s", l);
		(void)jstr(o, "ip"), (void)jstr(o, "module");
		h.hit = realloc(h.hit, (size_t)(h.n + 1) * sizeof(*h.hit));
		h.hit[h.n++] = o;
	}
	free(copy);
	cr_assert_not_null(h.summary, "no summary line in: %s", text);
	check_summary(h.summary, h.n, count_mode);
	return h;
}

static struct hits parse_json_file(const char *path)
{
	char *text = read_file(path);
	struct hits h = parse_json(text, false);

	free(text);
	return h;
}

/* A file name in a fresh directory under /tmp. */
struct tmp {
	char dir[64], path[128];
};

static void tmp_make(struct tmp *t, const char *name)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/hwbp-test-XXXXXX");
	cr_assert(mkdtemp(t->dir), "mkdtemp: %s", strerror(errno));
	snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, name);
}

static void tmp_remove(struct tmp *t)
{
	unlink(t->path);
	rmdir(t->dir);
}


/* hwbp watch --json -o FILE ARGS...: the status, the command's stdout, and
 * the hits parsed from FILE (the summary's schema checked). */
struct watched {
	struct run run;
	struct hits h;
};

static struct watched watch_json(const char *const *args)
{
	const char *argv[MAX_ARGS + 1] = { "watch", "--json", "-o" };
	struct watched w;
	struct tmp t;
	int n = 4;

	tmp_make(&t, "hits.json");
	argv[3] = t.path;
	while (*args && n < MAX_ARGS)
		argv[n++] = *args++;
	w.run = run_hwbp(argv);
	cr_assert_eq(w.run.status, 0, "exit %d: %s", w.run.status, w.run.err);
	w.h = parse_json_file(t.path);
	tmp_remove(&t);
	return w;
}

#define WATCH_JSON(...) watch_json(ARGS(__VA_ARGS__))

static bool ends_with(const char *s, const char *tail)
{
	size_t ls = strlen(s), lt = strlen(tail);

	return ls >= lt && !strcmp(s + ls - lt, tail);
}

static bool jbool(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	cr_assert(json_object_is_type(v, json_type_boolean), "\"%s\" in %s",
		  key, json_object_to_json_string(o));
	return json_object_get_boolean(v);
}

#pragma GCC diagnostic pop
#endif
