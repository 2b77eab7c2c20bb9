/* SPDX-License-Identifier: MIT */
/*
 * output.c - what the user reads: one line per hit (human or a JSON
 * object), and the summary at the end.  Values are printed by their DWARF
 * type; an approximate value (read from memory after the fact) has a `~`
 * in human output and "new_exact": false in JSON.  A hit line is written
 * by the processor alone, up to a million times a second: into a buffer
 * of its own, flushed when the processor has caught up (out_flush), with
 * no printf in the common case.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

#define OB_SIZE 65536
#define HUMAN_PARTS 8 /* a location's parts listed in the human summary */

/* ---- the buffer ---- */

static bool ob_ready(struct out *o)
{
	if (!o->buf)
		o->buf = malloc(OB_SIZE);
	return o->buf != NULL;
}

/* Out to the stream: through stdio, or for o->lines in whole lines,
 * each write at most PIPE_BUF bytes where it can be (a line longer goes
 * whole): a write that size to a pipe is atomic, and one to a file moves
 * the shared offset at once, so a watched program writing to the same
 * stdout (a launched one inherits it) lands between lines, never inside
 * one (`hwbp watch --json ... -- prog | jq` keeps every line whole). */
static void ob_out(struct out *o, const char *p, size_t n)
{
	if (!o->lines) {
		if (fwrite(p, 1, n, o->f) != n && errno == EPIPE)
			o->broken = true;
		return;
	}
	if (fflush(o->f) && errno == EPIPE)
		o->broken = true;
	if (!o->chunk) { /* (a file, a terminal: one write is enough) */
		struct stat st;

		o->chunk = !fstat(fileno(o->f), &st) &&
			   (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) ?
			   PIPE_BUF : SIZE_MAX;
	}
	while (n && !o->broken) {
		size_t k = n;
		ssize_t w;

		if (k > o->chunk) {
			const char *nl = memrchr(p, '\n', o->chunk);

			if (!nl)
				nl = memchr(p + o->chunk, '\n', n - o->chunk);
			k = nl ? (size_t)(nl + 1 - p) : n;
		}
		w = write(fileno(o->f), p, k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->broken = errno == EPIPE;
			return; /* (another error: the line is dropped, as
				 * fwrite's would be) */
		}
		p += w;
		n -= (size_t)w;
	}
}

/* The first n bytes of the buffer out; the rest moves to its start. */
static void ob_flush_upto(struct out *o, size_t n)
{
	if (n)
		ob_out(o, o->buf, n);
	memmove(o->buf, o->buf + n, o->len - n);
	o->len -= n;
	o->flushes++;
}

static void ob_flush(struct out *o)
{
	ob_flush_upto(o, o->len);
}

/* Room for n more bytes: the whole lines out (o->lines: a line being
 * written waits for its end), everything if that is not enough. */
static void ob_room(struct out *o, size_t n)
{
	const char *nl = o->lines && o->len ? memrchr(o->buf, '\n', o->len)
					    : NULL;

	ob_flush_upto(o, nl ? (size_t)(nl + 1 - o->buf) : o->len);
	if (o->len + n > OB_SIZE)
		ob_flush(o);
}

static void ob_write(struct out *o, const char *s, size_t n)
{
	if (o->len + n > OB_SIZE) {
		ob_room(o, n);
		if (n > OB_SIZE) {
			ob_flush(o);
			ob_out(o, s, n);
			return;
		}
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void ob_c(struct out *o, char c)
{
	if (o->len == OB_SIZE)
		ob_room(o, 1);
	o->buf[o->len++] = c;
}

static void ob_s(struct out *o, const char *s)
{
	ob_write(o, s, strlen(s));
}

static void ob_u(struct out *o, uint64_t v)
{
	char b[24];
	int n = 0;

	do
		b[sizeof(b) - ++n] = (char)('0' + v % 10);
	while (v /= 10);
	ob_write(o, b + sizeof(b) - n, (size_t)n);
}

static void ob_i(struct out *o, int64_t v)
{
	if (v < 0) {
		ob_c(o, '-');
		ob_u(o, -(uint64_t)v);
	} else {
		ob_u(o, (uint64_t)v);
	}
}

static void ob_hex(struct out *o, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char b[18];
	int n = 0;

	do
		b[sizeof(b) - ++n] = digits[v & 15];
	while (v >>= 4);
	b[sizeof(b) - ++n] = 'x';
	b[sizeof(b) - ++n] = '0';
	ob_write(o, b + sizeof(b) - n, (size_t)n);
}

/* printf, for what is rare (floats). */
__attribute__((format(printf, 2, 3)))
static void ob_fmt(struct out *o, const char *fmt, ...)
{
	char b[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n > 0)
		ob_write(o, b, (size_t)n < sizeof(b) ? (size_t)n
						     : sizeof(b) - 1);
}

/* s, then spaces up to width (printf's %-Ns). */
static void ob_padded(struct out *o, const char *s, size_t width)
{
	size_t n = strlen(s);

	ob_write(o, s, n);
	for (; n < width; n++)
		ob_c(o, ' ');
}

/* Nanoseconds as seconds, printf's %10.6f. */
static void ob_seconds(struct out *o, uint64_t ns)
{
	char b[32];
	uint64_t sec = ns / 1000000000u, us = ns % 1000000000u / 1000u;
	int n = 0;

	for (int i = 0; i < 6; i++, us /= 10)
		b[sizeof(b) - ++n] = (char)('0' + us % 10);
	b[sizeof(b) - ++n] = '.';
	do
		b[sizeof(b) - ++n] = (char)('0' + sec % 10);
	while (sec /= 10);
	while (n < 10)
		b[sizeof(b) - ++n] = ' ';
	ob_write(o, b + sizeof(b) - n, (size_t)n);
}

/* Interned strings (code_loc's: equal pointers, equal strings, for the
 * run) that need no escaping, with their length: hit lines repeat the
 * same function and file names over and over. */
static bool clean_string(const char *s, size_t *len)
{
	static struct { const char *s; size_t len; } known[1024];
	size_t k = ((uintptr_t)s >> 3) % 1024;
	const char *p;

	if (known[k].s == s) {
		*len = known[k].len;
		return true;
	}
	for (p = s; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			return false;
	known[k].s = s;
	known[k].len = *len = (size_t)(p - s);
	return true;
}

static void ob_json_string(struct out *o, const char *s)
{
	const char *p = s, *run = s;

	ob_c(o, '"');
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		ob_write(o, run, (size_t)(p - run));
		if (c < 0x20)
			ob_fmt(o, "\\u%04x", c);
		else {
			ob_c(o, '\\');
			ob_c(o, (char)c);
		}
		run = p + 1;
	}
	ob_write(o, run, (size_t)(p - run));
	ob_c(o, '"');
}

static void ob_json_interned(struct out *o, const char *s)
{
	size_t len;

	if (!clean_string(s, &len)) {
		ob_json_string(o, s);
		return;
	}
	ob_c(o, '"');
	ob_write(o, s, len);
	ob_c(o, '"');
}

void out_json_string(FILE *f, const char *s)
{
	struct out o = { .f = f };

	if (!ob_ready(&o))
		return;
	ob_json_string(&o, s);
	ob_flush(&o);
	free(o.buf);
}

/* ---- values ---- */

static int64_t sign_extend(uint64_t v, uint32_t len)
{
	if (len >= 8)
		return (int64_t)v;
	return (int64_t)(v << (64 - len * 8)) >> (64 - len * 8);
}

static void ob_value(struct out *o, const struct vtype *t, uint64_t v,
		     uint32_t len, bool json)
{
	switch (len == t->size ? t->kind : V_HEX) {
	case V_SIGNED:
		ob_i(o, sign_extend(v, len));
		return;
	case V_UNSIGNED:
		ob_u(o, v);
		return;
	case V_BOOL:
		ob_s(o, v ? "true" : "false");
		return;
	case V_CHAR:
		if (json || v < 0x20 || v > 0x7e) {
			ob_i(o, sign_extend(v, len));
		} else {
			ob_c(o, '\'');
			ob_c(o, (char)v);
			ob_c(o, '\'');
		}
		return;
	case V_ENUM:
		for (int i = 0; i < t->nenums; i++)
			if ((uint64_t)t->enums[i].value == v) {
				if (json)
					ob_json_string(o, t->enums[i].name);
				else
					ob_s(o, t->enums[i].name);
				return;
			}
		ob_i(o, sign_extend(v, len));
		return;
	case V_FLOAT:
		if (len == 4) {
			float x;

			memcpy(&x, &v, 4);
			ob_fmt(o, "%g", (double)x);
		} else if (len == 8) {
			double x;

			memcpy(&x, &v, 8);
			ob_fmt(o, "%g", x);
		}
		return;
	case V_POINTER:
		if (json)
			ob_c(o, '"');
		ob_hex(o, v);
		if (json)
			ob_c(o, '"');
		return;
	case V_HEX: /* no type: an unsigned integer of the length watched */
		ob_u(o, len >= 8 ? v : v & ((1ull << (len * 8)) - 1));
		return;
	}
}

/* A part of a location over 8 bytes: its bytes in memory order. */
static void ob_bytes(struct out *o, uint64_t v, uint32_t n, bool json)
{
	static const char digits[] = "0123456789abcdef";

	if (json)
		ob_c(o, '"');
	for (uint32_t i = 0; i < n; i++) {
		unsigned b = (unsigned)(v >> (8 * i)) & 0xff;

		if (i)
			ob_c(o, ' ');
		ob_c(o, digits[b >> 4]);
		ob_c(o, digits[b & 15]);
	}
	if (json)
		ob_c(o, '"');
}

/* A value of the hit: typed, or the bytes of the part touched. */
static void hit_value(struct out *o, const struct hit_event *e, uint64_t v,
		      enum vquality q)
{
	const struct vtype *t = &e->loc->type;
	uint32_t len = e->loc->len;

	if (q == VQ_NONE) {
		ob_s(o, o->json ? "null" : "?");
		return;
	}
	if (!o->json && q == VQ_APPROX)
		ob_c(o, '~');
	if (e->mtype) { /* a whole object's member */
		t = e->mtype;
		len = e->mlen;
	} else if (e->part_len) {
		ob_bytes(o, v, e->part_len, o->json);
		return;
	}
	ob_value(o, t, v, len, o->json); /* (one call: it stays inlined) */
}

/* ---- backtrace frames, formatted once ----
 * A backtrace repeats the frames of the ones before it: each frame's text
 * is kept (a direct-mapped cache, keyed by all it shows) and copied. */

#define FRAME_CACHE 1024
#define FRAME_TEXT 360

struct frame_text {
	uint64_t ip, offset, module_base;
	const char *function, *file, *module; /* interned: a pointer is a
					       * name */
	int line;
	bool inlined;
	uint16_t len;                /* 0: empty */
	char text[FRAME_TEXT];
};

static bool same_frame(const struct frame_text *t, const struct frame *f)
{
	const struct code_loc *w = &f->where;

	return t->len && t->ip == f->ip && t->offset == w->offset &&
	       t->function == w->function && t->file == w->file &&
	       t->module == w->module && t->module_base == w->module_base &&
	       t->line == w->line && t->inlined == f->inlined;
}

static void ob_frame(struct out *o, const struct frame *f,
		     void (*render)(struct out *, const struct frame *))
{
	uint64_t h = (f->ip ^ (uint64_t)f->where.line << 32 ^ f->inlined) *
		     0x9e3779b97f4a7c15ull;
	struct frame_text *t;
	uint64_t flushes;
	size_t start;

	if (!o->frames)
		o->frames = calloc(FRAME_CACHE, sizeof(*o->frames));
	if (!o->frames) {
		render(o, f);
		return;
	}
	t = &o->frames[h >> 54]; /* 10 bits: FRAME_CACHE */
	if (same_frame(t, f)) {
		ob_write(o, t->text, t->len);
		return;
	}
	if (o->len + FRAME_TEXT > OB_SIZE)
		ob_room(o, FRAME_TEXT);
	start = o->len;
	flushes = o->flushes;
	render(o, f);
	t->len = 0;
	if (o->flushes != flushes || o->len - start > FRAME_TEXT)
		return; /* too long to keep */
	*t = (struct frame_text){ f->ip, f->where.offset,
				  f->where.module_base, f->where.function,
				  f->where.file, f->where.module, f->where.line,
				  f->inlined, (uint16_t)(o->len - start) };
	memcpy(t->text, o->buf + start, t->len);
}

/* ---- human ---- */

/* A C++ template or lambda's name cut for the line (JSON: whole), cut once
 * per name: names are interned, the same pointer is the same name. */
static const char *short_name(const char *full)
{
	static struct { const char *full; char cut[256]; } cache[256];
	size_t k = ((uintptr_t)full >> 3) % 256;

	if (cache[k].full != full) {
		cut_name(full, cache[k].cut, sizeof(cache[k].cut));
		cache[k].full = full;
	}
	return cache[k].cut;
}

static void human_where(struct out *o, const struct code_loc *w,
			uint64_t ip, bool inlined)
{
	if (w->function[0]) {
		ob_s(o, short_name(w->function));
		if (!inlined) { /* an inlined call has no place of its own */
			ob_c(o, '+');
			ob_u(o, w->offset);
		}
	} else {
		ob_hex(o, ip);
	}
	if (w->file[0]) {
		ob_s(o, " (");
		ob_s(o, w->file);
		ob_c(o, ':');
		ob_i(o, w->line);
		ob_c(o, ')');
	}
	/* no symbol: the file and the address in it (addr2line, objdump
	 * and a debug file name it later) */
	if (!w->function[0] && code_loc_in_file(w)) {
		ob_s(o, " [");
		ob_s(o, w->module);
		if (w->has_base) {
			ob_c(o, '+');
			ob_hex(o, ip - w->module_base);
		}
		ob_c(o, ']');
	}
}

/* A frame after its number: "func+off (file:line)", a line of its own. */
static void human_frame(struct out *o, const struct frame *f)
{
	human_where(o, &f->where, f->ip, f->inlined);
	ob_s(o, f->inlined ? " (inlined)\n" : "\n");
}

static void human_extras(struct out *o, const struct hit_event *e)
{
	for (int i = 0; i < e->nbt; i++) {
		ob_s(o, "        #");
		ob_i(o, i);
		ob_c(o, ' ');
		ob_frame(o, &e->bt[i], human_frame);
	}
	for (int i = 0; e->br && i < e->nbr; i++) {
		ob_s(o, "        branch: ");
		human_where(o, &e->br[i].from_w, e->br[i].from, false);
		ob_s(o, " -> ");
		human_where(o, &e->br[i].to_w, e->br[i].to, false);
		ob_c(o, '\n');
	}
	if (e->br && !e->nbr)
		ob_s(o, "        branch: none decoded\n");
	if (e->ran) {
		ob_s(o, "        ran before on this CPU:");
		for (int i = 0; i < e->nran; i++)
			ob_fmt(o, "%s %d (%s) until %.1f us before%s",
			       i ? "," : "", (int)e->ran[i].tid,
			       e->ran[i].thread, e->ran[i].before_ns / 1e3,
			       e->ran[i].preempted ? ", preempted" : "");
		ob_s(o, e->nran ? "\n" : " none seen\n");
	}
}

static void human_hit(struct out *o, const struct hit_event *e)
{
	ob_seconds(o, e->time_ns);
	ob_c(o, ' ');
	ob_i(o, e->pid);
	ob_c(o, '/');
	ob_i(o, e->tid);
	ob_c(o, ' ');
	ob_padded(o, e->thread, 15);
	ob_c(o, ' ');
	ob_padded(o, e->access, 5);
	ob_c(o, ' ');
	ob_s(o, e->member ? e->member : e->loc->name);
	if (e->part_len) {
		ob_s(o, " @+");
		ob_u(o, e->part_off);
	}
	if (e->has_values) {
		ob_c(o, ' ');
		hit_value(o, e, e->val.old_value, e->val.old_q);
		ob_s(o, " -> ");
		hit_value(o, e, e->val.new_value, e->val.new_q);
	}
	if (e->has_read) {
		ob_s(o, " = ");
		hit_value(o, e, e->val.new_value, e->val.new_q);
	}
	ob_s(o, "  ");
	human_where(o, &e->where, e->where.ip, false);
	if (e->recovered)
		ob_s(o, "  [recovered: the kernel did not count it]");
	ob_c(o, '\n');
	human_extras(o, e);
}

/* ---- JSON ---- */

void out_unnamed_code(char *buf, size_t size, const struct code_loc *w,
		      uint64_t ip)
{
	if (code_loc_in_file(w) && w->has_base)
		snprintf(buf, size, "0x%" PRIx64 " [%s+0x%" PRIx64 "]", ip,
			 w->module, ip - w->module_base);
	else
		snprintf(buf, size, "0x%" PRIx64, ip);
}

/* "ip", where it is, and the module ("module_offset": ip in its file);
 * a backtrace frame has the module only where no function names it (on
 * every frame it made JSON --bt 1.7 times the bytes). */
static void json_where(struct out *o, const struct code_loc *w, uint64_t ip,
		       bool module)
{
	ob_s(o, "\"ip\":\"");
	ob_hex(o, ip);
	ob_s(o, "\",\"function\":");
	ob_json_interned(o, w->function);
	ob_s(o, ",\"offset\":");
	ob_u(o, w->offset);
	ob_s(o, ",\"file\":");
	ob_json_interned(o, w->file);
	ob_s(o, ",\"line\":");
	ob_i(o, w->line);
	if (!module)
		return;
	ob_s(o, ",\"module\":");
	ob_json_interned(o, w->module);
	if (code_loc_in_file(w) && w->has_base) {
		ob_s(o, ",\"module_offset\":\"");
		ob_hex(o, ip - w->module_base);
		ob_c(o, '"');
	}
}

static void json_value(struct out *o, const char *key,
		       const struct hit_event *e, uint64_t v, enum vquality q)
{
	ob_s(o, ",\"");
	ob_s(o, key);
	ob_s(o, "\":");
	hit_value(o, e, v, q);
	ob_s(o, ",\"");
	ob_s(o, key);
	ob_s(o, q == VQ_EXACT ? "_exact\":true" : "_exact\":false");
}

/* "func+off", or the address where no symbol covers it. */
static void json_sym(struct out *o, const struct code_loc *w, uint64_t ip)
{
	char s[320];

	if (w->function[0])
		snprintf(s, sizeof(s), "%s+%" PRIu64, w->function, w->offset);
	else
		snprintf(s, sizeof(s), "0x%" PRIx64, ip);
	ob_json_string(o, s);
}

/* {"ip":..., where it is} */
static void json_frame(struct out *o, const struct frame *f)
{
	ob_c(o, '{');
	json_where(o, &f->where, f->ip, !f->where.function[0]);
	ob_s(o, f->inlined ? ",\"inlined\":true}" : "}");
}

static void json_extras(struct out *o, const struct hit_event *e)
{
	if (e->bt) {
		ob_s(o, ",\"backtrace\":[");
		for (int i = 0; i < e->nbt; i++) {
			if (i)
				ob_c(o, ',');
			ob_frame(o, &e->bt[i], json_frame);
		}
		ob_c(o, ']');
	}
	if (e->br) {
		ob_s(o, ",\"branches\":[");
		for (int i = 0; i < e->nbr; i++) {
			ob_s(o, i ? ",{\"from\":\"" : "{\"from\":\"");
			ob_hex(o, e->br[i].from);
			ob_s(o, "\",\"to\":\"");
			ob_hex(o, e->br[i].to);
			ob_s(o, "\",\"from_sym\":");
			json_sym(o, &e->br[i].from_w, e->br[i].from);
			ob_s(o, ",\"to_sym\":");
			json_sym(o, &e->br[i].to_w, e->br[i].to);
			ob_c(o, '}');
		}
		ob_c(o, ']');
	}
	if (e->ran) {
		ob_s(o, ",\"switches\":[");
		for (int i = 0; i < e->nran; i++) {
			ob_fmt(o, "%s{\"pid\":%d,\"tid\":%d,\"thread\":",
			       i ? "," : "", (int)e->ran[i].pid,
			       (int)e->ran[i].tid);
			ob_json_string(o, e->ran[i].thread);
			ob_fmt(o, ",\"before_ns\":%" PRIu64 ",\"preempted\":%s}",
			       e->ran[i].before_ns,
			       e->ran[i].preempted ? "true" : "false");
		}
		ob_c(o, ']');
	}
}

static void json_hit(struct out *o, const struct hit_event *e)
{
	ob_s(o, "{\"type\":\"hit\",\"time_ns\":");
	ob_u(o, e->time_ns);
	ob_s(o, ",\"pid\":");
	ob_i(o, e->pid);
	ob_s(o, ",\"tid\":");
	ob_i(o, e->tid);
	ob_s(o, ",\"cpu\":");
	ob_u(o, e->cpu);
	ob_s(o, ",\"thread\":");
	ob_json_string(o, e->thread);
	ob_s(o, ",\"access\":\"");
	ob_s(o, e->access);
	ob_s(o, "\",\"addr\":\"");
	ob_hex(o, e->addr);
	ob_s(o, "\",\"location\":");
	ob_json_string(o, e->loc->name);
	if (e->member) {
		ob_s(o, ",\"member\":");
		ob_json_string(o, e->member);
	}
	if (e->mtype) {
		ob_s(o, ",\"member_offset\":");
		ob_u(o, e->moff);
		ob_s(o, ",\"member_size\":");
		ob_u(o, e->mlen);
	}
	if (e->part_len) {
		ob_s(o, ",\"part_offset\":");
		ob_u(o, e->part_off);
		ob_s(o, ",\"part_size\":");
		ob_u(o, e->part_len);
	}
	if (e->has_values) {
		json_value(o, "old", e, e->val.old_value, e->val.old_q);
		json_value(o, "new", e, e->val.new_value, e->val.new_q);
	}
	if (e->has_read)
		json_value(o, "value", e, e->val.new_value, e->val.new_q);
	ob_c(o, ',');
	json_where(o, &e->where, e->where.ip, true);
	if (e->recovered)
		ob_s(o, ",\"recovered\":true");
	json_extras(o, e);
	ob_s(o, "}\n");
}

void out_hit(struct out *o, const struct hit_event *e)
{
	if (o->broken || !ob_ready(o))
		return;
	if (o->json)
		json_hit(o, e);
	else
		human_hit(o, e);
}

/* ---- a watch that moved (--follow-pointers) ---- */

static void json_hex_or_null(struct out *o, const char *key, bool has,
			     uint64_t v)
{
	ob_s(o, key);
	if (!has) {
		ob_s(o, "null");
		return;
	}
	ob_c(o, '"');
	ob_hex(o, v);
	ob_c(o, '"');
}

static void json_moved(struct out *o, const struct move_event *m)
{
	ob_s(o, "{\"type\":\"moved\",\"time_ns\":");
	ob_u(o, m->t1);
	ob_s(o, ",\"location\":");
	ob_json_string(o, m->location);
	ob_s(o, ",\"pointer\":");
	ob_json_string(o, m->pointer);
	json_hex_or_null(o, ",\"value\":", m->has_value, m->value);
	ob_s(o, ",\"changed_ns\":");
	if (m->answer)
		ob_u(o, m->t0);
	else
		ob_s(o, "null");
	ob_s(o, ",\"window_ns\":");
	if (m->answer)
		ob_u(o, m->t1 - m->t0);
	else
		ob_s(o, "null");
	json_hex_or_null(o, ",\"from\":", m->had_from, m->from);
	json_hex_or_null(o, ",\"to\":", m->has_to, m->to);
	ob_s(o, ",\"size\":");
	ob_u(o, m->len);
	ob_s(o, ",\"left_out\":");
	ob_u(o, m->left_out);
	if (!m->has_to) {
		ob_s(o, ",\"why\":");
		ob_json_string(o, m->why);
	}
	ob_s(o, "}\n");
}

static void human_moved(struct out *o, const struct move_event *m)
{
	/* (printf: ob_seconds stays inlined in the hit's line) */
	ob_fmt(o, "%10.6f moved ", m->t1 / 1e9);
	ob_s(o, m->location);
	if (m->has_value) {
		ob_s(o, ": ");
		ob_s(o, m->pointer);
		ob_s(o, " = ");
		ob_hex(o, m->value);
		if (m->answer)
			ob_fmt(o, " at %.6f", m->t0 / 1e9);
	}
	if (m->has_to) {
		ob_s(o, "; watching ");
		ob_hex(o, m->to);
		ob_s(o, " (");
		ob_u(o, m->len);
		ob_s(o, " bytes)");
	} else {
		ob_s(o, "; not watched: ");
		ob_s(o, m->why);
	}
	if (m->had_from) {
		ob_s(o, ", was ");
		ob_hex(o, m->from);
	}
	if (m->answer)
		ob_fmt(o, "; %.1f us unwatched, %" PRIu64 " hit%s on the old "
		       "target left out", (m->t1 - m->t0) / 1e3, m->left_out,
		       m->left_out == 1 ? "" : "s");
	ob_c(o, '\n');
}

void out_moved(struct out *o, const struct move_event *m)
{
	if (o->broken || !ob_ready(o))
		return;
	if (o->json)
		json_moved(o, m);
	else
		human_moved(o, m);
}

/* What is buffered, out now: the processor calls it when it has caught
 * up, so a line is seen as soon as nothing follows it. */
void out_flush(struct out *o)
{
	if (o->broken)
		return;
	if (o->buf)
		ob_flush(o);
	if (fflush(o->f) && errno == EPIPE)
		o->broken = true;
}

void out_close(struct out *o)
{
	free(o->buf);
	free(o->frames);
	o->frames = NULL;
	o->buf = NULL;
	o->len = 0;
}

/* ---- the summary ---- */

/* A location's parts (a register each) and how long each was armed. */
static void json_parts(struct out *o, const struct coverage *c)
{
	if (!c->nparts)
		return;
	ob_s(o, ",\"parts\":[");
	for (int k = 0; k < c->nparts; k++) {
		const struct cov_part *p = &c->parts[k];

		ob_fmt(o, "%s{\"offset\":%u,\"size\":%u,", k ? "," : "",
		       p->off, p->len);
		if (p->member[0]) {
			ob_s(o, "\"member\":");
			ob_json_string(o, p->member);
			ob_c(o, ',');
		}
		ob_fmt(o, "\"armed_ns\":%" PRIu64 ",\"total_ns\":%" PRIu64 "}",
		       p->armed_ns, p->total_ns);
	}
	ob_c(o, ']');
}

/* The pointer paths: where each led, through which pointers. */
static void json_pointers(struct out *o, const struct summary *s)
{
	ob_s(o, ",\"pointers\":[");
	for (int i = 0; i < s->nptrs; i++) {
		const struct ptr_summary *p = &s->ptrs[i];
		const struct location *l = p->loc;

		ob_s(o, i ? ",{\"location\":" : "{\"location\":");
		ob_json_string(o, l->name);
		json_hex_or_null(o, ",\"addr\":", !p->why, l->addr);
		ob_fmt(o, ",\"size\":%u,\"path\":[", l->len);
		for (int k = 0; k < l->nderefs; k++) {
			ob_s(o, k ? ",{\"pointer\":" : "{\"pointer\":");
			ob_json_string(o, l->derefs[k].expr);
			ob_fmt(o, ",\"slot\":\"0x%" PRIx64 "\",\"value\":"
			       "\"0x%" PRIx64 "\"}", l->derefs[k].slot,
			       l->derefs[k].value);
		}
		ob_c(o, ']');
		if (p->why) {
			ob_s(o, ",\"why\":");
			ob_json_string(o, p->why);
		}
		if (p->followed)
			ob_fmt(o, ",\"moves\":%" PRIu64 ",\"window_max_ns\":%"
			       PRIu64 ",\"left_out\":%" PRIu64, p->moves,
			       p->window_max_ns, p->left_out);
		ob_c(o, '}');
	}
	ob_c(o, ']');
}

static void human_pointers(FILE *f, const struct summary *s)
{
	if (s->nptrs)
		fprintf(f, "%12s  %s\n", "pointers", "location: where its "
			"path led at the end");
	for (int i = 0; i < s->nptrs; i++) {
		const struct ptr_summary *p = &s->ptrs[i];
		const struct location *l = p->loc;

		fprintf(f, "%12s  %s", "", l->name);
		if (p->why)
			fprintf(f, ": not watched: %s (", p->why);
		else
			fprintf(f, " = 0x%" PRIx64 " (%u bytes) through ",
				l->addr, l->len);
		for (int k = 0; k < l->nderefs; k++)
			fprintf(f, "%s%s = 0x%" PRIx64, k ? ", " : "",
				l->derefs[k].expr, l->derefs[k].value);
		fputs(p->why ? ")" : "", f);
		if (p->followed)
			fprintf(f, "; moved %" PRIu64 " time%s (unwatched up "
				"to %.1f us after a change), %" PRIu64 " hit%s "
				"on old targets left out", p->moves,
				p->moves == 1 ? "" : "s",
				p->window_max_ns / 1e3, p->left_out,
				p->left_out == 1 ? "" : "s");
		fputc('\n', f);
	}
}

static double percent(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* Human: the location's line, then a line per part when it has parts. */
static void human_coverage(FILE *f, const struct coverage *c)
{
	fprintf(f, "%11.1f%%  %s (%.3f of %.3f s", percent(c->armed_ns,
		c->total_ns), c->location, c->armed_ns / 1e9,
		c->total_ns / 1e9);
	if (c->nparts)
		fprintf(f, "; a part of it %.1f%%, each part:",
			percent(c->any_ns, c->total_ns));
	fputs(")\n", f);
	for (int k = 0; k < c->nparts && k < HUMAN_PARTS; k++) {
		const struct cov_part *p = &c->parts[k];

		fprintf(f, "%11.1f%%    +%u:%u%s%s%s (%.3f s)\n",
			percent(p->armed_ns, p->total_ns), p->off, p->len,
			p->member[0] ? " (" : "", p->member,
			p->member[0] ? ")" : "", p->armed_ns / 1e9);
	}
	if (c->nparts > HUMAN_PARTS)
		fprintf(f, "%12s    and %d more parts (--json lists each)\n",
			"", c->nparts - HUMAN_PARTS);
}

static void json_summary(struct out *o, const struct summary *s)
{
	ob_fmt(o, "{\"type\":\"summary\",\"hits\":%" PRIu64 ",\"lost\":%"
	       PRIu64 ",\"filtered\":%" PRIu64 ",\"by_location\":[", s->hits,
	       s->lost, s->filtered);
	for (int i = 0; i < s->nloc; i++) {
		ob_s(o, i ? ",{\"location\":" : "{\"location\":");
		ob_json_string(o, s->by_loc[i].location);
		if (s->by_loc[i].member && s->by_loc[i].member[0]) {
			ob_s(o, ",\"member\":");
			ob_json_string(o, s->by_loc[i].member);
		}
		ob_c(o, ',');
		json_where(o, &s->by_loc[i].where, s->by_loc[i].where.ip,
			   true);
		ob_fmt(o, ",\"hits\":%" PRIu64 "}", s->by_loc[i].hits);
	}
	for (int i = 0; s->counts && i < s->nlocs; i++) {
		ob_s(o, i ? ",{\"location\":" : "{\"location\":");
		ob_json_string(o, s->locs[i].name);
		ob_fmt(o, ",\"addr\":\"0x%" PRIx64 "\",\"hits\":%" PRIu64 "}",
		       s->locs[i].addr, s->counts[i]);
	}
	ob_s(o, "],\"by_thread\":[");
	for (int i = 0; i < s->nthread; i++) {
		ob_fmt(o, "%s{\"tid\":%d,\"thread\":", i ? "," : "",
		       (int)s->by_thread[i].tid);
		ob_json_string(o, s->by_thread[i].name);
		ob_fmt(o, ",\"hits\":%" PRIu64 "}", s->by_thread[i].hits);
	}
	ob_fmt(o, "],\"strays\":%" PRIu64 ",\"writes_dropped\":%" PRIu64
	       ",\"late\":%" PRIu64 ",\"order_unsure\":%" PRIu64, s->strays,
	       s->writes_dropped, s->late, s->order_unsure);
	ob_fmt(o, ",\"lost_memory\":%" PRIu64 ",\"lost_spill\":%" PRIu64
	       ",\"lost_uncounted\":%" PRIu64 ",\"recovered\":%" PRIu64
	       ",\"spilled_bytes\":%" PRIu64, s->lost_memory, s->lost_spill,
	       s->lost_uncounted, s->recovered, s->spilled);
	if (s->no_lost)
		ob_fmt(o, ",\"paused\":%" PRIu64 ",\"paused_ns\":%" PRIu64,
		       s->pauses, s->paused_ns);
	ob_fmt(o, ",\"samples\":\"%s\"",
	       !s->sampled ? "none" : s->bpf == 1 ? "bpf" : "perf");
	if (s->bpf_why[0]) {
		ob_s(o, ",\"bpf_why\":");
		ob_json_string(o, s->bpf_why);
	}
	ob_s(o, ",\"coverage\":[");
	for (int i = 0; i < s->ncov; i++) {
		ob_s(o, i ? ",{\"location\":" : "{\"location\":");
		ob_json_string(o, s->cov[i].location);
		ob_fmt(o, ",\"armed_ns\":%" PRIu64 ",\"total_ns\":%" PRIu64
		       ",\"any_ns\":%" PRIu64, s->cov[i].armed_ns,
		       s->cov[i].total_ns, s->cov[i].any_ns);
		json_parts(o, &s->cov[i]);
		ob_c(o, '}');
	}
	ob_c(o, ']');
	json_pointers(o, s);
	ob_fmt(o, ",\"wall_ns\":%" PRIu64 "}\n", s->wall_ns);
}

/* Why hits were lost: the rings (the usual), or behind them. */
static const char *lost_why(const struct summary *s, char *buf, size_t len)
{
	uint64_t behind = s->lost_memory + s->lost_spill + s->lost_uncounted;
	uint64_t ring = s->lost > behind ? s->lost - behind : 0;
	int n = 0;

	buf[0] = '\0';
	if (ring)
		n += snprintf(buf + n, len - (size_t)n, "%" PRIu64 " as the ring "
			      "buffer overflowed (raise --ring-pages, watch "
			      "less, or --no-lost)", ring);
	if (s->lost_memory && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "%s%" PRIu64 " with no "
			      "memory to copy them into", n ? "; " : "",
			      s->lost_memory);
	if (s->lost_spill && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "%s%" PRIu64 " in the "
			      "spill file, not read back (%s)", n ? "; " : "",
			      s->lost_spill, strerror(s->spill_errno));
	if (s->lost_uncounted && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%s%" PRIu64 " the kernel "
			 "did not count: the host lost their debug status (the "
			 "guard's SIGTRAPs with no cause)", n ? "; " : "",
			 s->lost_uncounted);
	return buf;
}

/* "PREFIX N hits were LOST: why", for the summary and for stderr. */
static void say_lost(FILE *f, const char *prefix, const struct summary *s)
{
	char buf[512];

	fprintf(f, "%s%" PRIu64 " %s LOST: %s\n", prefix, s->lost,
		s->lost == 1 ? "hit was" : "hits were",
		lost_why(s, buf, sizeof(buf)));
}

static void human_summary(FILE *f, const struct summary *s)
{
	fprintf(f, "\n--- hwbp: %" PRIu64 " hit%s in %.3f s", s->hits,
		s->hits == 1 ? "" : "s", s->wall_ns / 1e9);
	if (s->filtered)
		fprintf(f, " (%" PRIu64 " more did not match --if)", s->filtered);
	fprintf(f, ", %" PRIu64 " lost\n", s->lost);
	if (s->lost)
		say_lost(f, "!!! ", s);
	if (s->recovered)
		fprintf(f, "%" PRIu64 " hit%s the kernel did not count (the host "
			"lost the debug status) %s recovered by the guard from "
			"the stopped thread's registers\n", s->recovered,
			s->recovered == 1 ? "" : "s",
			s->recovered == 1 ? "was" : "were");
	if (s->spilled)
		fprintf(f, "%.1f MiB of hits waited in a temporary file (the "
			"output was slower than the hits: --spill-after)\n",
			s->spilled / 1048576.0);
	if (s->spill_failed)
		fprintf(f, "spilling to a temporary file failed %" PRIu64
			" time%s (%s): those hits waited in memory\n",
			s->spill_failed, s->spill_failed == 1 ? "" : "s",
			strerror(s->spill_errno));
	if (s->strays)
		fprintf(f, "%" PRIu64 " accesses to bytes next to a location "
			"(a register covers them) were left out\n", s->strays);
	if (s->late)
		fprintf(f, "%" PRIu64 " hits came out of time order (a ring "
			"reader could not run on its CPU)\n", s->late);
	if (s->order_unsure)
		fprintf(f, "%" PRIu64 " hits raced another thread's on the "
			"same location on another CPU (stamped within %llu "
			"ms): which came first is "
			"unknown, values from the chain are approximate (~)\n",
			s->order_unsure, ORDER_WINDOW_NS / 1000000);
	if (s->no_lost)
		fprintf(f, "--no-lost: the program was paused %" PRIu64
			" time%s, %.1f ms in all (%.1f %% of the watch)\n",
			s->pauses, s->pauses == 1 ? "" : "s", s->paused_ns / 1e6,
			s->wall_ns ? 100.0 * s->paused_ns / s->wall_ns : 0.0);
	if (s->writes_dropped)
		fprintf(f, "%" PRIu64 " writes were left out (--read)\n",
			s->writes_dropped);
	/* (not when the options exclude it, e.g. --bt: see --no-bpf) */
	if (s->sampled && s->bpf < 0 && s->bpf != -EOPNOTSUPP)
		fprintf(f, "perf sampled the registers (~1.3 us a hit more on "
			"some hosts): %s\n", s->bpf_why);
	if (s->ncov)
		fprintf(f, "%12s  %s (registers shared: hits while unarmed "
			"are not seen)\n", "armed", "location");
	for (int i = 0; i < s->ncov; i++)
		human_coverage(f, &s->cov[i]);
	human_pointers(f, s);
	if (s->counts) {
		fprintf(f, "%12s  %s\n", "hits", "location");
		for (int i = 0; i < s->nlocs; i++)
			fprintf(f, "%12" PRIu64 "  %s (0x%" PRIx64 ")\n",
				s->counts[i], s->locs[i].name, s->locs[i].addr);
		return;
	}
	if (s->nloc)
		fprintf(f, "%12s  %s\n", "hits", "code location");
	for (int i = 0; i < s->nloc; i++)
		fprintf(f, "%12" PRIu64 "  %s  [%s]\n", s->by_loc[i].hits,
			s->by_loc[i].key, s->by_loc[i].member &&
			s->by_loc[i].member[0] ? s->by_loc[i].member
					       : s->by_loc[i].location);
	if (s->nthread)
		fprintf(f, "%12s  %s\n", "hits", "thread");
	for (int i = 0; i < s->nthread; i++)
		fprintf(f, "%12" PRIu64 "  %d (%s)\n", s->by_thread[i].hits,
			(int)s->by_thread[i].tid, s->by_thread[i].name);
}

/* The JSON summary ends the JSON stream.  A human one goes with the hits
 * into -o FILE, else to stderr (`human`): the hits on stdout are the
 * data, the summary a report, as perf stat's.  Losses are said on stderr
 * in every case, so that none goes unseen (-o /dev/null). */
void out_summary(struct out *o, FILE *human, const struct summary *s)
{
	FILE *to = o->f == stdout || o->broken ? human : o->f;

	out_flush(o);
	if (o->json && !o->broken && ob_ready(o)) {
		json_summary(o, s);
		out_flush(o);
	} else if (!o->json) {
		human_summary(to, s);
	}
	if (s->lost && human && (o->json || to != human))
		say_lost(human, "hwbp: ", s);
	fflush(o->f);
}
