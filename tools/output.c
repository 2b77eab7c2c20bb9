/* SPDX-License-Identifier: MIT */
/*
 * output.c - what the user reads: one line per hit (human or a JSON
 * object), and the summary at the end.  Values are printed by their DWARF
 * type; an approximate value (read from memory after the fact) has a `~`
 * in human output and "new_exact": false in JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "tool.h"

void out_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static int64_t sign_extend(uint64_t v, uint32_t len)
{
	if (len >= 8)
		return (int64_t)v;
	return (int64_t)(v << (64 - len * 8)) >> (64 - len * 8);
}

void out_value(FILE *f, const struct vtype *t, uint64_t v, uint32_t len,
	       bool json)
{
	switch (len == t->size ? t->kind : V_HEX) {
	case V_SIGNED:
		fprintf(f, "%" PRId64, sign_extend(v, len));
		return;
	case V_UNSIGNED:
		fprintf(f, "%" PRIu64, v);
		return;
	case V_BOOL:
		fprintf(f, "%s", v ? "true" : "false");
		return;
	case V_CHAR:
		if (json || v < 0x20 || v > 0x7e)
			fprintf(f, "%" PRId64, sign_extend(v, len));
		else
			fprintf(f, "'%c'", (int)v);
		return;
	case V_ENUM:
		for (int i = 0; i < t->nenums; i++)
			if ((uint64_t)t->enums[i].value == v) {
				if (json)
					out_json_string(f, t->enums[i].name);
				else
					fprintf(f, "%s", t->enums[i].name);
				return;
			}
		fprintf(f, "%" PRId64, sign_extend(v, len));
		return;
	case V_FLOAT:
		if (len == 4) {
			float x;

			memcpy(&x, &v, 4);
			fprintf(f, "%g", (double)x);
		} else if (len == 8) {
			double x;

			memcpy(&x, &v, 8);
			fprintf(f, "%g", x);
		}
		return;
	case V_POINTER:
	case V_HEX:
		fprintf(f, json ? "\"0x%" PRIx64 "\"" : "0x%" PRIx64, v);
		return;
	}
}

static void human_where(FILE *f, const struct code_loc *w, uint64_t ip)
{
	char name[256];

	/* A C++ template or lambda's name cut for the line (JSON: whole). */
	cut_name(w->function, name, sizeof(name));
	if (w->function[0])
		fprintf(f, "%s+%" PRIu64, name, w->offset);
	else
		fprintf(f, "0x%" PRIx64, ip);
	if (w->file[0])
		fprintf(f, " (%s:%d)", w->file, w->line);
}

static void human_hit(FILE *f, const struct hit_event *e)
{
	fprintf(f, "%10.6f %d/%d %-15s %-5s %s", e->time_ns / 1e9, (int)e->pid,
		(int)e->tid, e->thread, e->access, e->loc->name);
	if (e->has_values) {
		fputs(" ", f);
		if (e->val.old_q == VQ_NONE)
			fputs("?", f);
		else {
			if (e->val.old_q == VQ_APPROX)
				fputs("~", f);
			out_value(f, &e->loc->type, e->val.old_value,
				  e->loc->len, false);
		}
		fputs(" -> ", f);
		if (e->val.new_q == VQ_NONE)
			fputs("?", f);
		else {
			if (e->val.new_q == VQ_APPROX)
				fputs("~", f);
			out_value(f, &e->loc->type, e->val.new_value,
				  e->loc->len, false);
		}
	}
	if (e->has_read) {
		fputs(" = ", f);
		if (e->val.new_q == VQ_NONE)
			fputs("?", f);
		else {
			if (e->val.new_q == VQ_APPROX)
				fputs("~", f);
			out_value(f, &e->loc->type, e->val.new_value,
				  e->loc->len, false);
		}
	}
	fputs("  ", f);
	human_where(f, &e->where, e->where.ip);
	fputc('\n', f);
	for (int i = 0; i < e->nbt; i++) {
		fprintf(f, "        #%d ", i);
		human_where(f, &e->bt[i].where, e->bt[i].ip);
		fputc('\n', f);
	}
	for (int i = 0; e->br && i < e->nbr; i++) {
		fputs("        branch: ", f);
		human_where(f, &e->br[i].from_w, e->br[i].from);
		fputs(" -> ", f);
		human_where(f, &e->br[i].to_w, e->br[i].to);
		fputc('\n', f);
	}
	if (e->br && !e->nbr)
		fputs("        branch: none decoded\n", f);
	if (e->ran) {
		fputs("        ran before on this CPU:", f);
		for (int i = 0; i < e->nran; i++)
			fprintf(f, "%s %d (%s) until %.1f us before%s",
				i ? "," : "", (int)e->ran[i].tid,
				e->ran[i].thread, e->ran[i].before_ns / 1e3,
				e->ran[i].preempted ? ", preempted" : "");
		fputs(e->nran ? "\n" : " none seen\n", f);
	}
}

static void json_where(FILE *f, const struct code_loc *w)
{
	fputs("\"function\":", f);
	out_json_string(f, w->function);
	fprintf(f, ",\"offset\":%" PRIu64 ",\"file\":", w->offset);
	out_json_string(f, w->file);
	fprintf(f, ",\"line\":%d", w->line);
}

static void json_value(FILE *f, const char *key, const struct hit_event *e,
		       uint64_t v, enum vquality q)
{
	fprintf(f, ",\"%s\":", key);
	if (q == VQ_NONE)
		fputs("null", f);
	else
		out_value(f, &e->loc->type, v, e->loc->len, true);
	fprintf(f, ",\"%s_exact\":%s", key, q == VQ_EXACT ? "true" : "false");
}

/* "func+off", or the address where no symbol covers it. */
static void json_sym(FILE *f, const struct code_loc *w, uint64_t ip)
{
	char s[320];

	if (w->function[0])
		snprintf(s, sizeof(s), "%s+%" PRIu64, w->function, w->offset);
	else
		snprintf(s, sizeof(s), "0x%" PRIx64, ip);
	out_json_string(f, s);
}

static void json_branches(FILE *f, const struct hit_event *e)
{
	fputs(",\"branches\":[", f);
	for (int i = 0; i < e->nbr; i++) {
		fprintf(f, "%s{\"from\":\"0x%" PRIx64 "\",\"to\":\"0x%" PRIx64
			"\",\"from_sym\":", i ? "," : "", e->br[i].from,
			e->br[i].to);
		json_sym(f, &e->br[i].from_w, e->br[i].from);
		fputs(",\"to_sym\":", f);
		json_sym(f, &e->br[i].to_w, e->br[i].to);
		fputc('}', f);
	}
	fputc(']', f);
}

static void json_hit(FILE *f, const struct hit_event *e)
{
	fprintf(f, "{\"type\":\"hit\",\"time_ns\":%" PRIu64 ",\"pid\":%d,"
		"\"tid\":%d,\"thread\":", e->time_ns, (int)e->pid, (int)e->tid);
	out_json_string(f, e->thread);
	fprintf(f, ",\"access\":\"%s\",\"addr\":\"0x%" PRIx64 "\",\"location\":",
		e->access, e->addr);
	out_json_string(f, e->loc->name);
	if (e->has_values) {
		json_value(f, "old", e, e->val.old_value, e->val.old_q);
		json_value(f, "new", e, e->val.new_value, e->val.new_q);
	}
	if (e->has_read)
		json_value(f, "value", e, e->val.new_value, e->val.new_q);
	fputc(',', f);
	json_where(f, &e->where);
	if (e->bt) {
		fputs(",\"backtrace\":[", f);
		for (int i = 0; i < e->nbt; i++) {
			fprintf(f, "%s{\"ip\":\"0x%" PRIx64 "\",", i ? "," : "",
				e->bt[i].ip);
			json_where(f, &e->bt[i].where);
			fputc('}', f);
		}
		fputc(']', f);
	}
	if (e->br)
		json_branches(f, e);
	if (e->ran) {
		fputs(",\"switches\":[", f);
		for (int i = 0; i < e->nran; i++) {
			fprintf(f, "%s{\"pid\":%d,\"tid\":%d,\"thread\":",
				i ? "," : "", (int)e->ran[i].pid,
				(int)e->ran[i].tid);
			out_json_string(f, e->ran[i].thread);
			fprintf(f, ",\"before_ns\":%" PRIu64 ",\"preempted\":%s}",
				e->ran[i].before_ns,
				e->ran[i].preempted ? "true" : "false");
		}
		fputc(']', f);
	}
	fputs("}\n", f);
}

void out_hit(struct out *o, const struct hit_event *e)
{
	if (o->broken)
		return;
	if (o->json)
		json_hit(o->f, e);
	else
		human_hit(o->f, e);
	if (fflush(o->f) && errno == EPIPE)
		o->broken = true;
}

static void json_summary(FILE *f, const struct summary *s)
{
	fprintf(f, "{\"type\":\"summary\",\"hits\":%" PRIu64 ",\"lost\":%" PRIu64
		",\"filtered\":%" PRIu64 ",\"by_location\":[", s->hits, s->lost,
		s->filtered);
	for (int i = 0; i < s->nloc; i++) {
		fprintf(f, "%s{\"location\":", i ? "," : "");
		out_json_string(f, s->by_loc[i].location);
		fputc(',', f);
		json_where(f, &s->by_loc[i].where);
		fprintf(f, ",\"hits\":%" PRIu64 "}", s->by_loc[i].hits);
	}
	for (int i = 0; s->counts && i < s->nlocs; i++) {
		fprintf(f, "%s{\"location\":", i ? "," : "");
		out_json_string(f, s->locs[i].name);
		fprintf(f, ",\"addr\":\"0x%" PRIx64 "\",\"hits\":%" PRIu64 "}",
			s->locs[i].addr, s->counts[i]);
	}
	fputs("],\"by_thread\":[", f);
	for (int i = 0; i < s->nthread; i++) {
		fprintf(f, "%s{\"tid\":%d,\"thread\":", i ? "," : "",
			(int)s->by_thread[i].tid);
		out_json_string(f, s->by_thread[i].name);
		fprintf(f, ",\"hits\":%" PRIu64 "}", s->by_thread[i].hits);
	}
	fprintf(f, "],\"strays\":%" PRIu64 ",\"writes_dropped\":%" PRIu64,
		s->strays, s->writes_dropped);
	fputs(",\"coverage\":[", f);
	for (int i = 0; i < s->ncov; i++) {
		fprintf(f, "%s{\"location\":", i ? "," : "");
		out_json_string(f, s->cov[i].location);
		fprintf(f, ",\"armed_ns\":%" PRIu64 ",\"total_ns\":%" PRIu64 "}",
			s->cov[i].armed_ns, s->cov[i].total_ns);
	}
	fprintf(f, "],\"wall_ns\":%" PRIu64 "}\n", s->wall_ns);
}

static void human_summary(FILE *f, const struct summary *s)
{
	fprintf(f, "\n--- hwbp: %" PRIu64 " hit%s in %.3f s", s->hits,
		s->hits == 1 ? "" : "s", s->wall_ns / 1e9);
	if (s->filtered)
		fprintf(f, " (%" PRIu64 " more did not match --if)", s->filtered);
	fprintf(f, ", %" PRIu64 " lost\n", s->lost);
	if (s->lost)
		fprintf(f, "!!! %" PRIu64 " hits were LOST: the ring buffer "
			"overflowed (raise --ring-pages, or watch less)\n",
			s->lost);
	if (s->strays)
		fprintf(f, "%" PRIu64 " accesses to bytes next to a location "
			"(a register covers them) were left out\n", s->strays);
	if (s->writes_dropped)
		fprintf(f, "%" PRIu64 " writes were left out (--read)\n",
			s->writes_dropped);
	if (s->ncov)
		fprintf(f, "%12s  %s (registers shared: hits while unarmed "
			"are not seen)\n", "armed", "location");
	for (int i = 0; i < s->ncov; i++)
		fprintf(f, "%11.1f%%  %s (%.3f of %.3f s)\n",
			s->cov[i].total_ns ? 100.0 * s->cov[i].armed_ns /
					     s->cov[i].total_ns : 0.0,
			s->cov[i].location, s->cov[i].armed_ns / 1e9,
			s->cov[i].total_ns / 1e9);
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
			s->by_loc[i].key, s->by_loc[i].location);
	if (s->nthread)
		fprintf(f, "%12s  %s\n", "hits", "thread");
	for (int i = 0; i < s->nthread; i++)
		fprintf(f, "%12" PRIu64 "  %d (%s)\n", s->by_thread[i].hits,
			(int)s->by_thread[i].tid, s->by_thread[i].name);
}

void out_summary(struct out *o, FILE *human, const struct summary *s)
{
	if (o->json && !o->broken)
		json_summary(o->f, s);
	else if (!o->json)
		human_summary(o->broken ? human : o->f, s);
	if (o->json && s->lost && human)
		fprintf(human, "hwbp: %" PRIu64 " hits were LOST (ring buffer "
			"overflow)\n", s->lost);
	fflush(o->f);
}
