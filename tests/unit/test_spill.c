/* SPDX-License-Identifier: MIT */
/*
 * test_spill.c - the stream's spill file (tools/stream.c): records that
 * wait behind the processor past the memory bound go to a temporary file
 * and come back whole and in order; a spill file that cannot be written
 * keeps them in memory; one that cannot be read back loses the records of
 * its chunks, counted exactly and handed out as a loss in their place.
 * And losses and recovered hits from outside the rings, handed out in
 * time order.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../tools/tool.h"

#define STACK_BYTES 1000 /* ~1 KiB a record: ~950 to a 1 MiB chunk */
#define RECORDS 20000    /* 21 chunks */

static uint8_t stack_byte(uint64_t k, size_t i)
{
	return (uint8_t)(k * 31 + i);
}

static void put_hits(struct stream *st, uint64_t n)
{
	static uint8_t stack[STACK_BYTES];

	for (uint64_t k = 0; k < n; k++) {
		struct hwbp_record r = { .kind = HWBP_REC_HIT, .ip = 0x1000 + k,
					 .addr = 0x5000, .pid = 7, .tid = 7,
					 .time_ns = 1000 + k, .stack = stack,
					 .stack_size = STACK_BYTES };

		for (size_t i = 0; i < STACK_BYTES; i++)
			stack[i] = stack_byte(k, i);
		stream_replay_put(st, &r, 0);
	}
}

struct got {
	uint64_t hits, lost, losses;
	uint64_t bad; /* records out of order, or not as put */
};

static struct got take_all(struct stream *st)
{
	const struct rec *r;
	struct got g = { 0 };
	uint64_t last = 0;

	while ((r = stream_next(st))) {
		if (r->time_ns < last)
			g.bad++;
		last = r->time_ns;
		if (r->kind == REC_LOSS) {
			g.losses++;
			g.lost += r->x;
			last = r->y; /* (the window it covers) */
			continue;
		}
		uint64_t k = r->time_ns - 1000;

		g.hits++;
		if (r->ip != 0x1000 + k || r->nstack != STACK_BYTES)
			g.bad++;
		else
			for (size_t i = 0; i < STACK_BYTES; i += 97)
				g.bad += rec_stack(r)[i] != stack_byte(k, i);
	}
	return g;
}

/* The fd of this process's spill file (unlinked: "(deleted)"), or -1. */
static int spill_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int fd = -1;

	cr_assert(d);
	while ((e = readdir(d))) {
		char path[320], target[4096];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strstr(target, "hwbp-spill-"))
			fd = atoi(e->d_name);
	}
	closedir(d);
	return fd;
}

Test(spill, every_record_back_whole_and_in_order)
{
	struct stream *st;
	struct stream_stats ss;
	struct got g;

	cr_assert_eq(stream_new_replay_bound(&st, 0), 0);
	put_hits(st, RECORDS);
	stream_get_stats(st, &ss);
	cr_assert_gt(ss.spilled, (uint64_t)RECORDS * STACK_BYTES / 2,
		     "only %llu bytes spilled", (unsigned long long)ss.spilled);
	g = take_all(st);
	cr_assert_eq(g.hits, RECORDS);
	cr_assert_eq(g.bad, 0);
	cr_assert_eq(g.losses, 0);
	stream_get_stats(st, &ss);
	cr_assert_eq(ss.spill_errors, 0);
	cr_assert_eq(ss.spill_lost, 0);
	stream_free(st);
	cr_assert_eq(spill_fd(), -1, "the spill file outlived its stream");
}

Test(spill, a_file_cut_short_loses_its_chunks_counted)
{
	struct stream *st;
	struct stream_stats ss;
	struct stat sb;
	struct got g;
	int fd;

	cr_assert_eq(stream_new_replay_bound(&st, 0), 0);
	put_hits(st, RECORDS);
	fd = spill_fd();
	cr_assert_geq(fd, 0, "no spill file");
	cr_assert_eq(fstat(fd, &sb), 0);
	cr_assert_eq(ftruncate(fd, sb.st_size / 2), 0);
	g = take_all(st);
	stream_get_stats(st, &ss);
	cr_assert_eq(g.hits + g.lost, RECORDS, "%llu shown, %llu lost",
		     (unsigned long long)g.hits, (unsigned long long)g.lost);
	cr_assert_gt(g.lost, 0);
	cr_assert_gt(g.hits, 2 * 2000, "the first half of the file came back");
	cr_assert_eq(g.bad, 0);
	cr_assert_eq(g.losses, ss.spill_errors);
	cr_assert_eq(ss.spill_lost, g.lost);
	cr_assert_eq(ss.spill_errno, EIO);
	stream_free(st);
}

Test(spill, no_spill_file_keeps_them_in_memory)
{
	struct stream *st;
	struct stream_stats ss;
	struct got g;

	setenv("TMPDIR", "/nonexistent-hwbp-test", 1);
	cr_assert_eq(stream_new_replay_bound(&st, 0), 0);
	put_hits(st, RECORDS);
	stream_get_stats(st, &ss);
	cr_assert_eq(ss.spilled, 0);
	cr_assert_gt(ss.spill_write_errors, 0);
	cr_assert_eq(ss.spill_errno, ENOENT);
	g = take_all(st);
	cr_assert_eq(g.hits, RECORDS);
	cr_assert_eq(g.bad, 0);
	cr_assert_eq(g.lost, 0);
	stream_free(st);
}

/* A loss from outside the rings (the guard's SIGTRAPs with no cause) is
 * handed out in time order: dated window_ns before now, after every
 * record stamped before that and before every one after; its window ends
 * now.  A full queue grows its last loss instead of dropping one. */
Test(spill, a_loss_from_outside_comes_in_time_order)
{
	struct stream *st;
	const struct rec *r;
	uint64_t now = now_ns(), lost = 0, losses = 0, last = 0;
	struct hwbp_record early = { .kind = HWBP_REC_HIT, .pid = 7, .tid = 7,
				     .time_ns = now - 30000000 };
	struct hwbp_record late = early;
	int n = 0;

	late.time_ns = now + 60000000;
	cr_assert_eq(stream_new_replay(&st), 0);
	stream_replay_put(st, &early, 0);
	stream_replay_put(st, &late, 0);
	for (int i = 0; i < 20; i++)
		stream_lose_outside(st, 1, 20000000, 0);
	while ((r = stream_next(st))) {
		n++;
		cr_assert_geq(r->time_ns, last, "record %d out of order", n);
		last = r->time_ns;
		if (r->kind != REC_LOSS) {
			cr_assert_eq(r->time_ns, n == 1 ? early.time_ns
						       : late.time_ns,
				     "record %d", n);
			cr_assert(n == 1 || n == 18, "a hit as record %d", n);
			continue;
		}
		cr_assert_geq(r->time_ns, now - 20000000, "too early");
		cr_assert_geq(r->y, r->time_ns + 20000000, "its window");
		lost += r->x;
		losses++;
	}
	cr_assert_eq(lost, 20, "every hit lost outside counted: %llu",
		     (unsigned long long)lost);
	cr_assert_eq(losses, 16, "16 losses (the queue's size): %llu",
		     (unsigned long long)losses);
	cr_assert_eq(n, 18);
	stream_free(st);
}

/* A loss of one thread starts after that thread's newest hit before its
 * end (it was the thread's last store: stopped since), not at the start
 * of its window; the thread's kernel-mode hits and other records do not
 * move it. */
Test(spill, a_threads_loss_starts_after_its_newest_hit)
{
	struct stream *st;
	const struct rec *r;
	uint64_t now = now_ns(), ms = 1000000, loss_at = 0;
	struct hwbp_record hits[] = {
		{ .kind = HWBP_REC_HIT, .tid = 5, .ip = 0x1000,
		  .time_ns = now - 15 * ms },
		{ .kind = HWBP_REC_HIT, .tid = 6, .ip = 0x1000,
		  .time_ns = now - 12 * ms },
		{ .kind = HWBP_REC_HIT, .tid = 5, .ip = 0x1000,
		  .time_ns = now - 10 * ms },
		{ .kind = HWBP_REC_HIT, .tid = 5, .ip = 0xffffffff81000000ull,
		  .time_ns = now - 8 * ms },
		{ .kind = HWBP_REC_SWITCH, .tid = 5, .time_ns = now - 7 * ms },
		{ .kind = HWBP_REC_HIT, .tid = 6, .ip = 0x1000,
		  .time_ns = now - 5 * ms },
	};
	int n = 0, loss_pos = -1;

	cr_assert_eq(stream_new_replay(&st), 0);
	for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++)
		stream_replay_put(st, &hits[i], 0);
	stream_lose_outside(st, 1, 20 * ms, 5);
	while ((r = stream_next(st))) {
		if (r->kind == REC_LOSS) {
			loss_pos = n;
			loss_at = r->time_ns;
		}
		n++;
	}
	cr_assert_eq(n, 7);
	cr_assert_eq(loss_pos, 3, "the loss came as record %d", loss_pos);
	cr_assert_eq(loss_at, now - 10 * ms + 1);
	stream_free(st);
}

/* A hit the guard recovered (stream_recover_outside) comes in time order
 * as a hit of its own: after its thread's newest hit (its last store
 * before the trap), with every part it was given; another location's
 * hits do not make its order unsure.  The queue keeps its last slot for
 * a loss: the 16th recovered hit waiting is refused. */
Test(spill, a_recovered_hit_comes_after_its_threads_newest_hit)
{
	struct stream *st;
	const struct rec *r;
	uint64_t now = now_ns(), ms = 1000000, regs[18];
	uint8_t stack[64];
	struct hwbp_record hits[] = {
		{ .kind = HWBP_REC_HIT, .pid = 7, .tid = 5, .ip = 0x1000,
		  .time_ns = now - 15 * ms },
		{ .kind = HWBP_REC_HIT, .pid = 7, .tid = 6, .ip = 0x1000,
		  .time_ns = now - 12 * ms },
		{ .kind = HWBP_REC_HIT, .pid = 7, .tid = 5, .ip = 0x1000,
		  .time_ns = now - 10 * ms },
		{ .kind = HWBP_REC_HIT, .pid = 7, .tid = 6, .ip = 0x1000,
		  .time_ns = now - 5 * ms },
	};
	struct hwbp_record rec = { .kind = HWBP_REC_HIT, .pid = 7, .tid = 5,
				   .cpu = 1, .ip = 0x2000, .addr = 0x5000,
				   .regs_mask = SAMPLED_REGS_MASK, .regs = regs,
				   .stack = stack, .stack_size = sizeof(stack) };
	int n = 0, at = -1;

	for (int i = 0; i < 18; i++)
		regs[i] = 100 + (uint64_t)i;
	memset(stack, 0xab, sizeof(stack));
	cr_assert_eq(stream_new_replay(&st), 0);
	for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++)
		stream_replay_put(st, &hits[i], 1); /* (location 1) */
	cr_assert_eq(stream_recover_outside(st, &rec, 0, 20 * ms), 0);
	while ((r = stream_next(st))) {
		if (r->flags & REC_F_RECOVERED) {
			at = n;
			cr_assert_eq(r->kind, HWBP_REC_HIT);
			cr_assert_eq(r->time_ns, now - 10 * ms + 1);
			cr_assert_eq(r->loc, 0);
			cr_assert_eq(r->tid, 5);
			cr_assert_eq(r->cpu, 1);
			cr_assert_eq(r->ip, 0x2000);
			cr_assert_eq(r->addr, 0x5000);
			cr_assert_eq(r->nregs, 18);
			cr_assert_eq(rec_regs(r)[10], 110, "regs kept in order");
			cr_assert_eq(r->nstack, sizeof(stack));
			cr_assert_eq(rec_stack(r)[63], 0xab);
			cr_assert_not(r->flags & REC_F_ORDER_UNSURE,
				      "another location's hits raced it");
		}
		n++;
	}
	cr_assert_eq(n, 5);
	cr_assert_eq(at, 3, "the recovered hit came as record %d", at);
	stream_free(st);

	cr_assert_eq(stream_new_replay(&st), 0);
	for (int i = 0; i < 15; i++)
		cr_assert_eq(stream_recover_outside(st, &rec, 0, 20 * ms), 0,
			     "recovered hit %d", i);
	cr_assert_eq(stream_recover_outside(st, &rec, 0, 20 * ms), -ENOSPC);
	stream_lose_outside(st, 1, 20 * ms, 0); /* (the last slot: a loss) */
	n = 0;
	while ((r = stream_next(st)))
		n += r->kind == REC_LOSS ? 100 : 1;
	cr_assert_eq(n, 115);
	stream_free(st);
}

/* Another thread's hit of the same location stamped inside the window
 * (or up to ORDER_WINDOW_NS after its end) may have come on either side
 * of the recovered one: its order is unsure, until y.  One stamped
 * before its thread's newest hit came before it for sure. */
Test(spill, a_recovered_hit_races_hits_in_its_window)
{
	uint64_t ms = 1000000;
	const int64_t other_at[] = { -12, -5, 10, 30 }; /* ms from now */
	const bool unsure[] = { false, true, true, false };

	for (int k = 0; k < 4; k++) {
		struct stream *st;
		const struct rec *r;
		uint64_t now = now_ns();
		struct hwbp_record own = { .kind = HWBP_REC_HIT, .pid = 7,
					   .tid = 5, .ip = 0x1000,
					   .time_ns = now - 10 * ms };
		struct hwbp_record other = own, rec = own;
		bool seen = false;

		other.tid = 6;
		other.time_ns = now + (uint64_t)(other_at[k] * (int64_t)ms);
		rec.time_ns = 0;
		cr_assert_eq(stream_new_replay(&st), 0);
		if (other_at[k] < -10)
			stream_replay_put(st, &other, 0);
		stream_replay_put(st, &own, 0);
		if (other_at[k] >= -10)
			stream_replay_put(st, &other, 0);
		cr_assert_eq(stream_recover_outside(st, &rec, 0, 20 * ms), 0);
		while ((r = stream_next(st))) {
			if (!(r->flags & REC_F_RECOVERED))
				continue;
			seen = true;
			cr_assert_eq(!!(r->flags & REC_F_ORDER_UNSURE),
				     unsure[k], "another thread's hit at %lld ms",
				     (long long)other_at[k]);
			cr_assert_geq(r->y, now + 20 * ms, "the racers' end");
		}
		cr_assert(seen);
		stream_free(st);
	}
}
