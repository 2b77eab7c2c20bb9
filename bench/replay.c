/* SPDX-License-Identifier: MIT */
/*
 * replay.c - everything `hwbp watch` does behind its ring readers, timed
 * without a trap: hit records from a capture of bench/replay_gen (16
 * threads, 4 variables, the sampled registers, stacks 8 to 32 frames
 * deep through three modules) are put in a stream as the readers would,
 * with the code mappings and thread names, then the processor (tools/
 * hits.c) decodes, values, names, unwinds (--bt) and prints them, into a
 * file or /dev/null, human or --json.  Prints the records per second per
 * core (the processor thread's CPU time).
 *
 *   replay CAPTURE [--records N] [--json] [--bt] [--out FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tools/watch.h"
#include "replay.h"

#define FAKE_PID 4194000 /* no process: everything comes from the records */

struct capture {
	struct replay_map *maps;
	char **paths;
	uint32_t nmaps;
	struct replay_loc *locs;
	char **names;
	uint32_t nlocs;
	struct replay_sample *samples;
	uint8_t **stacks;
	uint32_t nsamples;
};

static bool get(FILE *f, void *p, size_t n)
{
	return fread(p, 1, n, f) == n;
}

static char *get_str(FILE *f, size_t n)
{
	char *s = calloc(n + 1, 1);

	if (s && !get(f, s, n)) {
		free(s);
		return NULL;
	}
	return s;
}

static int load(const char *path, struct capture *c)
{
	char magic[sizeof(REPLAY_MAGIC)];
	FILE *f = fopen(path, "rb");
	bool ok;

	if (!f)
		return -errno;
	ok = get(f, magic, sizeof(magic)) &&
	     !memcmp(magic, REPLAY_MAGIC, sizeof(magic)) &&
	     get(f, &c->nmaps, 4);
	c->maps = calloc(c->nmaps + 1, sizeof(*c->maps));
	c->paths = calloc(c->nmaps + 1, sizeof(*c->paths));
	for (uint32_t i = 0; ok && i < c->nmaps; i++)
		ok = get(f, &c->maps[i], sizeof(c->maps[i])) &&
		     (c->paths[i] = get_str(f, c->maps[i].pathlen));
	ok = ok && get(f, &c->nlocs, 4);
	c->locs = calloc(c->nlocs + 1, sizeof(*c->locs));
	c->names = calloc(c->nlocs + 1, sizeof(*c->names));
	for (uint32_t i = 0; ok && i < c->nlocs; i++)
		ok = get(f, &c->locs[i], sizeof(c->locs[i])) &&
		     (c->names[i] = get_str(f, c->locs[i].namelen));
	ok = ok && get(f, &c->nsamples, 4);
	c->samples = calloc(c->nsamples + 1, sizeof(*c->samples));
	c->stacks = calloc(c->nsamples + 1, sizeof(*c->stacks));
	for (uint32_t i = 0; ok && i < c->nsamples; i++) {
		ok = get(f, &c->samples[i], sizeof(c->samples[i]));
		c->stacks[i] = ok ? malloc(c->samples[i].stack_size + 1) : NULL;
		ok = ok && c->stacks[i] &&
		     get(f, c->stacks[i], c->samples[i].stack_size);
	}
	fclose(f);
	return ok && c->nsamples ? 0 : -EINVAL;
}

static void put_side(struct stream *st, const struct capture *c)
{
	for (uint32_t t = 0; t < 16; t++) {
		struct hwbp_record r = { .kind = HWBP_REC_COMM,
					 .pid = FAKE_PID, .tid = FAKE_PID + t,
					 .comm = "replay" };

		stream_replay_put(st, &r, -1);
	}
	for (uint32_t i = 0; i < c->nmaps; i++) {
		struct hwbp_record r = { .kind = HWBP_REC_MMAP,
					 .pid = FAKE_PID, .tid = FAKE_PID,
					 .map_addr = c->maps[i].start,
					 .map_len = c->maps[i].len,
					 .map_pgoff = c->maps[i].pgoff,
					 .filename = c->paths[i] };

		stream_replay_put(st, &r, -1);
	}
}

/* Record k: sample k % n, as a reader copies it. */
static void put_hit(struct stream *st, const struct capture *c, uint64_t k,
		    bool stack)
{
	const struct replay_sample *s = &c->samples[k % c->nsamples];
	uint64_t chain[2] = { (uint64_t)-512 /* PERF_CONTEXT_USER */, s->ip };
	struct hwbp_record r = {
		.kind = HWBP_REC_HIT, .ip = s->ip,
		.addr = c->locs[s->loc].addr, .time_ns = 1000000 + k * 1000,
		.pid = FAKE_PID, .tid = FAKE_PID + s->thread,
		.cpu = (uint32_t)(k % 2), .regs_mask = SAMPLED_REGS_MASK,
		.regs = s->regs, .nr_callchain = 2, .callchain = chain,
	};

	if (stack) {
		r.stack = c->stacks[k % c->nsamples];
		r.stack_size = s->stack_size;
	}
	stream_replay_put(st, &r, (int)s->loc);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "bt", no_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 },
	};
	struct watch_cfg cfg = { .access = HWBP_WRITE };
	struct watch w = { .cfg = &cfg, .stop_fd = -1 };
	const char *out = "/dev/null";
	uint64_t records = 200000, t0, cpu;
	struct capture cap = { 0 };
	int opt, err;

	while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (opt == 'n')
			records = strtoull(optarg, NULL, 0);
		else if (opt == 'j')
			cfg.json = true;
		else if (opt == 'b')
			cfg.bt = true;
		else if (opt == 'o')
			out = optarg;
		else
			return 2;
	}
	if (optind >= argc || (err = load(argv[optind], &cap))) {
		fprintf(stderr, "usage: replay CAPTURE [--records N] [--json] "
			"[--bt] [--out FILE] (a capture of bench/replay_gen)\n");
		return 2;
	}
	cfg.nlocs = (int)cap.nlocs;
	w.out = (struct out){ .f = fopen(out, "w"), .json = cfg.json };
	w.locs = calloc(cap.nlocs, sizeof(*w.locs));
	w.armed_bytes = calloc(cap.nlocs, sizeof(*w.armed_bytes));
	w.armed_q = calloc(cap.nlocs, sizeof(*w.armed_q));
	w.target.pid = FAKE_PID;
	if (!w.out.f || !w.locs || !w.armed_bytes || !w.armed_q ||
	    hits_init(&w) || stream_new_replay(&w.stream)) {
		fprintf(stderr, "replay: cannot set up (%s)\n", out);
		return 1;
	}
	for (uint32_t i = 0; i < cap.nlocs; i++) {
		struct location *l = &w.locs[i];

		snprintf(l->name, sizeof(l->name), "%s", cap.names[i]);
		snprintf(l->spec, sizeof(l->spec), "%s", cap.names[i]);
		l->addr = cap.locs[i].addr;
		l->len = cap.locs[i].len;
		l->access = HWBP_WRITE;
		l->resolved = true;
	}
	put_side(w.stream, &cap);
	for (uint64_t k = 0; k < records; k++)
		put_hit(w.stream, &cap, k, cfg.bt);
	atomic_store(&w.final, true);
	t0 = thread_cpu_ns();
	hits_main(&w);
	fflush(w.out.f);
	cpu = thread_cpu_ns() - t0;
	printf("replay: %llu records%s%s into %s: %.3f s CPU, %.0f records/s "
	       "per core (%u distinct samples, %llu hits shown)\n",
	       (unsigned long long)records, cfg.json ? " --json" : "",
	       cfg.bt ? " --bt" : "", out, cpu / 1e9,
	       cpu ? records * 1e9 / (double)cpu : 0.0, cap.nsamples,
	       (unsigned long long)w.sum.hits);
	fclose(w.out.f);
	stream_free(w.stream);
	hits_free(&w);
	return 0;
}
