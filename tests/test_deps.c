/* test_deps.c - tools/deps.sh, what `make` runs before compiling: with a
 * fake pkg-config that reports libraries missing (and fake apt-get, sudo,
 * id, dpkg-query that log what they are asked: tests/fixtures/fakedeps/),
 * it installs exactly the missing packages, prints the command first, uses
 * sudo when not root, runs apt-get update when the lists are missing, only
 * prints with --no-install (make NO_INSTALL=1), names what is missing in one
 * line where there is no apt-get, and make stops before compiling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define PKGS "libcurl libarchive libcjson cairo libcrypto"

/* A fake machine in a fresh directory: DIR/bin holds the fakes named in
 * `fakes` (space-separated) and the few real tools deps.sh uses, DIR/state
 * their state; `missing` names pkg-config names reported missing. PATH is
 * DIR/bin alone, so the real apt-get, pkg-config and gcc are out of sight. */
static const char *fake_machine(const char *fakes, const char *missing) {
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    char cmd[4096], out[1024];
    snprintf(cmd, sizeof cmd,
             "set -e; d='%s'; mkdir -p \"$d/bin\" \"$d/state/missing\" \"$d/state/missing-deb\"; "
             "for f in %s; do cp tests/fixtures/fakedeps/$f \"$d/bin/\"; done; "
             "for t in mktemp tee grep cat rm; do ln -s \"$(command -v $t)\" \"$d/bin/$t\"; done; "
             "for m in %s; do touch \"$d/state/missing/$m\"; done",
             dir, fakes, missing);
    if (test_run(cmd, out, sizeof out) != 0) {
        test_fail(__FILE__, __LINE__, "fake machine: %s", out);
        return NULL;
    }
    return dir;
}

/* Runs deps.sh on the fake machine with extra environment `env` and flags. */
static int run_deps(const char *dir, const char *env, const char *flags, char *out, size_t cap) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "env PATH='%s/bin' FAKE_STATE='%s/state' %s /bin/sh tools/deps.sh %s " PKGS,
             dir, dir, env, flags);
    return test_run(cmd, out, cap);
}

/* The apt log ("" when apt-get was never called). */
static const char *apt_log(const char *dir) {
    static char log[2048];
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cat '%s/state/apt.log' 2>/dev/null || true", dir);
    test_run(cmd, log, sizeof log);
    return log;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

TEST(deps_everything_there_is_silent) {
    const char *d = fake_machine("pkg-config apt-get sudo id", "");
    REQUIRE(d);
    char out[2048];
    CHECK_INT_EQ(run_deps(d, "", "", out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, ""); /* not NULL */
    CHECK_INT_EQ(strlen(out), 0);
    CHECK_INT_EQ(strlen(apt_log(d)), 0);
}

TEST(deps_no_install_prints_the_command_and_stops) {
    const char *d = fake_machine("pkg-config apt-get sudo id", "cairo");
    REQUIRE(d);
    char out[2048];
    CHECK_INT_EQ(run_deps(d, "", "--no-install", out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "augprobe build: missing: cairo; to install them: "
                            "apt-get install -y --no-install-recommends libcairo2-dev\n");
    CHECK_STR_CONTAINS(out, "NO_INSTALL=1: nothing installed");
    CHECK_INT_EQ(strlen(apt_log(d)), 0); /* apt-get never ran */
}

TEST(deps_installs_exactly_the_missing_packages_as_root) {
    const char *d = fake_machine("pkg-config apt-get sudo id", "libcjson cairo");
    REQUIRE(d);
    char out[4096];
    CHECK_INT_EQ(run_deps(d, "FAKE_UID=0", "", out, sizeof out), 0);
    /* the command is printed before it runs */
    const char *say = strstr(out, "augprobe build: missing: libcjson cairo; installing them: "
                                  "apt-get install -y --no-install-recommends libcjson-dev "
                                  "libcairo2-dev\n");
    const char *ran = strstr(out, "fake: installed");
    CHECK(say && ran && say < ran);
    CHECK_STR_CONTAINS(apt_log(d),
                       "apt-get install -y --no-install-recommends libcjson-dev libcairo2-dev\n");
    CHECK_INT_EQ(count_lines(apt_log(d)), 1);
    /* a second run finds everything and does nothing */
    CHECK_INT_EQ(run_deps(d, "FAKE_UID=0", "", out, sizeof out), 0);
    CHECK_INT_EQ(strlen(out), 0);
    CHECK_INT_EQ(count_lines(apt_log(d)), 1);
}

TEST(deps_uses_sudo_when_not_root) {
    const char *d = fake_machine("pkg-config apt-get sudo id", "libarchive");
    REQUIRE(d);
    char out[4096];
    CHECK_INT_EQ(run_deps(d, "FAKE_UID=1000", "", out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "installing them: sudo apt-get install -y --no-install-recommends "
                            "libarchive-dev\n");
    CHECK_STR_CONTAINS(apt_log(d), "sudo apt-get install -y --no-install-recommends libarchive-dev\n");
    /* not root and no sudo: the command to run as root, nothing run */
    const char *d2 = fake_machine("pkg-config apt-get id", "libarchive");
    REQUIRE(d2);
    CHECK_INT_EQ(run_deps(d2, "FAKE_UID=1000", "", out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "install them as root: apt-get install -y --no-install-recommends "
                            "libarchive-dev");
    CHECK_INT_EQ(strlen(apt_log(d2)), 0);
}

TEST(deps_runs_apt_get_update_when_the_lists_are_missing) {
    const char *d = fake_machine("pkg-config apt-get sudo id", "libcrypto");
    REQUIRE(d);
    char cmd[1200], out[4096];
    snprintf(cmd, sizeof cmd, "touch '%s/state/no-lists'", d);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_INT_EQ(run_deps(d, "FAKE_UID=0", "", out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "Unable to locate package libssl-dev");
    CHECK_STR_CONTAINS(out, "package lists are missing or stale: apt-get update");
    CHECK_STR_CONTAINS(apt_log(d), "apt-get install -y --no-install-recommends libssl-dev\n"
                                   "apt-get update\n"
                                   "apt-get install -y --no-install-recommends libssl-dev\n");
    CHECK_INT_EQ(count_lines(apt_log(d)), 3);
}

TEST(deps_without_apt_get_names_what_is_missing_in_one_line) {
    const char *d = fake_machine("pkg-config id", "cairo libcurl");
    REQUIRE(d);
    char out[2048];
    CHECK_INT_EQ(run_deps(d, "", "", out, sizeof out), 1);
    CHECK_INT_EQ(count_lines(out), 1);
    CHECK_STR_CONTAINS(out, "augprobe build: missing: libcurl cairo (no apt-get here");
}

TEST(deps_without_pkg_config_installs_it_and_the_unlisted_packages) {
    /* no pkg-config; dpkg says libcjson-dev is not installed, the others are
     * (libcurl as libcurl4-gnutls-dev: any flavour will do) */
    const char *d = fake_machine("apt-get sudo id dpkg-query", "");
    REQUIRE(d);
    char cmd[2400], out[2048];
    snprintf(cmd, sizeof cmd, "touch '%s/state/missing-deb/libcjson-dev' "
             "'%s/state/missing-deb/libcurl4-openssl-dev'", d, d);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_INT_EQ(run_deps(d, "", "--no-install", out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "missing: pkg-config libcjson; to install them: "
                            "apt-get install -y --no-install-recommends pkg-config libcjson-dev\n");
    /* and a missing compiler (gcc is not on the fake PATH): build-essential */
    CHECK_INT_EQ(run_deps(d, "", "--no-install --cc gcc", out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "missing: gcc pkg-config libcjson; to install them: apt-get install "
                            "-y --no-install-recommends build-essential pkg-config libcjson-dev\n");
}

TEST(deps_make_stops_before_compiling) {
    /* the real make and compiler, the fake pkg-config first on PATH */
    const char *d = fake_machine("pkg-config apt-get sudo id", "cairo");
    REQUIRE(d);
    char cmd[8192], out[4096];
    snprintf(cmd, sizeof cmd,
             "env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS PATH='%s/bin':\"$PATH\" FAKE_STATE='%s/state' "
             "make --no-print-directory NO_INSTALL=1 BUILD='%s/build' CUDA=0 '%s/build/src/rng.o'",
             d, d, d, d);
    int rc = test_run(cmd, out, sizeof out);
    CHECK(rc != 0);
    CHECK_STR_CONTAINS(out, "augprobe build: missing: cairo; to install them: "
                            "apt-get install -y --no-install-recommends libcairo2-dev");
    snprintf(cmd, sizeof cmd, "%s/build/src/rng.o", d);
    CHECK(access(cmd, F_OK) != 0); /* nothing compiled */
    CHECK_INT_EQ(strlen(apt_log(d)), 0);
}
