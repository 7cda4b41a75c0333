/* cuda_stub.c - device_cuda() for a build without the CUDA backend (no nvcc
 * at build time, or make CUDA=0): there is none, so NULL. With the backend
 * (-DAUGPROBE_CUDA) src/device/cuda.cu defines it and this file is empty. */
#include "device.h"

#ifndef AUGPROBE_CUDA
const DeviceOps *device_cuda(void) { return NULL; }
#else
typedef int cuda_stub_unused; /* ISO C forbids an empty translation unit */
#endif
