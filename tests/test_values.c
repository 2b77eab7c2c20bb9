/* SPDX-License-Identifier: MIT */
/*
 * test_values.c - the values `hwbp watch` reports, on real traps: a target
 * storing to one variable through each kind of instruction hwbp decodes
 * (tests/helpers/cmd_stores.c prints the value after each store), whose
 * every hit must carry that value, marked exact, or for the kinds whose
 * value is not in the sampled registers, marked approximate and one the
 * variable really held; `--if` on an approximate counter; and the
 * sampler's records of a re-armed address (hwbp silent's value chains).
 */
#include <criterion/criterion.h>
#include <stdatomic.h>

#include "cmdutil.h"

/* ---- every kind of store, in one run ---- */

struct line {
	char kind[32];
	int64_t value;
};

static int parse_lines(const char *out, struct line *lines, int max)
{
	char *copy = strdup(out), *save = NULL;
	int n = 0;

	for (char *l = strtok_r(copy, "\n", &save); l && n < max;
	     l = strtok_r(NULL, "\n", &save)) {
		long long v;

		if (sscanf(l, "%31s %lld", lines[n].kind, &v) == 2) {
			lines[n].value = v;
			n++;
		}
	}
	free(copy);
	return n;
}

/* Kinds whose stored value no register holds at the trap: read from
 * memory after the fact (or, movsd_fp, worked out from the value before:
 * 2 x 1.5; the rounding mode is not sampled). */
static bool approximate(const char *kind)
{
	static const char *const kinds[] = { "movsd_fp", "rep_movsq",
					     "xchg_arg", "pop", "movups",
					     "fstp" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

static bool is_null(json_object *o, const char *key)
{
	return json_object_is_type(jget(o, key), json_type_null);
}

/* The value held at some time from store k on (what a late read sees). */
static bool held_from(const struct line *lines, int n, int k, int64_t v)
{
	for (int j = k; j < n; j++)
		if (lines[j].value == v)
			return true;
	return false;
}

Test(values, every_store_kind_exact_or_marked_approximate, .timeout = 60)
{
	struct line lines[128];
	struct watched w;
	int n;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("target", "--", helper("cmd_stores"));
	n = parse_lines(w.run.out, lines, 128);
	cr_assert_geq(n, 40, "cmd_stores said: %s", w.run.out);
	cr_assert_eq(w.h.n, n, "%d hits for %d stores", w.h.n, n);
	for (int k = 0; k < n; k++) {
		json_object *hit = w.h.hit[k];
		const char *kind = lines[k].kind;

		cr_assert_str_eq(jstr(hit, "access"), "write");
		if (!approximate(kind)) {
			cr_assert(jbool(hit, "new_exact"), "%s (store %d): "
				  "not exact: %s", kind, k,
				  json_object_to_json_string(hit));
			cr_assert_eq(jint(hit, "new"), lines[k].value,
				     "%s (store %d): %s, truth %lld", kind, k,
				     json_object_to_json_string(hit),
				     (long long)lines[k].value);
		} else {
			cr_assert_not(jbool(hit, "new_exact"), "%s (store %d) "
				      "claims exact: %s", kind, k,
				      json_object_to_json_string(hit));
			cr_assert_not(is_null(hit, "new"), "%s (store %d): "
				      "no value: %s", kind, k,
				      json_object_to_json_string(hit));
			cr_assert(held_from(lines, n, k, jint(hit, "new")),
				  "%s (store %d): %s, never held from then on",
				  kind, k, json_object_to_json_string(hit));
		}
		if (!strcmp(kind, "movsd_fp")) /* computed, not read */
			cr_assert_eq(jint(hit, "new"), lines[k].value);
		/* an old value marked exact is the value before */
		if (k > 0 && jbool(hit, "old_exact"))
			cr_assert_eq(jint(hit, "old"), lines[k - 1].value,
				     "%s (store %d): %s, before it %lld", kind,
				     k, json_object_to_json_string(hit),
				     (long long)lines[k - 1].value);
	}
	for (int k = 0; k < w.h.n; k++)
		json_object_put(w.h.hit[k]);
	free(w.h.hit);
	json_object_put(w.h.summary);
	free_run(&w.run);
}

/* Attached, a counter's values are approximate (the value read when the
 * watch was armed may be a write off), and each `lock addq $1` is shown
 * as +1 from the one before: so --if '== N' matches as the counter
 * passes N, and the pair says N-1 -> N. */
Test(values, if_matches_an_approximate_counter_as_it_passes, .timeout = 60)
{
	struct proc target = spawn(helper("cmd_stores"), ARGS("count", "4000"),
				   0);
	char line[64], pid[16];
	struct watched w;
	int tpid = 0;

	TU_REQUIRE_HITS();
	read_line(target.out, line, sizeof(line));
	cr_assert_eq(sscanf(line, "ready %d", &tpid), 1, "'%s'", line);
	snprintf(pid, sizeof(pid), "%d", tpid);
	w = WATCH_JSON("--if", "== 1500", "--max", "1", "target", "-p", pid);
	cr_assert_eq(w.h.n, 1, "%d hits", w.h.n);
	cr_assert_eq(jint(w.h.hit[0], "new"), 1500);
	cr_assert_eq(jint(w.h.hit[0], "old"), 1499);
	cr_assert_not(jbool(w.h.hit[0], "new_exact"),
		      "attached: the chain began with a read");
	json_object_put(w.h.hit[0]);
	free(w.h.hit);
	json_object_put(w.h.summary);
	free_run(&w.run);
	kill(target.pid, SIGKILL);
	waitpid(target.pid, NULL, 0);
	close(target.out);
	close(target.err);
}

/* ---- the sampler's records of a re-armed address ---- */

static volatile long watched_var;
static struct {
	_Atomic int n;
	void *cookie[4];
	uint64_t armed_value[4];
} got;

static int note_hit(const struct hwbp_sampler_hit *h, void *cookie)
{
	int i = atomic_fetch_add(&got.n, 1);

	(void)cookie;
	if (i < 4) {
		got.cookie[i] = h->sample->cookie;
		got.armed_value[i] = h->sample->value;
	}
	return HWBP_SAMPLER_KEEP;
}

/* hwbp silent reads its rings after the fact: a record of a register's
 * earlier placement, read after the same address was armed again, must
 * come with the earlier sample and the value read then (it came with the
 * later one: a write made before the re-arm was taken for one after it,
 * with an old value that already included it -- a "silent" store). */
Test(values_sampler, a_record_read_after_a_rearm_is_the_earlier_samples)
{
	HWBP_OPTS(hwbp_opts, bo, .delivery = HWBP_DELIVER_RING);
	HWBP_OPTS(hwbp_sampler_opts, so, .registers = 1, .bp_opts = &bo,
		  .on_hit = note_hit);
	struct hwbp_sample m = { .addr = (uintptr_t)&watched_var, .len = 8,
				 .access = HWBP_WRITE };
	struct hwbp_sampler *s;

	TU_REQUIRE_HITS();
	cr_assert_eq(hwbp_sampler_create(&s, &so), 0, "%s", hwbp_last_error());
	watched_var = 1;
	m.cookie = (void *)1;
	cr_assert_eq(hwbp_sampler_offer(s, &m), 1, "%s", hwbp_last_error());
	watched_var = 2;                 /* a hit of the first arming ... */
	hwbp_sampler_release_all(s);     /* ... not read before the re-arm */
	m.cookie = (void *)2;
	cr_assert_eq(hwbp_sampler_offer(s, &m), 1, "%s", hwbp_last_error());
	watched_var = 3;
	cr_assert_geq(hwbp_sampler_consume(s), 0, "%s", hwbp_last_error());
	cr_assert_eq(atomic_load(&got.n), 2);
	cr_assert_eq(got.cookie[0], (void *)1, "the first write got the "
		     "second arming's sample");
	cr_assert_eq(got.armed_value[0], 1);
	cr_assert_eq(got.cookie[1], (void *)2);
	cr_assert_eq(got.armed_value[1], 2);
	hwbp_sampler_close(s);
}
