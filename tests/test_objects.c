/* SPDX-License-Identifier: MIT */
/*
 * test_objects.c - `hwbp watch` on whole objects, pointer paths and two
 * LOCATIONs on one address (issue 14 items 2 and 3, issue 12 item 8),
 * against tests/helpers/objects.c's own log of its stores ("W member
 * value", in program order, and "A name 0xADDR"): each hit names the
 * member or element it touched with that member's typed value, exactly as
 * the program stored it; ranges keep their bytes; a range wider than the
 * registers says how long each part was armed; a pointer path says where
 * it led and, with --follow-pointers, moves when its pointer changes (the
 * old target's writes after the change are not the path's); two
 * locations on one address get each hit once each.
 */
#include <sys/sysinfo.h>

#include "cmdutil.h"

static const char *objects(void)
{
	return helper("objects");
}

/* "A name 0xADDR" from the program's output. */
static uint64_t addr_of(const char *out, const char *name)
{
	char want[64];
	const char *l;

	snprintf(want, sizeof(want), "A %s ", name);
	l = strstr(out, want);
	cr_assert(l, "the program printed no '%s' in:\n%s", want, out);
	return strtoull(l + strlen(want), NULL, 0);
}

/* The program's stores, in order: "W member value" lines whose member
 * starts with `prefix`. */
struct store {
	char member[64];
	long value;
};

static int stores(const char *out, const char *prefix, struct store *s,
		  int max)
{
	int n = 0;

	for (const char *l = out; l && *l && n < max;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (sscanf(l, "W %63s %ld", s[n].member, &s[n].value) == 2 &&
		    !strncmp(s[n].member, prefix, strlen(prefix)))
			n++;
	return n;
}

/* Every hit is the next store of the log: its member, its new value
 * exact, the old one the member's previous value (0 at first). */
static void assert_members(const struct watched *w, const char *loc,
			   const char *prefix)
{
	struct store s[64];
	int n = stores(w->run.out, prefix, s, 64);

	cr_assert_gt(n, 0, "no stores logged for %s", prefix);
	cr_assert_eq(w->h.n, n, "%s: %d hits for %d stores", loc, w->h.n, n);
	for (int i = 0; i < n; i++) {
		json_object *h = w->h.hit[i];
		long old = 0;

		for (int k = i - 1; k >= 0 && !old; k--)
			if (!strcmp(s[k].member, s[i].member)) {
				old = s[k].value;
				break;
			}
		cr_assert_str_eq(jstr(h, "location"), loc);
		cr_assert_str_eq(jstr(h, "member"), s[i].member, "hit %d: %s",
				 i, json_object_to_json_string(h));
		cr_assert_eq(jint(h, "new"), s[i].value, "hit %d (%s): new %lld"
			     ", the program stored %ld", i, s[i].member,
			     (long long)jint(h, "new"), s[i].value);
		cr_assert(jbool(h, "new_exact"), "hit %d", i);
		cr_assert_eq(jint(h, "old"), old, "hit %d (%s): old %lld, want "
			     "%ld", i, s[i].member, (long long)jint(h, "old"),
			     old);
		cr_assert(jbool(h, "old_exact"), "hit %d", i);
	}
}

static json_object *key_or_null(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* ---- whole objects ---- */

Test(objects, struct_hits_name_the_member_with_its_typed_value,
     .timeout = 60)
{
	static const struct { const char *member; int off, size; } at[] = {
		{ "cfg.limit", 0, 8 }, { "cfg.lim[1].hard", 20, 4 },
		{ "cfg.flags", 24, 2 }, { "cfg.name[2]", 28, 1 },
	};
	struct watched w;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("cfg", "--", objects(), "members", "3");
	assert_members(&w, "cfg", "cfg.");
	for (int i = 0; i < w.h.n; i++) {
		json_object *h = w.h.hit[i];

		cr_assert_null(key_or_null(h, "part_offset"), "typed: no part");
		cr_assert_eq(jint(h, "member_offset"), at[i % 4].off);
		cr_assert_eq(jint(h, "member_size"), at[i % 4].size);
		cr_assert_eq(strtoull(jstr(h, "addr"), NULL, 16),
			     addr_of(w.run.out, "cfg") + (uint64_t)at[i % 4].off);
	}
	free_run(&w.run);
}

/* The human line names the member, the summary's rows too. */
Test(objects, human_line_shows_the_member, .timeout = 60)
{
	struct run r;

	TU_REQUIRE_HITS();
	r = HWBP("watch", "cfg", "--", objects(), "members", "2");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, " write cfg.lim[1].hard 10 -> 20  members+"),
		  "%s", r.out);
	cr_assert(strstr(r.out, " write cfg.flags -1 -> -2  "), "%s", r.out);
	cr_assert(strstr(r.out, " write cfg.name[2] 'b' -> 'c'  "), "%s",
		  r.out);
	cr_assert(strstr(r.err, "  [cfg.lim[1].hard]\n"), "%s", r.err);
	free_run(&r);
}

Test(objects, array_hits_name_the_element, .timeout = 60)
{
	struct watched w;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("small", "--", objects(), "members", "3");
	assert_members(&w, "small", "small[");
	for (int i = 0; i < w.h.n; i++)
		cr_assert_eq(jint(w.h.hit[i], "member_offset"), 20);
	free_run(&w.run);
}

/* A 4-byte store fills the union's int (named by it, typed int); a
 * byte store its char. */
Test(objects, union_stores_name_the_member_they_fill, .timeout = 60)
{
	struct watched w;
	struct store s[16];
	int n;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("word", "--", objects(), "members", "3");
	n = stores(w.run.out, "word.", s, 16);
	cr_assert_eq(w.h.n, n, "%d hits for %d stores", w.h.n, n);
	for (int i = 0; i < n; i++) {
		json_object *h = w.h.hit[i];

		cr_assert_str_eq(jstr(h, "member"), s[i].member);
		cr_assert_eq(jint(h, "new"), s[i].value);
		cr_assert(jbool(h, "new_exact"));
	}
	/* word.i = 1002 after word.c[2] = 1: the int held 1001 + 65536 */
	cr_assert_eq(jint(w.h.hit[2], "old"), 1001 + 65536);
	cr_assert(jbool(w.h.hit[2], "old_exact"));
	free_run(&w.run);
}

/* A base class's member, named as the source names it (C++). */
Test(objects, base_class_member_of_a_whole_object, .timeout = 60)
{
	char path[4200];
	struct watched w;
	int x = 0, z = 0;

	TU_REQUIRE_HITS();
	snprintf(path, sizeof(path), "%s/names/cxx-gcc-O0-pie",
		 env_or_skip("HWBP_TEST_HELPERS"));
	w = WATCH_JSON("app::obj", "--", path, "write", "3");
	cr_assert_eq(w.h.n, 6, "%d hits: %s", w.h.n, w.run.err);
	for (int i = 0; i < w.h.n; i++) {
		json_object *h = w.h.hit[i];
		const char *m = jstr(h, "member");

		cr_assert(jbool(h, "new_exact"));
		cr_assert(!strcmp(m, "app::obj.x") || !strcmp(m, "app::obj.z"),
			  "member %s", m);
		if (!strcmp(m, "app::obj.x"))
			cr_assert_eq(jint(h, "new"), ++x);
		else
			cr_assert_eq(jint(h, "new"), 2 * ++z);
	}
	cr_assert_eq(x, 3);
	cr_assert_eq(z, 3);
	free_run(&w.run);
}

/* A :LEN range is bytes, not members, even over a typed object. */
Test(objects, ranges_keep_their_bytes, .timeout = 60)
{
	struct watched w;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("cfg:16", "--", objects(), "members", "1");
	cr_assert_eq(w.h.n, 1, "cfg.limit only: %d hits", w.h.n);
	cr_assert_null(key_or_null(w.h.hit[0], "member"));
	cr_assert_eq(jint(w.h.hit[0], "part_offset"), 0);
	cr_assert_eq(jint(w.h.hit[0], "part_size"), 8);
	cr_assert_str_eq(jstr(w.h.hit[0], "new"), "01 00 00 00 00 00 00 00");
	free_run(&w.run);
}

/* ---- coverage per part (registers shared) ---- */

static json_object *coverage_of(json_object *summary, const char *loc)
{
	json_object *cov = jarray(summary, "coverage");

	for (size_t i = 0; i < json_object_array_length(cov); i++) {
		json_object *c = json_object_array_get_idx(cov, i);

		if (!strcmp(jstr(c, "location"), loc))
			return c;
	}
	cr_assert_fail("no coverage of %s in %s", loc,
		       json_object_to_json_string(summary));
	return NULL;
}

/* arr:40 takes 5 registers of 4: under rr its parts take turns, each
 * armed some of the time and never all five at once. */
Test(objects, range_wider_than_the_registers_says_each_part,
     .timeout = 60)
{
	json_object *c, *parts;
	uint64_t sum = 0, total;
	struct watched w;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("--policy", "rr", "arr:40", "--", objects(), "spin",
		       "300");
	c = coverage_of(w.h.summary, "arr");
	parts = jarray(c, "parts");
	total = (uint64_t)jint(c, "total_ns");
	cr_assert_eq(jint(c, "armed_ns"), 0, "never armed whole");
	cr_assert_gt(jint(c, "any_ns"), 0);
	cr_assert_eq(json_object_array_length(parts), 5);
	for (int k = 0; k < 5; k++) {
		json_object *p = json_object_array_get_idx(parts, (size_t)k);
		int64_t armed = jint(p, "armed_ns");

		cr_assert_eq(jint(p, "offset"), 8 * k);
		cr_assert_eq(jint(p, "size"), 8);
		cr_assert_null(key_or_null(p, "member"), "a range: no member");
		cr_assert(armed > 0 && (uint64_t)armed < total,
			  "part %d armed %lld of %llu ns", k, (long long)armed,
			  (unsigned long long)total);
		sum += (uint64_t)armed;
	}
	cr_assert_leq(sum, 4 * total + 5 * 1000000, "4 registers: %llu of "
		      "%llu ns", (unsigned long long)sum,
		      (unsigned long long)total);
	free_run(&w.run);
}

/* The whole array: its parts named by element; the human summary too. */
Test(objects, whole_array_parts_are_named, .timeout = 60)
{
	json_object *parts;
	struct watched w;
	struct run r;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("--policy", "rr", "arr", "--", objects(), "spin",
		       "100");
	parts = jarray(coverage_of(w.h.summary, "arr"), "parts");
	cr_assert_eq(json_object_array_length(parts), 8);
	for (int k = 0; k < 8; k++) {
		char want[32];

		snprintf(want, sizeof(want), "arr[%d]", k);
		cr_assert_str_eq(jstr(json_object_array_get_idx(parts,
							       (size_t)k),
				      "member"), want);
	}
	for (int i = 0; i < w.h.n; i++) {
		json_object *h = w.h.hit[i];
		char want[32];

		snprintf(want, sizeof(want), "arr[%d]",
			 (int)(jint(h, "member_offset") / 8));
		cr_assert_str_eq(jstr(h, "member"), want);
		cr_assert_eq(jint(h, "new") % 8, jint(h, "member_offset") / 8,
			     "arr[i] = i mod 8");
	}
	free_run(&w.run);
	r = HWBP("watch", "--policy", "rr", "arr", "--", objects(), "spin",
		 "50");
	cr_assert(strstr(r.err, "    +24:8 (arr[3]) ("), "%s", r.err);
	free_run(&r);
}

/* ---- pointer paths ---- */

/* Read hwbp's stderr until a line containing `want` (10 s at most). */
static void wait_for(int fd, const char *want, char *seen, size_t len)
{
	char line[1024];

	for (;;) {
		read_line(fd, line, sizeof(line));
		if (seen)
			snprintf(seen, len, "%s", line);
		if (strstr(line, want))
			return;
	}
}

struct ptr_run {
	struct hits h;
	struct run r;
	char out[4096];    /* the program's lines up to the step */
	char armed[1024];  /* hwbp's stderr line at the step */
};

/* hwbp watch --json -o FILE WATCH... -- objects MODE 3: at each step,
 * the program's line `prog` then hwbp's stderr line `says` (NULL: none),
 * then SIGUSR1 to the program. */
static struct ptr_run run_ptr(const char *const *watch, const char *mode,
			      const char *const *prog, const char *const *says)
{
	const char *argv[MAX_ARGS + 1] = { "watch", "--json", "-o" };
	struct ptr_run pr = { 0 };
	struct proc p;
	struct tmp t;
	char line[256];
	pid_t pid = 0;
	size_t used = 0;
	int n = 4;

	tmp_make(&t, "hits.json");
	argv[3] = t.path;
	while (*watch && n < MAX_ARGS - 4)
		argv[n++] = *watch++;
	argv[n++] = "--";
	argv[n++] = objects();
	argv[n++] = mode;
	argv[n++] = "3";
	p = start_hwbp(argv);
	for (int k = 0; prog[k]; k++) {
		do {
			read_line(p.out, line, sizeof(line));
			used += (size_t)snprintf(pr.out + used,
						 sizeof(pr.out) - used, "%s\n",
						 line);
			sscanf(line, "A pid %d", &pid);
		} while (strcmp(line, prog[k]));
		if (says[k])
			wait_for(p.err, says[k], pr.armed, sizeof(pr.armed));
		cr_assert_gt(pid, 0);
		kill(pid, SIGUSR1);
	}
	pr.r = finish(&p);
	cr_assert_eq(pr.r.status, 0, "exit %d: %s", pr.r.status, pr.r.err);
	pr.h = parse_json_file(t.path);
	tmp_remove(&t);
	return pr;
}

static void assert_hit(json_object *h, uint64_t addr, long value)
{
	cr_assert_str_eq(jstr(h, "location"), "h.cur->v");
	cr_assert_eq(strtoull(jstr(h, "addr"), NULL, 16), addr, "%s",
		     json_object_to_json_string(h));
	cr_assert_eq(jint(h, "new"), value, "%s",
		     json_object_to_json_string(h));
	cr_assert(jbool(h, "new_exact"));
}

/* gdb's watch -l: the address computed once.  After h.cur moves to b,
 * the old node's write is still reported, the new node's are not. */
Test(objects, pointer_path_watched_where_it_led, .timeout = 60)
{
	struct ptr_run pr;
	uint64_t a;
	json_object *ptrs, *path;

	TU_REQUIRE_HITS();
	pr = run_ptr(ARGS("h.cur->v"), "ptr", ARGS("switched"),
		     (const char *[]){ NULL, NULL });
	a = addr_of(pr.out, "a.v");
	cr_assert_eq(pr.h.n, 4, "%d hits: %s", pr.h.n, pr.r.err);
	for (int i = 0; i < 3; i++)
		assert_hit(pr.h.hit[i], a, i + 1);
	assert_hit(pr.h.hit[3], a, 99);
	cr_assert_eq(pr.h.nmoved, 0);
	cr_assert(strstr(pr.r.err, "hwbp: h.cur->v is 0x"), "%s", pr.r.err);
	cr_assert(strstr(pr.r.err, " (4 bytes) through h.cur = 0x"), "%s",
		  pr.r.err);
	ptrs = jarray(pr.h.summary, "pointers");
	cr_assert_eq(json_object_array_length(ptrs), 1);
	cr_assert_eq(strtoull(jstr(json_object_array_get_idx(ptrs, 0), "addr"),
			      NULL, 16), a);
	path = jarray(json_object_array_get_idx(ptrs, 0), "path");
	cr_assert_eq(json_object_array_length(path), 1);
	cr_assert_str_eq(jstr(json_object_array_get_idx(path, 0), "pointer"),
			 "h.cur");
	cr_assert_eq(strtoull(jstr(json_object_array_get_idx(path, 0), "slot"),
			      NULL, 16), addr_of(pr.out, "h.cur"));
	cr_assert_eq(strtoull(jstr(json_object_array_get_idx(path, 0),
				   "value"), NULL, 16), a);
	free_run(&pr.r);
}

/* gdb's watch p->x: h.cur = &b moves the watch (reported once, with the
 * window); the old node's write after it is not the path's, the new
 * node's writes are; the pointer's own write is no hit. */
Test(objects, pointer_followed_when_it_changes, .timeout = 60)
{
	struct ptr_run pr;
	uint64_t a, b;
	json_object *m, *p;

	TU_REQUIRE_HITS();
	pr = run_ptr(ARGS("--follow-pointers", "h.cur->v"), "ptr",
		     ARGS("switched"),
		     (const char *[]){ "moved to", NULL });
	a = addr_of(pr.out, "a.v");
	b = addr_of(pr.out, "b.v");
	cr_assert(strstr(pr.armed, "hwbp: h.cur->v moved to 0x"), "%s",
		  pr.armed);
	cr_assert_eq(pr.h.n, 6, "%d hits: %s", pr.h.n, pr.r.err);
	for (int i = 0; i < 3; i++)
		assert_hit(pr.h.hit[i], a, i + 1);
	for (int i = 3; i < 6; i++)
		assert_hit(pr.h.hit[i], b, i + 1);
	cr_assert_eq(pr.h.nmoved, 1);
	m = pr.h.moved[0];
	cr_assert_str_eq(jstr(m, "location"), "h.cur->v");
	cr_assert_str_eq(jstr(m, "pointer"), "h.cur");
	cr_assert_eq(strtoull(jstr(m, "value"), NULL, 16), b, "&b is b.v's");
	cr_assert_eq(strtoull(jstr(m, "from"), NULL, 16), a);
	cr_assert_eq(strtoull(jstr(m, "to"), NULL, 16), b);
	cr_assert_eq(jint(m, "size"), 4);
	cr_assert_eq(jint(m, "window_ns"),
		     jint(m, "time_ns") - jint(m, "changed_ns"));
	cr_assert_gt(jint(m, "changed_ns"), jint(pr.h.hit[2], "time_ns"));
	cr_assert_lt(jint(m, "time_ns"), jint(pr.h.hit[3], "time_ns"));
	p = json_object_array_get_idx(jarray(pr.h.summary, "pointers"), 0);
	cr_assert_eq(jint(p, "moves"), 1);
	cr_assert_eq(jint(p, "left_out"), 0);
	cr_assert_eq(strtoull(jstr(p, "addr"), NULL, 16), b);
	free_run(&pr.r);
}

/* The pointer is a LOCATION too, read-write: its register is shared (the
 * slot's write watch and the location's read-write one, at one address),
 * the location gets its reads and its write, the slot its write: the
 * watch still moves. */
Test(objects, pointer_slot_that_is_a_location_too, .timeout = 60)
{
	struct ptr_run pr;
	uint64_t a, b, slot;
	int reads = 0, writes = 0, path = 0;

	TU_REQUIRE_HITS();
	pr = run_ptr(ARGS("--rw", "--follow-pointers", "h.cur->v", "h.cur"),
		     "ptr", ARGS("switched"),
		     (const char *[]){ "moved to", NULL });
	a = addr_of(pr.out, "a.v");
	b = addr_of(pr.out, "b.v");
	slot = addr_of(pr.out, "h.cur");
	cr_assert_eq(pr.h.nmoved, 1, "%s", pr.r.err);
	for (int i = 0; i < pr.h.n; i++) {
		json_object *h = pr.h.hit[i];

		if (!strcmp(jstr(h, "location"), "h.cur")) {
			cr_assert_eq(strtoull(jstr(h, "addr"), NULL, 16), slot);
			if (!strcmp(jstr(h, "access"), "read")) {
				reads++;
				continue;
			}
			cr_assert_eq(strtoull(jstr(h, "new"), NULL, 16), b,
				     "%s", json_object_to_json_string(h));
			writes++;
			continue;
		}
		if (strcmp(jstr(h, "access"), "write"))
			continue; /* (--rw: h.cur->v's reads, none here) */
		path++;
		assert_hit(h, path <= 3 ? a : b, path);
	}
	cr_assert_eq(reads, 6, "h.cur read by each h.cur->v = ...");
	cr_assert_eq(writes, 1);
	cr_assert_eq(path, 6);
	free_run(&pr.r);
}

/* A NULL pointer: said at the start, watched once the program sets it
 * (the slot's write, followed), exact from there. */
Test(objects, null_pointer_followed_once_set, .timeout = 60)
{
	struct ptr_run pr;
	uint64_t a;
	json_object *m;

	TU_REQUIRE_HITS();
	pr = run_ptr(ARGS("--follow-pointers", "lazy->v"), "lazy",
		     ARGS("ready", "set"),
		     (const char *[]){ "'lazy' is NULL", "moved to" });
	a = addr_of(pr.out, "a.v");
	cr_assert_eq(pr.h.n, 3, "%d hits: %s", pr.h.n, pr.r.err);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(strtoull(jstr(pr.h.hit[i], "addr"), NULL, 16), a);
		cr_assert_eq(jint(pr.h.hit[i], "new"), i + 1);
	}
	cr_assert_eq(pr.h.nmoved, 1);
	m = pr.h.moved[0];
	cr_assert(json_object_is_type(jget(m, "from"), json_type_null));
	cr_assert_eq(strtoull(jstr(m, "to"), NULL, 16), a);
	cr_assert_str_eq(jstr(m, "pointer"), "lazy");
	cr_assert(!strstr(pr.r.err, "was not loaded when hwbp looked"), "%s",
		  pr.r.err);
	free_run(&pr.r);
}

/* A pointer that stays NULL: the message says so, not "was not loaded". */
Test(objects, null_pointer_to_the_end_says_why, .timeout = 60)
{
	struct watched w;
	json_object *p;

	TU_REQUIRE_BREAKPOINTS();
	w = WATCH_JSON("lazy->v", "--", objects(), "same", "1");
	cr_assert(strstr(w.run.err, "hwbp: lazy->v: 'lazy' is NULL: it "
				    "points to nothing (yet): watched once"),
		  "%s", w.run.err);
	cr_assert(strstr(w.run.err, "not watched at the end"), "%s",
		  w.run.err);
	cr_assert(!strstr(w.run.err, "was not loaded when hwbp looked"), "%s",
		  w.run.err);
	p = json_object_array_get_idx(jarray(w.h.summary, "pointers"), 0);
	cr_assert(json_object_is_type(jget(p, "addr"), json_type_null));
	cr_assert(strstr(jstr(p, "why"), "'lazy' is NULL"));
	free_run(&w.run);
}

/* ---- two LOCATIONs on one address ---- */

/* counter and counter:4 put a register at one address: each 8-byte store
 * is one hit of each, under its own name; counter+4:4 (its own register)
 * one more. */
static void assert_each_once(const struct watched *w)
{
	int n[3] = { 0 };

	cr_assert_eq(w->h.n, 9, "%d hits: %s", w->h.n, w->run.err);
	for (int i = 0; i < w->h.n; i++) {
		json_object *h = w->h.hit[i];
		const char *loc = jstr(h, "location");
		int k = !strcmp(loc, "counter") ? 0 :
			!strcmp(loc, "counter:4") ? 1 :
			!strcmp(loc, "counter+4") ? 2 : -1;

		cr_assert_geq(k, 0, "location %s", loc);
		n[k]++;
		cr_assert_eq(jint(h, "new"), k == 2 ? 0 : n[k], "%s",
			     json_object_to_json_string(h));
		cr_assert(jbool(h, "new_exact"));
	}
	cr_assert(n[0] == 3 && n[1] == 3 && n[2] == 3, "%d %d %d", n[0], n[1],
		  n[2]);
}

Test(objects, two_locations_on_one_address_each_once, .timeout = 60)
{
	struct watched w;

	TU_REQUIRE_HITS();
	TU_REQUIRE_EXACT_DEBUG_STATUS(); /* (an 8-byte store hits 2 registers) */
	w = WATCH_JSON("counter", "counter:4", "counter+4:4", "--", objects(),
		       "same", "3");
	assert_each_once(&w);
	free_run(&w.run);
}

/* --cpu: the records name their register by address too (every hit went
 * to the first location).  CPU-wide: run alone (tests/run). */
Test(cpuwide, two_locations_on_one_address_cpu, .timeout = 60)
{
	struct watched w;
	char cpus[32];

	TU_REQUIRE_HITS();
	TU_REQUIRE_EXACT_DEBUG_STATUS();
	TU_REQUIRE(tu_probe().cpu_wide, "CPU-wide events need CAP_PERFMON or "
		   "perf_event_paranoid <= 0");
	snprintf(cpus, sizeof(cpus), "0-%d", get_nprocs() - 1);
	w = WATCH_JSON("--cpu", cpus, "counter", "counter:4", "counter+4:4",
		       "--", objects(), "same", "3");
	assert_each_once(&w);
	free_run(&w.run);
}
