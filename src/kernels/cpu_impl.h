/* cpu_impl.h - the fast CPU kernels, written once and compiled once per SIMD
 * level. It is #included (never compiled on its own) by cpu_avx512.c,
 * cpu_avx2.c and cpu_portable.c, which first define the vector vocabulary:
 *
 *   V                vector of VL floats
 *   v_load(p) v_store(p, x) v_set1(f) v_zero() v_fma(a, b, c) = a*b + c
 *   v_max(a, b)      element-wise max
 *   MR, NV           micro-tile: MR rows x NV vectors (NR = NV*VL columns)
 *   KT_NAME          the table's name; KT_GETTER the function returning it
 *
 * Design. Every heavy layer is a GEMM C[M][N] = A[M][K] . B[K][N] run by one
 * register-blocked micro-kernel (MR x NR accumulators in vector registers,
 * one broadcast of A and NV loads of B per k):
 *  - conv forward: A = im2col of a chunk of output pixels (built per thread
 *    in L2-sized pieces, never for the whole batch), B = packed HWIO weights;
 *    bias and ReLU are fused into the store;
 *  - conv dW: dW[K*K*Cin][Cout] += im2col^T . dout, per-thread partial sums
 *    reduced in thread order (deterministic for a given thread count);
 *  - conv dIn: a forward conv of dout with the flipped, transposed kernel
 *    ("same" padding with odd K is symmetric), so no col2im scatter/races;
 *  - dense: the same kernel on in . W, in^T . dout and (W . dout^T)^T.
 * Work is split statically into ctx->threads parts that depend only on the
 * shapes and the thread count, so a result is bit-identical run to run. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernels.h"

#define NR (NV * VL)
#define ROUND_UP(x, m) (((x) + (m) - 1) / (m) * (m))

/* ---------------------------------------------------------------------------
 * Micro-kernel. C[r][j] (r < mr, j < nr) gets sum_k A(r,k) * B[k*ldb + j]
 * with an epilogue: + bias[j], ReLU, and either stored, added to C, or
 * stored transposed (C[j*ldc + r]). B must have NR readable columns.
 * A(r,k) = A[r*a_rs + k*a_cs]. With clamp, rows r >= mr read row mr-1
 * (results dropped) so A needs only mr readable rows; without, A needs MR. */
enum { EPI_STORE = 0, EPI_ACCUM = 1, EPI_STORE_T = 2 };

static inline __attribute__((always_inline)) void
ukernel(int kc, const float *A, long a_rs, long a_cs, const float *B, long ldb, float *C,
        long ldc, int mr, int nr, const float *bias, int relu, int mode, int clamp) {
    V acc[MR][NV];
    const float *ap[MR];
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++) {
        ap[r] = A + (long)(clamp && r >= mr ? mr - 1 : r) * a_rs;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[r][v] = v_zero();
    }
    for (int k = 0; k < kc; k++) {
        V b[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) b[v] = v_load(B + (long)k * ldb + v * VL);
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++) {
            V a = v_set1(ap[r][(long)k * a_cs]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[r][v] = v_fma(a, b[v], acc[r][v]);
        }
    }
    if (mr == MR && nr == NR && mode != EPI_STORE_T) {
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) {
                V x = acc[r][v];
                float *c = C + (long)r * ldc + v * VL;
                if (bias) x = x + v_load(bias + v * VL);
                if (relu) x = v_max(x, v_zero());
                if (mode == EPI_ACCUM) x = x + v_load(c);
                v_store(c, x);
            }
        return;
    }
    float tmp[MR * NR] __attribute__((aligned(64)));
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) v_store(tmp + r * NR + v * VL, acc[r][v]);
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) {
            float x = tmp[r * NR + j];
            if (bias) x += bias[j];
            if (relu) x = x > 0 ? x : 0;
            if (mode == EPI_ACCUM) C[(long)r * ldc + j] += x;
            else if (mode == EPI_STORE) C[(long)r * ldc + j] = x;
            else C[(long)j * ldc + r] = x;
        }
}

/* A row-major (a_cs = 1, clamped) and a column-major (a_rs = 1, A padded to
 * MR rows by the caller) instance, so the compiler sees the unit stride. */
static void uk_rows(int kc, const float *A, long lda, const float *B, long ldb, float *C,
                    long ldc, int mr, int nr, const float *bias, int relu, int mode) {
    ukernel(kc, A, lda, 1, B, ldb, C, ldc, mr, nr, bias, relu, mode, 1);
}
static void uk_cols(int kc, const float *A, long lda, const float *B, long ldb, float *C,
                    long ldc, int mr, int nr, const float *bias, int relu, int mode) {
    ukernel(kc, A, 1, lda, B, ldb, C, ldc, mr, nr, bias, relu, mode, 0);
}

/* Part [lo, hi) of n items for part p of parts (contiguous, balanced). */
static inline void split(long n, int p, int parts, long *lo, long *hi) {
    *lo = n * p / parts;
    *hi = n * (p + 1) / parts;
}

/* Copies columns [j0, j0+nr) of a rows x ld matrix into a zero-padded
 * rows x NR panel (for the last, partial panel of a B operand). */
static void pack_panel(float *dst, const float *src, long ld, int rows, int j0, int nr) {
    for (int k = 0; k < rows; k++) {
        int j = 0;
        for (; j < nr; j++) dst[(long)k * NR + j] = src[(long)k * ld + j0 + j];
        for (; j < NR; j++) dst[(long)k * NR + j] = 0;
    }
}

/* ---------------------------------------------------------------------------
 * Convolution (stride 1, "same", odd K). */

/* The im2col rows of output pixels [p0, p0+mc) into col[mc][ldk]: row p holds
 * the K*K*Cin inputs under the kernel (zeros outside the image), then zeros
 * up to ldk. */
static void im2col(float *col, long ldk, const float *in, long p0, int mc, int H, int W,
                   int Cin, int K) {
    int pad = K / 2;
    long kdim = (long)K * K * Cin;
    for (int i = 0; i < mc; i++) {
        long p = p0 + i;
        int x = (int)(p % W), y = (int)(p / W % H);
        long n = p / ((long)W * H);
        float *dst = col + (long)i * ldk;
        for (int ky = 0; ky < K; ky++) {
            int iy = y + ky - pad;
            for (int kx = 0; kx < K; kx++) {
                int ix = x + kx - pad;
                float *d = dst + (long)(ky * K + kx) * Cin;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
                    for (int c = 0; c < Cin; c++) d[c] = 0;
                } else {
                    const float *s = in + ((n * H + iy) * W + ix) * Cin;
                    for (int c = 0; c < Cin; c++) d[c] = s[c];
                }
            }
        }
        for (long k = kdim; k < ldk; k++) dst[k] = 0;
    }
}

/* Pixels per im2col chunk: a multiple of MR, the chunk ~128 KiB (L2). */
static int conv_chunk(long ldk) {
    long mc = 32768 / ldk / MR * MR;
    if (mc < MR) mc = MR;
    if (mc > 32 * MR) mc = 32 * MR;
    return (int)mc;
}

/* out = conv(in, weights) with the weights already packed into NR-column
 * panels wp[ceil(Cout/NR)][kdim][NR]. */
static void conv_forward_packed(KernelCtx *ctx, float *out, const float *in, const float *wp,
                                const float *b, int N, int H, int W, int Cin, int Cout, int K,
                                int relu, float *scratch) {
    long kdim = (long)K * K * Cin, ldk = ROUND_UP(kdim, 16);
    long M = (long)N * H * W;
    int mc = conv_chunk(ldk);
    long nchunks = (M + mc - 1) / mc;
    int nt = ctx->threads, npanels = (Cout + NR - 1) / NR;
    /* Bias padded to whole panels, so the vector epilogue may read it. */
    float *bias = scratch;
    for (int j = 0; j < npanels * NR; j++) bias[j] = (b && j < Cout) ? b[j] : 0;
    float *cols = scratch + ROUND_UP(npanels * NR, 16);
#pragma omp parallel num_threads(nt)
    {
        for (int part = omp_get_thread_num(); part < nt; part += omp_get_num_threads()) {
            float *col = cols + (long)part * mc * ldk;
            long c0, c1;
            split(nchunks, part, nt, &c0, &c1);
            for (long ch = c0; ch < c1; ch++) {
                long p0 = ch * mc;
                int m = (int)(M - p0 < mc ? M - p0 : mc);
                im2col(col, ldk, in, p0, m, H, W, Cin, K);
                for (int jp = 0; jp < npanels; jp++) {
                    int j0 = jp * NR, nr = Cout - j0 < NR ? Cout - j0 : NR;
                    const float *B = wp + (long)jp * kdim * NR;
                    for (int i0 = 0; i0 < m; i0 += MR) {
                        int mr = m - i0 < MR ? m - i0 : MR;
                        uk_rows((int)kdim, col + (long)i0 * ldk, ldk, B, NR,
                                out + (p0 + i0) * Cout + j0, Cout, mr, nr, bias + j0, relu,
                                EPI_STORE);
                    }
                }
            }
        }
    }
}

static size_t conv_forward_scratch(int threads, long kdim, int Cout) {
    long ldk = ROUND_UP(kdim, 16);
    return (size_t)ROUND_UP(ROUND_UP(Cout, NR), 16) + (size_t)threads * conv_chunk(ldk) * ldk;
}

static void conv_forward(KernelCtx *ctx, float *out, const float *in, const float *w,
                         const float *b, int N, int H, int W, int Cin, int Cout, int K,
                         int relu) {
    long kdim = (long)K * K * Cin;
    int npanels = (Cout + NR - 1) / NR;
    size_t wlen = (size_t)npanels * kdim * NR;
    float *s = kctx_scratch(ctx, wlen + conv_forward_scratch(ctx->threads, kdim, Cout));
    for (int jp = 0; jp < npanels; jp++) {
        int nr = Cout - jp * NR < NR ? Cout - jp * NR : NR;
        pack_panel(s + (size_t)jp * kdim * NR, w, Cout, (int)kdim, jp * NR, nr);
    }
    conv_forward_packed(ctx, out, in, s, b, N, H, W, Cin, Cout, K, relu, s + wlen);
}

static void conv_backward(KernelCtx *ctx, float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, int N, int H, int W, int Cin,
                          int Cout, int K) {
    long kdim = (long)K * K * Cin;
    long ldk = ROUND_UP(ROUND_UP(kdim, MR), 16); /* clamped tiles read up to MR rows */
    long M = (long)N * H * W;
    int nt = ctx->threads, npanels = (Cout + NR - 1) / NR;
    /* dW: per part, partial[kdim][Cout] += col^T . dout over its pixel chunks. */
    int mc = conv_chunk(ldk) * 2;
    long nchunks = (M + mc - 1) / mc;
    size_t plen = (size_t)ROUND_UP(kdim * Cout + Cout, 16);
    size_t per = (size_t)mc * ldk + (size_t)mc * NR + plen;
    float *s = kctx_scratch(ctx, per * nt);
#pragma omp parallel num_threads(nt)
    {
        for (int part = omp_get_thread_num(); part < nt; part += omp_get_num_threads()) {
            float *col = s + per * part, *edge = col + (size_t)mc * ldk, *pdw = edge + mc * NR;
            float *pdb = pdw + kdim * Cout;
            memset(pdw, 0, sizeof(float) * (kdim * Cout + Cout));
            long c0, c1;
            split(nchunks, part, nt, &c0, &c1);
            for (long ch = c0; ch < c1; ch++) {
                long p0 = ch * mc;
                int m = (int)(M - p0 < mc ? M - p0 : mc);
                im2col(col, ldk, in, p0, m, H, W, Cin, K);
                const float *g = dout + p0 * Cout;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < Cout; j++) pdb[j] += g[(long)i * Cout + j];
                for (int jp = 0; jp < npanels; jp++) {
                    int j0 = jp * NR, nr = Cout - j0 < NR ? Cout - j0 : NR;
                    const float *B = g + j0;
                    long ldb = Cout;
                    if (nr < NR) {
                        pack_panel(edge, g, Cout, m, j0, nr);
                        B = edge;
                        ldb = NR;
                    }
                    for (long i0 = 0; i0 < kdim; i0 += MR) {
                        int mr = kdim - i0 < MR ? (int)(kdim - i0) : MR;
                        uk_cols(m, col + i0, ldk, B, ldb, pdw + i0 * Cout + j0, Cout, mr, nr,
                                NULL, 0, EPI_ACCUM);
                    }
                }
            }
        }
#pragma omp barrier
        /* Reduce the partials in part order, split over the weight entries. */
        long len = kdim * Cout + Cout;
        int T = omp_get_num_threads();
        long lo, hi;
        split(len, omp_get_thread_num(), T, &lo, &hi);
        for (long i = lo; i < hi; i++) {
            float sum = 0;
            for (int part = 0; part < nt; part++) sum += s[per * part + (size_t)mc * ldk + mc * NR + i];
            if (i < kdim * Cout) dw[i] += sum;
            else if (db) db[i - kdim * Cout] += sum;
        }
    }
    if (!din) return;
    /* dIn = conv(dout, w') with w'[ky][kx][co][ci] = w[K-1-ky][K-1-kx][ci][co]. */
    long kdim2 = (long)K * K * Cout;
    int np2 = (Cin + NR - 1) / NR;
    size_t wlen = (size_t)np2 * kdim2 * NR;
    float *s2 = kctx_scratch(ctx, wlen + conv_forward_scratch(nt, kdim2, Cin));
    for (int jp = 0; jp < np2; jp++)
        for (int t = 0; t < K * K; t++) {
            int ft = K * K - 1 - t;
            for (int co = 0; co < Cout; co++) {
                float *d = s2 + ((size_t)jp * kdim2 + (long)t * Cout + co) * NR;
                for (int j = 0; j < NR; j++) {
                    int ci = jp * NR + j;
                    d[j] = ci < Cin ? w[((long)ft * Cin + ci) * Cout + co] : 0;
                }
            }
        }
    conv_forward_packed(ctx, din, dout, s2, NULL, N, H, W, Cout, Cin, K, 0, s2 + wlen);
}

/* ---------------------------------------------------------------------------
 * Dense. */

static void dense_forward(KernelCtx *ctx, float *out, const float *in, const float *w,
                          const float *b, int B, int In, int Out, int relu) {
    int npanels = (Out + NR - 1) / NR, nrows = (B + MR - 1) / MR;
    int full = Out / NR;
    size_t elen = (size_t)In * NR;
    float *s = kctx_scratch(ctx, elen + ROUND_UP(npanels * NR, 16));
    float *edge = s, *bias = s + elen;
    if (full < npanels) pack_panel(edge, w, Out, In, full * NR, Out - full * NR);
    for (int j = 0; j < npanels * NR; j++) bias[j] = (b && j < Out) ? b[j] : 0;
    long items = (long)npanels * nrows;
    int nt = ctx->threads;
#pragma omp parallel num_threads(nt)
    for (int part = omp_get_thread_num(); part < nt; part += omp_get_num_threads()) {
        long lo, hi;
        split(items, part, nt, &lo, &hi);
        for (long it = lo; it < hi; it++) {
            int jp = (int)(it / nrows), i0 = (int)(it % nrows) * MR;
            int j0 = jp * NR, nr = Out - j0 < NR ? Out - j0 : NR, mr = B - i0 < MR ? B - i0 : MR;
            const float *Bp = jp < full ? w + j0 : edge;
            long ldb = jp < full ? Out : NR;
            uk_rows(In, in + (long)i0 * In, In, Bp, ldb, out + (long)i0 * Out + j0, Out, mr, nr,
                    bias + j0, relu, EPI_STORE);
        }
    }
}

static void dense_backward(KernelCtx *ctx, float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w, int B, int In, int Out) {
    int nt = ctx->threads;
    int npanels = (Out + NR - 1) / NR, full = Out / NR;
    long inp = ROUND_UP(In, MR); /* in, padded so column-major tiles read MR rows */
    int bpanels = (B + NR - 1) / NR;
    size_t a_len = (size_t)B * inp, e_len = (size_t)B * NR, t_len = (size_t)bpanels * Out * NR;
    float *s = kctx_scratch(ctx, a_len + e_len + t_len);
    float *inpad = s, *edge = s + a_len, *gt = edge + e_len;
    for (int n = 0; n < B; n++) {
        memcpy(inpad + (long)n * inp, in + (long)n * In, sizeof(float) * In);
        for (long i = In; i < inp; i++) inpad[(long)n * inp + i] = 0;
    }
    if (full < npanels) pack_panel(edge, dout, Out, B, full * NR, Out - full * NR);
    /* dout^T in NR-wide panels over the batch, for din^T = W . dout^T. */
    for (int bp = 0; bp < bpanels; bp++)
        for (int o = 0; o < Out; o++)
            for (int j = 0; j < NR; j++) {
                int n = bp * NR + j;
                gt[((long)bp * Out + o) * NR + j] = n < B ? dout[(long)n * Out + o] : 0;
            }
    if (db)
        for (int n = 0; n < B; n++)
            for (int o = 0; o < Out; o++) db[o] += dout[(long)n * Out + o];
    int irows = (In + MR - 1) / MR;
    long items_w = (long)irows * npanels, items_x = din ? (long)irows * bpanels : 0;
#pragma omp parallel num_threads(nt)
    for (int part = omp_get_thread_num(); part < nt; part += omp_get_num_threads()) {
        long lo, hi;
        split(items_w, part, nt, &lo, &hi);
        for (long it = lo; it < hi; it++) { /* dW[In][Out] += in^T . dout */
            int jp = (int)(it % npanels), i0 = (int)(it / npanels) * MR;
            int j0 = jp * NR, nr = Out - j0 < NR ? Out - j0 : NR, mr = In - i0 < MR ? In - i0 : MR;
            const float *Bp = jp < full ? dout + j0 : edge;
            long ldb = jp < full ? Out : NR;
            uk_cols(B, inpad + i0, inp, Bp, ldb, dw + (long)i0 * Out + j0, Out, mr, nr, NULL, 0,
                    EPI_ACCUM);
        }
        split(items_x, part, nt, &lo, &hi);
        for (long it = lo; it < hi; it++) { /* din^T[In][B] = W . dout^T */
            int bp = (int)(it % bpanels), i0 = (int)(it / bpanels) * MR;
            int j0 = bp * NR, nr = B - j0 < NR ? B - j0 : NR, mr = In - i0 < MR ? In - i0 : MR;
            uk_rows(Out, w + (long)i0 * Out, Out, gt + (long)bp * Out * NR, NR,
                    din + (long)j0 * In + i0, In, mr, nr, NULL, 0, EPI_STORE_T);
        }
    }
}

/* ---------------------------------------------------------------------------
 * Memory-bound layers: threaded over rows, vectorised over channels. */

static void relu_backward(KernelCtx *ctx, float *din, const float *dout, const float *out,
                          long n) {
    int nt = ctx->threads;
#pragma omp parallel num_threads(nt)
    for (int part = omp_get_thread_num(); part < nt; part += omp_get_num_threads()) {
        long lo, hi;
        split(n, part, nt, &lo, &hi);
        for (long i = lo; i < hi; i++) din[i] = out[i] > 0 ? dout[i] : 0;
    }
}

/* Rows per block whose float sums are then added in double. */
#define BN_BLOCK 256

/* Per-part sums over rows [lo,hi) of x (mode 0), (x-mean)^2 (mode 1). */
static void bn_colsum(double *acc, const float *x, const float *mean, long lo, long hi, int C,
                      int mode, float *blk) {
    for (int c = 0; c < C; c++) acc[c] = 0;
    for (long m0 = lo; m0 < hi; m0 += BN_BLOCK) {
        long m1 = m0 + BN_BLOCK < hi ? m0 + BN_BLOCK : hi;
        for (int c = 0; c < C; c++) blk[c] = 0;
        for (long m = m0; m < m1; m++) {
            const float *r = x + m * C;
            if (mode == 0)
                for (int c = 0; c < C; c++) blk[c] += r[c];
            else
                for (int c = 0; c < C; c++) {
                    float d = r[c] - mean[c];
                    blk[c] += d * d;
                }
        }
        for (int c = 0; c < C; c++) acc[c] += blk[c];
    }
}

static void bn_forward_train(KernelCtx *ctx, float *out, float *save_mean, float *save_invstd,
                             const float *in, const float *gamma, const float *beta,
                             float *moving_mean, float *moving_var, long M, int C,
                             float momentum, float eps) {
    int nt = ctx->threads;
    size_t cpad = ROUND_UP(C, 16);
    /* parts x C doubles of partial sums, then per-part float block sums. */
    float *s = kctx_scratch(ctx, (size_t)nt * cpad * 3 + cpad * 3);
    double *part_sum = (double *)s;
    float *blk = s + (size_t)nt * cpad * 2, *meanf = blk + (size_t)nt * cpad;
    float *scale = meanf + cpad;
#pragma omp parallel num_threads(nt)
    {
        int T = omp_get_num_threads(), t = omp_get_thread_num();
        long lo, hi;
        for (int part = t; part < nt; part += T) {
            split(M, part, nt, &lo, &hi);
            bn_colsum(part_sum + part * cpad, in, NULL, lo, hi, C, 0, blk + part * cpad);
        }
#pragma omp barrier
#pragma omp single
        for (int c = 0; c < C; c++) {
            double sum = 0;
            for (int part = 0; part < nt; part++) sum += part_sum[part * cpad + c];
            meanf[c] = (float)(sum / (double)M);
        }
        for (int part = t; part < nt; part += T) {
            split(M, part, nt, &lo, &hi);
            bn_colsum(part_sum + part * cpad, in, meanf, lo, hi, C, 1, blk + part * cpad);
        }
#pragma omp barrier
#pragma omp single
        for (int c = 0; c < C; c++) {
            double sq = 0;
            for (int part = 0; part < nt; part++) sq += part_sum[part * cpad + c];
            double var = sq / (double)M;
            float invstd = (float)(1.0 / sqrt(var + eps));
            save_mean[c] = meanf[c];
            save_invstd[c] = invstd;
            scale[c] = invstd * gamma[c];
            double unbiased = M > 1 ? sq / (double)(M - 1) : var;
            moving_mean[c] = momentum * moving_mean[c] + (1.0f - momentum) * meanf[c];
            moving_var[c] = momentum * moving_var[c] + (1.0f - momentum) * (float)unbiased;
        }
        for (int part = t; part < nt; part += T) {
            split(M, part, nt, &lo, &hi);
            for (long m = lo; m < hi; m++)
                for (int c = 0; c < C; c++)
                    out[m * C + c] = (in[m * C + c] - meanf[c]) * scale[c] + beta[c];
        }
    }
}

static void bn_forward_infer(KernelCtx *ctx, float *out, const float *in, const float *gamma,
                             const float *beta, const float *moving_mean,
                             const float *moving_var, long M, int C, float eps) {
    int nt = ctx->threads;
    size_t cpad = ROUND_UP(C, 16);
    float *scale = kctx_scratch(ctx, cpad);
    for (int c = 0; c < C; c++) scale[c] = 1.0f / sqrtf(moving_var[c] + eps) * gamma[c];
#pragma omp parallel num_threads(nt)
    for (int part = omp_get_thread_num(); part < nt; part += omp_get_num_threads()) {
        long lo, hi;
        split(M, part, nt, &lo, &hi);
        for (long m = lo; m < hi; m++)
            for (int c = 0; c < C; c++)
                out[m * C + c] = (in[m * C + c] - moving_mean[c]) * scale[c] + beta[c];
    }
}

static void bn_backward(KernelCtx *ctx, float *din, float *dgamma, float *dbeta,
                        const float *dout, const float *in, const float *save_mean,
                        const float *save_invstd, const float *gamma, long M, int C) {
    int nt = ctx->threads;
    size_t cpad = ROUND_UP(C, 16);
    float *s = kctx_scratch(ctx, (size_t)nt * cpad * 6 + cpad * 2);
    double *psum_g = (double *)s, *psum_gx = psum_g + nt * cpad;
    float *blk = s + (size_t)nt * cpad * 4, *ka = blk + nt * cpad * 2, *kb = ka + cpad;
#pragma omp parallel num_threads(nt)
    {
        int T = omp_get_num_threads(), t = omp_get_thread_num();
        long lo, hi;
        for (int part = t; part < nt; part += T) {
            split(M, part, nt, &lo, &hi);
            double *sg = psum_g + part * cpad, *sgx = psum_gx + part * cpad;
            float *bg = blk + part * cpad * 2, *bgx = bg + cpad;
            for (int c = 0; c < C; c++) sg[c] = sgx[c] = 0;
            for (long m0 = lo; m0 < hi; m0 += BN_BLOCK) {
                long m1 = m0 + BN_BLOCK < hi ? m0 + BN_BLOCK : hi;
                for (int c = 0; c < C; c++) bg[c] = bgx[c] = 0;
                for (long m = m0; m < m1; m++)
                    for (int c = 0; c < C; c++) {
                        float g = dout[m * C + c];
                        bg[c] += g;
                        bgx[c] += g * ((in[m * C + c] - save_mean[c]) * save_invstd[c]);
                    }
                for (int c = 0; c < C; c++) {
                    sg[c] += bg[c];
                    sgx[c] += bgx[c];
                }
            }
        }
#pragma omp barrier
#pragma omp single
        for (int c = 0; c < C; c++) {
            double sum_g = 0, sum_gx = 0;
            for (int part = 0; part < nt; part++) {
                sum_g += psum_g[part * cpad + c];
                sum_gx += psum_gx[part * cpad + c];
            }
            dgamma[c] += (float)sum_gx;
            dbeta[c] += (float)sum_g;
            /* din = k*(g - sum_g/M - xhat*sum_gx/M), k = gamma*invstd; with
             * xhat = (x-mean)*invstd this is g*k + x*ka[c]... folded below. */
            ka[c] = (float)(sum_g / (double)M);
            kb[c] = (float)(sum_gx / (double)M);
        }
        if (din)
            for (int part = t; part < nt; part += T) {
                split(M, part, nt, &lo, &hi);
                for (long m = lo; m < hi; m++)
                    for (int c = 0; c < C; c++) {
                        float xhat = (in[m * C + c] - save_mean[c]) * save_invstd[c];
                        din[m * C + c] = gamma[c] * save_invstd[c] *
                                         (dout[m * C + c] - ka[c] - xhat * kb[c]);
                    }
            }
    }
}

static void maxpool_forward(KernelCtx *ctx, float *out, const float *in, int N, int H, int W,
                            int C) {
    int Ho = H / 2, Wo = W / 2, nt = ctx->threads;
#pragma omp parallel num_threads(nt)
    for (int part = omp_get_thread_num(); part < nt; part += omp_get_num_threads()) {
        long lo, hi;
        split((long)N * Ho, part, nt, &lo, &hi);
        for (long row = lo; row < hi; row++) {
            long n = row / Ho, y = row % Ho;
            for (int x = 0; x < Wo; x++) {
                const float *a = in + ((n * H + 2 * y) * W + 2 * x) * C, *b = a + C;
                const float *c2 = a + (long)W * C, *d = c2 + C;
                float *o = out + (row * Wo + x) * C;
                for (int c = 0; c < C; c++) {
                    float m = a[c];
                    m = b[c] > m ? b[c] : m;
                    m = c2[c] > m ? c2[c] : m;
                    m = d[c] > m ? d[c] : m;
                    o[c] = m;
                }
            }
        }
    }
}

/* The gradient goes to the FIRST maximum in row-major order; windows do not
 * overlap, so every din element is written exactly once (no memset). */
static void maxpool_backward(KernelCtx *ctx, float *din, const float *dout, const float *in,
                             int N, int H, int W, int C) {
    int Ho = H / 2, Wo = W / 2, nt = ctx->threads;
#pragma omp parallel num_threads(nt)
    for (int part = omp_get_thread_num(); part < nt; part += omp_get_num_threads()) {
        long lo, hi;
        split((long)N * Ho, part, nt, &lo, &hi);
        for (long row = lo; row < hi; row++) {
            long n = row / Ho, y = row % Ho;
            for (int x = 0; x < Wo; x++) {
                long ia = ((n * H + 2 * y) * W + 2 * x) * C, ib = ia + C;
                long ic = ia + (long)W * C, id = ic + C;
                const float *g = dout + (row * Wo + x) * C;
                for (int c = 0; c < C; c++) {
                    float va = in[ia + c], vb = in[ib + c], vc = in[ic + c], vd = in[id + c];
                    float m = va;
                    int w = 0;
                    if (vb > m) m = vb, w = 1;
                    if (vc > m) m = vc, w = 2;
                    if (vd > m) w = 3;
                    din[ia + c] = w == 0 ? g[c] : 0;
                    din[ib + c] = w == 1 ? g[c] : 0;
                    din[ic + c] = w == 2 ? g[c] : 0;
                    din[id + c] = w == 3 ? g[c] : 0;
                }
            }
        }
    }
}

static const Kernels TABLE = {
    KT_NAME,         conv_forward,     conv_backward, dense_forward,   dense_backward,
    relu_backward,   bn_forward_train, bn_forward_infer, bn_backward, maxpool_forward,
    maxpool_backward,
};

const Kernels *KT_GETTER(void) { return &TABLE; }
