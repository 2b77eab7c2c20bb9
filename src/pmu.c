/* SPDX-License-Identifier: MIT */
/*
 * pmu.c - a sampler's PMU source: the CPU's precise memory sampling event
 * (Intel's mem-stores / mem-loads, PEBS) with PERF_SAMPLE_ADDR, read from
 * its ring buffers and offered to the sampler (Witch's sample stream).
 * The event's encoding comes from sysfs (events/NAME encoded with the format/ files),
 * as perf does, so no CPU table lives here.  Virtual machines often expose
 * no cpu PMU at all: the open fails with that reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#define PMU_DIR "/sys/bus/event_source/devices/"
#define PMU_PAGES 16
#define PMU_SAMPLE_TYPE                                                        \
	(PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR)

struct pmu_ring {
	int fd;
	void *base;
	size_t size;
};

struct hwbp_pmu_source {
	struct pmu_ring *rings;
	int nrings;
	enum hwbp_access access;
	pid_t pid;           /* whose code the sampled IPs are in */
	uint64_t samples, lost;
	void *scratch;        /* a record split by the ring's wrap */
};

static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok = f && fgets(buf, (int)len, f);

	if (f)
		fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* Put `value` into the bits `format/<term>` names ("config1:0-15"). */
static bool place_term(const char *pmu, const char *term, uint64_t value,
		       uint64_t *config, uint64_t *config1)
{
	char path[256], fmt[128];
	unsigned lo, hi;
	uint64_t *dst;

	snprintf(path, sizeof(path), PMU_DIR "%s/format/%s", pmu, term);
	if (!read_line(path, fmt, sizeof(fmt)))
		return false;
	dst = strncmp(fmt, "config1:", 8) == 0 ? config1 :
	      strncmp(fmt, "config:", 7) == 0 ? config : NULL;
	if (!dst)
		return false;
	if (sscanf(strchr(fmt, ':') + 1, "%u-%u", &lo, &hi) != 2)
		hi = lo;
	if (lo > 63 || hi > 63 || hi < lo)
		return false;
	*dst |= (value & (hi - lo == 63 ? ~0ull : (1ull << (hi - lo + 1)) - 1))
		<< lo;
	return true;
}

/* "event=0xd0,umask=0x82" into config bits. */
static bool encode_event(const char *pmu, char *spec, uint64_t *config,
			 uint64_t *config1)
{
	char *save = NULL;

	for (char *t = strtok_r(spec, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		if (eq)
			*eq = '\0';
		if (!place_term(pmu, t, eq ? strtoull(eq + 1, NULL, 0) : 1,
				config, config1))
			return false;
	}
	return true;
}

int hwbp_pmu_mem_event(enum hwbp_sample_source src, uint32_t *type,
		       uint64_t *config, uint64_t *config1, char *why,
		       size_t whylen)
{
	static const char *const pmus[] = { "cpu", "cpu_core" };
	const char *name = src == HWBP_SOURCE_PMU_LOADS ? "mem-loads" :
							  "mem-stores";
	char path[256], spec[256];

	for (size_t i = 0; i < sizeof(pmus) / sizeof(*pmus); i++) {
		snprintf(path, sizeof(path), PMU_DIR "%s/type", pmus[i]);
		if (!read_line(path, spec, sizeof(spec)))
			continue;
		*type = (uint32_t)strtoul(spec, NULL, 0);
		snprintf(path, sizeof(path), PMU_DIR "%s/events/%s", pmus[i],
			 name);
		*config = *config1 = 0;
		if (!read_line(path, spec, sizeof(spec))) {
			snprintf(why, whylen, "the %s PMU has no %s event (%s "
				 "missing: precise memory sampling is an Intel "
				 "PEBS feature)", pmus[i], name, path);
			return -EOPNOTSUPP;
		}
		if (!encode_event(pmus[i], spec, config, config1)) {
			snprintf(why, whylen, "cannot encode %s (%s) with the "
				 "formats in " PMU_DIR "%s/format", name, spec,
				 pmus[i]);
			return -EOPNOTSUPP;
		}
		why[0] = '\0';
		return 0;
	}
	snprintf(why, whylen, "no hardware cpu PMU (" PMU_DIR "cpu missing: "
		 "this machine, often a virtual one, exposes no performance "
		 "counters), so no %s samples", name);
	return -EOPNOTSUPP;
}

static int open_ring(struct pmu_ring *r, struct perf_event_attr *a, pid_t pid,
		     int cpu, int epfd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };
	long fd = -1;

	/* The most precise level the CPU grants: PEBS needs at least 1. */
	for (int p = 3; p >= 1 && fd < 0; p--) {
		a->precise_ip = (uint64_t)p;
		fd = hwbp_perf_event_open(a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	}
	if (fd < 0)
		return hwbp_fail(errno, "PMU source: perf_event_open of the "
				 "memory sampling event failed: %s",
				 strerror(errno));
	r->fd = (int)fd;
	r->size = (size_t)(PMU_PAGES + 1) * (size_t)sysconf(_SC_PAGESIZE);
	r->base = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       r->fd, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		return hwbp_fail(errno, "PMU source: mmap of its ring failed: "
				 "%s", strerror(errno));
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, r->fd, &ev))
		return hwbp_fail(errno, "PMU source: epoll_ctl: %s",
				 strerror(errno));
	return 0;
}

int hwbp_pmu_source_open(struct hwbp_sampler *s,
			 const struct hwbp_sampler_opts *o,
			 struct hwbp_pmu_source **out)
{
	const struct hwbp_opts *bo = o->bp_opts;
	enum hwbp_scope scope = HWBP_OPTS_GET(bo, scope, HWBP_SCOPE_SELF);
	pid_t pid = HWBP_OPTS_GET(bo, pid, 0);
	struct perf_event_attr a = { .size = sizeof(a) };
	struct hwbp_pmu_source *p;
	uint64_t config, config1;
	char why[256];
	int err, n;

	if (hwbp_pmu_mem_event(o->source, &a.type, &config, &config1, why,
			       sizeof(why)))
		return hwbp_fail(EOPNOTSUPP, "hwbp_sampler_create: PMU source: "
				 "%s; offer samples with hwbp_sampler_offer "
				 "instead", why);
	a.config = config;
	a.config1 = config1;
	a.sample_period = HWBP_OPTS_GET(o, period, 0) ?
			  HWBP_OPTS_GET(o, period, 0) : 10007;
	a.sample_type = PMU_SAMPLE_TYPE;
	a.exclude_kernel = !HWBP_OPTS_GET(bo, kernel, false);
	a.exclude_hv = 1;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	a.wakeup_events = 1;
	a.inherit = scope == HWBP_SCOPE_PROCESS &&
		    !HWBP_OPTS_GET(bo, no_follow, false);
	p = calloc(1, sizeof(*p));
	n = scope == HWBP_SCOPE_PROCESS ? get_nprocs_conf() : 1;
	if (p) {
		p->rings = calloc((size_t)n, sizeof(*p->rings));
		p->scratch = malloc(HWBP_RECORD_SCRATCH);
	}
	if (!p || !p->rings || !p->scratch) {
		if (p) {
			free(p->rings);
			free(p->scratch);
		}
		free(p);
		return hwbp_fail(ENOMEM, "out of memory for a PMU source");
	}
	for (int i = 0; i < n; i++)
		p->rings[i].fd = -1;
	p->access = HWBP_OPTS_GET(o, access, 0) ? o->access :
		    o->source == HWBP_SOURCE_PMU_LOADS ? HWBP_READ : HWBP_WRITE;
	p->pid = scope == HWBP_SCOPE_SELF || !pid ? getpid() : pid;
	if (scope == HWBP_SCOPE_SELF)
		pid = 0;
	for (err = 0; p->nrings < n && !err; p->nrings++)
		err = open_ring(&p->rings[p->nrings], &a, pid,
				n == 1 ? -1 : p->nrings,
				hwbp_sampler_epfd(s), p);
	if (err) {
		hwbp_pmu_source_close(p);
		return err;
	}
	*out = p;
	return 0;
}

void hwbp_pmu_source_close(struct hwbp_pmu_source *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nrings; i++) {
		if (p->rings[i].base)
			munmap(p->rings[i].base, p->rings[i].size);
		if (p->rings[i].fd >= 0)
			close(p->rings[i].fd);
	}
	free(p->rings);
	free(p->scratch);
	free(p);
}

void hwbp_pmu_source_stats(const struct hwbp_pmu_source *p, uint64_t *samples,
			   uint64_t *lost)
{
	*samples = p ? p->samples : 0;
	*lost = p ? p->lost : 0;
}

/* The sampled instruction's memory operand size (its code read from the
 * target), or 1 when it cannot be decoded: watch at least that byte. */
static uint32_t access_len(pid_t pid, uint64_t ip, uint64_t addr)
{
	uint8_t code[15];
	struct iovec l = { code, sizeof(code) }, r = { (void *)ip, sizeof(code) };
	struct hwbp_insn_info info;
	ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);

	if (got <= 0 || hwbp_insn_decode(code, (size_t)got, ip, NULL, &info))
		return 1;
	for (int i = 0; i < info.nmem; i++)
		if (!info.mem[i].addr_known || info.mem[i].addr == addr)
			return info.mem[i].len > 8 ? 8 : info.mem[i].len;
	return 1;
}

struct offer_ctx {
	struct hwbp_sampler *s;
	struct hwbp_pmu_source *p;
};

/* One record of the PMU's ring: a sample becomes an offer. */
static int offer_record(const struct perf_event_header *h, void *ctx)
{
	struct offer_ctx *c = ctx;
	struct hwbp_pmu_source *p = c->p;
	struct hwbp_record rec;
	struct hwbp_sample m = { .access = p->access };

	if (h->type == PERF_RECORD_LOST) {
		p->lost += ((const uint64_t *)(h + 1))[1];
		return 0;
	}
	if (h->type != PERF_RECORD_SAMPLE ||
	    hwbp_decode_sample(h + 1, h->size - sizeof(*h), PMU_SAMPLE_TYPE, 0,
			       &rec) || !rec.addr)
		return 0;
	p->samples++;
	m.addr = rec.addr;
	m.len = access_len(rec.pid ? (pid_t)rec.pid : p->pid, rec.ip, rec.addr);
	m.ip = rec.ip;
	m.tid = (pid_t)rec.tid;
	m.time_ns = rec.time_ns;
	hwbp_sampler_offer(c->s, &m);
	return 1;
}

int hwbp_pmu_source_consume(struct hwbp_sampler *s, struct hwbp_pmu_source *p)
{
	struct offer_ctx c = { s, p };
	int n = 0;

	for (int i = 0; i < p->nrings; i++)
		n += hwbp_mmap_read(p->rings[i].base, p->rings[i].size,
				    p->scratch, offer_record, &c);
	return n;
}
