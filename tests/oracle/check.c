/* SPDX-License-Identifier: MIT */
/*
 * check.c - oracle-check: holds `hwbp watch --json -o FILE` against the log
 * an oracle program kept of its own writes (olog.h).
 *
 *   oracle-check [--partial] [--tid T] [--allow-lost] [--every-location]
 *                [--allow-strays] LOG JSON
 *
 * Every logged write due (kind W or w) is reported exactly once, matched
 * by pid, tid, its place in the thread's order, address, function and the
 * values the report marks exact; no report without a write (a stray or an
 * unwatched write reported is named as such); each thread's reports in its
 * program order; all reports in time order; every value marked exact equal
 * to the log's (for a location over 8 bytes, the part the report names
 * by part_offset and part_size; for a whole object, the member by
 * member_offset and member_size); {"type":"moved"} lines (a watch that
 * followed a pointer) stand for no write; thread name, function and location as
 * logged; the new
 * value exact where the log says hwbp can know it (kind W); the summary's
 * hits equal to the hit lines, lost 0 (unless --allow-lost), strays at most
 * the logged ones.
 *   --partial         shared registers (armed part of the time) or lost
 *                     records: due writes may be missing
 *   --tid T           only thread T's writes are due (hwbp --tid T)
 *   --allow-lost      the summary may count lost records
 *   --every-location  each location written has a write reported
 *   --allow-strays    the summary may count more strays than the program
 *                     made: the CPU reports hits on registers the access
 *                     did not touch (QEMU TCG's DR6), which hwbp leaves
 *                     out as strays
 * Exit 0 when all holds, 1 with the first mismatches listed, 2 on bad input.
 */
#include <ctype.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VMAX 64
#define SHOW 12 /* mismatches printed in full */

struct write {
	char kind;
	int pid, tid, line;
	unsigned seq, size, vlen;
	char comm[16], func[64], loc[128];
	uint64_t addr;
	bool old_known, reported;
	uint8_t old[VMAX], new[VMAX];
};

/* A reported value, as bytes of the length last asked (json_bytes). */
struct value {
	bool exact, ok;
	unsigned vlen; /* of bytes[]; 0: not yet read */
	uint8_t bytes[VMAX];
};

struct report {
	json_object *o;
	int line, pid, tid;
	uint64_t addr;
	const char *func;
	struct value v[2]; /* new, old */
};

struct opts {
	bool partial, allow_lost, every_location, allow_strays;
	int only_tid;
};

static struct {
	struct write *w;
	int nw;
	struct report *r;
	int nr;
	json_object *summary;
	int mismatches, missing, extra, wrong;
	struct opts o;
} S;

/* Room for element n of an array of n: doubled at each power of two from
 * 16 (a realloc per element is quadratic where realloc copies, as under
 * AddressSanitizer). */
static void *grow(void *p, int n, size_t size)
{
	if (n > 0 && (n < 16 || (n & (n - 1))))
		return p;
	p = realloc(p, (size_t)(n ? 2 * n : 16) * size);
	if (!p) {
		fprintf(stderr, "oracle-check: out of memory\n");
		exit(2);
	}
	return p;
}

/* ---- the log ---- */

static int hex_bytes(const char *s, uint8_t *out, unsigned max)
{
	unsigned n = 0;

	if (!strcmp(s, "-"))
		return 0;
	for (; s[0] && s[1] && n < max; s += 2)
		if (sscanf(s, "%2hhx", &out[n++]) != 1)
			return -1;
	return *s ? -1 : (int)n;
}

/* A write hwbp must report (W: with its new value exact). */
static bool due(const struct write *w)
{
	return w->kind == 'w' || w->kind == 'W';
}

static void parse_log_line(const char *text, int line)
{
	char oldh[2 * VMAX + 2], newh[2 * VMAX + 2];
	struct write w = { .line = line };
	int vo, vn;

	if (sscanf(text, "%c %d %d %u %15s %63s %127s %" SCNx64 " %u %129s "
		   "%129s", &w.kind, &w.pid, &w.tid, &w.seq, w.comm, w.func,
		   w.loc, &w.addr, &w.size, oldh, newh) != 11 ||
	    !strchr("Wwsx", w.kind) || (vo = hex_bytes(oldh, w.old, VMAX)) < 0 ||
	    (vn = hex_bytes(newh, w.new, VMAX)) <= 0 || (vo && vo != vn)) {
		fprintf(stderr, "oracle-check: log line %d: not a write: %s",
			line, text);
		exit(2);
	}
	w.old_known = vo > 0;
	w.vlen = (unsigned)vn;
	if (S.o.only_tid && w.tid != S.o.only_tid && due(&w))
		w.kind = 'x';
	S.w = grow(S.w, S.nw, sizeof(*S.w));
	S.w[S.nw++] = w;
}

static void read_log(const char *path)
{
	FILE *f = fopen(path, "r");
	char text[1024];
	int line = 0;

	if (!f) {
		perror(path);
		exit(2);
	}
	while (fgets(text, sizeof(text), f))
		parse_log_line(text, ++line);
	fclose(f);
}

/* ---- hwbp's JSON ---- */

static json_object *key(json_object *o, const char *k)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, k, &v);
	return v;
}

static int64_t key_int(json_object *o, const char *k)
{
	return json_object_get_int64(key(o, k));
}

static const char *key_str(json_object *o, const char *k)
{
	json_object *v = key(o, k);

	return json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : "";
}

static bool key_true(json_object *o, const char *k)
{
	json_object *v = key(o, k);

	return json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

static void mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void mismatch(const char *fmt, ...)
{
	va_list ap;

	if (S.mismatches++ >= SHOW)
		return;
	va_start(ap, fmt);
	printf("  ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void add_report(json_object *o, int line)
{
	struct report r = { o, line, (int)key_int(o, "pid"),
			    (int)key_int(o, "tid"), 0, key_str(o, "function"),
			    { { key_true(o, "new_exact") },
			      { key_true(o, "old_exact") } } };

	r.addr = strtoull(key_str(o, "addr"), NULL, 16);
	S.r = grow(S.r, S.nr, sizeof(*S.r));
	S.r[S.nr++] = r;
}

static void read_json(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0;
	int line = 0;

	if (!f) {
		perror(path);
		exit(2);
	}
	while (getline(&text, &cap, f) > 0) {
		json_object *o = json_tokener_parse(text);
		const char *type = key_str(o, "type");

		line++;
		if (S.summary) {
			mismatch("JSON line %d after the summary: %s", line,
				 text);
			json_object_put(o);
		} else if (!strcmp(type, "summary")) {
			S.summary = o;
		} else if (!strcmp(type, "hit")) {
			add_report(o, line);
		} else if (!strcmp(type, "moved")) {
			json_object_put(o); /* a watch moved: no write */
		} else {
			mismatch("JSON line %d is no hit: %s", line, text);
			json_object_put(o);
		}
	}
	free(text);
	fclose(f);
	if (!S.summary)
		mismatch("no summary line in %s", path);
}

/* ---- values ---- */

/* A reported value as the location's vlen bytes (address order): a
 * number (little-endian, sign- or zero-extended), true/false, "0x..." hex
 * (a little-endian number), "04 05 06" (bytes in address order) or an
 * array of bytes.  false: not a value of these forms, or too wide. */
static bool json_bytes(json_object *v, unsigned vlen, uint8_t *out)
{
	const char *s = json_object_get_string(v);

	memset(out, 0, vlen);
	if (json_object_is_type(v, json_type_int) ||
	    json_object_is_type(v, json_type_boolean)) {
		int64_t x = json_object_get_int64(v);

		for (unsigned i = 0; i < vlen; i++)
			out[i] = i < 8 ? (uint8_t)((uint64_t)x >> (8 * i))
				       : (x < 0 ? 0xff : 0);
		return vlen >= 8 || x >> (8 * vlen) == 0 ||
		       x >> (8 * vlen - 1) == -1;
	}
	if (json_object_is_type(v, json_type_array)) {
		if (json_object_array_length(v) != vlen)
			return false;
		for (unsigned i = 0; i < vlen; i++)
			out[i] = (uint8_t)json_object_get_int(
				json_object_array_get_idx(v, i));
		return true;
	}
	if (!json_object_is_type(v, json_type_string))
		return false;
	if (!strncmp(s, "0x", 2)) {
		size_t n = strlen(s + 2);

		for (size_t i = 0; i < n; i++) {
			char d[2] = { s[2 + n - 1 - i], 0 };
			unsigned digit;

			if (sscanf(d, "%1x", &digit) != 1 ||
			    (i / 2 >= vlen && digit))
				return false;
			if (i / 2 < vlen)
				out[i / 2] |= (uint8_t)(digit << (4 * (i % 2)));
		}
		return n > 0;
	}
	for (unsigned i = 0; i < vlen; i++) {
		if (!isxdigit((unsigned char)s[0]) ||
		    !isxdigit((unsigned char)s[1]) ||
		    sscanf(s, "%2hhx", &out[i]) != 1)
			return false;
		s += 2;
		if (i + 1 < vlen && *s++ != ' ')
			return false;
	}
	return !*s;
}

/* The logged bytes as a reader would write them: a number for a
 * variable's width, else the bytes in address order. */
static const char *show(const uint8_t *b, unsigned vlen, bool known)
{
	static char text[4][3 * VMAX + 4];
	static int k;
	char *t = text[k++ % 4], *p = t;

	if (!known)
		return "unknown";
	if (vlen == 1 || vlen == 2 || vlen == 4 || vlen == 8) {
		uint64_t x = 0;

		for (unsigned i = 0; i < vlen; i++)
			x |= (uint64_t)b[i] << (8 * i);
		if (vlen < 8 && x >> (8 * vlen - 1))
			x |= ~0ull << (8 * vlen);
		snprintf(t, 32, "%" PRId64, (int64_t)x);
		return t;
	}
	for (unsigned i = 0; i < vlen; i++)
		p += sprintf(p, "%s%02x", i ? " " : "", b[i]);
	return t;
}

static const char *jtext(json_object *v)
{
	return v ? json_object_to_json_string(v) : "null";
}

/* A report in short: what it says of the access. */
static const char *brief(struct report *r)
{
	static char text[2][512];
	static int k;
	char *t = text[k++ % 2];

	snprintf(t, sizeof(text[0]), "JSON line %d: addr %s, old %s%s, new "
		 "%s%s, %s in %s", r->line, key_str(r->o, "addr"),
		 jtext(key(r->o, "old")), key_true(r->o, "old_exact") ? "" : "~",
		 jtext(key(r->o, "new")), key_true(r->o, "new_exact") ? "" : "~",
		 key_str(r->o, "thread"), key_str(r->o, "function"));
	return t;
}

/* ---- comparing one report with the write it stands for ---- */

static const char *what(const struct write *w)
{
	static char text[2][1024];
	static int k;
	char *t = text[k++ % 2];

	snprintf(t, sizeof(text[0]), "pid %d tid %d write #%u (%s in %s, %s "
		 "0x%" PRIx64 ", %s -> %s; log line %d)", w->pid, w->tid,
		 w->seq, w->comm, w->func, w->loc, w->addr,
		 show(w->old, w->vlen, w->old_known),
		 show(w->new, w->vlen, true), w->line);
	return t;
}

/* Does the report's address stand for the write's?  The accessed address
 * (the man page's "watched address" for a variable), or - a fault flagged
 * by check_match - the start of the debug register it hit: at or below the
 * write, in the same aligned 8 bytes. */
static bool same_addr(struct report *r, const struct write *w)
{
	return r->addr == w->addr ||
	       (r->addr < w->addr && (r->addr & ~7ull) == (w->addr & ~7ull));
}

/* The bytes of the location a report's values stand for: the part its
 * access touched (part_offset, part_size: a location over 8 bytes), or
 * the member of a whole object (member_offset, member_size), else the
 * whole location.  false: a part outside the location. */
static bool part_of(struct report *r, const struct write *w, unsigned *off,
		    unsigned *len)
{
	json_object *po = key(r->o, "part_offset"), *ps = key(r->o, "part_size");

	if (!po || !ps) {
		po = key(r->o, "member_offset");
		ps = key(r->o, "member_size");
	}

	*off = 0;
	*len = w->vlen;
	if (!po || !ps)
		return true;
	*off = (unsigned)json_object_get_int64(po);
	*len = (unsigned)json_object_get_int64(ps);
	return *len && *off + *len <= w->vlen;
}

/* Does the value (0 new, 1 old), where marked exact, hold these bytes?
 * (Read once per length: the matching below asks it of many writes.) */
static bool exact_is(struct report *r, int which, const struct write *w,
		     const uint8_t *want)
{
	struct value *v = &r->v[which];
	unsigned off, len;

	if (!v->exact)
		return true;
	if (!part_of(r, w, &off, &len))
		return false;
	if (v->vlen != len) {
		v->vlen = len;
		v->ok = json_bytes(key(r->o, which ? "old" : "new"), len,
				   v->bytes);
	}
	return v->ok && !memcmp(v->bytes, want + off, len);
}

/* Does the report stand for this write?  Its address and function, the
 * same new value where the report says it is exact, and (by_old) the same
 * old value too: what tells one write from another where some are not
 * reported. */
static bool same_write_by(struct report *r, const struct write *w,
			  bool by_old)
{
	return same_addr(r, w) && !strcmp(r->func, w->func) &&
	       exact_is(r, 0, w, w->new) &&
	       (!by_old || !w->old_known || exact_is(r, 1, w, w->old));
}

static bool same_write(struct report *r, const struct write *w)
{
	return same_write_by(r, w, true);
}

static void check_value(struct report *r, const struct write *w,
			const char *which, const uint8_t *want, bool known)
{
	char exact[16];
	uint8_t got[VMAX];
	json_object *v = key(r->o, which);
	unsigned off, len;

	snprintf(exact, sizeof(exact), "%s_exact", which);
	if (!key_true(r->o, exact)) {
		if (!strcmp(which, "new") && w->kind == 'W') {
			S.wrong++;
			mismatch("%s: new %s not exact (JSON line %d)", what(w),
				 jtext(v), r->line);
		}
		return;
	}
	if (!known)
		return;
	if (!part_of(r, w, &off, &len)) {
		S.wrong++;
		mismatch("%s: part_offset/part_size outside its %u bytes (JSON "
			 "line %d)", what(w), w->vlen, r->line);
	} else if (!json_bytes(v, len, got)) {
		S.wrong++;
		mismatch("%s: %s %s marked exact is no value of %u bytes "
			 "(JSON line %d)", what(w), which, jtext(v), len,
			 r->line);
	} else if (memcmp(got, want + off, len)) {
		S.wrong++;
		mismatch("%s: %s %s marked exact, the program saw %s (JSON "
			 "line %d)", what(w), which, jtext(v),
			 show(want + off, len, true), r->line);
	}
}

static void check_text(struct report *r, const struct write *w,
		       const char *k, const char *want)
{
	const char *got = key_str(r->o, k);

	if (strcmp(got, want)) {
		S.wrong++;
		mismatch("%s: %s \"%s\", want \"%s\" (JSON line %d)", what(w),
			 k, got, want, r->line);
	}
}

/* ---- one thread: its writes against its reports, in order ---- */

static void check_match(struct report *r, struct write *w)
{
	w->reported = true;
	if (w->kind == 's') {
		S.extra++;
		mismatch("a stray reported: %s: %s", what(w), brief(r));
		return;
	}
	if (w->kind == 'x') {
		S.extra++;
		mismatch("an unwatched write reported: %s: %s", what(w),
			 brief(r));
		return;
	}
	if (r->addr != w->addr) {
		S.wrong++;
		mismatch("%s: addr 0x%" PRIx64 " (its register's start?), "
			 "not the address written (JSON line %d)", what(w),
			 r->addr, r->line);
	}
	check_value(r, w, "new", w->new, true);
	check_value(r, w, "old", w->old, w->old_known);
	check_text(r, w, "access", "write");
	check_text(r, w, "thread", w->comm);
	check_text(r, w, "function", w->func);
	check_text(r, w, "location", w->loc);
}

static void missing(const struct write *w)
{
	if (S.o.partial)
		return;
	S.missing++;
	mismatch("%s: not reported", what(w));
}

/* The first write from `from` on (any kind: the thread's writes are in
 * its program order, and so must its reports be) the report stands for;
 * failing that, the first its new value names (its old value is wrong:
 * check_match says so). */
static int find_write(struct report *r, struct write **w, int nw,
		      int from)
{
	for (int by_old = 1; by_old >= 0; by_old--)
		for (int i = from; i < nw; i++)
			if (same_write_by(r, w[i], by_old))
				return i;
	return -1;
}

/* The latest write before `before` the report's exact values name. */
static int find_earlier(struct report *r, struct write **w, int before)
{
	if (!r->v[0].exact && !r->v[1].exact)
		return -1;
	for (int i = before - 1; i >= 0; i--)
		if (same_write(r, w[i]))
			return i;
	return -1;
}

static int find_site(struct report *r, struct write **w, int nw,
		     int from)
{
	for (int i = from; i < nw; i++)
		if (due(w[i]) && same_addr(r, w[i]) &&
		    !strcmp(r->func, w[i]->func))
			return i;
	return -1;
}

static int next_due(struct write **w, int nw, int from)
{
	while (from < nw && !due(w[from]))
		from++;
	return from < nw ? from : -1;
}

/* A report that stands for no write from `next` on: an earlier one
 * again, or one out of order?  true when it said which. */
static bool again(struct report *r, struct write **w, int next)
{
	int at = find_earlier(r, w, next);

	if (at < 0)
		return false;
	S.extra++;
	if (w[at]->reported) {
		mismatch("reported again: %s: %s", what(w[at]), brief(r));
	} else {
		mismatch("out of order: %s reported after write #%u: %s",
			 what(w[at]), w[next - 1]->seq, brief(r));
		w[at]->reported = true;
	}
	return true;
}

static void check_thread(int pid, int tid)
{
	struct write **w = NULL;
	int nw = 0, next = 0;

	for (int i = 0; i < S.nw; i++)
		if (S.w[i].pid == pid && S.w[i].tid == tid) {
			w = grow(w, nw, sizeof(*w));
			w[nw++] = &S.w[i];
		}
	for (int j = 0; j < S.nr; j++) {
		struct report *r = &S.r[j];
		int at;

		if (r->pid != pid || r->tid != tid)
			continue;
		at = find_write(r, w, nw, next);
		if (at < 0 && again(r, w, next))
			continue;
		/* Its values match none: the next write of its function at
		 * its address, else the next due write at its address
		 * (check_match says what is wrong). */
		if (at < 0)
			at = find_site(r, w, nw, next);
		if (at < 0 && (at = next_due(w, nw, next)) >= 0 &&
		    !same_addr(r, w[at]))
			at = -1;
		if (at < 0) {
			S.extra++;
			mismatch("a report without a write (pid %d tid %d): %s",
				 r->pid, r->tid, brief(r));
			continue;
		}
		check_match(r, w[at]);
		next = at + 1;
	}
	for (int i = 0; i < nw; i++)
		if (due(w[i]) && !w[i]->reported)
			missing(w[i]);
	free(w);
}

/* The threads that logged writes, each once. */
static struct thread_id {
	int pid, tid;
} *T;
static int nt;

static bool logged(int pid, int tid)
{
	for (int k = 0; k < nt; k++)
		if (T[k].pid == pid && T[k].tid == tid)
			return true;
	return false;
}

static void check_threads(void)
{
	for (int i = 0; i < S.nw; i++)
		if (!logged(S.w[i].pid, S.w[i].tid)) {
			T = grow(T, nt, sizeof(*T));
			T[nt++] = (struct thread_id){ S.w[i].pid, S.w[i].tid };
		}
	for (int k = 0; k < nt; k++)
		check_thread(T[k].pid, T[k].tid);
	for (int j = 0; j < S.nr; j++)
		if (!logged(S.r[j].pid, S.r[j].tid)) {
			S.extra++;
			mismatch("a report from pid %d tid %d, which logged no "
				 "write: %s", S.r[j].pid, S.r[j].tid,
				 brief(&S.r[j]));
		}
}

/* ---- the whole output ---- */

/* Each location written (at most 64) has a write reported. */
static void check_every_location(void)
{
	const char *locs[64];
	bool seen[64] = { false };
	int n = 0, k;

	for (int i = 0; i < S.nw; i++) {
		if (!due(&S.w[i]))
			continue;
		for (k = 0; k < n && strcmp(locs[k], S.w[i].loc); k++)
			;
		if (k == n && n < 64)
			locs[n++] = S.w[i].loc;
		if (k < n)
			seen[k] |= S.w[i].reported;
	}
	for (k = 0; k < n; k++)
		if (!seen[k])
			mismatch("location %s: none of its writes reported",
				 locs[k]);
}

static void check_time_order(void)
{
	for (int j = 1; j < S.nr; j++) {
		int64_t a = key_int(S.r[j - 1].o, "time_ns");
		int64_t b = key_int(S.r[j].o, "time_ns");

		if (b < a)
			mismatch("time goes back %" PRId64 " ns from JSON line "
				 "%d to %d", a - b, S.r[j - 1].line,
				 S.r[j].line);
	}
}

static void check_summary(void)
{
	int strays = 0;
	int64_t got;

	if (!S.summary)
		return;
	for (int i = 0; i < S.nw; i++)
		strays += S.w[i].kind == 's';
	if (key_int(S.summary, "hits") != S.nr)
		mismatch("summary: hits %" PRId64 ", %d hit lines",
			 key_int(S.summary, "hits"), S.nr);
	if (key_int(S.summary, "lost") && !S.o.allow_lost)
		mismatch("summary: lost %" PRId64 " (none expected at this "
			 "size)", key_int(S.summary, "lost"));
	/* Which of the bytes beside the location share its registers is
	 * hwbp's choice (8-byte blocks, or smaller registers): at most the
	 * writes to the 8-byte blocks are strays. */
	got = key_int(S.summary, "strays");
	if (got > strays && !S.o.allow_strays)
		mismatch("summary: strays %" PRId64 ", the program made at "
			 "most %d", got, strays);
}

static int usage(void)
{
	fprintf(stderr, "usage: oracle-check [--partial] [--tid T] "
		"[--allow-lost] [--every-location] [--allow-strays] LOG "
		"JSON\n");
	return 2;
}

int main(int argc, char **argv)
{
	int a = 1, ndue = 0;

	for (; a < argc && !strncmp(argv[a], "--", 2); a++) {
		if (!strcmp(argv[a], "--partial"))
			S.o.partial = true;
		else if (!strcmp(argv[a], "--allow-lost"))
			S.o.allow_lost = true;
		else if (!strcmp(argv[a], "--every-location"))
			S.o.every_location = true;
		else if (!strcmp(argv[a], "--allow-strays"))
			S.o.allow_strays = true;
		else if (!strcmp(argv[a], "--tid") && a + 1 < argc)
			S.o.only_tid = atoi(argv[++a]);
		else
			return usage();
	}
	if (argc - a != 2)
		return usage();
	read_log(argv[a]);
	read_json(argv[a + 1]);
	check_summary();
	check_time_order();
	check_threads();
	if (S.o.every_location)
		check_every_location();
	for (int i = 0; i < S.nw; i++)
		ndue += due(&S.w[i]);
	printf("oracle-check: %d writes logged, %d due, %d reported; %d "
	       "mismatches (%d not reported, %d reports without a due write, "
	       "%d with wrong fields)%s\n", S.nw, ndue, S.nr, S.mismatches,
	       S.missing, S.extra, S.wrong,
	       S.mismatches > SHOW ? " - the first shown above" : "");
	for (int j = 0; j < S.nr; j++)
		json_object_put(S.r[j].o);
	json_object_put(S.summary);
	free(S.r);
	free(S.w);
	free(T);
	return S.mismatches ? 1 : 0;
}
