/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c - each thread's own copy watched: the library's thread watch
 * (hwbp_sched_add_thread: a register of one thread writing into the
 * process's per-CPU rings, hits of that thread only) and `hwbp watch` on
 * thread-locals (C __thread by gcc and clang, C++ thread_local, one in a
 * shared library), launched and attached, threads that exist at the start
 * and ones created later, exact counts and values per thread against the
 * program's own log.
 */
#include <pthread.h>
#include <sys/sysinfo.h>

#include "cmdutil.h"

static volatile uint64_t var;
static __thread volatile uint64_t tv;

/* Per cookie: hits, and the threads that made them. */
struct tally {
	int hits;
	pid_t tid;
	bool other_tid;
};
static struct tally tally[4];
static int unmatched_cookie;

static void on_rec(const struct hwbp_record *r, void *cookie)
{
	struct tally *t = cookie;

	if (r->kind != HWBP_REC_HIT)
		return;
	if (t < tally || t >= tally + 4) {
		unmatched_cookie++;
		return;
	}
	t->hits++;
	if (t->tid && t->tid != (pid_t)r->tid)
		t->other_tid = true;
}

struct worker {
	pthread_barrier_t *go, *done;
	pid_t tid;
	volatile uint64_t *copy;
	int writes, after;  /* writes before and after the second barrier */
};

static void *work(void *arg)
{
	struct worker *k = arg;

	k->tid = gettid();
	k->copy = &tv;
	pthread_barrier_wait(k->go);   /* the main thread arms */
	pthread_barrier_wait(k->go);
	for (int i = 0; i < k->writes; i++)
		tv = (uint64_t)i;
	if (k->writes == 10)
		var = 1;
	pthread_barrier_wait(k->done); /* the main thread removes */
	pthread_barrier_wait(k->done);
	for (int i = 0; i < k->after; i++)
		tv = (uint64_t)i;
	return NULL;
}

static int consume_all(struct hwbp_sched *s)
{
	int cpus[256], n = hwbp_sched_ring_cpus(s, cpus, NULL, 256), got = 0;

	for (int i = 0; i < n; i++)
		got += hwbp_sched_consume_cpu(s, cpus[i]);
	return got;
}

static struct hwbp_sched *ring_sched_of(bool no_follow)
{
	HWBP_OPTS(hwbp_opts, bo, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING, .no_follow = no_follow);
	HWBP_OPTS(hwbp_sched_opts, so, .bp_opts = &bo, .on_record = on_rec,
		  .raw_records = true);
	struct hwbp_sched *s = NULL;

	cr_assert_eq(hwbp_sched_create(&s, &so), 0, "%s", hwbp_last_error());
	return s;
}

static struct hwbp_sched *ring_sched(void)
{
	return ring_sched_of(false);
}

Test(tls, sched_thread_watch_sees_its_thread_only, .timeout = 30)
{
	pthread_barrier_t go, done;
	struct worker k[2] = { { &go, &done, 0, NULL, 10, 5 },
			       { &go, &done, 0, NULL, 20, 0 } };
	HWBP_OPTS(hwbp_sched_stats, st);
	HWBP_OPTS(hwbp_watch_stats, ws);
	struct hwbp_watch *w[2];
	struct hwbp_sched *s;
	pthread_t th[2];
	int cpus[256];

	TU_REQUIRE_HITS();
	pthread_barrier_init(&go, NULL, 3);
	pthread_barrier_init(&done, NULL, 3);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, work, &k[i]);
	pthread_barrier_wait(&go);
	s = ring_sched();
	/* a thread watch first: the rings come without a register */
	for (int i = 0; i < 2; i++) {
		tally[i + 1] = (struct tally){ .tid = k[i].tid };
		cr_assert_eq(hwbp_sched_add_thread(s, k[i].tid,
						   (uintptr_t)k[i].copy, 8,
						   HWBP_WRITE, &tally[i + 1],
						   &w[i]), 0, "%s",
			     hwbp_last_error());
	}
	cr_assert_eq(hwbp_sched_ring_cpus(s, cpus, NULL, 256),
		     get_nprocs_conf(), "a ring per CPU: %s",
		     hwbp_last_error());
	cr_assert_eq(hwbp_sched_add(s, (uintptr_t)&var, 8, HWBP_WRITE,
				    &tally[0], NULL), 0, "%s",
		     hwbp_last_error());
	for (int i = 0; i < 7; i++)
		tv = (uint64_t)i; /* this thread's own copy: not watched */
	pthread_barrier_wait(&go);
	pthread_barrier_wait(&done);
	cr_assert_eq(consume_all(s), 31, "records: 10 + 20 + 1");
	cr_assert_eq(tally[0].hits, 1);
	cr_assert_eq(tally[1].hits, 10);
	cr_assert_eq(tally[2].hits, 20);
	cr_assert_not(tally[1].other_tid || tally[2].other_tid,
		      "a hit of another thread on a thread watch");
	cr_assert_eq(unmatched_cookie, 0);
	cr_assert_eq(hwbp_watch_get_stats(w[0], &ws), 0);
	cr_assert_eq(ws.hits, 10);
	cr_assert(ws.armed && ws.pieces_armed == 1 && ws.registers == 1);
	/* removed: its thread writes on, nothing comes */
	cr_assert_eq(hwbp_sched_remove(s, w[0]), 0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_watch_get_stats(w[0], &ws), 0);
	cr_assert_not(ws.armed);
	pthread_barrier_wait(&done);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(consume_all(s), 0, "hits after the removal");
	cr_assert_eq(hwbp_sched_get_stats(s, &st), 0);
	cr_assert_eq(st.counted, 31, "counted %llu",
		     (unsigned long long)st.counted);
	cr_assert_eq(st.records, 31);
	cr_assert_eq(st.lost + st.unmatched, 0);
	hwbp_sched_close(s);
}

Test(tls, sched_thread_watch_refusals, .timeout = 30)
{
	static volatile uint64_t four[4][2] __attribute__((aligned(16)));
	struct hwbp_sched *s;
	struct hwbp_watch *w = (void *)1;
	int slots = tu_probe().slots;

	TU_REQUIRE_BREAKPOINTS();
	s = ring_sched();
	cr_assert_eq(hwbp_sched_add_thread(s, getppid(), (uintptr_t)&tv, 8,
					   HWBP_WRITE, NULL, &w), -ESRCH);
	cr_assert(strstr(hwbp_last_error(), "is not one of process"), "%s",
		  hwbp_last_error());
	cr_assert_null(w);
	for (int i = 0; i < slots && i < 4; i++)
		cr_assert_eq(hwbp_sched_add(s, (uintptr_t)&four[i][0], 8,
					    HWBP_WRITE, NULL, NULL), 0, "%s",
			     hwbp_last_error());
	cr_assert_eq(hwbp_sched_add_thread(s, gettid(), (uintptr_t)&tv, 8,
					   HWBP_WRITE, NULL, &w), -ENOSPC);
	cr_assert(strstr(hwbp_last_error(), "has no free debug register"),
		  "%s", hwbp_last_error());
	hwbp_sched_close(s);
}

/* A forked child's thread is the process's too where children are
 * followed (its inherited events watch it): its copy's 3 writes come in
 * the rings with its tid; refused with no_follow. */
Test(tls, sched_thread_watch_in_a_forked_child, .timeout = 30)
{
	struct hwbp_watch *w = NULL;
	struct hwbp_sched *s;
	int go[2], status;
	pid_t child;
	char c = 0;

	TU_REQUIRE_HITS();
	cr_assert_eq(pipe(go), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		for (int i = 0; i < 3; i++)
			tv = (uint64_t)i;
		_exit(0);
	}
	close(go[0]);
	s = ring_sched_of(true);
	cr_assert_eq(hwbp_sched_add_thread(s, child, (uintptr_t)&tv, 8,
					   HWBP_WRITE, NULL, &w), -ESRCH);
	cr_assert(strstr(hwbp_last_error(), "children not followed"), "%s",
		  hwbp_last_error());
	hwbp_sched_close(s);
	memset(tally, 0, sizeof(tally));
	tally[0].tid = child;
	s = ring_sched();
	cr_assert_eq(hwbp_sched_add_thread(s, child, (uintptr_t)&tv, 8,
					   HWBP_WRITE, &tally[0], &w), 0, "%s",
		     hwbp_last_error());
	cr_assert_eq(write(go[1], &c, 1), 1);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	consume_all(s);
	cr_assert_eq(tally[0].hits, 3, "%d hits in the child", tally[0].hits);
	cr_assert_not(tally[0].other_tid);
	hwbp_sched_close(s);
	close(go[1]);
}

/* ---- hwbp watch on thread-locals, against the program's own log ---- */

static const char *tls_helper(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/tls/%s",
		 env_or_skip("HWBP_TEST_HELPERS"), name);
	TU_REQUIRE(access(path, X_OK) == 0, "not built (no such compiler)");
	return path;
}

#define MAX_LOG 64
/* "log TID WHAT N LAST": a thread wrote WHAT N times, LAST last. */
struct log_line {
	int tid, n;
	char what[16];
	long last;
};

static int read_log(const char *out, struct log_line *lg)
{
	int n = 0;

	for (const char *p = out; p && *p && n < MAX_LOG; p = strchr(p, '\n'),
	     p = p ? p + 1 : NULL)
		if (sscanf(p, "log %d %15s %d %ld", &lg[n].tid, lg[n].what,
			   &lg[n].n, &lg[n].last) == 4)
			n++;
	return n;
}

/* What a log line's WHAT is watched as, and its copies' first value. */
struct watched_as {
	const char *what, *location;
	long initial;
};

/* Each thread's hits on each thread-local are its logged writes, exactly,
 * and their values a chain of its own copy: from the initial value to
 * its last, each old the previous new, all exact.  Lines of no `as`
 * entry have no hit (h->n is the total of the others). */
static void check_per_thread(const struct hits *h, const struct log_line *lg,
			     int nlog, const struct watched_as *as, int nas)
{
	int total = 0;

	for (int k = 0; k < nlog; k++) {
		const struct watched_as *a = NULL;
		int seen = 0;
		long prev;

		for (int j = 0; j < nas; j++)
			if (!strcmp(lg[k].what, as[j].what))
				a = &as[j];
		if (!a)
			continue;
		prev = a->initial;
		for (int i = 0; i < h->n; i++) {
			json_object *o = h->hit[i];

			if (jint(o, "tid") != lg[k].tid ||
			    strcmp(jstr(o, "location"), a->location))
				continue;
			seen++;
			cr_expect_eq(jint(o, "old"), prev, "thread %d %s hit "
				     "%d: old %lld, want %ld", lg[k].tid,
				     a->location, seen,
				     (long long)jint(o, "old"), prev);
			cr_expect(json_object_get_boolean(jget(o, "old_exact")) &&
				  json_object_get_boolean(jget(o, "new_exact")),
				  "%s", json_object_to_json_string(o));
			prev = (long)jint(o, "new");
		}
		cr_expect_eq(seen, lg[k].n, "thread %d: %d hits on %s, it "
			     "logged %d writes", lg[k].tid, seen, a->location,
			     lg[k].n);
		cr_expect_eq(prev, lg[k].last, "thread %d: %s ends at %ld, "
			     "logged %ld", lg[k].tid, a->location, prev,
			     lg[k].last);
		total += lg[k].n;
	}
	cr_expect_eq(h->n, total, "%d hits, %d logged writes", h->n, total);
}

static void launched_with(const char *prog, const char *tcount,
			  const char *option)
{
	struct log_line lg[MAX_LOG];
	struct watched w;
	int nlog;

	TU_REQUIRE_HITS();
	w = watch_json(ARGS(option, tcount, "libtlslib.so:lib_tv", "--", prog,
			    "run", "3", "2"));
	nlog = read_log(w.run.out, lg);
	/* 5 workers log both, the main thread tcount */
	cr_assert_eq(nlog, 11, "%s", w.run.out);
	check_per_thread(&w.h, lg, nlog, (struct watched_as[]){
		{ "tcount", tcount, 7 }, { "lib_tv", "libtlslib.so:lib_tv", 5 } },
		2);
	free_run(&w.run);
}

static void launched(const char *prog, const char *tcount)
{
	launched_with(prog, tcount, "--json"); /* (given twice: no change) */
}

Test(tls, launched_c_gcc_each_threads_copy, .timeout = 30)
{
	launched(tls_helper("tls-gcc"), "tcount");
}

/* --follow-pointers gives ids past the locations to pointer slots: the
 * copies' ids stay apart from them (each copy's hits still its own). */
Test(tls, copies_apart_from_followed_pointers, .timeout = 30)
{
	launched_with(tls_helper("tls-gcc"), "tcount", "--follow-pointers");
}

Test(tls, launched_c_clang_each_threads_copy, .timeout = 30)
{
	launched(tls_helper("tls-clang"), "tcount");
}

Test(tls, launched_cxx_thread_local_each_threads_copy, .timeout = 30)
{
	launched(tls_helper("tls-gxx"), "app::tcount");
}

/* A forked child's copies are its own: its main thread's starts where the
 * parent's was at the fork (2), its new thread's at the initial value,
 * its own child's where the child's was (13); each a chain of its own,
 * exact, apart from the parent's.  With --no-follow the children are not
 * watched at all. */
Test(tls, forked_child_copies_followed, .timeout = 30)
{
	struct log_line lg[MAX_LOG];
	struct watched w;
	int nlog;

	TU_REQUIRE_HITS();
	w = watch_json(ARGS("--json", "tcount", "libtlslib.so:lib_tv", "--",
			    tls_helper("tls-gcc"), "fork", "0", "0"));
	cr_assert_eq(w.run.status, 0, "%s", w.run.err);
	nlog = read_log(w.run.out, lg);
	/* the child's main thread, its worker (both), the grandchild, the
	 * parent */
	cr_assert_eq(nlog, 5, "%s", w.run.out);
	check_per_thread(&w.h, lg, nlog, (struct watched_as[]){
		{ "tcount", "tcount", 7 }, { "tcount_forked", "tcount", 2 },
		{ "tcount_grand", "tcount", 13 },
		{ "lib_tv", "libtlslib.so:lib_tv", 5 } }, 4);
	free_run(&w.run);
	w = watch_json(ARGS("--json", "--no-follow", "tcount", "--",
			    tls_helper("tls-gcc"), "fork", "0", "0"));
	cr_assert_eq(w.run.status, 0, "%s", w.run.err);
	cr_assert_eq(w.h.n, 3, "the parent's 3 writes only: %d hits", w.h.n);
	for (int i = 0; i < w.h.n; i++) /* 1, 2, then 3 after the child */
		cr_assert_eq(jint(w.h.hit[i], "new"), i + 1, "%s",
			     json_object_to_json_string(w.h.hit[i]));
	free_run(&w.run);
}

/* Threads there at the attach (waiting) and threads created after it,
 * which end: each its own copy, armed before it runs. */
Test(tls, attached_threads_there_and_created_later, .timeout = 30)
{
	struct log_line lg[MAX_LOG];
	struct proc target;
	int nlog;
	struct run r, t;
	struct hits h;

	TU_REQUIRE_HITS();
	target = spawn(tls_helper("tls-gcc"), ARGS("wait", "3", "2"), 20);
	/* steady: every waiting thread's two copies armed, not the first
	 * event (a sanitized hwbp was let go with lib_tv's not yet armed) */
	r = attach_and_go(&target, ARGS("--json", "tcount",
					"libtlslib.so:lib_tv"), true, &t);
	h = parse_json(r.out, false);
	nlog = read_log(t.out, lg);
	cr_assert_eq(nlog, 11, "%s", t.out);
	check_per_thread(&h, lg, nlog, (struct watched_as[]){
		{ "tcount", "tcount", 7 }, { "lib_tv", "libtlslib.so:lib_tv", 5 } },
		2);
	free_run(&r);
	free_run(&t);
}

Test(tls, refused_without_ptrace_and_with_count)
{
	const char *prog = tls_helper("tls-gcc");
	struct run r = HWBP("watch", "--no-guard", "tcount", "--", prog,
			    "run", "1", "0");

	assert_error(&r, 2, "'tcount' is thread-local: each thread has its "
		     "own copy; hwbp finds each thread's copy from the "
		     "thread's registers with ptrace (the guard), which it "
		     "does not have here");
	free_run(&r);
	r = HWBP("watch", "--count", "tcount", "--", prog, "run", "1", "0");
	assert_error(&r, 2, "--count and --cpu watch one address in every "
		     "thread");
	free_run(&r);
}

/* 40 bytes: 5 registers in each thread, a thread has 4. */
Test(tls, more_registers_than_a_thread_has)
{
	struct run r = HWBP("watch", "tarr", "--", tls_helper("tls-gcc"),
			    "run", "1", "0");

	TU_REQUIRE(tu_probe().slots == 4, "not 4 registers per thread");
	assert_error(&r, 1, "the thread-locals take 5 debug registers in each "
		     "thread, and a thread has 4");
	free_run(&r);
}

/* A dlopen'd module's thread-locals are made on each thread's first use:
 * a thread without one is not watched, and hwbp says so; the main
 * thread's copy is. */
Test(tls, dlopened_module_thread_without_a_copy_said, .timeout = 30)
{
	struct log_line lg[MAX_LOG];
	struct proc target;
	char want[256];
	int nlog, late = 0;
	struct run r, t;
	struct hits h;

	TU_REQUIRE_HITS();
	target = spawn(tls_helper("tls-gcc"), ARGS("dl", "0", "0"), 20);
	r = attach_and_go(&target, ARGS("--json", "libtlsdl.so:dl_tv"), false,
			  &t);
	nlog = read_log(t.out, lg);
	cr_assert_eq(nlog, 2, "%s", t.out);
	for (int k = 0; k < nlog; k++)
		if (!strcmp(lg[k].what, "dl_tv_late"))
			late = lg[k].tid;
	snprintf(want, sizeof(want), "hwbp: warning: libtlsdl.so:dl_tv: not "
		 "watched in thread %d (nor in any later thread without a "
		 "copy): this thread has no copy yet (a dlopen'd module's "
		 "thread-locals are made on a thread's first use of them)",
		 late);
	cr_assert(strstr(r.err, want), "'%s' not in: %s", want, r.err);
	h = parse_json(r.out, false);
	/* the main thread's copy from 1 (set before the attach) */
	check_per_thread(&h, lg, nlog, (struct watched_as[]){
		{ "dl_tv", "libtlsdl.so:dl_tv", 1 } }, 1);
	free_run(&r);
	free_run(&t);
}
