/* omp_defaults.h - augprobe's default OpenMP wait policy (omp_defaults.c):
 * a bounded spin, unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT. */
#ifndef AUGPROBE_OMP_DEFAULTS_H
#define AUGPROBE_OMP_DEFAULTS_H

/* Spin iterations (libgomp reckons ~100 per microsecond) before an idle
 * thread sleeps. */
#define OMP_DEFAULT_SPINCOUNT "300"

/* Call first thing in main(). When neither OMP_WAIT_POLICY nor
 * GOMP_SPINCOUNT is set, sets GOMP_SPINCOUNT and re-executes the program
 * (/proc/self/exe, same argv) so that libgomp, which reads its environment
 * before main(), sees it. The variable itself stops a second re-exec; if
 * the exec fails the program just continues with libgomp's default. */
void omp_default_wait(char **argv);

/* One line for `augprobe info`: where the wait policy comes from. */
const char *omp_wait_policy_describe(void);

#endif
