# hwbp - build, test and install.  `make`, `make check`, `make install`.
# SAN=1 builds everything with AddressSanitizer + UndefinedBehaviorSanitizer
# into build-san/.  PREFIX, DESTDIR, LIBDIR as usual; CFLAGS, CPPFLAGS and
# LDFLAGS from the environment (dpkg-buildflags) are honoured.  Another
# target: `make CC=aarch64-linux-gnu-gcc BUILD=build-arm64 lib tool`.
VERSION      := 0.1.0
SOMAJOR      := 1
# The shared object is libhwbp.so.SOMAJOR.SOMINOR.0 (soname libhwbp.so.1):
# SOMINOR counts the version nodes of src/libhwbp.map after LIBHWBP_0.1
# (tests/test_docs.c checks); VERSION is the package's.
SOMINOR      := 3
SOVERSION    := $(SOMAJOR).$(SOMINOR).0
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
BINDIR       ?= $(PREFIX)/bin
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

CC      ?= cc
CFLAGS  ?= -O2 -g
ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
BUILD   ?= build
SANFLAGS :=
endif
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
ALLCFLAGS := -std=gnu11 $(WARN) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -Iinclude -D_GNU_SOURCE
# The CPU the compiler targets: Zydis (x86 decoding) and libipt (Intel
# PT, the command's --branches) only on x86-64.
ARCH    := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine)))
ifeq ($(ARCH),x86_64)
ZYDIS   := -lZydis
TOOL_LIBS := -lipt
else
ZYDIS   :=
TOOL_LIBS :=
endif
LIBS    := $(ZYDIS) -lpthread

LIB_SRC := $(wildcard src/*.c)
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
LIB_PIC := $(LIB_SRC:src/%.c=$(BUILD)/pic/%.o)
SHLIB   := $(BUILD)/libhwbp.so.$(SOVERSION)
STLIB   := $(BUILD)/libhwbp.a
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
TEST_SRC := $(wildcard tests/*.c)
TEST_BIN := $(BUILD)/tests/hwbp-tests
UNIT_BIN := $(BUILD)/tests/hwbp-unit
TEST_HELPERS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(wildcard tests/helpers/*.c))

.PHONY: all lib tool examples tests check clean install uninstall bench check-install
all: lib tool examples tests

lib: $(SHLIB) $(STLIB) $(BUILD)/hwbp.pc

$(BUILD)/obj/%.o: src/%.c src/internal.h include/hwbp.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -fvisibility=hidden -c $< -o $@

$(BUILD)/pic/%.o: src/%.c src/internal.h include/hwbp.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(SHLIB): $(LIB_PIC) src/libhwbp.map
	$(CC) $(ALLCFLAGS) -shared -Wl,-soname,libhwbp.so.$(SOMAJOR) \
		-Wl,--version-script=src/libhwbp.map -Wl,-z,defs $(LDFLAGS) \
		-o $@ $(LIB_PIC) $(LIBS)
	ln -sf libhwbp.so.$(SOVERSION) $(BUILD)/libhwbp.so.$(SOMAJOR)
	ln -sf libhwbp.so.$(SOMAJOR) $(BUILD)/libhwbp.so

$(STLIB): $(LIB_OBJ)
	$(AR) rcs $@ $^

# Written again by `make install`: PREFIX/LIBDIR may differ from the build's.
PC_SED := -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|; s|@LIBS_PRIVATE@|$(LIBS)|'
$(BUILD)/hwbp.pc: hwbp.pc.in Makefile
	sed $(PC_SED) $< > $@

# Examples and tests link the shared library, as users do.
LINK_LIB := -L$(BUILD) -Wl,-rpath,$(abspath $(BUILD)) -lhwbp -lpthread

# The hwbp command links the static library: one self-contained binary.
TOOL_SRC := $(wildcard tools/*.c)
TOOL     := $(BUILD)/hwbp
tool: $(TOOL)
$(TOOL): $(TOOL_SRC) tools/tool.h include/hwbp.h $(STLIB)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) $(TOOL_SRC) -o $@ $(STLIB) -ldw -lelf $(TOOL_LIBS) $(LIBS)

examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c $(SHLIB) include/hwbp.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) $< -o $@ $(LINK_LIB)

tests: $(TEST_BIN) $(UNIT_BIN) $(TEST_HELPERS) $(TOOL)
$(TEST_BIN): $(TEST_SRC) $(wildcard tests/*.h) $(SHLIB)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -O1 $(TEST_SRC) -o $@ $(LINK_LIB) -lcriterion -lZydis -ljson-c -lm

# Decoders on recorded data, built from the sources (hidden functions
# are reachable): the library's and the command's Intel PT decoder.
$(UNIT_BIN): $(wildcard tests/unit/*.c) $(LIB_SRC) src/internal.h tools/branches.c tools/tool.h include/hwbp.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -O1 $(wildcard tests/unit/*.c) $(LIB_SRC) tools/branches.c \
		-o $@ -lcriterion -lZydis -lipt -lpthread

# Programs the tests run (and watch): -O0 so every store in the source is
# one store in the binary.  Never sanitized: they are the watched, not the
# tested (LeakSanitizer's scan of their globals at exit would be reads).
$(BUILD)/tests/helpers/%: tests/helpers/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) -Iinclude -D_GNU_SOURCE -O0 $< -o $@ -lpthread

# The whole suite; Criterion runs each test in its own process.
check: all
	HWBP_TEST_HELPERS=$(abspath $(BUILD))/tests/helpers HWBP_BIN=$(abspath $(TOOL)) \
		HWBP_EXAMPLES=$(abspath $(BUILD))/examples HWBP_SRCDIR=$(CURDIR) \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		tests/run $(TEST_BIN) --jobs 2 $(TESTFLAGS)
	tests/run $(UNIT_BIN) --jobs 2 --filter '*/*'

# Benchmarks (bench/run runs them): the library ones link the shared
# library; writer is what the per-hit part watches (no PIE: perf, gdb and
# bpftrace take its address as a number).
BENCH_LIB := rearm sched hits idle threads sampler switches
bench: $(BENCH_LIB:%=$(BUILD)/bench/%) $(BUILD)/bench/writer
$(BENCH_LIB:%=$(BUILD)/bench/%): $(BUILD)/bench/%: bench/%.c $(SHLIB) include/hwbp.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $< -o $@ $(LINK_LIB)
$(BUILD)/bench/writer: bench/writer.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -O0 -g -no-pie $< -o $@ -lpthread

# libFuzzer targets (clang): the LOCATION resolver, --if, the ring decoder.
# `make fuzz-run FUZZ_SECONDS=N` runs each for N seconds from its seed
# corpus in fuzz/corpus/NAME (new inputs go to build-fuzz/corpus-NAME).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_BUILD   := build-fuzz
FUZZ_FLAGS   := -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-function \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Iinclude -D_GNU_SOURCE
FUZZERS      := location cond ring
FUZZ_SRC_location :=
FUZZ_SRC_cond     := tools/cond.c
FUZZ_SRC_ring     := $(LIB_SRC)
FUZZ_LIBS_location := -ldw -lelf
FUZZ_LIBS_ring     := -lZydis -lpthread

.PHONY: fuzz fuzz-run
fuzz: $(FUZZERS:%=$(FUZZ_BUILD)/fuzz_%)
$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(wildcard tools/*.h src/*.h src/*.c tools/*.c) include/hwbp.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $< $(FUZZ_SRC_$*) -o $@ $(FUZZ_LIBS_$*)

fuzz-run: fuzz
	@for f in $(FUZZERS); do \
		mkdir -p $(FUZZ_BUILD)/corpus-$$f; \
		log=$(FUZZ_BUILD)/fuzz_$$f.log; \
		$(FUZZ_BUILD)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 $(FUZZ_BUILD)/corpus-$$f \
			fuzz/corpus/$$f >$$log 2>&1; st=$$?; \
		echo "fuzz_$$f: $(FUZZ_SECONDS) s, exit $$st," \
			$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log) "inputs," \
			$$(ls fuzz/corpus/$$f $(FUZZ_BUILD)/corpus-$$f | wc -l) "in corpus"; \
		if [ $$st -ne 0 ]; then grep -A30 -E '^==[0-9]+==|runtime error' $$log | head -60; exit 1; fi; \
	done

install: lib tool
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/hwbp.h $(DESTDIR)$(INCLUDEDIR)/hwbp.h
	install -m 644 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libhwbp.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libhwbp.so.$(SOMAJOR)
	ln -sf libhwbp.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libhwbp.so
	install -m 644 $(STLIB) $(DESTDIR)$(LIBDIR)/
	sed $(PC_SED) hwbp.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/hwbp.pc
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/hwbp
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 644 man/hwbp.1 $(DESTDIR)$(MANDIR)/man1/hwbp.1
	install -m 644 man/*.3 $(DESTDIR)$(MANDIR)/man3/

# hwbp never gains privilege: install into a scratch DESTDIR and fail on
# any file that is setuid, setgid or writable by others.
check-install: lib tool
	@d=$$(mktemp -d) && $(MAKE) -s install DESTDIR=$$d >/dev/null && \
	n=$$(find $$d -type f | wc -l) && \
	bad=$$(find $$d \( -perm /6000 -o -perm -o+w \) ! -type l); \
	rm -rf $$d; \
	if [ -n "$$bad" ]; then echo "check-install: setuid, setgid or" \
		"world-writable: $$bad"; exit 1; fi; \
	echo "check-install: $$n files installed, none setuid, setgid or" \
		"world-writable"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hwbp $(DESTDIR)$(INCLUDEDIR)/hwbp.h $(DESTDIR)$(LIBDIR)/libhwbp.* $(DESTDIR)$(PKGCONFIGDIR)/hwbp.pc
	rm -f $(DESTDIR)$(MANDIR)/man1/hwbp.1 $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(wildcard man/*.3)))

clean:
	rm -rf build build-san build-fuzz build-arm64 build-install
