/* SPDX-License-Identifier: MIT */
/*
 * count_writes.c - watch one of this program's own variables and count the
 * writes to it from a synchronous hit callback (which runs in the writing
 * thread, inside SIGTRAP: it only does async-signal-safe work).  Exit 0
 * when the counts are what this machine can give: 1000, or 0 where
 * hwbp_probe() finds that the debug registers never fire (some hypervisors
 * arm them but deliver no trap).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <hwbp.h>

static volatile long balance;
static volatile sig_atomic_t callback_hits;
static volatile long last_value_seen;

static void on_write(const struct hwbp_hit *hit, void *uc)
{
	(void)uc;
	(void)hit;
	callback_hits++;
	last_value_seen = balance; /* the write has happened already */
}

int main(void)
{
	HWBP_OPTS(hwbp_opts, opts, .delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = on_write);
	struct hwbp_probe probe = { .sz = sizeof(probe) };
	struct hwbp *bp;
	uint64_t kernel_count = 0, expect;
	int err = hwbp_create(&bp, (uintptr_t)&balance, sizeof(balance),
			      HWBP_WRITE, &opts);

	if (err) {
		fprintf(stderr, "hwbp_create: %s: %s\n", strerror(-err),
			hwbp_last_error());
		return 1;
	}
	for (int i = 1; i <= 1000; i++)
		balance += i;
	(void)balance; /* a read: not counted by a write watchpoint */
	hwbp_read_count(bp, &kernel_count);
	hwbp_close(bp);
	printf("1000 writes to balance: callback ran %d times, the kernel "
	       "counted %llu, last value seen %ld\n", (int)callback_hits,
	       (unsigned long long)kernel_count, last_value_seen);
	expect = hwbp_probe(&probe) == 0 && !probe.fires ? 0 : 1000;
	if (!expect)
		printf("(armed, but this machine's debug registers never fire: "
		       "hwbp probe says why)\n");
	return callback_hits == (int)expect && kernel_count == expect ? 0 : 1;
}
