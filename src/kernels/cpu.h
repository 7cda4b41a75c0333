/* cpu.h - the fast CPU kernel tables, one per SIMD level (private to
 * src/kernels; the rest of the program uses kernels.h). */
#ifndef AUGPROBE_KERNELS_CPU_H
#define AUGPROBE_KERNELS_CPU_H

#include "kernels.h"

const Kernels *kernels_avx512(void);
const Kernels *kernels_avx2(void);
const Kernels *kernels_portable(void);

#endif
