/* test_device.c - the GPU path's engine (device/gpu_net.c through device.h) on
 * the CPU emulation against the CPU path: augmentation on the device equals
 * aug_apply, dropout masks are seeded and at their rate. The CUDA backend
 * runs the same cases where a GPU is present (skipped with the reason
 * elsewhere). The golden comparison with PyTorch is in test_net.c, the
 * pipeline (probe features, train_run, --device) in test_device_pipeline.c.
 * Engine-only: `make gpu-core` links it without the I/O libraries. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/augment.h"
#include "../src/device/device.h"
#include "../src/device/gpu_net.h"
#include "../src/net.h"
#include "../src/rng.h"
#include "golden.h"
#include "test.h"

/* The device path's augmentation against aug_apply, over every op. */
static void augment_case(const DeviceOps *ops) {
    enum { N = 12 };

    Err e;
    Net *net = net_create_text("flat", "flatten flatten\n", 32, 32, 3, N, 1, &e);
    REQUIRE(net);
    if (net_use_device(net, ops, NULL, &e)) {
        net_free(net);
        SKIP(e.msg);
    }
    ImageSet set = golden_images(20, 3);
    REQUIRE(net_attach_images(net, set.images, set.n, &e) == 0);
    AugParams p[N];
    int idx[N];
    for (int b = 0; b < N; b++) {
        aug_params_identity(&p[b]);
        idx[b] = (b * 7) % set.n;
    }
    p[1].zx = 0.6f, p[1].zy = 0.8f;         /* zoom in */
    p[2].zx = 1.3f, p[2].zy = 1.3f;         /* zoom out: edge fill */
    p[3].rotation = 30.0f, p[3].tx = 0.1f;  /* rotation + shift */
    p[4].hflip = 1, p[4].zx = 0.7f;         /* flip after the affine */
    p[5].vflip = 1, p[5].hflip = 1;
    p[6].brightness = 0.3f;
    p[7].contrast = 0.4f;
    p[8].saturation = 0.3f;
    p[9].hue = 0.25f;
    p[10].hue = -0.6f, p[10].contrast = 1.7f, p[10].brightness = -0.2f, p[10].vflip = 1;
    p[11].ty = -0.2f, p[11].saturation = 2.0f;
    const float *got = net_forward_images(net, set.images, idx, p, N, 0, NULL, -1);
    REQUIRE(got);
    float *want = xalloc_floats((size_t)N * CIFAR_PIXELS);
    for (int b = 0; b < N; b++)
        aug_apply(&p[b], set.images + (size_t)idx[b] * CIFAR_PIXELS, want + (size_t)b * CIFAR_PIXELS,
                  32, 32);
    /* the same source (augment_math.h): equal up to the contrast mean's sum order */
    CHECK_ARRAY_NEAR(got, want, (size_t)N * CIFAR_PIXELS, 1e-5, 1e-6);
    free(want);
    golden_images_free(&set);
    net_free(net);
}

TEST(device_emulated_augmentation_equals_aug_apply) { augment_case(device_emulated()); }

TEST(device_cuda_augmentation_equals_aug_apply) {
    if (!device_cuda()) SKIP("built without the CUDA backend (no nvcc at build time)");
    augment_case(device_cuda());
}

TEST(device_dropout_masks_are_seeded_and_at_their_rate) {

    Err e;
    enum { B = 16, D = 1000 };
    Net *net = net_create_text("drop", "drop dropout rate=0.2\n", 1, 1, D, B, 1, &e);
    REQUIRE(net);
    REQUIRE(net_use_device(net, device_emulated(), NULL, &e) == 0);
    float *x = xalloc_floats((size_t)B * D), *a = xalloc_floats((size_t)B * D);
    for (int i = 0; i < B * D; i++) x[i] = 1.0f + (float)(i % 7);
    Rng r1 = rng_stream(1, 2), r2 = rng_stream(1, 2), r3 = rng_stream(1, 3);
    const float *y = net_forward(net, x, B, 1, &r1, -1);
    REQUIRE(y);
    memcpy(a, y, sizeof(float) * B * D);
    long kept = 0;
    for (int i = 0; i < B * D; i++) {
        CHECK(a[i] == 0.0f || fabsf(a[i] - x[i] / 0.8f) <= 1e-6f * a[i]);
        kept += a[i] != 0.0f;
    }
    /* 16,000 draws at 0.8: sd 0.0032 */
    CHECK_NEAR((double)kept / (B * D), 0.8, 0.015);
    y = net_forward(net, x, B, 1, &r2, -1);
    CHECK(memcmp(y, a, sizeof(float) * B * D) == 0); /* same stream, same mask */
    y = net_forward(net, x, B, 1, &r3, -1);
    CHECK(memcmp(y, a, sizeof(float) * B * D) != 0);
    y = net_forward(net, x, B, 0, NULL, -1); /* inference: identity */
    CHECK(memcmp(y, x, sizeof(float) * B * D) == 0);
    free(x), free(a);
    net_free(net);
}


/* The emulation stops on what would fault on a GPU: a host pointer handed
 * to an op, a transfer past the end of a device buffer (checked in a child
 * process, which must die by abort). */
static int dies(void (*fn)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 2); /* the message is expected */
        fn();
        _exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return 0;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void host_pointer_to_op(void) {
    const DeviceOps *o = device_emulated();
    Err e;
    Device *d = o->open(&e);
    float *dev = o->alloc(d, 16 * sizeof(float), &e), host[16] = {0};
    o->mul(d, 16, dev, dev, host); /* host as an input */
}

static void upload_past_the_end(void) {
    const DeviceOps *o = device_emulated();
    Err e;
    Device *d = o->open(&e);
    float *dev = o->alloc(d, 16 * sizeof(float), &e), host[17] = {0};
    o->upload(d, dev, host, sizeof host, &e);
}

static void proper_use(void) {
    const DeviceOps *o = device_emulated();
    Err e;
    Device *d = o->open(&e);
    float *a = o->alloc(d, 16 * sizeof(float), &e), host[16] = {0};
    o->upload(d, a, host, sizeof host, &e);
    o->mul(d, 16, a, a, a);
    o->download(d, host, a, sizeof host, &e);
    o->free(d, a);
    o->close(d);
}

TEST(device_emulation_stops_on_what_would_fault_on_a_gpu) {
    CHECK(dies(host_pointer_to_op));
    CHECK(dies(upload_past_the_end));
    CHECK(!dies(proper_use));
}
