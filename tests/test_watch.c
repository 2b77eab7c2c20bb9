/* SPDX-License-Identifier: MIT */
/*
 * test_watch.c - `hwbp watch` where hardware whose traps fire showed it
 * wrong (../shared/realhw): a range over 3 and 4 registers (crashed),
 * bytes beside an unaligned range (reported as hits), records read after
 * the target exited (no values), old values claimed exact after lost
 * records, hits out of time order across CPUs, a thread's exit and
 * another variable's hits taken for racing hits, thread names after an
 * exec, losses seen nowhere (-o /dev/null), the summary's stream, a
 * typeless :LEN value.  The targets are tests/helpers/watch_targets.c.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>

#include "cmdutil.h"

static const char *target(void)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/watch_targets",
		 env_or_skip("HWBP_TEST_HELPERS"));
	return path;
}

/* The JSON lines of a run that may lose hits, parsed, the summary last,
 * its schema not checked (check_summary wants lost == 0). */
static struct hits parse_lossy(const char *path)
{
	struct hits h = { calloc(1, sizeof(json_object *)), 0, NULL };
	char *text = read_file(path), *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(l);

		cr_assert(o, "not JSON: %s", l);
		if (!strcmp(jstr(o, "type"), "summary")) {
			h.summary = o;
			continue;
		}
		h.hit = realloc(h.hit, (size_t)(h.n + 1) * sizeof(*h.hit));
		h.hit[h.n++] = o;
	}
	free(text);
	cr_assert_not_null(h.summary);
	return h;
}

static json_object *hit(const struct watched *w, int i)
{
	cr_assert_lt(i, w->h.n, "hit %d of %d", i, w->h.n);
	return w->h.hit[i];
}

/* arr:32 needs 4 registers, arr+8:24 3: hwbp crashed at the first hit.
 * arr[4] lies outside both ranges; the 8-byte part touched is shown. */
Test(watch, ranges_over_three_and_four_registers, .timeout = 60)
{
	static const struct { const char *loc; int off; } cases[] = {
		{ "arr:32", 24 }, { "arr+8:24", 16 },
	};

	TU_REQUIRE_HITS();
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct watched w = WATCH_JSON(cases[c].loc, "--", target(),
					      "range", "2");

		cr_assert_eq(w.h.n, 2, "%s: %d hits", cases[c].loc, w.h.n);
		for (int i = 0; i < 2; i++) {
			json_object *h = hit(&w, i);
			char want[64];

			snprintf(want, sizeof(want), "%02x 00 00 00 00 00 00 00",
				 100 + i);
			cr_assert_eq(jint(h, "part_offset"), cases[c].off);
			cr_assert_eq(jint(h, "part_size"), 8);
			cr_assert_str_eq(jstr(h, "new"), want);
			cr_assert(jbool(h, "new_exact"));
		}
		free_run(&w.run);
	}
}

/* buf+3:13 over byte stores to buf[0..39]: 13 hits, one per byte of the
 * range, each at its own address; buf[0..2] share the first register and
 * are strays.  The target exits right after its last store: the records
 * are decoded from its file, not its memory. */
Test(watch, bytes_beside_an_unaligned_range_are_strays, .timeout = 60)
{
	struct watched w;
	uint64_t base = 0;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("buf+3:13", "--", target(), "range", "1");
	cr_assert_eq(w.h.n, 13, "%d hits: %s", w.h.n, w.run.err);
	cr_assert_eq(jint(w.h.summary, "strays"), 3);
	for (int i = 0; i < 13; i++) {
		json_object *h = hit(&w, i);
		uint64_t addr = strtoull(jstr(h, "addr"), NULL, 16);
		char want[8];

		if (i == 0)
			base = addr;
		cr_assert_eq(addr, base + (uint64_t)i, "hit %d addr", i);
		cr_assert_eq(jint(h, "part_offset"), i);
		cr_assert_eq(jint(h, "part_size"), 1);
		snprintf(want, sizeof(want), "%02x", 4 + i);
		cr_assert_str_eq(jstr(h, "new"), want, "hit %d", i);
		cr_assert(jbool(h, "new_exact") && jbool(h, "old_exact"));
		cr_assert_str_eq(jstr(h, "old"), "00");
	}
	free_run(&w.run);
}

/* A 4-byte typeless part of buf: an unsigned integer of 4 bytes. */
Test(watch, typeless_len_is_an_integer_of_that_size, .timeout = 60)
{
	static const int64_t want[] = { 9, 0x0a09, 0x0b0a09, 0x0c0b0a09 };
	struct watched w;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("buf+8:4", "--", target(), "range", "1");
	cr_assert_eq(w.h.n, 4, "%d hits", w.h.n);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(jint(hit(&w, i), "new"), want[i], "hit %d", i);
	free_run(&w.run);
}

/* hwbp stopped (SIGSTOP) while the target writes counter = 1..20000: its
 * readers cannot run, so its 4-page ring overflows whatever the machine;
 * then, hwbp running again, 20001..40000.  lost > 0, said on stderr, and
 * no old value after the gap is called exact (counter = i: an exact old
 * value is new - 1).  (--no-guard: under the
 * guard the target's SIGUSR1 would wait for the stopped tracer.) */
Test(watch, lost_records_break_the_value_chain, .timeout = 60)
{
	struct watched w;
	struct proc p;
	struct tmp t;
	char line[64];
	int approx = 0, tpid = 0;

	TU_REQUIRE_HITS();
	tmp_make(&t, "hits.json");
	p = START("watch", "--json", "-o", t.path, "--no-guard",
		  "--ring-pages", "4", "counter", "--", target(), "burst",
		  "20000");
	read_line(p.out, line, sizeof(line));
	cr_assert_eq(sscanf(line, "ready %d", &tpid), 1, "'%s'", line);
	cr_assert(!kill(p.pid, SIGSTOP) && !kill(tpid, SIGUSR1));
	read_line(p.out, line, sizeof(line));
	cr_assert_str_eq(line, "done");
	cr_assert(!kill(p.pid, SIGCONT) && !kill(tpid, SIGUSR1));
	w.run = finish(&p);
	cr_assert_eq(w.run.status, 0, "exit %d: %s", w.run.status, w.run.err);
	w.h = parse_lossy(t.path);
	tmp_remove(&t);
	cr_assert_gt(jint(w.h.summary, "lost"), 0, "a stopped reader, no loss");
	cr_assert(strstr(w.run.err, "hits were LOST"), "%s", w.run.err);
	cr_assert_eq(w.h.n + jint(w.h.summary, "lost"), 40000);
	for (int i = 0; i < w.h.n; i++) {
		json_object *h = hit(&w, i);
		int64_t nv = jint(h, "new");

		cr_assert(jbool(h, "new_exact"), "a mov store: new is exact");
		if (jbool(h, "old_exact"))
			cr_assert_eq(jint(h, "old"), nv - 1, "hit %d: old %lld "
				     "claimed exact, new %lld", i,
				     (long long)jint(h, "old"), (long long)nv);
		else
			approx++;
	}
	cr_assert_gt(approx, 0, "losses but every old value exact");
	free_run(&w.run);
}

Test(watch, losses_are_said_on_stderr_whatever_the_output, .timeout = 60)
{
	struct run r;

	TU_REQUIRE_HITS();
	/* --bt records (8 KiB of stack) do not fit a 2-page ring: all lost */
	r = HWBP("watch", "-o", "/dev/null", "--bt", "--ring-pages", "2",
		 "counter", "--", target(), "count", "2000");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.err, "hwbp: 2000 hits were LOST"), "%s", r.err);
	free_run(&r);
}

/* Has the process exited (a zombie, or reaped and gone)? */
static bool exited(pid_t pid)
{
	char state = proc_state(pid);

	return !state || state == 'Z' || state == 'X';
}

/* All of fd, to its end (a FIFO's writer gone). */
static char *read_all(int fd)
{
	char *buf = NULL, chunk[65536];
	size_t len = 0;
	ssize_t got;

	append(&buf, &len, "", 0);
	while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
		cr_assert(got > 0 || errno == EINTR, "read: %s",
			  strerror(errno));
		if (got > 0)
			append(&buf, &len, chunk, (size_t)got);
	}
	return buf;
}

/* hwbp's output a FIFO nobody reads until the program is done: its
 * processor blocks at once and every hit waits behind it, with
 * --spill-after 0 in the spill file (--bt: KiBs of stack a hit, ~60 MB).
 * Every hit comes back, in order, each value exact, and the summary says
 * what waited there.  (The program's own "ready" and "done" on hwbp's
 * stdout say when it is done; its exit is read in /proc: a test that
 * waited to see it as hwbp's child missed it when hwbp's real-time readers
 * kept the test off both CPUs while it ran, and waited for a hwbp
 * blocked on its output until the alarm killed it.) */
Test(watch, hits_waiting_in_the_spill_file_come_back_exact, .timeout = 120)
{
	struct proc p;
	struct run r;
	struct hits h;
	struct tmp t;
	char line[64], *json;
	int fifo, tpid = 0;

	TU_REQUIRE_HITS();
	tmp_make(&t, "hits.fifo");
	cr_assert(!mkfifo(t.path, 0600), "mkfifo: %s", strerror(errno));
	fifo = open(t.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	cr_assert_geq(fifo, 0, "%s: %s", t.path, strerror(errno));
	p = spawn(env_or_skip("HWBP_BIN"), ARGS("watch", "--json", "--bt",
		  "--spill-after", "0", "-o", t.path, "counter", "--",
		  target(), "burst", "10000"), 90);
	read_line(p.out, line, sizeof(line));
	cr_assert_eq(sscanf(line, "ready %d", &tpid), 1, "'%s'", line);
	cr_assert(!kill(tpid, SIGUSR1));
	read_line(p.out, line, sizeof(line));
	cr_assert_str_eq(line, "done");
	cr_assert(!kill(tpid, SIGUSR1));
	for (int ms = 0; ms < 60000 && !exited(tpid); ms += 10)
		usleep(10000);
	cr_assert(exited(tpid), "the program did not end in 60 s");
	cr_assert(!fcntl(fifo, F_SETFL, 0)); /* (blocking: to its end) */
	json = read_all(fifo);
	close(fifo);
	tmp_remove(&t);
	r = finish(&p);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	h = parse_json(json, false);
	cr_assert_eq(jint(h.summary, "lost"), 0, "%s", r.err);
	cr_assert_eq(h.n, 20000);
	cr_assert_gt(jint(h.summary, "spilled_bytes"), 20000 * 1024,
		     "the hits did not wait in the spill file: %lld bytes "
		     "there", (long long)jint(h.summary, "spilled_bytes"));
	for (int i = 0; i < h.n; i++) {
		json_object *bt = jarray(h.hit[i], "backtrace");

		cr_assert_eq(jint(h.hit[i], "new"), i + 1, "hit %d out of "
			     "order or wrong", i);
		cr_assert(jbool(h.hit[i], "old_exact") &&
			  jint(h.hit[i], "old") == i, "hit %d: old", i);
		cr_assert_gt(json_object_array_length(bt), 0, "hit %d: no "
			     "backtrace", i);
	}
	free(json);
	free_run(&r);
}

/* 4 threads `lock add $1` a counter: every hit is printed in time order
 * across the CPUs' rings (hwbp printed 772 pairs backwards, by up to
 * 201.6 us, before each CPU's ring got a reader on that CPU), each +1
 * from the one before.  Time order is not store order between CPUs (a
 * CPU may stamp a hit late), and the instruction reveals no old value:
 * where threads raced on two CPUs the values are approximate, and the
 * summary counts those hits (oracle::racing_plain_stores_* holds the
 * exact ones against the truth). */
Test(watch, hits_in_time_order_across_cpus, .timeout = 120)
{
	static int64_t t[20000], tid[20000], cpu[20000];
	struct watched w;
	int64_t prev_t = -1, approx = 0, raced = 0;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("counter", "--", target(), "race", "5000");
	cr_assert_eq(w.h.n, 20000, "%d hits", w.h.n);
	cr_assert_eq(jint(w.h.summary, "late"), 0);
	for (int i = 0; i < w.h.n; i++) {
		json_object *h = hit(&w, i);

		cr_assert_geq(jint(h, "time_ns"), prev_t, "hit %d before %d", i,
			      i - 1);
		prev_t = t[i] = jint(h, "time_ns");
		tid[i] = jint(h, "tid");
		cpu[i] = jint(h, "cpu");
		cr_assert_eq(jint(h, "old"), i, "hit %d: old %lld", i,
			     (long long)jint(h, "old"));
		cr_assert_eq(jint(h, "new"), i + 1);
		/* (a +1 of an approximate value is approximate) */
		cr_assert_eq(jbool(h, "old_exact"), jbool(h, "new_exact"));
		approx += !jbool(h, "old_exact");
	}
	/* (and the hit after a racing one: its old is the racer's new) */
	cr_assert_leq(jint(w.h.summary, "order_unsure"), approx);
	/* Every hit that raced is said (more may be: past what it looks
	 * through, hwbp takes a hit as racing): one whose next hit on some
	 * other CPU, within the window, is another thread's (a hit of its
	 * own thread there came after it, and so did the rest of that CPU's).
	 * Not "some race": on a busy machine the 4 threads may all have run
	 * on one CPU.  (A thread's last hit left out: its exit record on
	 * another CPU, not in the output, may come between.) */
	for (int i = 0; i < w.h.n; i++) {
		uint64_t looked = 1ull << (cpu[i] & 63);
		bool last = true;

		for (int j = i + 1; j < w.h.n && last; j++)
			last = tid[j] != tid[i];
		for (int j = i + 1; !last && j < w.h.n &&
				    t[j] - t[i] <= 20000000; j++) {
			if (looked & (1ull << (cpu[j] & 63)))
				continue;
			looked |= 1ull << (cpu[j] & 63);
			if (tid[j] != tid[i]) {
				raced++;
				break;
			}
		}
	}
	cr_assert_geq(jint(w.h.summary, "order_unsure"), raced, "%lld hits "
		      "raced, %lld said", (long long)raced,
		      (long long)jint(w.h.summary, "order_unsure"));
	free_run(&w.run);
}

/* One thread moving between CPUs 0 and 1: each CPU's ring is busy, then
 * idle, then busy again, read by a reader off its CPU while busy (its
 * newest record says how far it is complete) and on it otherwise (a
 * fence).  Every hit comes out once, in time order, none late, every
 * value exact (one thread: nothing races). */
Test(watch, one_thread_moving_between_cpus_keeps_order_and_values,
     .timeout = 120)
{
	struct watched w;
	cpu_set_t set;
	int64_t prev_t = -1;

	TU_REQUIRE_HITS();
	TU_REQUIRE(sched_getaffinity(0, sizeof(set), &set) == 0 &&
		   CPU_ISSET(0, &set) && CPU_ISSET(1, &set),
		   "needs CPUs 0 and 1 (the writer moves between them)");
	w = WATCH_JSON("counter", "--", target(), "hop", "20000");
	cr_assert_eq(w.run.status, 0, "%s", w.run.err);
	cr_assert_eq(w.h.n, 20000, "%d hits", w.h.n);
	cr_assert_eq(jint(w.h.summary, "late"), 0);
	cr_assert_eq(jint(w.h.summary, "lost"), 0);
	cr_assert_eq(jint(w.h.summary, "order_unsure"), 0);
	for (int i = 0; i < w.h.n; i++) {
		json_object *h = hit(&w, i);

		cr_assert_geq(jint(h, "time_ns"), prev_t, "hit %d", i);
		prev_t = jint(h, "time_ns");
		cr_assert_eq(jint(h, "new"), i + 1, "hit %d", i);
		cr_assert_eq(jint(h, "old"), i, "hit %d", i);
		cr_assert(jbool(h, "old_exact") && jbool(h, "new_exact"),
			  "hit %d: %s", i, json_object_to_json_string(h));
		cr_assert_eq(jint(h, "cpu"), (i / 1000) % 2, "hit %d", i);
	}
	free_run(&w.run);
}

/* Only hits race: a thread ending on CPU 1 within the order window of a
 * write on CPU 0 (its exit record there) left the write's value exact but
 * marked it approximate and counted it in order_unsure (the demo showed
 * "~0 -> 0" where the workers ended beside the stats thread's write). */
Test(watch, a_thread_exit_near_a_hit_is_no_race, .timeout = 60)
{
	struct watched w;
	cpu_set_t set;

	TU_REQUIRE_HITS();
	TU_REQUIRE(sched_getaffinity(0, sizeof(set), &set) == 0 &&
		   CPU_ISSET(0, &set) && CPU_ISSET(1, &set),
		   "needs CPUs 0 and 1 (a write on one, an exit on the other)");
	w = WATCH_JSON("counter", "--", target(), "exitnear");
	cr_assert_eq(w.h.n, 2, "%d hits", w.h.n);
	for (int i = 0; i < 2; i++) {
		json_object *h = hit(&w, i);

		cr_assert_eq(jint(h, "old"), i);
		cr_assert_eq(jint(h, "new"), i + 1);
		cr_assert(jbool(h, "old_exact") && jbool(h, "new_exact"),
			  "hit %d: %s", i, json_object_to_json_string(h));
	}
	cr_assert_eq(jint(w.h.summary, "order_unsure"), 0);
	free_run(&w.run);
}

/* Only hits in one chain race: two threads on two CPUs each writing its
 * own variable, a write every ~0.2 ms, keep every value exact (each hit
 * was marked racing the other variable's hits, all values approximate).
 * (At full rate more than RACE_SCAN records of the other fill the 20 ms
 * window, and the stream says unsure, as it did for all before.) */
Test(watch, two_variables_on_two_cpus_do_not_race, .timeout = 60)
{
	struct watched w;
	cpu_set_t set;
	int64_t next[2] = { 1, 1 };

	TU_REQUIRE_HITS();
	TU_REQUIRE(sched_getaffinity(0, sizeof(set), &set) == 0 &&
		   CPU_ISSET(0, &set) && CPU_ISSET(1, &set),
		   "needs CPUs 0 and 1 (a variable written on each)");
	w = WATCH_JSON("counter", "other", "--", target(), "twovars", "300");
	cr_assert_eq(w.h.n, 600, "%d hits", w.h.n);
	for (int i = 0; i < w.h.n; i++) {
		json_object *h = hit(&w, i);
		int v = !strcmp(jstr(h, "location"), "other");

		cr_assert_eq(jint(h, "new"), next[v], "hit %d", i);
		cr_assert_eq(jint(h, "old"), next[v] - 1, "hit %d", i);
		cr_assert(jbool(h, "old_exact") && jbool(h, "new_exact"),
			  "hit %d: %s", i, json_object_to_json_string(h));
		next[v]++;
	}
	cr_assert_eq(jint(w.h.summary, "order_unsure"), 0);
	free_run(&w.run);
}

/* The target names itself "before", writes 3 times and execs itself: the
 * 3 hits keep the name they were made under. */
Test(watch, hits_before_an_exec_keep_the_old_name, .timeout = 60)
{
	struct watched w;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("counter", "--", target(), "rename", "3");
	cr_assert_eq(w.h.n, 3, "%d hits", w.h.n);
	for (int i = 0; i < 3; i++)
		cr_assert_str_eq(jstr(hit(&w, i), "thread"), "before");
	free_run(&w.run);
}

/* The hits are the data (stdout); the summary a report (stderr), for
 * --count too; -o FILE takes both. */
Test(watch, summary_on_stderr_count_too, .timeout = 60)
{
	struct run r;

	TU_REQUIRE_HITS();
	r = HWBP("watch", "counter", "--", target(), "count", "3");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "write counter 2 -> 3"), "%s", r.out);
	cr_assert_not(strstr(r.out, "--- hwbp:"), "summary on stdout: %s",
		      r.out);
	cr_assert(strstr(r.err, "--- hwbp: 3 hits in"), "%s", r.err);
	free_run(&r);
	r = HWBP("watch", "--count", "counter", "--", target(), "count", "3");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_not(strstr(r.out, "--- hwbp:"), "summary on stdout: %s",
		      r.out);
	cr_assert(strstr(r.err, "--- hwbp: 3 hits in"), "%s", r.err);
	free_run(&r);
}

/* A launched program writes to the stdout it shares with hwbp (here a
 * pipe, as `hwbp watch --json ... -- prog | jq`): its lines land between
 * hwbp's, never inside one (a hit line was cut by the program's line in
 * 2 of 8 runs of 1,000,000 hits before hwbp wrote whole lines). */
Test(watch, the_programs_output_never_cuts_a_hit_line, .timeout = 120)
{
	char *save = NULL;
	int hits = 0, chatty = 0, runs = 0;

	TU_REQUIRE_HITS();
	for (; runs < 3; runs++) {
		struct run r = HWBP("watch", "--json", "counter", "--",
				    target(), "chatty", "30000");

		cr_assert_eq(r.status, 0, "%s", r.err);
		for (char *l = strtok_r(r.out, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			json_object *o;
			int k;

			if (sscanf(l, "chatty %d", &k) == 1 &&
			    !strchr(l, '{')) {
				chatty++;
				continue;
			}
			o = json_tokener_parse(l);
			cr_assert(o, "a line cut: %.300s", l);
			hits += !strcmp(jstr(o, "type"), "hit");
			json_object_put(o);
		}
		free_run(&r);
	}
	cr_assert_eq(chatty, runs * 300);
	cr_assert_eq(hits, runs * 30000);
}

/* --count takes the ranges watch takes: buf+3:13 over byte stores counts
 * the 13 in it, none of the 3 beside it (it was refused). */
Test(watch, count_takes_ranges, .timeout = 60)
{
	struct tmp t;
	struct run r;
	struct hits h;
	json_object *row;
	char *text;

	TU_REQUIRE_HITS();
	tmp_make(&t, "count.json");
	r = HWBP("watch", "--json", "-o", t.path, "--count", "buf+3:13", "--",
		 target(), "range", "1");
	cr_assert_eq(r.status, 0, "%s", r.err);
	text = read_file(t.path);
	tmp_remove(&t);
	h = parse_json(text, true);
	row = json_object_array_get_idx(jarray(h.summary, "by_location"), 0);
	cr_assert_not_null(row);
	cr_assert_eq(jint(row, "hits"), 13, "%s",
		     json_object_to_json_string(h.summary));
	free(text);
	free_run(&r);
}

/* --no-lost: every hit of 4 threads with their stacks (--bt: 8 KiB a
 * record), the program held whenever a ring passes half full; the summary
 * says how often and how long.  A ring too small to fill while the threads are being
 * stopped is refused (with 256 KiB, ~30 records, 47 of 4,000 were lost).
 * And what it cannot be combined with. */
Test(watch, no_lost_keeps_every_hit, .timeout = 120)
{
	struct watched w;
	struct run r;

	struct tmp t;
	struct proc p;

	TU_REQUIRE_HITS();
	/* (90 s, not HWBP_ALARM_S: 4,000 held and unwound hits outlived
	 * 20 s in the QEMU guest) */
	tmp_make(&t, "hits.json");
	p = spawn(env_or_skip("HWBP_BIN"), ARGS("watch", "--json", "-o",
		  t.path, "--no-lost", "--bt", "counter", "--", target(),
		  "race", "1000"), 90);
	w.run = finish(&p);
	cr_assert_eq(w.run.status, 0, "exit %d: %s", w.run.status, w.run.err);
	w.h = parse_json_file(t.path);
	tmp_remove(&t);
	cr_assert_eq(w.h.n, 4000, "%d hits", w.h.n);
	cr_assert_eq(jint(w.h.summary, "lost"), 0);
	cr_assert_geq(jint(w.h.summary, "paused"), 0);
	cr_assert_geq(jint(w.h.summary, "paused_ns"), 0);
	r = HWBP("watch", "--no-lost", "--bt", "--ring-pages", "64", "counter",
		 "--", target(), "count", "1");
	assert_error(&r, 2, "--no-lost needs room in each ring for the hits "
		     "made while the program is being stopped: --ring-pages "
		     "at least 128 (2048 with --bt)");
	free_run(&r);
	free_run(&w.run);
	r = HWBP("watch", "--no-lost", "--count", "counter", "--", target(),
		 "count", "1");
	assert_error(&r, 2, "--no-lost pauses the watched program");
	free_run(&r);
	r = HWBP("watch", "--no-lost", "--no-guard", "counter", "--", target(),
		 "count", "1");
	assert_error(&r, 2, "--no-guard");
	free_run(&r);
}

/* --bt on a program built -O2 without frame pointers: every backtrace is
 * walked from the sampled stack to its end, main and _start for the main
 * thread, the start routine and clone3 for the others (the kernel's
 * frame-pointer chain gave no frame, or garbage, there). */
static const char *oracle_nofp(void)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/../oracle/oracle-O2-nofp",
		 env_or_skip("HWBP_TEST_HELPERS"));
	return path;
}

static bool frame_named(json_object *bt, const char *want)
{
	for (size_t i = 0; i < json_object_array_length(bt); i++)
		if (!strcmp(jstr(json_object_array_get_idx(bt, i), "function"),
			    want))
			return true;
	return false;
}

static void assert_walks_to(const struct watched *w, const char *caller,
			    const char *outermost)
{
	cr_assert_gt(w->h.n, 0);
	for (int i = 0; i < w->h.n; i++) {
		json_object *bt = jarray(w->h.hit[i], "backtrace");
		size_t n = json_object_array_length(bt);

		cr_assert_gt(n, 0, "hit %d: no frame", i);
		cr_assert(frame_named(bt, caller), "hit %d: no %s in %s", i,
			  caller, json_object_to_json_string(bt));
		cr_assert_str_eq(jstr(json_object_array_get_idx(bt, n - 1),
				      "function"), outermost, "hit %d: %s", i,
				 json_object_to_json_string(bt));
	}
}

Test(watch, backtraces_without_frame_pointers_reach_the_start, .timeout = 60)
{
	struct tmp t;
	struct watched w;

	TU_REQUIRE_HITS();
	tmp_make(&t, "oracle.log");
	setenv("HWBP_ORACLE_LOG", t.path, 1);
	w = WATCH_JSON("--bt", "ovar", "--", oracle_nofp(), "one", "100");
	assert_walks_to(&w, "main", "_start");
	free_run(&w.run);
	unlink(t.path);
	w = WATCH_JSON("--bt", "ovar", "--", oracle_nofp(), "threads", "4",
		       "200", "xadd");
	cr_assert_eq(w.h.n, 800);
	assert_walks_to(&w, "race", "__clone3");
	free_run(&w.run);
	tmp_remove(&t);
}

/* --cpu: the locations' breakpoints write into the first one's rings; each
 * hit goes to the location whose register it hit (all went to the first,
 * the others' hits called strays of it).  CPU-wide: runs alone. */
Test(cpuwide, watch_names_each_location, .timeout = 60)
{
	struct watched w;
	int on3 = 0, on4 = 0;
	char cpus[32];

	TU_REQUIRE_HITS();
	TU_REQUIRE_EXACT_DEBUG_STATUS(); /* (two registers hit in turn) */
	TU_REQUIRE_CPU_WIDE();
	snprintf(cpus, sizeof(cpus), "0-%d", get_nprocs() - 1);
	w = WATCH_JSON("--cpu", cpus, "arr[3]", "arr[4]", "--", target(),
		       "range", "3");
	for (int i = 0; i < w.h.n; i++) {
		on3 += !strcmp(jstr(w.h.hit[i], "location"), "arr[3]");
		on4 += !strcmp(jstr(w.h.hit[i], "location"), "arr[4]");
	}
	cr_assert_eq(on3, 3, "arr[3]: %d hits", on3);
	cr_assert_eq(on4, 3, "arr[4]: %d hits", on4);
	cr_assert_eq(jint(w.h.summary, "strays"), 0);
	free_run(&w.run);
}

/* A kernel function named from /proc/kallsyms (--exec; hwbp reads no
 * kernel DWARF): its calls by the command's write(2)s, or the kernel's
 * refusal said (x86 without kprobes refuses every kernel execute
 * breakpoint).  It crashed: the name resolved with no module behind it. */
Test(cpuwide, a_kernel_function_by_name, .timeout = 60)
{
	char cpus[32];
	struct run r;

	TU_REQUIRE_HITS();
	TU_REQUIRE_CPU_WIDE();
	TU_REQUIRE(tu_probe().kernel, "kernel addresses need CAP_PERFMON or "
		   "perf_event_paranoid <= 1");
	snprintf(cpus, sizeof(cpus), "0-%d", get_nprocs() - 1);
	r = HWBP("watch", "--cpu", cpus, "--kernel", "--exec", "--max", "3",
		 "ksys_write", "--", target(), "chatty", "300");
	if (r.status == 1 && strstr(r.err, "the kernel rejected exec")) {
		cr_assert(strstr(r.err, "ksys_write (0x"), "%s", r.err);
		cr_skip_test("skipped: %s", r.err);
	}
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.out, "exec ") && strstr(r.out, "ksys_write+0"),
		  "%s", r.out);
	free_run(&r);
}

/* The samples written by the BPF program (the default, as root) and by
 * perf (--no-bpf) give the same hits: every value exact, 1..N in order,
 * at the same line; the summary says which wrote them. */
static struct hits watch_count_json(const char *extra, int n)
{
	char count[16];
	struct tmp t;
	struct run r;
	struct hits h;

	snprintf(count, sizeof(count), "%d", n);
	tmp_make(&t, "samples.json");
	r = extra ? HWBP("watch", extra, "--json", "-o", t.path, "counter",
			 "--", target(), "count", count)
		  : HWBP("watch", "--json", "-o", t.path, "counter", "--",
			 target(), "count", count);
	cr_assert_eq(r.status, 0, "%s", r.err);
	h = parse_json_file(t.path);
	tmp_remove(&t);
	free_run(&r);
	return h;
}

Test(watch, bpf_and_perf_samples_give_the_same_hits, .timeout = 60)
{
	const int n = 2000;
	struct hits bpf, perf;

	TU_REQUIRE_HITS();
	bpf = watch_count_json(NULL, n);
	perf = watch_count_json("--no-bpf", n);
	cr_assert_str_eq(jstr(perf.summary, "samples"), "perf");
	TU_REQUIRE(!strcmp(jstr(bpf.summary, "samples"), "bpf"),
		   "the kernel refused the BPF program here: see bpf_why");
	cr_assert_eq(bpf.n, n);
	cr_assert_eq(perf.n, n);
	for (int i = 0; i < n; i++) {
		json_object *a = bpf.hit[i], *b = perf.hit[i];

		cr_assert_eq(jint(a, "new"), i + 1, "bpf hit %d", i);
		cr_assert_eq(jint(a, "old"), i, "bpf hit %d", i);
		cr_assert(jbool(a, "new_exact") && jbool(a, "old_exact"),
			  "bpf hit %d: %s", i, json_object_to_json_string(a));
		cr_assert_eq(jint(a, "new"), jint(b, "new"));
		cr_assert_eq(jint(a, "old"), jint(b, "old"));
		cr_assert_eq(jbool(a, "new_exact"), jbool(b, "new_exact"));
		cr_assert_str_eq(jstr(a, "function"), jstr(b, "function"));
		cr_assert_eq(jint(a, "line"), jint(b, "line"));
		cr_assert_str_eq(jstr(a, "thread"), jstr(b, "thread"));
	}
	cr_assert_eq(jint(bpf.summary, "lost"), 0);
	cr_assert_not(json_object_object_get_ex(bpf.summary, "bpf_why", NULL),
		      "a reason where none was needed");
}

/* Code no symbol names (a stripped program, a library without symbols):
 * the hit and its frames name the file and the address in it, the same in
 * every run (ASLR moves only the base), which addr2line, objdump or a
 * debug file name later.  The address in the file is that of the copy
 * with symbols. */
static uint64_t jhex(json_object *o, const char *key)
{
	return strtoull(jstr(o, key), NULL, 16);
}

Test(watch, code_without_symbols_is_named_by_file_and_address, .timeout = 60)
{
	char stripped[4096], real[PATH_MAX], real_stripped[PATH_MAX], want[64];
	struct watched a, b;
	struct run r;

	TU_REQUIRE_HITS();
	snprintf(stripped, sizeof(stripped), "%s-stripped", target());
	cr_assert(realpath(target(), real) && realpath(stripped, real_stripped));
	a = WATCH_JSON("counter", "--", target(), "count", "3");
	b = WATCH_JSON("--bt", "counter", "--", stripped, "count", "3");
	cr_assert_eq(a.h.n, 3);
	cr_assert_eq(b.h.n, 3);
	for (int i = 0; i < 3; i++) {
		json_object *ha = a.h.hit[i], *hb = b.h.hit[i], *f;
		uint64_t ip = jhex(ha, "ip"), off = jhex(ha, "module_offset");

		cr_assert_str_eq(jstr(ha, "function"), "count");
		cr_assert_str_eq(jstr(ha, "module"), real);
		/* a PIE: loaded at a page-aligned base above 0 */
		cr_assert(ip > off && (ip - off) % 4096 == 0, "%s",
			  json_object_to_json_string(ha));
		cr_assert_str_eq(jstr(hb, "function"), "");
		cr_assert_str_eq(jstr(hb, "module"), real_stripped);
		cr_assert_eq(jhex(hb, "module_offset"), off, "%s",
			     json_object_to_json_string(hb));
		f = json_object_array_get_idx(jarray(hb, "backtrace"), 0);
		cr_assert_not_null(f, "no frame: %s",
				   json_object_to_json_string(hb));
		cr_assert_str_eq(jstr(f, "module"), real_stripped);
		cr_assert_eq(jhex(f, "ip") - jhex(f, "module_offset"),
			     jhex(hb, "ip") - off, "one base: %s",
			     json_object_to_json_string(hb));
	}
	snprintf(want, sizeof(want), "+0x%" PRIx64 "]",
		 jhex(a.h.hit[0], "module_offset"));
	free_run(&a.run);
	free_run(&b.run);
	r = HWBP("watch", "counter", "--", stripped, "count", "1");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, real_stripped) && strstr(r.out, want),
		  "no [%s%s] in: %s", real_stripped, want, r.out);
	free_run(&r);
}
