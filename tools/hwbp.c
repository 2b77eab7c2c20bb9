/* SPDX-License-Identifier: MIT */
/*
 * hwbp.c - the `hwbp` command line: subcommands (watch, probe), options,
 * and usage errors (exit 2, one clear line).  The work is in watch.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#define VERSION "0.1.0"

static const char watch_usage[] =
"usage: hwbp watch [OPTIONS] LOCATION [LOCATION...] -- COMMAND [ARGS...]\n"
"       hwbp watch [OPTIONS] LOCATION [LOCATION...] -p PID\n"
"       hwbp watch [OPTIONS] --cpu LIST --kernel LOCATION... [-- COMMAND]\n"
"\n"
"Report every access to LOCATION while COMMAND (or process PID) runs.\n"
"\n"
"LOCATION: a variable as the source names it (man hwbp: LOCATION):\n"
"          counter, lib.so:name, ns::name, Class::member, func::name (a\n"
"          static local), file.c::name, name.member, name[INDEX],\n"
"          p->member, *p, name+OFFSET, 0xADDR; with an optional :LEN of\n"
"          " LEN_RULE "\n"
"          (more than 8, or unaligned, takes several debug registers)\n"
"\n"
"  -w, --write        report writes (the default)\n"
"      --read         report reads only (and read-modify-writes): armed\n"
"                     read-write, each hit's instruction decoded\n"
"      --rw           report reads and writes (each hit says which)\n"
"      --exec         LOCATION is a function: report calls\n"
"  -p, --pid PID      attach to a running process (all its threads)\n"
"      --tid TID      only this thread\n"
"      --no-follow    do not follow new threads and forked children\n"
"      --follow-pointers  p->x, *p: watch the pointers on the path too and\n"
"                     move the watch when one changes (gdb's watch p->x;\n"
"                     else the address is computed once, as watch -l)\n"
"      --json         one JSON object per hit, a summary object last\n"
"      --bt           a symbolized backtrace under each hit\n"
"      --switches     under each hit, the threads that ran on its CPU just\n"
"                     before it (context-switch records)\n"
"      --branches     the last branches before each hit (where the CPU\n"
"                     and kernel allow: see hwbp probe; else exit 1)\n"
"      --count        count hits only (like perf stat); print at the end\n"
"      --if EXPR      report only hits whose new value matches, e.g. '== 0'\n"
"      --max N        stop after N hits (the command keeps running)\n"
"      --cpu LIST     watch CPUs (0,2-3) instead of a process (privileged)\n"
"      --kernel       also kernel accesses / kernel symbols (privileged)\n"
"  -o, --output FILE  write hits and the summary to FILE\n"
"      --ring-pages N ring buffer pages per CPU (power of 2, default 512)\n"
"      --spill-after SIZE  hits waiting to be printed kept in memory up to\n"
"                     SIZE (K, M, G), then in a temporary file in $TMPDIR\n"
"                     (default: a quarter of free memory, 256M-8G)\n"
"      --policy P     more locations than debug registers: pinned (fail),\n"
"                     rr (time slices; the default then) or reservoir\n"
"      --quantum MS   rr time slice in milliseconds (default 10)\n"
"      --no-guard     do not keep the target's threads under ptrace (the\n"
"                     guard: it suppresses the SIGTRAPs a host that loses\n"
"                     a hit's debug status sends; see hwbp(1))\n"
"      --no-lost      lose no hit: pause the program while a ring buffer\n"
"                     is past half full, until hwbp has caught up (the\n"
"                     summary says how long it was paused)\n"
"      --no-bpf       perf samples each hit's registers, not a BPF program\n"
"                     at the trap (the default where the kernel allows it:\n"
"                     root, or CAP_BPF and CAP_PERFMON; see hwbp(1))\n"
"  -h, --help         this help\n"
"\n"
"Exit status: the command's when hwbp launched it; 2 usage; 1 runtime error.\n";

static const char silent_usage[] =
"usage: hwbp silent [OPTIONS] [LOCATION...] -- COMMAND [ARGS...]\n"
"       hwbp silent [OPTIONS] [LOCATION...] -p PID\n"
"\n"
"Find silent stores: writes of the value a variable already holds.\n"
"Candidates (the LOCATIONs, else every variable of the program) take turns\n"
"on the debug registers by reservoir sampling; each write that hits is\n"
"decoded for the value it stored and compared with the value before.\n"
"Reports, per code location, the writes sampled and the fraction silent.\n"
"\n"
"  -p, --pid PID      attach to a running process\n"
"      --json         one JSON object per code location, a summary last\n"
"      --pmu          candidates from the CPU's precise store samples\n"
"                     (mem-stores) instead of the program's variables\n"
"      --period US    offer candidates every US microseconds (default 1000)\n"
"      --window MS    free every register every MS milliseconds (default 20)\n"
"      --seed N       random seed (default 1): the same run, the same picks\n"
"      --top N        code locations shown (default 20)\n"
"      --no-guard     do not keep the target's threads under ptrace\n"
"  -o, --output FILE  write the report to FILE\n"
"  -h, --help         this help\n"
"\n"
"Exit status: the command's when hwbp launched it; 2 usage; 1 runtime error.\n";

static const char main_usage[] =
"usage: hwbp watch [OPTIONS] LOCATION... -- COMMAND [ARGS...]\n"
"       hwbp watch [OPTIONS] LOCATION... -p PID\n"
"       hwbp silent [OPTIONS] [LOCATION...] -- COMMAND [ARGS...]\n"
"       hwbp probe\n"
"       hwbp --version | --help\n"
"\n"
"hwbp reports every access to a variable with the CPU's debug registers,\n"
"without stopping the program.  `hwbp watch --help` lists the options.\n";

/* The subcommand whose --help a usage error points to. */
static const char *help_of = "hwbp watch --help";

/* --no-lost's smallest rings: ~1,700 records of a hit, ~1,000 with
 * --bt's 8 KiB stacks, to fill while every thread is being stopped. */
#define NO_LOST_PAGES 128u
#define NO_LOST_BT_PAGES 2048u

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "hwbp: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (%s)\n", help_of);
	return EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return !errno && end != s && !*end && *s != '-';
}

/* "512M": bytes, with an optional K, M or G (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	int shift = 0;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return false;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift && (*out >> (64 - shift)))
		return false;
	*out <<= shift;
	return !end[shift ? 1 : 0];
}

/* "0,2-3" into a list of CPU numbers. */
static int parse_cpus(const char *text, struct watch_cfg *c)
{
	const char *p = text;

	while (*p) {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;

		if (end == p || lo < 0 || lo >= CPU_SETSIZE)
			return usage_error("--cpu '%s': a list like 0,2-3", text);
		if (*end == '-') {
			p = end + 1;
			hi = strtol(p, &end, 10);
			if (end == p || hi < lo || hi >= CPU_SETSIZE)
				return usage_error("--cpu '%s': a list like 0,2-3",
						   text);
		}
		for (long cpu = lo; cpu <= hi; cpu++) {
			int *n = realloc(c->cpus, (c->ncpus + 1) * sizeof(int));

			if (!n)
				return EXIT_RUNTIME;
			c->cpus = n;
			c->cpus[c->ncpus++] = (int)cpu;
		}
		p = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return usage_error("--cpu '%s': a list like 0,2-3", text);
	}
	return 0;
}

enum { O_RW = 256, O_EXEC, O_TID, O_NOFOLLOW, O_JSON, O_BT, O_COUNT, O_IF,
       O_MAX, O_CPU, O_KERNEL, O_RING, O_READ, O_POLICY, O_QUANTUM,
       O_SWITCHES, O_BRANCHES, O_NOGUARD, O_NOLOST, O_FOLLOWPTR,
       O_NOBPF, O_SPILL };

static const struct option watch_opts[] = {
	{ "write", no_argument, NULL, 'w' },
	{ "rw", no_argument, NULL, O_RW },
	{ "read", no_argument, NULL, O_READ },
	{ "exec", no_argument, NULL, O_EXEC },
	{ "pid", required_argument, NULL, 'p' },
	{ "tid", required_argument, NULL, O_TID },
	{ "no-follow", no_argument, NULL, O_NOFOLLOW },
	{ "follow-pointers", no_argument, NULL, O_FOLLOWPTR },
	{ "json", no_argument, NULL, O_JSON },
	{ "bt", no_argument, NULL, O_BT },
	{ "count", no_argument, NULL, O_COUNT },
	{ "if", required_argument, NULL, O_IF },
	{ "max", required_argument, NULL, O_MAX },
	{ "cpu", required_argument, NULL, O_CPU },
	{ "kernel", no_argument, NULL, O_KERNEL },
	{ "output", required_argument, NULL, 'o' },
	{ "ring-pages", required_argument, NULL, O_RING },
	{ "policy", required_argument, NULL, O_POLICY },
	{ "quantum", required_argument, NULL, O_QUANTUM },
	{ "switches", no_argument, NULL, O_SWITCHES },
	{ "branches", no_argument, NULL, O_BRANCHES },
	{ "no-guard", no_argument, NULL, O_NOGUARD },
	{ "no-lost", no_argument, NULL, O_NOLOST },
	{ "no-bpf", no_argument, NULL, O_NOBPF },
	{ "spill-after", required_argument, NULL, O_SPILL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_policy(const char *name, struct watch_cfg *c)
{
	static const struct { const char *name; enum hwbp_policy p; } all[] = {
		{ "pinned", HWBP_POLICY_PINNED }, { "rr", HWBP_POLICY_RR },
		{ "reservoir", HWBP_POLICY_RESERVOIR },
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(name, all[i].name)) {
			c->policy = all[i].p;
			c->policy_set = true;
			return 0;
		}
	return usage_error("--policy '%s': pinned, rr or reservoir", name);
}

static int set_access(struct watch_cfg *c, enum hwbp_access a, int *naccess)
{
	c->access = a;
	if (++*naccess > 1)
		return usage_error("%s: give one of --write, --read, --rw, "
				   "--exec",
				   "conflicting options");
	return 0;
}

/* Where `--` is (argc if none); the COMMAND after it into *cmd.  A
 * negative exit status for nothing after it. */
static int split_command(int argc, char **argv, char ***cmd, const char *sub)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			*cmd = &argv[i + 1];
			return **cmd ? i : -usage_error("%s: nothing after --",
							sub);
		}
	return argc;
}

/* The option getopt stopped at, as typed (opterr is 0: we say it). */
static const char *bad_option(char **argv)
{
	static char shortopt[3];

	if (optopt && optopt < 256) { /* a short option */
		snprintf(shortopt, sizeof(shortopt), "-%c", optopt);
		return shortopt;
	}
	return argv[optind - 1];
}

static int parse_option(int opt, struct watch_cfg *c, const char **output,
			int *naccess, const char *argv_opt)
{
	uint64_t v;
	char msg[256];

	switch (opt) {
	case 'w': return set_access(c, HWBP_WRITE, naccess);
	case O_RW: return set_access(c, HWBP_RW, naccess);
	case O_EXEC: return set_access(c, HWBP_EXEC, naccess);
	case O_READ: return set_access(c, HWBP_READ, naccess);
	case O_POLICY: return parse_policy(optarg, c);
	case O_QUANTUM:
		if (!parse_u64(optarg, &v) || !v || v > 60000)
			return usage_error("--quantum '%s': milliseconds, "
					   "1..60000", optarg);
		c->quantum_us = (uint32_t)v * 1000;
		return 0;
	case 'p':
		if (!parse_u64(optarg, &v) || !v || v > INT_MAX)
			return usage_error("-p '%s': a process id", optarg);
		c->pid = (pid_t)v;
		return 0;
	case O_TID:
		if (!parse_u64(optarg, &v) || !v || v > INT_MAX)
			return usage_error("--tid '%s': a thread id", optarg);
		c->tid = (pid_t)v;
		return 0;
	case O_NOFOLLOW: c->follow = false; return 0;
	case O_FOLLOWPTR: c->follow_ptrs = true; return 0;
	case O_JSON: c->json = true; return 0;
	case O_BT: c->bt = true; return 0;
	case O_SWITCHES: c->switches = true; return 0;
	case O_BRANCHES: c->branches = true; return 0;
	case O_COUNT: c->count = true; return 0;
	case O_KERNEL: c->kernel = true; return 0;
	case O_NOGUARD:
		c->no_guard = true;
		target_set_guard(false);
		return 0;
	case O_NOLOST: c->no_lost = true; return 0;
	case O_NOBPF: c->no_bpf = true; return 0;
	case O_SPILL:
		if (!parse_size(optarg, &c->spill_after))
			return usage_error("--spill-after '%s': a size in bytes,"
					   " K, M or G (0: spill all that "
					   "waits)", optarg);
		c->spill_after_set = true;
		return 0;
	case O_IF:
		if (cond_parse(optarg, &c->cond, msg, sizeof(msg)))
			return usage_error("%s", msg);
		c->has_cond = true;
		return 0;
	case O_MAX:
		if (!parse_u64(optarg, &c->max) || !c->max)
			return usage_error("--max '%s': a number > 0", optarg);
		return 0;
	case O_RING:
		if (!parse_u64(optarg, &v) || !v || (v & (v - 1)) || v > 65536)
			return usage_error("--ring-pages '%s': a power of 2, "
					   "1..65536", optarg);
		c->ring_pages = (uint32_t)v;
		return 0;
	case O_CPU: return parse_cpus(optarg, c);
	case 'o': *output = optarg; return 0;
	case 'h': fputs(watch_usage, stdout); return -1;
	case ':': return usage_error("%s: needs an argument", argv_opt);
	}
	return usage_error("unknown option '%s'", argv_opt);
}

static int check_combination(const struct watch_cfg *c)
{
	if (!c->nlocs)
		return usage_error("%s: no LOCATION to watch", "hwbp watch");
	if (c->cmd && c->pid)
		return usage_error("%s: give a COMMAND after -- or -p PID, not "
				   "both", "conflicting options");
	if (!c->cmd && !c->pid && !c->ncpus)
		return usage_error("%s: give a COMMAND after --, -p PID or "
				   "--cpu LIST", "nothing to watch");
	if (c->ncpus && (c->pid || c->tid))
		return usage_error("%s: --cpu watches CPUs, not a process or "
				   "thread", "conflicting options");
	if ((c->count || c->ncpus) &&
	    (c->access == HWBP_READ || c->policy_set || c->quantum_us))
		return usage_error("%s: --read, --policy and --quantum decode "
				   "and share the registers per hit; --count and "
				   "--cpu count what the registers see",
				   "conflicting options");
	if (c->follow_ptrs && (c->count || c->ncpus))
		return usage_error("%s: --follow-pointers moves watches as "
				   "pointers change, which the scheduler does; "
				   "--count and --cpu keep a fixed register per "
				   "location", "conflicting options");
	if (c->tid && !c->pid)
		return usage_error("%s: --tid needs -p PID", "conflicting options");
	if (c->count && (c->bt || c->has_cond || c->max || c->switches))
		return usage_error("%s: --count only counts; it has no "
				   "--bt, --if, --max or --switches",
				   "conflicting options");
	if (c->has_cond && c->access == HWBP_EXEC)
		return usage_error("%s: --if tests a written value; --exec has "
				   "none", "conflicting options");
	if (c->no_lost && (c->count || c->ncpus || c->no_guard))
		return usage_error("%s: --no-lost pauses the watched program "
				   "(its threads held with ptrace, as the guard "
				   "does) while hwbp catches up: not with "
				   "--count (nothing to lose), --cpu (no program "
				   "to pause) or --no-guard",
				   "conflicting options");
	/* Stopping every thread takes a while, in which the program hits on:
	 * a ring of 256 KiB with --bt (~30 records) lost 47 of 4,000. */
	if (c->no_lost && c->ring_pages &&
	    c->ring_pages < (c->bt ? NO_LOST_BT_PAGES : NO_LOST_PAGES)) {
		char why[160];

		snprintf(why, sizeof(why), "--ring-pages at least %u (%u with "
			 "--bt), or the default", NO_LOST_PAGES,
			 NO_LOST_BT_PAGES);
		return usage_error("--no-lost needs room in each ring for the "
				   "hits made while the program is being "
				   "stopped: %s", why);
	}
	return 0;
}

/* Options and locations into c; 0, or the exit status (-1: --help). */
static int parse_watch(int argc, char **argv, struct watch_cfg *c,
		       const char **output)
{
	int dashdash = split_command(argc, argv, &c->cmd, "hwbp watch"), opt,
	    err, naccess = 0;

	if (dashdash < 0)
		return -dashdash;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(dashdash, argv, ":wp:o:h", watch_opts,
				  NULL)) != -1)
		if ((err = parse_option(opt, c, output, &naccess,
					bad_option(argv))))
			return err;
	c->locs = &argv[optind];
	c->nlocs = dashdash - optind;
	return check_combination(c);
}

static int cmd_watch(int argc, char **argv)
{
	struct watch_cfg c = { .access = HWBP_WRITE, .follow = true,
			       .out = stdout };
	const char *output = NULL;
	int err = parse_watch(argc, argv, &c, &output);

	if (err) {
		free(c.cpus); /* every exit path frees what parsing took */
		return err < 0 ? 0 : err;
	}
	if (output && !(c.out = fopen(output, "w"))) {
		fprintf(stderr, "hwbp: cannot write %s: %s\n", output,
			strerror(errno));
		free(c.cpus);
		return EXIT_RUNTIME;
	}
	err = watch_run(&c);
	if (output)
		fclose(c.out);
	free(c.cpus);
	return err;
}

enum { S_JSON = 256, S_PMU, S_PERIOD, S_WINDOW, S_SEED, S_TOP, S_NOGUARD };

static const struct option silent_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "json", no_argument, NULL, S_JSON },
	{ "pmu", no_argument, NULL, S_PMU },
	{ "period", required_argument, NULL, S_PERIOD },
	{ "window", required_argument, NULL, S_WINDOW },
	{ "seed", required_argument, NULL, S_SEED },
	{ "top", required_argument, NULL, S_TOP },
	{ "no-guard", no_argument, NULL, S_NOGUARD },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* A number in [lo, hi] for option `name`, or a usage error. */
static int parse_range(const char *name, uint64_t lo, uint64_t hi,
		       uint64_t *out)
{
	char fmt[128];

	if (parse_u64(optarg, out) && *out >= lo && *out <= hi)
		return 0;
	snprintf(fmt, sizeof(fmt), "%s '%%s': a number, %llu..%llu", name,
		 (unsigned long long)lo, (unsigned long long)hi);
	return usage_error(fmt, optarg);
}

static int parse_silent_option(int opt, struct silent_cfg *c,
			       const char **output, const char *argv_opt)
{
	uint64_t v;
	int err = 0;

	switch (opt) {
	case 'p':
		err = parse_range("-p", 1, INT_MAX, &v);
		c->pid = (pid_t)v;
		return err;
	case S_JSON: c->json = true; return 0;
	case S_PMU: c->pmu = true; return 0;
	case S_NOGUARD: target_set_guard(false); return 0;
	case S_PERIOD:
		err = parse_range("--period", 1, 10000000, &v);
		c->period_us = (uint32_t)v;
		return err;
	case S_WINDOW:
		err = parse_range("--window", 1, 600000, &v);
		c->window_ms = (uint32_t)v;
		return err;
	case S_SEED: return parse_range("--seed", 1, UINT64_MAX, &c->seed);
	case S_TOP:
		err = parse_range("--top", 1, 1000000, &v);
		c->top = (int)v;
		return err;
	case 'o': *output = optarg; return 0;
	case 'h': fputs(silent_usage, stdout); return -1;
	case ':': return usage_error("%s: needs an argument", argv_opt);
	}
	return usage_error("unknown option '%s'", argv_opt);
}

static int parse_silent(int argc, char **argv, struct silent_cfg *c,
			const char **output)
{
	int dashdash = split_command(argc, argv, &c->cmd, "hwbp silent"), opt,
	    err;

	if (dashdash < 0)
		return -dashdash;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(dashdash, argv, ":p:o:h", silent_opts,
				  NULL)) != -1)
		if ((err = parse_silent_option(opt, c, output,
					       bad_option(argv))))
			return err;
	c->locs = &argv[optind];
	c->nlocs = dashdash - optind;
	if (c->cmd && c->pid)
		return usage_error("%s: give a COMMAND after -- or -p PID, not "
				   "both", "conflicting options");
	if (!c->cmd && !c->pid)
		return usage_error("%s: give a COMMAND after -- or -p PID",
				   "nothing to watch");
	if (c->pmu && c->nlocs)
		return usage_error("%s: --pmu takes its candidates from the "
				   "CPU's samples; LOCATIONs name them yourself",
				   "conflicting options");
	return 0;
}

static int cmd_silent(int argc, char **argv)
{
	struct silent_cfg c = { .period_us = 1000, .window_ms = 20,
				.seed = 1, .top = 20, .out = stdout };
	const char *output = NULL;
	int err;

	help_of = "hwbp silent --help";
	err = parse_silent(argc, argv, &c, &output);
	if (err)
		return err < 0 ? 0 : err;
	if (output && !(c.out = fopen(output, "w"))) {
		fprintf(stderr, "hwbp: cannot write %s: %s\n", output,
			strerror(errno));
		return EXIT_RUNTIME;
	}
	err = silent_run(&c);
	if (output)
		fclose(c.out);
	return err;
}

static int cmd_probe(int argc, char **argv)
{
	char text[4096];

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		puts("usage: hwbp probe\n\nWhat this machine supports for "
		     "hardware breakpoints, and why not.");
		return 0;
	}
	if (argc > 1)
		return usage_error("probe: unexpected '%s'", argv[1]);
	if (hwbp_probe_explain(text, sizeof(text)) < 0) {
		fprintf(stderr, "hwbp: probe failed: %s\n", hwbp_last_error());
		return EXIT_RUNTIME;
	}
	fputs(text, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	hwbp_set_print(NULL); /* hwbp prints the library's messages itself */
	if (argc < 2) {
		fputs(main_usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "watch"))
		return cmd_watch(argc - 1, argv + 1);
	if (!strcmp(argv[1], "probe"))
		return cmd_probe(argc - 1, argv + 1);
	if (!strcmp(argv[1], "silent"))
		return cmd_silent(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(main_usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		puts("hwbp " VERSION);
		return 0;
	}
	return usage_error("unknown command '%s'", argv[1]);
}
