/* bench.c - `make bench`: augprobe and the PyTorch peer on the same work, in
 * one run, on the same machine and thread count. Prints a table, the ratios,
 * and machine-readable `name: value` lines at the end.
 *
 * Measured: training step throughput (batch 32 and 128), inference / feature
 * extraction throughput (batch 256), the same for ResNet-18 (the CIFAR
 * variant; training at batch 128, inference at 256), one RankNet-head epoch on cached
 * features, augmentation cost per batch as a share of a training step, and
 * the achieved GFLOP/s against the measured FMA peak (bench/peak.c).
 *
 * The throughput rows run in rounds (--rounds, 3; 2 with --quick): each
 * round measures augprobe, then the peer, so both sides of a ratio see the
 * same state of a shared machine (this VM's speed changes by ~20% from
 * minute to minute). Throughputs are medians over rounds, ratios the median
 * of the rounds' ratios; every round is printed. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../src/augment.h"
#include "../src/cifar10.h"
#include "../src/device/device.h"
#include "../src/kernels/kernels.h"
#include "../src/layers.h"
#include "../src/net.h"
#include "../src/omp_defaults.h"
#include "../src/optim.h"
#include "../src/rng.h"
#include "peak.h"

typedef struct Peer {
    int ok;
    char why[256]; /* why the peer rows are skipped */
    double train32, train128, infer256, probe_epoch;
} Peer;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n), n <= 16 (v is left as it is: rounds stay paired). */
static double median(const double *v, int n) {
    double s[16];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* Multiply-adds of one forward pass of one example (conv and dense only). */
static double forward_macs(const Net *net) {
    double macs = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *l = &net->layers[i];
        if (l->spec.kind == LAYER_CONV)
            macs += (double)l->h * l->w * l->spec.ksize * l->spec.ksize * l->in_c * l->c;
        else if (l->spec.kind == LAYER_DENSE)
            macs += (double)l->in_h * l->in_w * l->in_c * l->c;
    }
    return macs;
}

static void fill_uniform(float *x, size_t n, uint64_t seed) {
    Rng r = rng_stream(seed, 99);
    for (size_t i = 0; i < n; i++) x[i] = rng_float(&r);
}

/* Median images/s of `reps` runs of `steps` training steps at batch B. */
/* ops: run on that device (the device backend, src/device/gpu_net.h)
 * instead of the CPU kernels. */
static double bench_train_arch(const char *arch, const DeviceOps *ops, int B, int steps, int reps,
                               int threads, double *step_ms) {
    Err e;
    Net *net = net_create_text(arch, arch_builtin(arch), 32, 32, 3, B, threads, &e);
    if (!net) {
        fprintf(stderr, "bench: %s\n", e.msg);
        exit(1);
    }
    net_init(net, 1);
    if (ops && net_use_device(net, ops, NULL, &e)) {
        fprintf(stderr, "bench: %s\n", e.msg);
        exit(1);
    }
    Adam opt;
    adam_init(&opt, net->n_params);
    float *x = xalloc_floats((size_t)B * 3072);
    float *dlogits = xalloc_floats((size_t)B * 10);
    uint8_t *labels = xmalloc((size_t)B);
    fill_uniform(x, (size_t)B * 3072, 1);
    for (int i = 0; i < B; i++) labels[i] = (uint8_t)(i % 10);
    double rates[16];
    long step = 0;
    for (int r = -1; r < reps; r++) { /* r == -1: warm-up */
        double t0 = now_seconds();
        int n = r < 0 ? (steps < 3 ? 1 : 3) : steps; /* warm-up: 1 step of a slow net */
        for (int s = 0; s < n; s++) {
            Rng drop = rng_stream(1, rng_mix(RNG_TAG_DROPOUT, (uint64_t)step++));
            const float *logits = net_forward(net, x, B, 1, &drop, -1);
            softmax_xent(dlogits, NULL, logits, labels, B, 10);
            net_update(net, &opt, dlogits, B);
        }
        if (r >= 0) rates[r] = B * n / (now_seconds() - t0);
    }
    double med = median(rates, reps);
    if (step_ms) *step_ms = 1000.0 * B / med;
    adam_free(&opt);
    free(x);
    free(dlogits);
    free(labels);
    net_free(net);
    return med;
}

static double bench_train(const DeviceOps *ops, int B, int steps, int reps, int threads,
                          double *step_ms) {
    return bench_train_arch("seed_cnn", ops, B, steps, reps, threads, step_ms);
}

/* Feature extraction up to node `upto` (the seed CNN's flatten, ResNet's
 * avgpool). */
static double bench_infer_arch(const char *arch, const char *upto, const DeviceOps *ops, int B,
                               int steps, int reps, int threads) {
    Err e;
    Net *net = net_create_text(arch, arch_builtin(arch), 32, 32, 3, B, threads, &e);
    if (!net) {
        fprintf(stderr, "bench: %s\n", e.msg);
        exit(1);
    }
    net_init(net, 1);
    if (ops && net_use_device(net, ops, NULL, &e)) {
        fprintf(stderr, "bench: %s\n", e.msg);
        exit(1);
    }
    float *x = xalloc_floats((size_t)B * 3072);
    fill_uniform(x, (size_t)B * 3072, 2);
    int flat = net_find_layer(net, upto);
    double rates[16];
    for (int r = -1; r < reps; r++) {
        double t0 = now_seconds();
        int n = r < 0 ? 1 : steps;
        for (int s = 0; s < n; s++) net_forward(net, x, B, 0, NULL, flat);
        if (r >= 0) rates[r] = B * n / (now_seconds() - t0);
    }
    free(x);
    net_free(net);
    return median(rates, reps);
}

static double bench_infer(const DeviceOps *ops, int B, int steps, int reps, int threads) {
    return bench_infer_arch("seed_cnn", "flatten", ops, B, steps, reps, threads);
}

/* One epoch of the RankNet head over `pairs` pairs of 2048-d features. */
static double bench_probe_epoch(int pairs, int threads) {
    Err e;
    const int D = 2048, B = 32;
    Net *head = net_create_text("ranknet_head", arch_builtin("ranknet_head"), 1, 1, D, 2 * B, threads, &e);
    if (!head) {
        fprintf(stderr, "bench: %s\n", e.msg);
        exit(1);
    }
    net_init(head, 1);
    Adam opt;
    adam_init(&opt, head->n_params);
    float *feat = xalloc_floats((size_t)2 * B * D);
    float *y = xalloc_floats(B), *dd = xalloc_floats(B), *ds = xalloc_floats(2 * B),
          *d = xalloc_floats(B);
    fill_uniform(feat, (size_t)2 * B * D, 3);
    for (int i = 0; i < B; i++) y[i] = (i % 2) ? 1.0f : -1.0f;
    double t0 = now_seconds();
    for (int s = 0; s < pairs / B; s++) {
        Rng drop = rng_stream(1, rng_mix(RNG_TAG_DROPOUT, (uint64_t)s));
        const float *score = net_forward(head, feat, 2 * B, 1, &drop, -1);
        for (int i = 0; i < B; i++) d[i] = score[i] - score[B + i];
        ranknet_loss(dd, d, y, B);
        for (int i = 0; i < B; i++) {
            ds[i] = dd[i];
            ds[B + i] = -dd[i];
        }
        net_update(head, &opt, ds, 2 * B);
    }
    double t = now_seconds() - t0;
    adam_free(&opt);
    free(feat);
    free(y);
    free(dd);
    free(ds);
    free(d);
    net_free(head);
    return t;
}

/* Milliseconds to augment a batch of 32 with the notebook's spec. */
static double bench_augment(int threads) {
    enum { N = 256, B = 32, REPS = 200 };
    uint8_t *img = xmalloc((size_t)N * CIFAR_PIXELS), *lab = xcalloc(N, 1);
    Rng r = rng_stream(5, 5);
    for (size_t i = 0; i < (size_t)N * CIFAR_PIXELS; i++) img[i] = (uint8_t)rng_below(&r, 256);
    ImageSet set = {N, img, lab};
    AugSpec spec;
    Err e;
    if (aug_parse(&spec, "hflip,vflip,zoom=0.5:1.0", &e)) {
        fprintf(stderr, "bench: %s\n", e.msg);
        exit(1);
    }
    float *out = xalloc_floats((size_t)B * CIFAR_PIXELS);
    int idx[B];
    double t0 = now_seconds();
    for (int k = 0; k < REPS; k++) {
        for (int i = 0; i < B; i++) idx[i] = (k * B + i) % N;
        aug_batch(&spec, &set, idx, B, 1, (uint64_t)k, out, threads);
    }
    double ms = 1000.0 * (now_seconds() - t0) / REPS;
    free(img);
    free(lab);
    free(out);
    return ms;
}

/* with_probe: also time the peer's probe-head epoch (once is enough). */
static void run_peer(Peer *p, int threads, int quick, int with_probe) {
    memset(p, 0, sizeof *p);
    if (access("/usr/bin/python3", X_OK) != 0) {
        snprintf(p->why, sizeof p->why, "/usr/bin/python3 not found");
        return;
    }
    char cmd[512];
    /* The peer runs with the user's environment: without the wait policy
     * augprobe chose for itself (omp_defaults.h). */
    const char *sc = getenv("GOMP_SPINCOUNT");
    int ours = !getenv("OMP_WAIT_POLICY") && sc && !strcmp(sc, OMP_DEFAULT_SPINCOUNT);
    snprintf(cmd, sizeof cmd, "%s/usr/bin/python3 bench/torch_peer.py --threads %d %s%s 2>&1",
             ours ? "env -u GOMP_SPINCOUNT " : "", threads, quick ? "--quick --pairs 8000" : "",
             with_probe ? "" : " --no-probe");
    FILE *f = popen(cmd, "r");
    if (!f) {
        snprintf(p->why, sizeof p->why, "cannot run bench/torch_peer.py");
        return;
    }
    char line[512];
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        double v;
        if (sscanf(line, "train_img_per_s_b32: %lf", &v) == 1) p->train32 = v, got++;
        else if (sscanf(line, "train_img_per_s_b128: %lf", &v) == 1) p->train128 = v, got++;
        else if (sscanf(line, "infer_img_per_s_b256: %lf", &v) == 1) p->infer256 = v, got++;
        else if (sscanf(line, "probe_head_epoch_s: %lf", &v) == 1) p->probe_epoch = v, got++;
        else if (!strncmp(line, "skip:", 5)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(p->why, sizeof p->why, "%.200s", line + 6);
        }
    }
    int st = pclose(f);
    p->ok = got == (with_probe ? 4 : 3) && st == 0;
    if (!p->ok && !p->why[0]) snprintf(p->why, sizeof p->why, "peer failed (status %d)", st);
}

/* The peer's ResNet-18 rows (torchvision's resnet18, CIFAR variant);
 * 0, or -1 with why set. */
static int run_peer_resnet(int threads, double *train128, double *infer256, char *why,
                           size_t why_len) {
    char cmd[512];
    const char *sc = getenv("GOMP_SPINCOUNT");
    int ours = !getenv("OMP_WAIT_POLICY") && sc && !strcmp(sc, OMP_DEFAULT_SPINCOUNT);
    snprintf(cmd, sizeof cmd, "%s/usr/bin/python3 bench/torch_peer.py --threads %d --resnet 2>&1",
             ours ? "env -u GOMP_SPINCOUNT " : "", threads);
    FILE *f = access("/usr/bin/python3", X_OK) == 0 ? popen(cmd, "r") : NULL;
    if (!f) {
        snprintf(why, why_len, "cannot run /usr/bin/python3 bench/torch_peer.py");
        return -1;
    }
    char line[512];
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "resnet18_train_img_per_s_b128: %lf", train128) == 1) got++;
        else if (sscanf(line, "resnet18_infer_img_per_s_b256: %lf", infer256) == 1) got++;
        else if (!strncmp(line, "skip:", 5)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(why, why_len, "%.200s", line + 6);
        }
    }
    int st = pclose(f);
    if (got == 2 && st == 0) return 0;
    if (!why[0]) snprintf(why, why_len, "peer failed (status %d)", st);
    return -1;
}

int main(int argc, char **argv) {
    omp_default_wait(argv);
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int quick = 0, no_peer = 0, rounds = 0, resnet = 1, resnet_only = 0;
    const char *gpu_name = "cuda"; /* --gpu=emulated: the GPU rows' code on the CPU (tests) */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--no-peer")) no_peer = 1;
        else if (!strcmp(argv[i], "--no-resnet")) resnet = 0;
        else if (!strcmp(argv[i], "--resnet-only")) resnet_only = 1;
        else if (!strncmp(argv[i], "--threads=", 10)) threads = atoi(argv[i] + 10);
        else if (!strncmp(argv[i], "--gpu=", 6)) gpu_name = argv[i] + 6;
        else if (!strncmp(argv[i], "--rounds=", 9)) rounds = atoi(argv[i] + 9);
        else {
            fprintf(stderr, "usage: bench [--quick] [--no-peer] [--no-resnet|--resnet-only] "
                            "[--threads=N] [--rounds=N] [--gpu=cuda|emulated]\n");
            return 2;
        }
    }
    if (threads < 1) threads = 1;
    if (rounds < 1) rounds = quick ? 2 : 3;
    if (rounds > 16) rounds = 16;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    const Kernels *k = kernels_cpu_best();
    int reps = quick ? 3 : 5;
    printf("augprobe bench: %d threads, kernels %s\n", threads, k->name);

    Err e;
    Net *probe_net = net_create_text("seed_cnn", arch_builtin("seed_cnn"), 32, 32, 3, 1, 1, &e);
    if (!probe_net) {
        fprintf(stderr, "bench: %s\n", e.msg);
        return 1;
    }
    double macs = forward_macs(probe_net);
    net_free(probe_net);
    double train_flop = 6.0 * macs, infer_flop = 2.0 * macs;

    double peak = peak_gflops(threads);
    printf("peak fp32 FMA (measured): %.0f GFLOP/s\n", peak);
    double step_ms32 = 0, r32[16], r128[16], rinf[16], q32[16], q128[16], qinf[16];
    Peer peer;
    memset(&peer, 0, sizeof peer);
    if (no_peer) snprintf(peer.why, sizeof peer.why, "--no-peer");
    for (int r = 0; r < rounds && !resnet_only; r++) {
        double ms;
        r32[r] = bench_train(NULL, 32, quick ? 20 : 60, reps, threads, &ms);
        step_ms32 += ms / rounds;
        r128[r] = bench_train(NULL, 128, quick ? 6 : 15, reps, threads, NULL);
        rinf[r] = bench_infer(NULL, 256, quick ? 4 : 10, reps, threads);
        if (!no_peer) {
            printf("round %d/%d: running the PyTorch peer (bench/torch_peer.py)...\n", r + 1,
                   rounds);
            fflush(stdout);
            Peer pr;
            run_peer(&pr, threads, quick, r == 0);
            if (r == 0) peer = pr;
            if (!pr.ok) {
                peer.ok = 0;
                snprintf(peer.why, sizeof peer.why, "%s", pr.why);
            }
            q32[r] = pr.train32, q128[r] = pr.train128, qinf[r] = pr.infer256;
        }
        printf("round %d/%d: augprobe train b32 %.1f, b128 %.1f, infer %.1f img/s", r + 1, rounds,
               r32[r], r128[r], rinf[r]);
        if (peer.ok)
            printf("; pytorch %.1f, %.1f, %.1f; ratios %.2fx, %.2fx, %.2fx", q32[r], q128[r],
                   qinf[r], r32[r] / q32[r], r128[r] / q128[r], rinf[r] / qinf[r]);
        printf("\n");
        fflush(stdout);
    }
    double t32 = 0, t128 = 0, inf = 0;
    if (!resnet_only) t32 = median(r32, rounds), t128 = median(r128, rounds), inf = median(rinf, rounds);
    double ratio32 = 0, ratio128 = 0, ratio_inf = 0;
    if (peer.ok && !resnet_only) {
        double a[16], b[16], c[16];
        for (int r = 0; r < rounds; r++)
            a[r] = r32[r] / q32[r], b[r] = r128[r] / q128[r], c[r] = rinf[r] / qinf[r];
        ratio32 = median(a, rounds), ratio128 = median(b, rounds), ratio_inf = median(c, rounds);
        peer.train32 = median(q32, rounds), peer.train128 = median(q128, rounds);
        peer.infer256 = median(qinf, rounds);
    }
    /* ResNet-18 (resnet18, 32x32): a few steps per round, it is ~40x the
     * seed CNN's work per image. */
    double rt[16], ri[16], pt[16], pi[16], res_t = 0, res_i = 0, res_rt = 0, res_ri = 0;
    char res_why[256] = "";
    int res_peer = resnet && !no_peer;
    if (!resnet) snprintf(res_why, sizeof res_why, "--no-resnet");
    else if (no_peer) snprintf(res_why, sizeof res_why, "--no-peer");
    for (int r = 0; resnet && r < rounds; r++) {
        rt[r] = bench_train_arch("resnet18", NULL, 128, quick ? 1 : 2, 1, threads, NULL);
        ri[r] = bench_infer_arch("resnet18", "avgpool", NULL, 256, 1, 1, threads);
        if (res_peer) {
            printf("round %d/%d: ResNet-18 on the PyTorch peer...\n", r + 1, rounds);
            fflush(stdout);
            if (run_peer_resnet(threads, &pt[r], &pi[r], res_why, sizeof res_why)) res_peer = 0;
        }
        printf("round %d/%d: ResNet-18 augprobe train b128 %.1f, infer b256 %.1f img/s", r + 1,
               rounds, rt[r], ri[r]);
        if (res_peer)
            printf("; pytorch %.1f, %.1f; ratios %.2fx, %.2fx", pt[r], pi[r], rt[r] / pt[r],
                   ri[r] / pi[r]);
        printf("\n");
        fflush(stdout);
    }
    if (resnet_only && !resnet) {
        fprintf(stderr, "bench: --resnet-only and --no-resnet\n");
        return 2;
    }
    if (resnet) {
        res_t = median(rt, rounds), res_i = median(ri, rounds);
        if (res_peer) {
            double a[16], b[16];
            for (int r = 0; r < rounds; r++) a[r] = rt[r] / pt[r], b[r] = ri[r] / pi[r];
            res_rt = median(a, rounds), res_ri = median(b, rounds);
            for (int r = 0; r < rounds; r++) a[r] = pt[r], b[r] = pi[r];
            pt[0] = median(a, rounds), pi[0] = median(b, rounds);
        }
    }

    if (resnet_only) { /* the ResNet-18 rows alone (a loaded 2-core machine) */
        printf("\n%-34s %12s %12s %8s\n", "work", "augprobe", "pytorch", "ratio");
        if (res_peer) {
            printf("%-34s %10.1f  %10.1f  %7.2fx\n", "ResNet-18 train, batch 128 (img/s)", res_t,
                   pt[0], res_rt);
            printf("%-34s %10.1f  %10.1f  %7.2fx\n", "ResNet-18 infer, batch 256 (img/s)", res_i,
                   pi[0], res_ri);
        } else {
            printf("%-34s %10.1f\n%-34s %10.1f\nPyTorch ResNet-18 rows skipped: %s\n",
                   "ResNet-18 train, batch 128 (img/s)", res_t,
                   "ResNet-18 infer, batch 256 (img/s)", res_i, res_why);
        }
        printf("(medians of %d rounds; the ratio is the median of the rounds' ratios)\n", rounds);
        return 0;
    }
    int pairs = quick ? 8000 : 40000;
    double probe_s = bench_probe_epoch(pairs, threads);
    double aug_ms = bench_augment(threads);

    /* GPU rows: the CUDA backend where it is built and a GPU opens. */
    const DeviceOps *gpu = !strcmp(gpu_name, "emulated") ? device_emulated() : device_cuda();
    char gpu_why[600] = "", gpu_desc[200] = "";
    double g32 = 0, g128 = 0, ginf = 0;
    if (!gpu) {
        snprintf(gpu_why, sizeof gpu_why, "built without the CUDA backend (no nvcc)");
    } else {
        Device *d = gpu->open(&e);
        if (!d) {
            snprintf(gpu_why, sizeof gpu_why, "%s", e.msg);
        } else {
            gpu->describe(d, gpu_desc, sizeof gpu_desc);
            gpu->close(d);
            int emu = gpu == device_emulated(); /* tiny counts: it is slow */
            g32 = bench_train(gpu, 32, emu ? 1 : quick ? 200 : 500, emu ? 1 : reps, threads, NULL);
            g128 = bench_train(gpu, 128, emu ? 1 : quick ? 50 : 120, emu ? 1 : reps, threads, NULL);
            ginf = bench_infer(gpu, 256, emu ? 1 : quick ? 40 : 100, emu ? 1 : reps, threads);
        }
    }

    printf("\n%-34s %12s %12s %8s\n", "work", "augprobe", "pytorch", "ratio");
#define ROW(name, a, b, ratio)                                                          \
    do {                                                                               \
        if (peer.ok)                                                                   \
            printf("%-34s %10.1f  %10.1f  %7.2fx\n", name, a, b, ratio);               \
        else                                                                           \
            printf("%-34s %10.1f  %12s %8s\n", name, a, "-", "-");                     \
    } while (0)
    ROW("train, batch 32 (img/s)", t32, peer.train32, ratio32);
    ROW("train, batch 128 (img/s)", t128, peer.train128, ratio128);
    ROW("inference, batch 256 (img/s)", inf, peer.infer256, ratio_inf);
    if (resnet && res_peer) {
        printf("%-34s %10.1f  %10.1f  %7.2fx\n", "ResNet-18 train, batch 128 (img/s)", res_t,
               pt[0], res_rt);
        printf("%-34s %10.1f  %10.1f  %7.2fx\n", "ResNet-18 infer, batch 256 (img/s)", res_i,
               pi[0], res_ri);
    } else if (resnet) {
        printf("%-34s %10.1f  %12s %8s\n", "ResNet-18 train, batch 128 (img/s)", res_t, "-", "-");
        printf("%-34s %10.1f  %12s %8s\n", "ResNet-18 infer, batch 256 (img/s)", res_i, "-", "-");
    }
    printf("(medians of %d rounds; the ratio is the median of the rounds' ratios)\n", rounds);
    if (resnet && !res_peer) printf("PyTorch ResNet-18 rows skipped: %s\n", res_why);
    if (peer.ok)
        printf("%-34s %10.2f s %10.2f s %7.2fx\n", "probe head epoch (s, lower=better)",
               probe_s, peer.probe_epoch,
               peer.probe_epoch / probe_s);
    else
        printf("%-34s %10.2f s\n", "probe head epoch (s)", probe_s);
    if (!peer.ok) printf("PyTorch rows skipped: %s\n", peer.why);
    if (gpu_why[0]) {
        printf("GPU rows skipped: %s\n", gpu_why);
    } else {
        printf("\nGPU (%s: %s)                   augprobe  vs CPU\n", gpu->name, gpu_desc);
        printf("%-34s %10.1f   %7.2fx\n", "train, batch 32 (img/s)", g32, g32 / t32);
        printf("%-34s %10.1f   %7.2fx\n", "train, batch 128 (img/s)", g128, g128 / t128);
        printf("%-34s %10.1f   %7.2fx\n", "inference, batch 256 (img/s)", ginf, ginf / inf);
        printf("50 epochs of 40,000 images at batch 32: %.0f s of training steps\n",
               50.0 * 40000 / g32);
        printf("PyTorch GPU peer: not run (Debian's python3-torch is built without CUDA)\n");
    }
    printf("\nprobe head epoch: %d pairs of 2048-d features, batch 32\n", pairs);
    printf("augmentation: %.3f ms per batch of 32 = %.2f%% of a training step (%.2f ms)\n",
           aug_ms, 100.0 * aug_ms / step_ms32, step_ms32);
    double gf_train = t32 * train_flop / 1e9, gf_inf = inf * infer_flop / 1e9;
    /* FLOPs are those of direct convolution: Winograd does fewer, so the
     * share of peak can pass 100%. */
    printf("(GFLOP/s count direct-convolution FLOPs; Winograd does fewer)\n");
    printf("training: %.1f MFLOP/image, %.0f GFLOP/s = %.0f%% of peak\n", train_flop / 1e6,
           gf_train, 100 * gf_train / peak);
    printf("inference: %.1f MFLOP/image, %.0f GFLOP/s = %.0f%% of peak\n", infer_flop / 1e6,
           gf_inf, 100 * gf_inf / peak);

    /* Machine-readable summary. */
    printf("\nkernels: %s\n", k->name);
    printf("threads: %d\n", threads);
    printf("peak_gflops: %.1f\n", peak);
    printf("train_img_per_s: %.1f\n", t32);
    printf("train_img_per_s_b128: %.1f\n", t128);
    printf("infer_img_per_s: %.1f\n", inf);
    printf("probe_epoch_s: %.3f\n", probe_s);
    printf("augment_ms_per_batch32: %.3f\n", aug_ms);
    printf("augment_share_of_step: %.4f\n", aug_ms / step_ms32);
    printf("train_gflops: %.1f\n", gf_train);
    printf("infer_gflops: %.1f\n", gf_inf);
    if (!gpu_why[0]) {
        printf("gpu: %s\n", gpu_desc);
        printf("gpu_train_img_per_s: %.1f\n", g32);
        printf("gpu_train_img_per_s_b128: %.1f\n", g128);
        printf("gpu_infer_img_per_s: %.1f\n", ginf);
    } else {
        printf("gpu_train_img_per_s: skipped (%s)\n", gpu_why);
    }
    if (resnet) {
        printf("resnet18_train_img_per_s_b128: %.1f\n", res_t);
        printf("resnet18_infer_img_per_s_b256: %.1f\n", res_i);
        if (res_peer) {
            printf("resnet18_train_img_per_s_b128_pytorch: %.1f\n", pt[0]);
            printf("resnet18_infer_img_per_s_b256_pytorch: %.1f\n", pi[0]);
            printf("resnet18_train_ratio_b128: %.2f\n", res_rt);
            printf("resnet18_infer_ratio_b256: %.2f\n", res_ri);
        } else {
            printf("resnet18_ratio: skipped (%s)\n", res_why);
        }
    }
    if (peer.ok) {
        printf("train_img_per_s_pytorch: %.1f\n", peer.train32);
        printf("train_img_per_s_b128_pytorch: %.1f\n", peer.train128);
        printf("infer_img_per_s_pytorch: %.1f\n", peer.infer256);
        printf("probe_epoch_s_pytorch: %.3f\n", peer.probe_epoch);
        printf("train_ratio: %.2f\n", ratio32);
        printf("train_ratio_b128: %.2f\n", ratio128);
        printf("infer_ratio: %.2f\n", ratio_inf);
    } else {
        printf("train_img_per_s_pytorch: skipped (%s)\n", peer.why);
        printf("train_ratio: skipped\n");
        printf("infer_ratio: skipped\n");
    }
    return 0;
}
