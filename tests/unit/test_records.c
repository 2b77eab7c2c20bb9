/* SPDX-License-Identifier: MIT */
/*
 * test_records.c - the decoders behind HWBP_SAMPLE_BRANCHES on recorded
 * data, where no intel_pt PMU can make real ones: a PERF_RECORD_SAMPLE
 * body with a PERF_SAMPLE_AUX field through the ring decoder (src/ring.c,
 * a hidden function: this binary compiles the library's sources), and an
 * Intel PT stream written with libipt's packet encoder over a few
 * hand-assembled x86 branches through the command's PT decoder
 * (tools/branches.c), which must give the exact branch list.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <intel-pt.h>
#include <string.h>

#include "../../src/internal.h"
#include "../../tools/tool.h"

/* ---- the ring decoder: PERF_SAMPLE_AUX comes last ---- */

#define BASE_TYPE (PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | \
		   PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU)

struct body {
	uint64_t w[64];
	int n;
};

static void put(struct body *b, uint64_t v)
{
	b->w[b->n++] = v;
}

/* ip, pid/tid, time, addr, cpu; regs_user: abi 2 (64-bit), 2 registers. */
static void head(struct body *b)
{
	put(b, 0x401234);
	put(b, (uint64_t)77 << 32 | 66);
	put(b, 123456789);
	put(b, 0x7fff0000);
	put(b, 1);
	put(b, 2);
	put(b, 0xaaaa);
	put(b, 0xbbbb);
}

Test(aux_decode, the_trace_after_the_registers)
{
	struct body b = { .n = 0 };
	struct hwbp_record r;
	uint64_t t = BASE_TYPE | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_AUX;

	head(&b);
	put(&b, 24);
	put(&b, 0x0102030405060708ull);
	put(&b, 0x1112131415161718ull);
	put(&b, 0x2122232425262728ull);
	cr_assert_eq(hwbp_decode_sample(b.w, b.n * 8, t, 0x3, &r), 0);
	cr_assert_eq(r.ip, 0x401234);
	cr_assert_eq(r.pid, 66);
	cr_assert_eq(r.tid, 77);
	cr_assert_eq(r.cpu, 1);
	cr_assert_eq(r.regs[1], 0xbbbb);
	cr_assert_eq(r.aux_size, 24);
	cr_assert_eq(r.aux, &b.w[9], "aux points into the record");
	cr_assert_eq(r.aux_format, HWBP_AUX_INTEL_PT);
	cr_assert_eq(((const uint8_t *)r.aux)[0], 0x08);
}

Test(aux_decode, after_a_stack_too)
{
	struct body b = { .n = 0 };
	struct hwbp_record r;
	uint64_t t = BASE_TYPE | PERF_SAMPLE_REGS_USER |
		     PERF_SAMPLE_STACK_USER | PERF_SAMPLE_AUX;

	head(&b);
	put(&b, 16); /* stack: size, data[16], dyn_size */
	put(&b, 1);
	put(&b, 2);
	put(&b, 16);
	put(&b, 8);
	put(&b, 0x55);
	cr_assert_eq(hwbp_decode_sample(b.w, b.n * 8, t, 0x3, &r), 0);
	cr_assert_eq(r.stack_size, 16);
	cr_assert_eq(r.aux_size, 8);
	cr_assert_eq(*(const uint64_t *)r.aux, 0x55);
}

Test(aux_decode, an_empty_trace_is_no_trace)
{
	struct body b = { .n = 0 };
	struct hwbp_record r;

	head(&b);
	put(&b, 0);
	cr_assert_eq(hwbp_decode_sample(b.w, b.n * 8, BASE_TYPE |
					PERF_SAMPLE_REGS_USER | PERF_SAMPLE_AUX,
					0x3, &r), 0);
	cr_assert_null(r.aux);
	cr_assert_eq(r.aux_size, 0);
	cr_assert_eq(r.aux_format, HWBP_AUX_NONE);
}

Test(aux_decode, a_size_past_the_record_is_refused)
{
	struct body b = { .n = 0 };
	struct hwbp_record r;
	uint64_t t = BASE_TYPE | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_AUX;

	head(&b);
	put(&b, 32); /* but 16 bytes follow */
	put(&b, 1);
	put(&b, 2);
	cr_assert_eq(hwbp_decode_sample(b.w, b.n * 8, t, 0x3, &r), -EINVAL);
	put(&b, (uint64_t)-8);
	b.w[8] = (uint64_t)-8; /* a size that wraps the pointer */
	cr_assert_eq(hwbp_decode_sample(b.w, b.n * 8, t, 0x3, &r), -EINVAL);
	/* no size at all */
	cr_assert_eq(hwbp_decode_sample(b.w, 8 * 8, t, 0x3, &r), -EINVAL);
}

/* ---- a BPF program's record (src/bpf.c): PERF_SAMPLE_RAW alone ---- */

/* u32 raw size | u32 pad, then time, pid << 32 | tid, cpu, ip, addr and
 * the registers of the owner's regs_mask (here 2). */
static void bpf_body(struct body *b, uint32_t raw)
{
	put(b, (uint64_t)raw);
	put(b, 555);
	put(b, (uint64_t)77 << 32 | 66);
	put(b, 1);
	put(b, 0x401234);
	put(b, 0x7fff0000);
	put(b, 0xaaaa);
	put(b, 0xbbbb);
}

Test(bpf_decode, every_field_in_place)
{
	static struct hwbp owner;
	struct body b = { .n = 0 };
	struct hwbp_record r;

	owner.req.regs_mask = 0x3;
	bpf_body(&b, 4 + 8 * 7);
	cr_assert_eq(hwbp_bpf_decode(&owner, b.w, b.n * 8, &r), 0);
	cr_assert_eq(r.time_ns, 555);
	cr_assert_eq(r.pid, 77);
	cr_assert_eq(r.tid, 66);
	cr_assert_eq(r.cpu, 1);
	cr_assert_eq(r.ip, 0x401234);
	cr_assert_eq(r.addr, 0x7fff0000);
	cr_assert_eq(r.abi, PERF_SAMPLE_REGS_ABI_64);
	cr_assert_eq(r.regs_mask, 0x3);
	cr_assert(r.regs && r.regs[0] == 0xaaaa && r.regs[1] == 0xbbbb);
}

Test(bpf_decode, a_record_of_another_layout_is_refused)
{
	static struct hwbp owner;
	struct body b = { .n = 0 };
	struct hwbp_record r;

	owner.req.regs_mask = 0x3;
	bpf_body(&b, 4 + 8 * 8); /* says 3 registers */
	cr_assert_eq(hwbp_bpf_decode(&owner, b.w, b.n * 8, &r), -EINVAL);
	owner.req.regs_mask = 0x7; /* the owner wants 3: one is missing */
	cr_assert_eq(hwbp_bpf_decode(&owner, b.w, b.n * 8, &r), -EINVAL);
	owner.req.regs_mask = 0x3;
	b.w[0] = 4 + 8 * 7;
	cr_assert_eq(hwbp_bpf_decode(&owner, b.w, 6 * 8, &r), -EINVAL,
		     "cut short");
	cr_assert_eq(hwbp_bpf_decode(&owner, b.w, 4, &r), -EINVAL);
}

/* ---- the PT decoder on an encoded stream ---- */

/*
 * The code, at 0x401000:
 *   401000: eb 02            jmp  401004
 *   401002: 90 90
 *   401004: e8 07 00 00 00   call 401010
 *   401009: 90               nop
 *   40100a: ff e0            jmp  *%rax            (-> 401020)
 *   40100c: 90 90 90 90
 *   401010: 74 01            je   401013           (taken)
 *   401012: 90
 *   401013: c3               ret                   (-> 401009)
 *   401014: 90 x 12
 *   401020: 90               nop
 *   401021: 90               nop (tracing stops here: the hit)
 */
#define CODE_AT 0x401000ull
static const uint8_t code[] = {
	0xeb, 0x02, 0x90, 0x90, 0xe8, 0x07, 0x00, 0x00, 0x00, 0x90,
	0xff, 0xe0, 0x90, 0x90, 0x90, 0x90, 0x74, 0x01, 0x90, 0xc3,
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
	0x90, 0x90, 0x90, 0x90,
};

static int code_reads;

static size_t read_code(uint64_t addr, void *buf, size_t len, void *ctx)
{
	(void)ctx;
	code_reads++;
	if (addr < CODE_AT || addr >= CODE_AT + sizeof(code))
		return 0;
	if (len > CODE_AT + sizeof(code) - addr)
		len = CODE_AT + sizeof(code) - addr;
	memcpy(buf, code + (addr - CODE_AT), len);
	return len;
}

static void enc(struct pt_encoder *e, enum pt_packet_type type,
		enum pt_ip_compression ipc, uint64_t ip)
{
	struct pt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	if (type == ppt_mode) {
		p.payload.mode.leaf = pt_mol_exec;
		p.payload.mode.bits.exec = pt_set_exec_mode(ptem_64bit);
	} else if (type == ppt_tnt_8) {
		p.payload.tnt.bit_size = 1;
		p.payload.tnt.payload = 1; /* the je: taken */
	} else {
		p.payload.ip.ipc = ipc;
		p.payload.ip.ip = ip;
	}
	cr_assert_geq(pt_enc_next(e, &p), 0, "encoding packet type %d",
		      (int)type);
}

/* The trace of one run through the code, after `junk` bytes of garbage
 * (a snapshot starts anywhere); its size. */
static size_t encode_run(uint8_t *buf, size_t size, size_t junk)
{
	struct pt_config cfg;
	struct pt_encoder *e;
	uint64_t off;

	memset(buf, 0x5a, junk);
	pt_config_init(&cfg);
	cfg.begin = buf + junk;
	cfg.end = buf + size;
	e = pt_alloc_encoder(&cfg);
	cr_assert_not_null(e);
	enc(e, ppt_psb, 0, 0);
	enc(e, ppt_mode, 0, 0);
	enc(e, ppt_psbend, 0, 0);
	enc(e, ppt_mode, 0, 0);
	enc(e, ppt_tip_pge, pt_ipc_sext_48, CODE_AT);  /* tracing on */
	enc(e, ppt_tnt_8, 0, 0);                       /* je taken */
	enc(e, ppt_tip, pt_ipc_sext_48, 0x401009);     /* ret */
	enc(e, ppt_tip, pt_ipc_sext_48, 0x401020);     /* jmp *%rax */
	enc(e, ppt_fup, pt_ipc_sext_48, 0x401021);     /* the trap ... */
	enc(e, ppt_tip_pgd, pt_ipc_suppressed, 0);     /* ... to the kernel */
	cr_assert_eq(pt_enc_get_offset(e, &off), 0);
	pt_free_encoder(e);
	return junk + (size_t)off;
}

static const struct branch expected[] = {
	{ 0x401000, 0x401004 }, /* jmp */
	{ 0x401004, 0x401010 }, /* call */
	{ 0x401010, 0x401013 }, /* je, taken */
	{ 0x401013, 0x401009 }, /* ret */
	{ 0x40100a, 0x401020 }, /* jmp *%rax */
};
#define NEXP ((int)(sizeof(expected) / sizeof(expected[0])))

static void assert_branches(const struct branch *got, int n, int first)
{
	for (int i = 0; i < n; i++) {
		cr_assert_eq(got[i].from, expected[first + i].from,
			     "branch %d from 0x%llx", i,
			     (unsigned long long)got[i].from);
		cr_assert_eq(got[i].to, expected[first + i].to,
			     "branch %d to 0x%llx", i,
			     (unsigned long long)got[i].to);
	}
}

Test(pt_decode, every_taken_branch_in_order)
{
	uint8_t buf[256];
	struct branch got[16];
	size_t n = encode_run(buf, sizeof(buf), 0);
	int nb = pt_branches(buf, n, read_code, NULL, got, 16);

	cr_assert_eq(nb, NEXP, "%d branches", nb);
	assert_branches(got, nb, 0);
	cr_assert_gt(code_reads, 0, "the code came from the callback");
}

Test(pt_decode, the_last_max_only)
{
	uint8_t buf[256];
	struct branch got[2];
	size_t n = encode_run(buf, sizeof(buf), 0);

	cr_assert_eq(pt_branches(buf, n, read_code, NULL, got, 2), 2);
	assert_branches(got, 2, NEXP - 2);
}

Test(pt_decode, a_snapshot_starting_mid_packet_syncs_at_the_psb)
{
	uint8_t buf[256];
	struct branch got[16];
	size_t n = encode_run(buf, sizeof(buf), 37);

	cr_assert_eq(pt_branches(buf, n, read_code, NULL, got, 16), NEXP);
	assert_branches(got, NEXP, 0);
}

static size_t read_no_code(uint64_t addr, void *buf, size_t len, void *ctx)
{
	(void)addr, (void)buf, (void)len, (void)ctx;
	return 0;
}

Test(pt_decode, unreadable_code_invents_no_branch)
{
	uint8_t buf[256];
	struct branch got[16];
	size_t n = encode_run(buf, sizeof(buf), 0);

	cr_assert_eq(pt_branches(buf, n, read_no_code, NULL, got, 16), 0);
}

Test(pt_decode, no_psb_is_no_data)
{
	uint8_t junk[512];
	struct branch got[4];

	memset(junk, 0x5a, sizeof(junk));
	cr_assert_eq(pt_branches(junk, sizeof(junk), read_code, NULL, got, 4),
		     -ENODATA);
	cr_assert_eq(pt_branches(junk, 0, read_code, NULL, got, 4), -EINVAL);
}
