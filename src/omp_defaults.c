/* omp_defaults.c - the OpenMP wait policy augprobe runs with unless the user
 * chooses one. libgomp's default lets an idle thread spin for up to 300000
 * iterations (milliseconds) before it sleeps; on a machine shared with other
 * work those spinning threads take the cores the busy ones need (on a
 * loaded 2-core machine, 2-thread training ran 3x slower in wall time and
 * used 2.4x the CPU; README "Speed"). A spin of a few microseconds
 * still catches the next back-to-back parallel region, then the thread
 * sleeps.
 *
 * libgomp reads its environment in a library constructor, before main(),
 * and offers no call to change the policy later; setting the variable from
 * the executable's .preinit_array does not work either (glibc's startup
 * then reinstalls the original environment block). So main() re-executes
 * itself once with the variable set. */
#define _POSIX_C_SOURCE 200809L
#include "omp_defaults.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int user_chose_wait(void) {
    return getenv("OMP_WAIT_POLICY") != NULL || getenv("GOMP_SPINCOUNT") != NULL;
}

void omp_default_wait(char **argv) {
#ifdef __linux__
    if (user_chose_wait() || !argv || !argv[0]) return;
    /* Under valgrind an exec leaves the tool (it would check nothing). */
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload")) return;
    if (setenv("GOMP_SPINCOUNT", OMP_DEFAULT_SPINCOUNT, 0) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): carry on with libgomp's defaults. */
#else
    (void)argv;
#endif
}

const char *omp_wait_policy_describe(void) {
    const char *s = getenv("GOMP_SPINCOUNT");
    if (!getenv("OMP_WAIT_POLICY") && s && !strcmp(s, OMP_DEFAULT_SPINCOUNT))
        return "GOMP_SPINCOUNT=" OMP_DEFAULT_SPINCOUNT " (default; set OMP_WAIT_POLICY or "
               "GOMP_SPINCOUNT to override)";
    if (user_chose_wait()) return "from the environment (OMP_WAIT_POLICY / GOMP_SPINCOUNT)";
    return "libgomp's default (re-exec with GOMP_SPINCOUNT=" OMP_DEFAULT_SPINCOUNT " failed)";
}
