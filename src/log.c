/* SPDX-License-Identifier: MIT */
/*
 * log.c - error messages: the per-thread last error, the print callback
 * (libbpf's libbpf_set_print), and the options-size check shared by every
 * public function that takes an opts struct.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static HWBP_TLS char last_error[256];

static void default_print(enum hwbp_log_level level, const char *msg)
{
	if (level == HWBP_LOG_WARN)
		fprintf(stderr, "libhwbp: %s\n", msg);
}

static _Atomic(hwbp_print_fn) print_fn = default_print;

HWBP_API hwbp_print_fn hwbp_set_print(hwbp_print_fn fn)
{
	return atomic_exchange(&print_fn, fn);
}

HWBP_API const char *hwbp_last_error(void)
{
	return last_error;
}

void hwbp_clear_error(void)
{
	last_error[0] = '\0';
}

static void emit(enum hwbp_log_level level, const char *msg)
{
	hwbp_print_fn fn = atomic_load(&print_fn);

	if (fn)
		fn(level, msg);
}

int hwbp_fail(int err, const char *fmt, ...)
{
	va_list ap;

	/* vsnprintf is not async-signal-safe: inside a hit callback keep the
	 * errno and a fixed message only. */
	if (hwbp_in_handler()) {
		strcpy(last_error, "(failed inside a hit callback: the message "
				   "is not formatted there; see the errno)");
		return -err;
	}
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	emit(HWBP_LOG_INFO, last_error);
	return -err;
}

int hwbp_fail_const(int err, const char *msg)
{
	size_t n = strlen(msg);

	if (n >= sizeof(last_error))
		n = sizeof(last_error) - 1;
	memcpy(last_error, msg, n);
	last_error[n] = '\0';
	return -err;
}

void hwbp_log(enum hwbp_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(level, msg);
}

/*
 * An older caller passes a smaller struct (the fields it lacks take their
 * defaults); a newer caller's larger struct is fine only while the bytes we
 * do not know are zero (libbpf's OPTS_VALID).
 */
int hwbp_opts_valid(const void *opts, size_t user_sz, size_t known_sz,
		    const char *type_name)
{
	const unsigned char *p = opts;

	if (!opts)
		return 0;
	if (user_sz < sizeof(size_t))
		return hwbp_fail(EINVAL, "struct %s: sz %zu is too small (set it "
				 "with HWBP_OPTS)", type_name, user_sz);
	for (size_t i = known_sz; i < user_sz; i++)
		if (p[i])
			return hwbp_fail(EINVAL, "struct %s: sz %zu has unknown "
					 "non-zero fields past byte %zu (built "
					 "against a newer hwbp.h?)",
					 type_name, user_sz, known_sz);
	return 0;
}

void hwbp_copy_out(void *dst, size_t user_sz, const void *src,
		   size_t known_sz)
{
	memcpy(dst, src, user_sz < known_sz ? user_sz : known_sz);
	memcpy(dst, &user_sz, sizeof(user_sz)); /* every such struct's .sz */
}
