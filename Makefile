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
SOMINOR      := 5
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
UNWIND_TARGETS := $(BUILD)/tests/unwind/target-O2 $(BUILD)/tests/unwind/target-O0
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
# libstdc++ for __cxa_demangle (C++ names, tools/demangle.c).
$(TOOL): $(TOOL_SRC) $(wildcard tools/*.h) include/hwbp.h $(STLIB)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) $(TOOL_SRC) -o $@ $(STLIB) -ldw -lelf $(TOOL_LIBS) $(LIBS) -lstdc++

examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c $(SHLIB) include/hwbp.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) $< -o $@ $(LINK_LIB)

tests: $(TEST_BIN) $(UNIT_BIN) $(TEST_HELPERS) $(TOOL) $(UNWIND_TARGETS)
$(TEST_BIN): $(TEST_SRC) $(wildcard tests/*.h) $(SHLIB) tools/target.c tools/arch.c
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -O1 $(TEST_SRC) -o $@ $(LINK_LIB) -lcriterion -lZydis -ljson-c -lm -lelf

# Decoders on recorded data, built from the sources (hidden functions
# are reachable): the library's, the command's Intel PT decoder, its
# stored values (tools/values.c), the guard's decisions (target.c, which
# its test includes), the LOCATION resolver against live targets and the
# unwinder on hits recorded at test time.
UNIT_TOOL_SRC := tools/branches.c tools/values.c tools/symbols.c tools/dwtype.c \
	tools/tls.c tools/demangle.c tools/codemap.c tools/strpool.c tools/unwind.c \
	tools/members.c tools/stream.c
$(UNIT_BIN): $(wildcard tests/unit/*.c tests/unit/*.h) $(LIB_SRC) src/internal.h $(UNIT_TOOL_SRC) $(wildcard tools/*.h) include/hwbp.h tools/target.c tools/arch.c
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -O1 $(wildcard tests/unit/*.c) $(LIB_SRC) $(UNIT_TOOL_SRC) \
		-o $@ -lcriterion -lZydis -lipt -ldw -lelf -lstdc++ -lpthread

# What the unwinder's unit tests record hits from (tests/unit/test_unwind.c
# runs them): -O2 without frame pointers and -O0, with the library's
# sources and never sanitized (ASan's frames would change what is tested).
$(BUILD)/tests/unwind/target-O2: UNWIND_OPT := -O2 -fomit-frame-pointer
$(BUILD)/tests/unwind/target-O0: UNWIND_OPT := -O0
$(UNWIND_TARGETS): tests/unit/targets/unwind_target.c tests/unit/unwind_rec.h $(LIB_SRC) src/internal.h include/hwbp.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) $(CPPFLAGS) -Iinclude -D_GNU_SOURCE -g $(UNWIND_OPT) \
		$< $(LIB_SRC) -o $@ $(LIBS)

# Programs the tests run (and watch): -O0 so every store in the source is
# one store in the binary.  Never sanitized: they are the watched, not the
# tested (LeakSanitizer's scan of their globals at exit would be reads).
$(BUILD)/tests/helpers/%: tests/helpers/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) -Iinclude -D_GNU_SOURCE -O0 $< -o $@ -lpthread

# A stripped copy (only `counter` keeps a symbol): code no symbol names,
# shown by its file and address in it.
STRIPPED := $(BUILD)/tests/helpers/watch_targets-stripped
tests: $(STRIPPED)
$(STRIPPED): $(BUILD)/tests/helpers/watch_targets
	strip --strip-all --keep-symbol=counter -o $@ $<

# The oracle (tests/oracle/, run by tests/test_oracle.c): a program that
# logs its own writes, built -O0 and -O2, PIE and not, linked with a library
# of its own and dlopen'ing another; oracle-check holds hwbp's JSON against
# the log.  The program is never sanitized (the watched, as the helpers).
ORACLE_DIR := $(BUILD)/tests/oracle
ORACLE_VARIANTS := O0-pie O0-nopie O2-pie O2-nopie O2-nofp
ORACLE_FLAGS_O0-pie   := -O0 -fPIE -pie
ORACLE_FLAGS_O0-nopie := -O0 -fno-pie -no-pie
ORACLE_FLAGS_O2-pie   := -O2 -fPIE -pie
ORACLE_FLAGS_O2-nopie := -O2 -fno-pie -no-pie
ORACLE_FLAGS_O2-nofp  := -O2 -fomit-frame-pointer -fPIE -pie
tests: $(ORACLE_VARIANTS:%=$(ORACLE_DIR)/oracle-%) $(ORACLE_DIR)/liboracle_start.so \
	$(ORACLE_DIR)/liboracle_dl.so $(ORACLE_DIR)/oracle-check
$(ORACLE_DIR)/liboracle_%.so: tests/oracle/lib_%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) -fPIC -shared $< -o $@
$(ORACLE_DIR)/oracle-%: tests/oracle/oracle.c tests/oracle/olog.h $(ORACLE_DIR)/liboracle_start.so
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE $(ORACLE_FLAGS_$*) $< -o $@ \
		-L$(ORACLE_DIR) -loracle_start -Wl,-rpath,'$$ORIGIN' -lpthread -ldl
$(ORACLE_DIR)/oracle-check: tests/oracle/check.c
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) $< -o $@ -ljson-c

# C and C++ targets of the name tests (tests/helpers/names/): the C++
# one by g++ and clang++ (when installed) at -O0 and -O2, PIE and not
# (cxx-COMPILER-OPT-PIE); the C one (c-COMPILER-OPT) by gcc and clang; a
# library whose variables a -no-pie executable copies (copy relocations),
# one opened by dlopen.  Built -g, never sanitized, like the others.
NAMES   := $(BUILD)/tests/helpers/names
NAMES_COMPILERS := gcc $(if $(shell command -v clang++ 2>/dev/null),clang)
NAMES_HELPERS := $(foreach c,$(NAMES_COMPILERS),$(foreach o,O0 O2,\
	$(NAMES)/c-$(c)-$(o) $(foreach p,pie nopie,$(NAMES)/cxx-$(c)-$(o)-$(p)))) \
	$(NAMES)/libnames.so $(NAMES)/libnames_dl.so $(NAMES)/uselib-pie \
	$(NAMES)/uselib-nopie
tests: $(NAMES_HELPERS)
names_word = $(word $(1),$(subst -, ,$(2)))
names_pie = $(if $(filter nopie,$(1)),-fno-pie -no-pie,-fPIE -pie)
$(NAMES)/cxx-%: tests/helpers/names/cxx.cc
	@mkdir -p $(@D)
	$(if $(filter gcc,$(call names_word,1,$*)),g++,clang++) -std=gnu++17 -g \
		-$(call names_word,2,$*) $(call names_pie,$(call names_word,3,$*)) \
		-Wall -Wextra -Werror $< -o $@ -lpthread
$(NAMES)/c-%: tests/helpers/names/c_main.c tests/helpers/names/c_other.c
	@mkdir -p $(@D)
	$(call names_word,1,$*) -std=gnu11 -g -$(call names_word,2,$*) $(WARN) $^ -o $@
$(NAMES)/libnames.so: tests/helpers/names/lib.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -g -O1 -fPIC -shared $(WARN) $< -o $@
$(NAMES)/libnames_dl.so: tests/helpers/names/dl.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -g -O1 -fPIC -shared $(WARN) $< -o $@
$(NAMES)/uselib-%: tests/helpers/names/uselib.c $(NAMES)/libnames.so
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -g -O1 $(call names_pie,$*) $(WARN) -D_GNU_SOURCE $< -o $@ \
		-L$(NAMES) -lnames -Wl,-rpath,$(abspath $(NAMES)) -ldl -lpthread

# Thread-local targets of test_tls.c (tests/helpers/tls/): the C one by
# gcc and clang (when installed), the C++ one (thread_local) by g++, all
# using a library's thread-local too, and dlopen'ing one (libtlsdl.so).
# -O2 -g, never sanitized.
TLSH    := $(BUILD)/tests/helpers/tls
TLS_HELPERS := $(TLSH)/libtlslib.so $(TLSH)/libtlsdl.so $(TLSH)/tls-gcc \
	$(TLSH)/tls-gxx \
	$(if $(filter clang,$(NAMES_COMPILERS)),$(TLSH)/tls-clang)
tests: $(TLS_HELPERS)
$(TLSH)/lib%.so: tests/helpers/tls/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -g -O2 -fPIC -shared $(WARN) $< -o $@
$(TLSH)/tls-%: tests/helpers/tls/tls.c $(TLSH)/libtlslib.so
	@mkdir -p $(@D)
	$(if $(filter gxx,$*),g++ -x c++ -std=gnu++17,$* -std=gnu11) -g -O2 \
		-D_GNU_SOURCE -Wall -Wextra -Werror $< -o $@ -L$(TLSH) -ltlslib \
		-Wl,-rpath,$(abspath $(TLSH)) -ldl -lpthread

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
bench: $(BENCH_LIB:%=$(BUILD)/bench/%) $(BUILD)/bench/writer \
	$(BUILD)/bench/replay $(BUILD)/bench/replay_gen $(BUILD)/bench/unwind
$(BENCH_LIB:%=$(BUILD)/bench/%): $(BUILD)/bench/%: bench/%.c $(SHLIB) include/hwbp.h tools/tool.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $< -o $@ $(LINK_LIB)
# The unwinder on recorded hits (the command's tools/unwind.c).
$(BUILD)/bench/unwind: bench/unwind.c tools/unwind.c tools/tool.h tests/unit/unwind_rec.h $(SHLIB)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $< tools/unwind.c -o $@ $(LINK_LIB) -ldw -lelf
$(BUILD)/bench/writer: bench/writer.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -O0 -g -no-pie $< -o $@ -lpthread

# The replay benchmark: the command's processing behind the readers
# (every tools/ file but main's), fed with records replay_gen made with
# int3 instead of watchpoints (so it runs where traps do not fire), from a
# -O2 program without frame pointers and its library.
$(BUILD)/bench/replay: bench/replay.c bench/replay.h $(filter-out tools/hwbp.c,$(TOOL_SRC)) tools/tool.h tools/watch.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) bench/replay.c $(filter-out tools/hwbp.c,$(TOOL_SRC)) \
		-o $@ $(STLIB) -ldw -lelf -lstdc++ $(TOOL_LIBS) $(LIBS)
$(BUILD)/bench/libreplay.so: bench/libreplay.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -O2 -g -fomit-frame-pointer -fPIC -shared $< -o $@
$(BUILD)/bench/replay_gen: bench/replay_gen.c bench/replay.h $(BUILD)/bench/libreplay.so
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -O2 -g -fomit-frame-pointer $< -o $@ \
		-L$(BUILD)/bench -Wl,-rpath,$(abspath $(BUILD))/bench -lreplay -lpthread

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
FUZZ_SRC_location := tools/dwtype.c tools/tls.c tools/demangle.c tools/strpool.c
FUZZ_SRC_cond     := tools/cond.c
FUZZ_SRC_ring     := $(LIB_SRC)
FUZZ_LIBS_location := -ldw -lelf -lstdc++
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
