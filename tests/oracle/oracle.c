/* SPDX-License-Identifier: MIT */
/*
 * oracle.c - the program the oracle tests watch (tests/test_oracle.c): it
 * writes its variables in one of several ways and logs every write as it
 * saw it (olog.h: thread, sequence number, address, old and new value), so
 * that oracle-check can hold `hwbp watch --json` against the truth.  Built
 * PIE and not, -O0 and -O2 (Makefile: ORACLE_VARIANTS), linked with
 * liboracle_start.so.  The log goes to $HWBP_ORACLE_LOG.
 *
 *   one N [pause]      N writes of ovar, one thread, by every kind of store
 *                      (pause: halfway, "half" and wait for SIGUSR1)
 *   quick N            as one, logged before the writes: the program exits
 *                      microseconds after its last store
 *   threads T N HOW [pause]
 *                      T threads racing on ovar, N writes each, HOW xchg
 *                      (old from the exchange) or xadd (lock xadd); pause:
 *                      halfway all print "half" and wait for SIGUSR1
 *   abrace N           two threads on two CPUs race on ovar: one stores
 *                      1..N (plain movs), the other exchanges -1 in N
 *                      times; the exchanges' old values give the true order,
 *                      so every old value is logged (the movs' after both
 *                      end)
 *   fork N             the parent writes ovar N times, two children one
 *                      after the other N times each (from the parent's value
 *                      at the fork), the parent N times more
 *   exec N             N writes, then exec of `after-exec N`: N writes of
 *                      the new image, which hwbp must not report
 *   lib N              N rounds of writes from the executable and from
 *                      inside liboracle_start.so, then liboracle_dl.so is
 *                      dlopen'ed and N rounds more, also from inside it
 *   dlvar N            liboracle_dl.so dlopen'ed, "half" printed, then at
 *                      SIGUSR1 (blocked by `wait`) its own dl_var written
 *                      N times from inside it
 *   copyrel N          N rounds of writes of liboracle_start.so's lib_var,
 *                      from the executable and from the library
 *   range bytes|longs OFF LEN ROUNDS
 *                      byte stores to buf[] (longs: 8-byte stores to arr[])
 *                      over the location [OFF, OFF+LEN), the bytes that
 *                      share its registers, and 8 bytes either side
 *   many ROUNDS        g0..g7 written once each per round, a round a ms
 *   attach T N         prints "ready PID TID...", waits for SIGUSR1, then T
 *                      threads take turns (a mutex) writing ovar N times each
 *   wait MODE ARGS     prints "ready PID", waits for SIGUSR1, then MODE
 */
#include <dlfcn.h>
#include <limits.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "olog.h"

#define NOIPA __attribute__((noipa))

volatile long ovar;
volatile long g0, g1, g2, g3, g4, g5, g6, g7;
volatile unsigned char buf[64] __attribute__((aligned(64)));
volatile long arr[8] __attribute__((aligned(64)));
extern long lib_var; /* liboracle_start.so's, copy-relocated here */

void lib_store(volatile long *p, long v);
void lib_set_var(long v);

/* ---- the stores: each its own function (the name the log gives) ---- */

NOIPA void store_reg(volatile long *p, long v) { *p = v; }
NOIPA void store_imm_a(volatile long *p) { *p = 0x1234; }
NOIPA void store_imm_b(volatile long *p) { *p = -5; }
NOIPA void store_inc(volatile long *p) { (*p)++; }
NOIPA void store_byte(volatile unsigned char *p, unsigned char v) { *p = v; }

NOIPA long store_xchg(volatile long *p, long v)
{
	return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}

NOIPA long store_xadd(volatile long *p, long d)
{
	return __atomic_fetch_add(p, d, __ATOMIC_SEQ_CST);
}

/* lock add: the result unused. */
NOIPA void store_add(volatile long *p, long d)
{
	(void)__atomic_fetch_add(p, d, __ATOMIC_SEQ_CST);
}

/* Succeeds: one thread writes (a failed lock cmpxchg writes back what it
 * read, which the oracle does not count as a write of the program's). */
NOIPA bool store_cas(volatile long *p, long expected, long v)
{
	return __atomic_compare_exchange_n(p, &expected, v, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static int arg_int(char **argv, int argc, int i)
{
	char *end;
	long v;

	if (i >= argc) {
		fprintf(stderr, "oracle: %s: missing argument %d\n", argv[1], i);
		exit(2);
	}
	v = strtol(argv[i], &end, 10);
	if (*end || v < 0 || v > 1000000) {
		fprintf(stderr, "oracle: '%s': not a count\n", argv[i]);
		exit(2);
	}
	return (int)v;
}

/* ---- one thread, every kind of store ---- */

/* The i-th write of `one` to *p (logged with address `as`, NULL: not). */
static void one_write(struct olog *l, int i, volatile long *p,
		      volatile long *as)
{
	long old = *p, new;
	const char *f;

	switch (i % 8) {
	case 0: f = "store_reg"; new = i * 3 + 1; store_reg(p, new); break;
	case 1: f = "store_imm_a"; new = 0x1234; store_imm_a(p); break;
	case 2:
		f = "store_xchg";
		new = -(i * 5L + 2);
		old = store_xchg(p, new);
		break;
	case 3: f = "store_xadd"; old = store_xadd(p, i + 1); new = old + i + 1;
		break;
	case 4: f = "store_add"; new = old + 7; store_add(p, 7); break;
	case 5:
		f = "store_cas";
		new = i * 11L;
		if (!store_cas(p, old, new)) {
			fprintf(stderr, "oracle: a lone thread's cas failed\n");
			exit(1);
		}
		break;
	case 6: f = "store_imm_b"; new = -5; store_imm_b(p); break;
	default: f = "store_inc"; new = old + 1; store_inc(p); break;
	}
	if (!l)
		return;
	if (i % 8 >= 2 && i % 8 <= 4) /* xchg, xadd, add: see olog.h */
		olog_rmw(l, f, "ovar", as, &old, new);
	else
		olog_long(l, f, "ovar", as, &old, new);
}

/* Halfway: "half" on stdout, and on at SIGUSR1 (blocked by `wait`). */
static void pause_here(void)
{
	sigset_t usr1;
	int sig;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	printf("half\n");
	fflush(stdout);
	sigwait(&usr1, &sig);
}

static int mode_one(int n, const char *then)
{
	struct olog *l = olog_new(n);

	if (*then && strcmp(then, "pause")) {
		fprintf(stderr, "oracle: one N [pause]\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		if (*then && i == n / 2)
			pause_here();
		one_write(l, i, &ovar, &ovar);
	}
	olog_flush();
	return 0;
}

/* The same writes, done first on a shadow (unwatched) to log them, then
 * on ovar; the process ends at once after the last. */
static int mode_quick(int n)
{
	static volatile long shadow;
	struct olog *l = olog_new(n);

	shadow = ovar;
	for (int i = 0; i < n; i++)
		one_write(l, i, &shadow, &ovar);
	olog_flush();
	for (int i = 0; i < n; i++)
		one_write(NULL, i, &ovar, NULL);
	_exit(0);
}

/* ---- threads racing with atomics ---- */

struct racer {
	int id, n;
	bool xadd, pause;
	pthread_t t;
};

static pthread_barrier_t start, half, resume;

static void *race(void *arg)
{
	const struct racer *r = arg;
	struct olog *l;
	char name[16];

	snprintf(name, sizeof(name), "w%d", r->id);
	prctl(PR_SET_NAME, name);
	l = olog_new(r->n);
	pthread_barrier_wait(&start);
	for (int i = 0; i < r->n; i++) {
		long old, new;

		if (r->pause && i == r->n / 2) {
			pthread_barrier_wait(&half);
			pthread_barrier_wait(&resume);
		}
		if (r->xadd) {
			old = store_xadd(&ovar, 1);
			new = old + 1;
		} else {
			new = (long)r->id << 24 | i;
			old = store_xchg(&ovar, new);
		}
		olog_rmw(l, r->xadd ? "store_xadd" : "store_xchg", "ovar",
			  &ovar, &old, new);
	}
	return NULL;
}

/* ---- abrace: plain stores whose true old values are known ---- */

static pthread_barrier_t ab_start;

struct ab_side {
	int n, cpu;
	struct olog *l;
	pthread_t t;
};

static void ab_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
		fprintf(stderr, "oracle: abrace needs CPUs 0 and 1\n");
		exit(2);
	}
}

/* Stores 1..n, old values unknown yet (ab_true_olds). */
static void *ab_movs(void *arg)
{
	struct ab_side *a = arg;

	ab_pin(a->cpu);
	a->l = olog_new(a->n);
	pthread_barrier_wait(&ab_start);
	for (long i = 1; i <= a->n; i++) {
		store_reg(&ovar, i);
		olog_long(a->l, "store_reg", "ovar", &ovar, NULL, i);
	}
	return NULL;
}

static void *ab_xchgs(void *arg)
{
	struct ab_side *b = arg;

	ab_pin(b->cpu);
	b->l = olog_new(b->n);
	pthread_barrier_wait(&ab_start);
	for (int k = 0; k < b->n; k++) {
		long old = store_xchg(&ovar, -1);

		olog_rmw(b->l, "store_xchg", "ovar", &ovar, &old, -1);
	}
	return NULL;
}

/* An exchange that got v >= 0 came right after the store of v (0: the
 * start); one that got -1, after another exchange.  So the store of i
 * replaced -1 if an exchange came right after the store of i - 1, and
 * i - 1 if not. */
static void ab_true_olds(struct olog *movs, const struct olog *xchgs, int n)
{
	bool *xchg_after = calloc((size_t)n + 1, sizeof(bool));

	if (!xchg_after)
		olog_die("out of memory");
	for (int k = 0; k < xchgs->n; k++) {
		long got;

		memcpy(&got, xchgs->e[k].old, sizeof(got));
		if (got >= 0 && got <= n)
			xchg_after[got] = true;
	}
	for (int i = 0; i < movs->n; i++) {
		long old = xchg_after[i] ? -1 : i; /* the store of i + 1 */

		memcpy(movs->e[i].old, &old, sizeof(old));
		movs->e[i].old_known = true;
	}
	free(xchg_after);
}

static int mode_abrace(int n)
{
	struct ab_side a = { n, 0, NULL, 0 }, b = { n, 1, NULL, 0 };

	pthread_barrier_init(&ab_start, NULL, 2);
	pthread_create(&a.t, NULL, ab_movs, &a);
	pthread_create(&b.t, NULL, ab_xchgs, &b);
	pthread_join(a.t, NULL);
	pthread_join(b.t, NULL);
	ab_true_olds(a.l, b.l, n);
	olog_flush();
	return 0;
}

/* pause: all racers halfway, "half", and on again at SIGUSR1. */
static void pause_halfway(void)
{
	pthread_barrier_wait(&half);
	pause_here();
	pthread_barrier_wait(&resume);
}

static int mode_threads(int nthreads, int n, const char *how,
			const char *then)
{
	bool pause = !strcmp(then, "pause");
	struct racer r[OLOG_THREADS];

	if (nthreads < 1 || nthreads >= OLOG_THREADS ||
	    (strcmp(how, "xchg") && strcmp(how, "xadd")) ||
	    (*then && !pause)) {
		fprintf(stderr, "oracle: threads 1..%d N xchg|xadd [pause]\n",
			OLOG_THREADS - 1);
		return 2;
	}
	pthread_barrier_init(&start, NULL, (unsigned)nthreads);
	pthread_barrier_init(&half, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&resume, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++) {
		r[i] = (struct racer){ i + 1, n, !strcmp(how, "xadd"), pause,
				       0 };
		pthread_create(&r[i].t, NULL, race, &r[i]);
	}
	if (pause)
		pause_halfway();
	for (int i = 0; i < nthreads; i++)
		pthread_join(r[i].t, NULL);
	olog_flush();
	return 0;
}

/* ---- processes: fork and exec ---- */

static void write_n(struct olog *l, int n, long base)
{
	for (int i = 0; i < n; i++) {
		long old = ovar, new = base + i;

		store_reg(&ovar, new);
		olog_long(l, "store_reg", "ovar", &ovar, &old, new);
	}
}

static int mode_fork(int n)
{
	struct olog *l = olog_new(2 * n);
	int bad = 0;

	write_n(l, n, 1);
	for (int c = 1; c <= 2; c++) {
		int status;
		pid_t child = fork();

		if (child < 0)
			olog_die("fork");
		if (child == 0) {
			olog_forked(l);
			write_n(l, n, c * 1000);
			olog_flush();
			_exit(0);
		}
		waitpid(child, &status, 0);
		bad |= !WIFEXITED(status) || WEXITSTATUS(status);
	}
	write_n(l, n, 100);
	olog_flush();
	return bad;
}

static void self_path(char *exe, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", exe, len - 1);

	if (n < 0)
		olog_die("/proc/self/exe");
	exe[n] = '\0';
}

/* The new image is this program again: its name (comm) is the file's,
 * the old image's writes were made as "exec-before". */
static int mode_exec(int n)
{
	struct olog *l = olog_new(n);
	char count[16], self[PATH_MAX];

	self_path(self, sizeof(self));
	olog_rename(l, "exec-before");
	write_n(l, n, 1);
	olog_flush();
	snprintf(count, sizeof(count), "%d", n);
	execl(self, self, "after-exec", count, (char *)NULL);
	olog_die("exec");
	return 1;
}

/* The new image: its writes are not watched (remove_on_exec). */
static int mode_after_exec(int n)
{
	struct olog *l = olog_new(n);

	write_n(l, n, 500);
	for (int i = 0; i < l->n; i++)
		l->e[i].kind = 'x';
	olog_flush();
	return 0;
}

/* ---- libraries ---- */

typedef void store_fn(volatile long *p, long v);

/* liboracle_dl.so's symbol `name`, the library loaded on first use. */
static void *dl_symbol(const char *name)
{
	static void *h;
	char exe[PATH_MAX], path[PATH_MAX + 32];
	void *f;

	if (!h) {
		self_path(exe, sizeof(exe));
		snprintf(path, sizeof(path), "%s/liboracle_dl.so",
			 dirname(exe));
		h = dlopen(path, RTLD_NOW);
	}
	f = h ? dlsym(h, name) : NULL;
	if (!f) {
		fprintf(stderr, "oracle: %s\n", dlerror());
		exit(2);
	}
	return f;
}

static store_fn *open_dl(void)
{
	return (store_fn *)dl_symbol("dl_store");
}

static void store_logged(struct olog *l, store_fn *fn, const char *name,
			 long new)
{
	long old = ovar;

	fn(&ovar, new);
	olog_long(l, name, "ovar", &ovar, &old, new);
}

static int mode_lib(int n)
{
	struct olog *l = olog_new(5 * n);
	store_fn *dl_store;

	for (int i = 0; i < n; i++) {
		store_logged(l, store_reg, "store_reg", 10 * i + 1);
		store_logged(l, lib_store, "lib_store", 10 * i + 2);
	}
	dl_store = open_dl();
	for (int i = n; i < 2 * n; i++) {
		store_logged(l, store_reg, "store_reg", 10 * i + 1);
		store_logged(l, lib_store, "lib_store", 10 * i + 2);
		store_logged(l, dl_store, "dl_store", 10 * i + 3);
	}
	olog_flush();
	return 0;
}

static int mode_dlvar(int n)
{
	volatile long *v = dl_symbol("dl_var");
	void (*set)(long) = (void (*)(long))dl_symbol("dl_set_var");
	struct olog *l = olog_new(n);

	pause_here();
	for (int i = 0; i < n; i++) {
		long old = *v;

		set(3 * i + 1);
		olog_long(l, "dl_set_var", "liboracle_dl.so:dl_var", v, &old,
			  3 * i + 1);
	}
	olog_flush();
	return 0;
}

static int mode_copyrel(int n)
{
	static const char loc[] = "liboracle_start.so:lib_var";
	volatile long *v = &lib_var;
	struct olog *l = olog_new(2 * n);

	for (int i = 0; i < n; i++) {
		long old = *v, new = 2 * i + 1;

		store_reg(v, new);
		olog_long(l, "store_reg", loc, v, &old, new);
		old = *v;
		new = 2 * i + 2;
		lib_set_var(new);
		olog_long(l, "lib_set_var", loc, v, &old, new);
	}
	olog_flush();
	return 0;
}

/* ---- ranges ---- */

static void snap(volatile void *from, uint8_t *to, int len)
{
	memcpy(to, (const void *)from, (size_t)len);
}

/* Kind of a write of [at, at+size) against the location [off, off+len)
 * and the 8-byte blocks its registers cover. */
static char range_kind(int at, int size, int off, int len)
{
	int lo = off & ~7, hi = (off + len + 7) & ~7;

	if (at < off + len && at + size > off)
		return 'w';
	return at < hi && at + size > lo ? 's' : 'x';
}

static int mode_range(const char *kind, int off, int len, int rounds)
{
	bool bytes = !strcmp(kind, "bytes");
	volatile unsigned char *base = bytes ? buf : (volatile void *)arr;
	int lo = off & ~7, hi = (off + len + 7) & ~7, step = bytes ? 1 : 8;
	int from = lo >= 8 ? lo - 8 : 0, to = hi + 8 <= 64 ? hi + 8 : 64;
	static char loc[32];
	struct olog *l;

	if ((!bytes && strcmp(kind, "longs")) || len < 1 ||
	    len > OLOG_VMAX || off + len > 64) {
		fprintf(stderr, "oracle: range bytes|longs OFF LEN ROUNDS, "
			"OFF+LEN <= 64, LEN <= %d\n", OLOG_VMAX);
		return 2;
	}
	snprintf(loc, sizeof(loc), off ? "%s+%d" : "%s", bytes ? "buf" : "arr",
		 off);
	l = olog_new(rounds * (to - from));
	for (int r = 0; r < rounds; r++) {
		for (int at = from & ~(step - 1); at < to; at += step) {
			uint8_t old[OLOG_VMAX], new[OLOG_VMAX];

			snap(base + off, old, len);
			if (bytes)
				store_byte(&buf[at], (unsigned char)(at + 1 +
								     7 * r));
			else
				store_reg(&arr[at / 8], 100L * r + at / 8 + 1);
			snap(base + off, new, len);
			olog_add(l, range_kind(at, step, off, len),
				 bytes ? "store_byte" : "store_reg", loc,
				 base + at, (uint32_t)step, (uint32_t)len, old,
				 new);
		}
	}
	olog_flush();
	return 0;
}

/* ---- more locations than registers ---- */

static int mode_many(int rounds)
{
	static volatile long *const g[8] = { &g0, &g1, &g2, &g3,
					     &g4, &g5, &g6, &g7 };
	static const char *const names[8] = { "g0", "g1", "g2", "g3",
					      "g4", "g5", "g6", "g7" };
	struct olog *l = olog_new(8 * rounds);

	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 8; k++) {
			long old = *g[k], new = 100L * r + k + 1;

			store_reg(g[k], new);
			olog_long(l, "store_reg", names[k], g[k], &old, new);
		}
		usleep(1000);
	}
	olog_flush();
	return 0;
}

/* ---- attach: threads take turns, after a go ---- */

static pthread_barrier_t ready, go;
static pthread_mutex_t turn = PTHREAD_MUTEX_INITIALIZER;

struct turner {
	int id, n;
	pid_t tid;
	pthread_t t;
};

static void *take_turns(void *arg)
{
	struct turner *r = arg;
	struct olog *l;
	char name[16];

	snprintf(name, sizeof(name), "a%d", r->id);
	prctl(PR_SET_NAME, name);
	l = olog_new(r->n);
	r->tid = l->tid;
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&go);
	for (int i = 0; i < r->n; i++) {
		long old, new = (long)r->id << 20 | i;

		pthread_mutex_lock(&turn);
		old = ovar;
		store_reg(&ovar, new);
		olog_long(l, "store_reg", "ovar", &ovar, &old, new);
		pthread_mutex_unlock(&turn);
		usleep(50); /* let the others write in between */
	}
	return NULL;
}

static int mode_attach(int nthreads, int n)
{
	struct turner r[OLOG_THREADS];
	sigset_t usr1;
	int sig;

	if (nthreads < 1 || nthreads >= OLOG_THREADS)
		return 2;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* the threads inherit it */
	pthread_barrier_init(&ready, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&go, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++) {
		r[i] = (struct turner){ i + 1, n, 0, 0 };
		pthread_create(&r[i].t, NULL, take_turns, &r[i]);
	}
	pthread_barrier_wait(&ready);
	printf("ready %d", (int)getpid());
	for (int i = 0; i < nthreads; i++)
		printf(" %d", (int)r[i].tid);
	printf("\n");
	fflush(stdout);
	sigwait(&usr1, &sig);
	pthread_barrier_wait(&go);
	for (int i = 0; i < nthreads; i++)
		pthread_join(r[i].t, NULL);
	olog_flush();
	return 0;
}

/* `wait MODE...`: "ready PID", then MODE once SIGUSR1 comes (hwbp armed). */
static void wait_for_go(void)
{
	sigset_t usr1;
	int sig;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	sigwait(&usr1, &sig);
}

int main(int argc, char **argv)
{
	const char *m;

	if (argc > 2 && !strcmp(argv[1], "wait")) {
		wait_for_go();
		argv++;
		argc--;
	}
	m = argc > 1 ? argv[1] : "";

	if (!strcmp(m, "one"))
		return mode_one(arg_int(argv, argc, 2), argc > 3 ? argv[3] : "");
	if (!strcmp(m, "quick"))
		return mode_quick(arg_int(argv, argc, 2));
	if (!strcmp(m, "threads"))
		return mode_threads(arg_int(argv, argc, 2),
				    arg_int(argv, argc, 3),
				    argc > 4 ? argv[4] : "",
				    argc > 5 ? argv[5] : "");
	if (!strcmp(m, "abrace"))
		return mode_abrace(arg_int(argv, argc, 2));
	if (!strcmp(m, "fork"))
		return mode_fork(arg_int(argv, argc, 2));
	if (!strcmp(m, "exec"))
		return mode_exec(arg_int(argv, argc, 2));
	if (!strcmp(m, "after-exec"))
		return mode_after_exec(arg_int(argv, argc, 2));
	if (!strcmp(m, "lib"))
		return mode_lib(arg_int(argv, argc, 2));
	if (!strcmp(m, "dlvar"))
		return mode_dlvar(arg_int(argv, argc, 2));
	if (!strcmp(m, "copyrel"))
		return mode_copyrel(arg_int(argv, argc, 2));
	if (!strcmp(m, "range") && argc > 2)
		return mode_range(argv[2], arg_int(argv, argc, 3),
				  arg_int(argv, argc, 4), arg_int(argv, argc, 5));
	if (!strcmp(m, "many"))
		return mode_many(arg_int(argv, argc, 2));
	if (!strcmp(m, "attach"))
		return mode_attach(arg_int(argv, argc, 2),
				   arg_int(argv, argc, 3));
	fprintf(stderr, "usage: oracle [wait] one N [pause] | "
		"quick|abrace|fork|exec|lib|dlvar|copyrel N | threads T N xchg|xadd [pause] | range bytes|longs OFF LEN ROUNDS "
		"| many ROUNDS | attach T N\n");
	return 2;
}
