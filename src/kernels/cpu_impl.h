/* cpu_impl.h - the fast CPU kernels, written once and compiled once per SIMD
 * level. It is #included (never compiled on its own) by cpu_avx512.c,
 * cpu_avx2.c and cpu_portable.c, which first define the vector vocabulary:
 *
 *   V                vector of VL floats
 *   v_load(p) v_store(p, x) v_set1(f) v_zero() v_fma(a, b, c) = a*b + c
 *   v_max(a, b)      element-wise max   (V must be a GCC vector type: x > y
 *                    gives a lane mask, see v_sel)
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
 *  - 3x3 convs on even H, W with Cin >= 8 (all but the seed net's first)
 *    use Winograd F(2x2, 3x3) instead: 16 GEMMs in the transformed domain,
 *    2.25x fewer multiply-adds (see the Winograd section);
 *  - dense: the same kernel on W^T . in^T, in^T . dout and (W . dout^T)^T.
 * Threads take output chunks dynamically (each output element is computed
 * by one chunk, the same way whoever runs it); weight gradients are summed
 * in a fixed number of parts (depending only on ctx->threads) added in part
 * order, so a result is bit-identical run to run for a given thread count. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"
#include "kernels.h"

#define NR (NV * VL)

/* Lane masks (all ones / zeros) from GCC vector comparisons, and a select. */
typedef int VI __attribute__((vector_size(sizeof(V))));
static inline V v_sel(VI mask, V x, V y) { return (V)((mask & (VI)x) | (~mask & (VI)y)); }
#define ROUND_UP(x, m) (((x) + (m) - 1) / (m) * (m))

/* ---------------------------------------------------------------------------
 * Micro-kernel. C[r][j] (r < mr, j < nr) gets sum_k A(r,k) * B[k*ldb + j]
 * with an epilogue: + C (EPI_ACCUM), + bias[j], ReLU, then stored (to C, or
 * transposed: C[j*ldc + r]). B must have NR readable columns.
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
                if (mode == EPI_ACCUM) x = x + v_load(c);
                if (bias) x = x + v_load(bias + v * VL);
                if (relu) x = v_max(x, v_zero());
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
            if (mode == EPI_ACCUM) x += C[(long)r * ldc + j];
            if (bias) x += bias[j];
            if (relu) x = x > 0 ? x : 0;
            if (mode == EPI_STORE_T) C[(long)j * ldc + r] = x;
            else C[(long)r * ldc + j] = x;
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
    int x = (int)(p0 % W), y = (int)(p0 / W % H);
    long n = p0 / ((long)W * H);
    for (int i = 0; i < mc; i++) {
        float *dst = col + (long)i * ldk;
        /* Taps kx in [kx0, kx1) fall inside the image; for each kernel row
         * they are K*Cin-long runs contiguous in NHWC, copied in one go. */
        int kx0 = pad - x > 0 ? pad - x : 0, kx1 = W - x + pad < K ? W - x + pad : K;
        for (int ky = 0; ky < K; ky++) {
            int iy = y + ky - pad;
            float *d = dst + (long)ky * K * Cin;
            if (iy < 0 || iy >= H) {
                for (long c = 0; c < (long)K * Cin; c++) d[c] = 0;
                continue;
            }
            for (long c = 0; c < (long)kx0 * Cin; c++) d[c] = 0;
            const float *s = in + ((n * H + iy) * W + x + kx0 - pad) * Cin;
            long run = (long)(kx1 - kx0) * Cin;
            float *dr = d + (long)kx0 * Cin;
            for (long c = 0; c < run; c++) dr[c] = s[c];
            for (long c = (long)kx1 * Cin; c < (long)K * Cin; c++) d[c] = 0;
        }
        for (long k = kdim; k < ldk; k++) dst[k] = 0;
        if (++x == W) {
            x = 0;
            if (++y == H) y = 0, n++;
        }
    }
}

/* Pixels per im2col chunk: a multiple of MR, the chunk ~128 KiB (L2). */
static int conv_chunk(long ldk) {
    long mc = 32768 / ldk / MR * MR;
    if (mc < MR) mc = MR;
    if (mc > 32 * MR) mc = 32 * MR;
    return (int)mc;
}

/* Parts of a weight-gradient sum: each part sums a fixed range of chunks
 * into its own partial, and parts are handed to threads dynamically (a
 * thread that the OS delays does not hold up the rest). The partials are
 * added in part order, and their number depends only on the thread count,
 * so the result is the same bits whichever thread did which part. */
static int dw_parts(int threads, long nchunks) {
    long np = threads > 1 ? 3L * threads : 1;
    return (int)(np < nchunks ? np : nchunks > 0 ? nchunks : 1);
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
        float *col = cols + (long)omp_get_thread_num() * mc * ldk;
#pragma omp for schedule(dynamic, 1)
        for (long ch = 0; ch < nchunks; ch++) {
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

static size_t conv_forward_scratch(int threads, long kdim, int Cout) {
    long ldk = ROUND_UP(kdim, 16);
    return (size_t)ROUND_UP(ROUND_UP(Cout, NR), 16) + (size_t)threads * conv_chunk(ldk) * ldk;
}

static void conv_forward_gemm(KernelCtx *ctx, float *out, const float *in, const float *w,
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

static void conv_backward_gemm(KernelCtx *ctx, float *din, float *dw, float *db,
                               const float *dout, const float *in, const float *w, int N, int H, int W, int Cin,
                          int Cout, int K) {
    long kdim = (long)K * K * Cin;
    long ldk = ROUND_UP(ROUND_UP(kdim, MR), 16); /* clamped tiles read up to MR rows */
    long M = (long)N * H * W;
    int nt = ctx->threads, npanels = (Cout + NR - 1) / NR;
    /* dW: per part, partial[kdim][Cout] += col^T . dout over its pixel chunks. */
    int mc = conv_chunk(ldk) * 2;
    long nchunks = (M + mc - 1) / mc;
    size_t plen = (size_t)ROUND_UP(kdim * Cout + Cout, 16);
    size_t per = (size_t)mc * ldk + (size_t)mc * NR;
    int np = dw_parts(nt, nchunks);
    float *s = kctx_scratch(ctx, per * nt + plen * np), *partials = s + per * nt;
#pragma omp parallel num_threads(nt)
    {
        float *col = s + per * omp_get_thread_num(), *edge = col + (size_t)mc * ldk;
#pragma omp for schedule(dynamic, 1)
        for (int part = 0; part < np; part++) {
            float *pdw = partials + plen * part, *pdb = pdw + kdim * Cout;
            long c0, c1;
            split(nchunks, part, np, &c0, &c1);
            /* The part's first chunk stores pdw (no memset of it), the rest add. */
            if (c1 > c0) memset(pdb, 0, sizeof(float) * Cout);
            else memset(pdw, 0, sizeof(float) * (kdim * Cout + Cout));
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
                                NULL, 0, ch == c0 ? EPI_STORE : EPI_ACCUM);
                    }
                }
            }
        }
        /* (the omp for's barrier) Reduce the partials in part order. */
        long len = kdim * Cout + Cout;
        int T = omp_get_num_threads();
        long lo, hi;
        split(len, omp_get_thread_num(), T, &lo, &hi);
        for (long i = lo; i < hi; i++) {
            float sum = 0;
            for (int part = 0; part < np; part++) sum += partials[plen * part + i];
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
 * Winograd F(2x2, 3x3) for the 3x3 convolutions with even H and W (all of
 * the seed net's): each 2x2 output tile costs 16 products per (ci, co)
 * instead of 36, so the GEMMs do 2.25x fewer multiply-adds. Per tile of 4x4
 * inputs d: V = B^T d B, per (ci, co) kernel g: U = G g G^T, and the output
 * is A^T (sum_ci V U) A; in the transformed domain the sum over ci is one
 * GEMM per each of the 16 positions xi. Backward: dU = sum_tiles V * Z with
 * Z = A dY A^T, then dW = G^T dU G; dIn is a forward pass of the flipped
 * kernel. Transforms use only +, - and *0.5, so they are accurate.
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1] */

/* Only where it pays: with few input channels the transforms dominate. */
static int wino_ok(int H, int W, int Cin, int K) {
    return K == 3 && H % 2 == 0 && W % 2 == 0 && Cin >= 8;
}

#ifndef WINO_BUDGET
#define WINO_BUDGET 131072
#endif

/* Tiles per chunk: V and M of a chunk (16 * tc * (Cin + Cout) floats) take
 * WINO_BUDGET floats (512 KiB: half of a Zen 4 core's L2), but at least
 * Cin*Cout/(Cin+Cout): every chunk streams the 16 * Cin * Cout transformed
 * weights (forward) or weight-gradient partials (read and written), so with
 * ResNet-18's 256- and 512-channel stages the budget alone gave chunks of
 * one MR block and a weight gradient bound by memory (layer4's backward
 * took 5x its forward). This floor keeps that traffic below the chunk's
 * own planes. */
static int wino_chunk(int Cin, int Cout) {
    long tc = WINO_BUDGET / 16 / (ROUND_UP(Cin, MR) + ROUND_UP(Cout, NR)) / MR * MR;
    long min_tc = (long)Cin * Cout / (Cin + Cout);
    if (tc < min_tc) tc = ROUND_UP(min_tc, MR);
    if (tc < MR) tc = MR;
    if (tc > 64 * MR) tc = 64 * MR;
    return (int)tc;
}

/* o = B^T-style butterfly of four rows d (n floats each): d0-d2, d1+d2,
 * d2-d1, d1-d3. Explicit vectors: the compiler cannot prove no aliasing. */
static inline __attribute__((always_inline)) void bt4(float *o0, float *o1, float *o2, float *o3, const float *d0, const float *d1,
                const float *d2, const float *d3, int n) {
    int c = 0;
    for (; c + VL <= n; c += VL) {
        V a = v_load(d0 + c), b = v_load(d1 + c), e = v_load(d2 + c), f = v_load(d3 + c);
        v_store(o0 + c, a - e);
        v_store(o1 + c, b + e);
        v_store(o2 + c, e - b);
        v_store(o3 + c, b - f);
    }
    for (; c < n; c++) {
        float a = d0[c], b = d1[c], e = d2[c], f = d3[c];
        o0[c] = a - e, o1[c] = b + e, o2[c] = e - b, o3[c] = b - f;
    }
}

/* V[xi][i][0..Cin) (row stride ldv, 16 planes of plane floats) for tiles
 * [t0, t0+tc); channels Cin..ldv are left alone (wino_pad_zero clears them
 * once per call). tb: 16*Cin floats of work space; zeros: Cin zeros (the
 * padding). */
static void wino_input(float *vt, long plane, int ldv, const float *in, long t0, int tc, int H,
                       int W, int Cin, float *tb, const float *zeros) {
    int th = H / 2, tw = W / 2;
    for (int i = 0; i < tc; i++) {
        long t = t0 + i;
        int tx = (int)(t % tw), ty = (int)(t / tw % th);
        long n = t / ((long)tw * th);
        const float *row[4][4];
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++) {
                int y = 2 * ty - 1 + a, x = 2 * tx - 1 + b;
                row[a][b] = (y < 0 || y >= H || x < 0 || x >= W)
                                ? zeros
                                : in + ((n * H + y) * W + x) * Cin;
            }
        float *v = vt + (long)i * ldv;
        /* tb[a][b] = (B^T d)[a][b], then V[4a+b] = (tb B)[a][b]. */
        for (int b = 0; b < 4; b++)
            bt4(tb + (0 * 4 + b) * Cin, tb + (1 * 4 + b) * Cin, tb + (2 * 4 + b) * Cin,
                tb + (3 * 4 + b) * Cin, row[0][b], row[1][b], row[2][b], row[3][b], Cin);
        for (int a = 0; a < 4; a++)
            bt4(v + (4 * a + 0) * plane, v + (4 * a + 1) * plane, v + (4 * a + 2) * plane,
                v + (4 * a + 3) * plane, tb + (4 * a + 0) * Cin, tb + (4 * a + 1) * Cin,
                tb + (4 * a + 2) * Cin, tb + (4 * a + 3) * Cin, Cin);
    }
}

/* Zeros channels Cin..ldv of a thread's V buffer (tc rows in each of the 16
 * planes): column-major GEMM tiles read them (their results are dropped). */
static void wino_pad_zero(float *vt, long plane, int ldv, int tc, int Cin) {
    for (int xi = 0; xi < 16; xi++)
        for (int i = 0; i < tc; i++)
            for (int c = Cin; c < ldv; c++) vt[xi * plane + (long)i * ldv + c] = 0;
}

/* U = G g G^T for input channel ci and every co, packed as the GEMM's B
 * operand: up[xi][panel][ci][NR]. With flip, the kernel is that of dIn:
 * g[a][b](ci, co) = w[2-a][2-b][co][ci] of a layer with Cout inputs and Cin
 * outputs (no flipped copy of w is made). */
static void wino_weights(float *up, const float *w, int Cin, int Cout, int ci, int flip) {
    int npanels = (Cout + NR - 1) / NR;
    long pstride = (long)npanels * Cin * NR;
    /* VL consecutive co at a time: their U values are consecutive in up. */
    for (int co0 = 0; co0 < npanels * NR; co0 += VL) {
        float gs[9][VL] __attribute__((aligned(64)));
        for (int t = 0; t < 9; t++)
            for (int j = 0; j < VL; j++) {
                int co = co0 + j;
                gs[t][j] = co >= Cout ? 0
                           : flip     ? w[((long)(8 - t) * Cout + co) * Cin + ci]
                                      : w[((long)t * Cin + ci) * Cout + co];
            }
        V half = v_set1(0.5f), gg[4][3];
        for (int b = 0; b < 3; b++) {
            V g0 = v_load(gs[b]), g1 = v_load(gs[3 + b]), g2 = v_load(gs[6 + b]);
            gg[0][b] = g0;
            gg[1][b] = half * (g0 + g1 + g2);
            gg[2][b] = half * (g0 - g1 + g2);
            gg[3][b] = g2;
        }
        float *u = up + ((long)(co0 / NR) * Cin + ci) * NR + co0 % NR;
        for (int a = 0; a < 4; a++) {
            v_store(u + (4 * a + 0) * pstride, gg[a][0]);
            v_store(u + (4 * a + 1) * pstride, half * (gg[a][0] + gg[a][1] + gg[a][2]));
            v_store(u + (4 * a + 2) * pstride, half * (gg[a][0] - gg[a][1] + gg[a][2]));
            v_store(u + (4 * a + 3) * pstride, gg[a][2]);
        }
    }
}

static void wino_forward(KernelCtx *ctx, float *out, const float *in, const float *w,
                         const float *b, int N, int H, int W, int Cin, int Cout, int relu,
                         int flip) {
    int nt = ctx->threads, npanels = (Cout + NR - 1) / NR, ldv = ROUND_UP(Cin, MR);
    int ldm = npanels * NR, tc = wino_chunk(Cin, Cout);
    long T = (long)N * (H / 2) * (W / 2), nchunks = (T + tc - 1) / tc;
    long pstride = (long)npanels * Cin * NR, vplane = (long)tc * ldv, mplane = (long)tc * ldm;
    size_t per = (size_t)16 * (vplane + mplane) + 17 * ROUND_UP(Cin, 16);
    float *s = kctx_scratch(ctx, 16 * pstride + ROUND_UP(ldm, 16) + per * nt);
    float *up = s, *bias = up + 16 * pstride, *work = bias + ROUND_UP(ldm, 16);
    for (int j = 0; j < ldm; j++) bias[j] = (b && j < Cout) ? b[j] : 0;
    int th = H / 2, tw = W / 2;
#pragma omp parallel num_threads(nt)
    {
        float *vt = work + per * omp_get_thread_num(), *Mb = vt + 16 * vplane;
        float *tb = Mb + 16 * mplane, *zeros = tb + 16 * ROUND_UP(Cin, 16);
        memset(zeros, 0, sizeof(float) * Cin);
        wino_pad_zero(vt, vplane, ldv, tc, Cin);
#pragma omp for schedule(static)
        for (int ci = 0; ci < Cin; ci++) wino_weights(up, w, Cin, Cout, ci, flip);
#pragma omp for schedule(dynamic, 1)
        for (long ch = 0; ch < nchunks; ch++) {
            long t0 = ch * tc;
            int m = (int)(T - t0 < tc ? T - t0 : tc);
            wino_input(vt, vplane, ldv, in, t0, m, H, W, Cin, tb, zeros);
            for (int xi = 0; xi < 16; xi++)
                for (int jp = 0; jp < npanels; jp++)
                    for (int i0 = 0; i0 < m; i0 += MR)
                        uk_rows(Cin, vt + xi * vplane + (long)i0 * ldv, ldv,
                                up + xi * pstride + (long)jp * Cin * NR, NR,
                                Mb + xi * mplane + (long)i0 * ldm + jp * NR, ldm,
                                m - i0 < MR ? m - i0 : MR, NR, NULL, 0, EPI_STORE);
            /* Output transform Y = A^T M A, + bias, ReLU. */
            for (int i = 0; i < m; i++) {
                long t = t0 + i;
                int tx = (int)(t % tw), ty = (int)(t / tw % th);
                long n = t / ((long)tw * th);
                float *o00 = out + ((n * H + 2 * ty) * W + 2 * tx) * Cout;
                float *o01 = o00 + Cout, *o10 = o00 + (long)W * Cout, *o11 = o10 + Cout;
                const float *q[16];
                for (int xi = 0; xi < 16; xi++) q[xi] = Mb + xi * mplane + (long)i * ldm;
                /* Mb rows are ldm >= Cout floats (whole panels): vectors only. */
                for (int c = 0; c < Cout; c += VL) {
                    V s00 = v_load(q[0] + c) + v_load(q[4] + c) + v_load(q[8] + c);
                    V s01 = v_load(q[1] + c) + v_load(q[5] + c) + v_load(q[9] + c);
                    V s02 = v_load(q[2] + c) + v_load(q[6] + c) + v_load(q[10] + c);
                    V s03 = v_load(q[3] + c) + v_load(q[7] + c) + v_load(q[11] + c);
                    V s10 = v_load(q[4] + c) - v_load(q[8] + c) - v_load(q[12] + c);
                    V s11 = v_load(q[5] + c) - v_load(q[9] + c) - v_load(q[13] + c);
                    V s12 = v_load(q[6] + c) - v_load(q[10] + c) - v_load(q[14] + c);
                    V s13 = v_load(q[7] + c) - v_load(q[11] + c) - v_load(q[15] + c);
                    V bc = v_load(bias + c);
                    V y[4] = {s00 + s01 + s02 + bc, s01 - s02 - s03 + bc, s10 + s11 + s12 + bc,
                              s11 - s12 - s13 + bc};
                    float *o[4] = {o00, o01, o10, o11};
                    for (int e = 0; e < 4; e++) {
                        if (relu) y[e] = v_max(y[e], v_zero());
                        if (c + VL <= Cout) v_store(o[e] + c, y[e]);
                        else {
                            float tmp[VL];
                            v_store(tmp, y[e]);
                            for (int j = 0; c + j < Cout; j++) o[e][c + j] = tmp[j];
                        }
                    }
                }
            }
        }
    }
}

/* dW += G^T (sum_tiles V * Z) G and db += sum dout, with per-part partials
 * reduced in part order. */
static void wino_backward_weights(KernelCtx *ctx, float *dw, float *db, const float *dout,
                                  const float *in, int N, int H, int W, int Cin, int Cout) {
    int nt = ctx->threads, ldv = ROUND_UP(Cin, MR), ldz = ROUND_UP(Cout, NR);
    int npanels = ldz / NR, tc = wino_chunk(Cin, Cout);
    long T = (long)N * (H / 2) * (W / 2), nchunks = (T + tc - 1) / tc;
    long vplane = (long)tc * ldv, zplane = (long)tc * ldz, uplane = (long)Cin * ldz;
    size_t plen = (size_t)16 * uplane + ROUND_UP(Cout, 16);
    size_t per = (size_t)16 * (vplane + zplane) + 17 * ROUND_UP(Cin, 16);
    int np = dw_parts(nt, nchunks);
    float *s = kctx_scratch(ctx, per * nt + plen * np), *partials = s + per * nt;
    int th = H / 2, tw = W / 2;
#pragma omp parallel num_threads(nt)
    {
        float *vt = s + per * omp_get_thread_num(), *Z = vt + 16 * vplane, *tb = Z + 16 * zplane;
        float *zeros = tb + 16 * ROUND_UP(Cin, 16);
        memset(zeros, 0, sizeof(float) * Cin);
        wino_pad_zero(vt, vplane, ldv, tc, Cin);
#pragma omp for schedule(dynamic, 1)
        for (int part = 0; part < np; part++) {
            float *du = partials + plen * part, *pdb = du + 16 * uplane;
            long c0, c1;
            split(nchunks, part, np, &c0, &c1);
            /* The part's first chunk stores du (no memset of it), the rest add. */
            memset(c1 > c0 ? pdb : du, 0, sizeof(float) * (c1 > c0 ? (size_t)Cout : plen));
            for (long ch = c0; ch < c1; ch++) {
                long t0 = ch * tc;
                int m = (int)(T - t0 < tc ? T - t0 : tc);
                wino_input(vt, vplane, ldv, in, t0, m, H, W, Cin, tb, zeros);
                for (int i = 0; i < m; i++) { /* Z = A dY A^T, A = [1 0; 1 1; 1 -1; 0 -1] */
                    long t = t0 + i;
                    int tx = (int)(t % tw), ty = (int)(t / tw % th);
                    long n = t / ((long)tw * th);
                    const float *g00 = dout + ((n * H + 2 * ty) * W + 2 * tx) * Cout;
                    const float *g01 = g00 + Cout, *g10 = g00 + (long)W * Cout, *g11 = g10 + Cout;
                    float *z = Z + (long)i * ldz;
                    int c = 0;
                    for (; c + VL <= Cout; c += VL) {
                        V a00 = v_load(g00 + c), a01 = v_load(g01 + c);
                        V a10 = v_load(g10 + c), a11 = v_load(g11 + c);
                        V r[4][2] = {{a00, a01}, {a00 + a10, a01 + a11},
                                     {a00 - a10, a01 - a11}, {v_zero() - a10, v_zero() - a11}};
                        v_store(pdb + c, v_load(pdb + c) + ((a00 + a01) + (a10 + a11)));
                        for (int a = 0; a < 4; a++) {
                            v_store(z + (4 * a + 0) * zplane + c, r[a][0]);
                            v_store(z + (4 * a + 1) * zplane + c, r[a][0] + r[a][1]);
                            v_store(z + (4 * a + 2) * zplane + c, r[a][0] - r[a][1]);
                            v_store(z + (4 * a + 3) * zplane + c, v_zero() - r[a][1]);
                        }
                    }
                    for (; c < Cout; c++) {
                        float r[4][2] = {{g00[c], g01[c]},
                                         {g00[c] + g10[c], g01[c] + g11[c]},
                                         {g00[c] - g10[c], g01[c] - g11[c]},
                                         {-g10[c], -g11[c]}};
                        pdb[c] += (g00[c] + g01[c]) + (g10[c] + g11[c]);
                        for (int a = 0; a < 4; a++) {
                            z[(4 * a + 0) * zplane + c] = r[a][0];
                            z[(4 * a + 1) * zplane + c] = r[a][0] + r[a][1];
                            z[(4 * a + 2) * zplane + c] = r[a][0] - r[a][1];
                            z[(4 * a + 3) * zplane + c] = -r[a][1];
                        }
                    }
                    for (int c = Cout; c < ldz; c++)
                        for (int xi = 0; xi < 16; xi++) z[xi * zplane + c] = 0;
                }
                /* du[xi][ci][co] += V[xi]^T Z[xi]: A = V read column-major. */
                for (int xi = 0; xi < 16; xi++)
                    for (int jp = 0; jp < npanels; jp++)
                        for (int i0 = 0; i0 < Cin; i0 += MR)
                            uk_cols(m, vt + xi * vplane + i0, ldv, Z + xi * zplane + jp * NR, ldz,
                                    du + xi * uplane + (long)i0 * ldz + jp * NR, ldz,
                                    Cin - i0 < MR ? Cin - i0 : MR, NR, NULL, 0,
                                    ch == c0 ? EPI_STORE : EPI_ACCUM);
            }
        }
        /* (the omp for's barrier) Reduce in part order, then dW += G^T dU G. */
        long len = (long)Cin * Cout;
        long lo, hi;
        split(len, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (long e = lo; e < hi; e++) {
            int ci = (int)(e / Cout), co = (int)(e % Cout);
            float u[16], r[3][4];
            for (int xi = 0; xi < 16; xi++) {
                float sum = 0;
                for (int part = 0; part < np; part++)
                    sum += partials[plen * part + xi * uplane + (long)ci * ldz + co];
                u[xi] = sum;
            }
            for (int b = 0; b < 4; b++) { /* G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1] */
                r[0][b] = u[b] + 0.5f * (u[4 + b] + u[8 + b]);
                r[1][b] = 0.5f * (u[4 + b] - u[8 + b]);
                r[2][b] = 0.5f * (u[4 + b] + u[8 + b]) + u[12 + b];
            }
            for (int a = 0; a < 3; a++) {
                float *d = dw + ((long)(a * 3) * Cin + ci) * Cout + co;
                d[0] += r[a][0] + 0.5f * (r[a][1] + r[a][2]);
                d[(long)Cin * Cout] += 0.5f * (r[a][1] - r[a][2]);
                d[2L * Cin * Cout] += 0.5f * (r[a][1] + r[a][2]) + r[a][3];
            }
        }
        if (db) {
            split(Cout, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            for (long c = lo; c < hi; c++) {
                float sum = 0;
                for (int part = 0; part < np; part++) sum += partials[plen * part + 16 * uplane + c];
                db[c] += sum;
            }
        }
    }
}

static void conv_forward(KernelCtx *ctx, float *out, const float *in, const float *w,
                         const float *b, int N, int H, int W, int Cin, int Cout, int K,
                         int relu) {
    if (wino_ok(H, W, Cin, K)) wino_forward(ctx, out, in, w, b, N, H, W, Cin, Cout, relu, 0);
    else conv_forward_gemm(ctx, out, in, w, b, N, H, W, Cin, Cout, K, relu);
}

static void conv_backward(KernelCtx *ctx, float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, int N, int H, int W, int Cin,
                          int Cout, int K) {
    if (!wino_ok(H, W, Cin, K)) {
        conv_backward_gemm(ctx, din, dw, db, dout, in, w, N, H, W, Cin, Cout, K);
        return;
    }
    wino_backward_weights(ctx, dw, db, dout, in, N, H, W, Cin, Cout);
    if (!din) return;
    /* dIn = conv(dout, w') with w'[ky][kx][co][ci] = w[2-ky][2-kx][ci][co]. */
    if (wino_ok(H, W, Cout, K)) {
        wino_forward(ctx, din, dout, w, NULL, N, H, W, Cout, Cin, 0, 1);
        return;
    }
    float *wf = xmalloc(sizeof(float) * 9 * (size_t)Cin * Cout);
    for (int t = 0; t < 9; t++)
        for (int ci = 0; ci < Cin; ci++)
            for (int co = 0; co < Cout; co++)
                wf[((long)t * Cout + co) * Cin + ci] = w[((long)(8 - t) * Cin + ci) * Cout + co];
    conv_forward(ctx, din, dout, wf, NULL, N, H, W, Cout, Cin, K, 0);
    free(wf);
}

/* ---------------------------------------------------------------------------
 * Dense. */

/* out^T[Out][B] = W^T . in^T. The full MR-output tiles of W are read in
 * place as a column-major A operand (element (o, i) at w[i*Out + o]: MR
 * contiguous floats per k), so the 8 MB dense1 kernel is streamed once per
 * call instead of being copied first; only the last, partial tile is packed
 * (zero-padded to MR) into wp[In][MR]. in^T is packed into NR-wide batch
 * panels. With the batch as the NR columns, B = 32 fills the tiles exactly
 * (B as rows would waste 10 of 42 rows at MR = 14). */
static void dense_forward(KernelCtx *ctx, float *out, const float *in, const float *w,
                          const float *b, int B, int In, int Out, int relu) {
    int otiles = (Out + MR - 1) / MR, bpanels = (B + NR - 1) / NR, nt = ctx->threads;
    int full = Out / MR;
    long ldo = (long)bpanels * NR, opad = (long)otiles * MR;
    size_t alen = (size_t)MR * In, xlen = (size_t)bpanels * In * NR, olen = (size_t)opad * ldo;
    float *s = kctx_scratch(ctx, alen + xlen + olen);
    float *wp = s, *xt = wp + alen, *ot = xt + xlen;
    long items = (long)otiles * bpanels;
#pragma omp parallel num_threads(nt)
    {
        int T = omp_get_num_threads(), t = omp_get_thread_num();
        long lo, hi;
        split(In, t, T, &lo, &hi);
        for (long i = lo; i < hi; i++) {
            const float *wr = w + i * Out;
            if (full < otiles)
                for (int o = full * MR; o < opad; o++)
                    wp[i * MR + o - full * MR] = o < Out ? wr[o] : 0;
            for (int bp = 0; bp < bpanels; bp++)
                for (int j = 0; j < NR; j++) {
                    int n = bp * NR + j;
                    xt[((size_t)bp * In + i) * NR + j] = n < B ? in[(long)n * In + i] : 0;
                }
        }
#pragma omp barrier
#pragma omp for schedule(dynamic, 4)
        for (long it = 0; it < items; it++) {
            long o0 = it / bpanels * MR, bp = it % bpanels;
            int in_place = o0 / MR < full;
            uk_cols(In, in_place ? w + o0 : wp, in_place ? Out : MR, xt + bp * In * NR, NR,
                    ot + o0 * ldo + bp * NR, ldo, MR, NR, NULL, 0, EPI_STORE);
        }
        split(B, t, T, &lo, &hi);
        for (long n = lo; n < hi; n++)
            for (int o = 0; o < Out; o++) {
                float x = ot[o * ldo + n] + (b ? b[o] : 0);
                out[n * Out + o] = relu && x < 0 ? 0 : x;
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
    {
#pragma omp for schedule(dynamic, 4) nowait
        for (long it = 0; it < items_w; it++) { /* dW[In][Out] += in^T . dout */
            int jp = (int)(it % npanels), i0 = (int)(it / npanels) * MR;
            int j0 = jp * NR, nr = Out - j0 < NR ? Out - j0 : NR, mr = In - i0 < MR ? In - i0 : MR;
            const float *Bp = jp < full ? dout + j0 : edge;
            long ldb = jp < full ? Out : NR;
            uk_cols(B, inpad + i0, inp, Bp, ldb, dw + (long)i0 * Out + j0, Out, mr, nr, NULL, 0,
                    EPI_ACCUM);
        }
#pragma omp for schedule(dynamic, 4)
        for (long it = 0; it < items_x; it++) { /* din^T[In][B] = W . dout^T */
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
                long ia = ((n * H + 2 * y) * W + 2 * x) * C;
                const float *restrict a = in + ia, *restrict b = a + C;
                const float *restrict c2 = a + (long)W * C, *restrict d = c2 + C;
                const float *restrict g = dout + (row * Wo + x) * C;
                float *restrict da = din + ia, *restrict dbp = da + C;
                float *restrict dc = da + (long)W * C, *restrict dd = dc + C;
                /* Branch-free so it vectorises: the later candidates win
                 * only when strictly greater. */
                int c = 0;
                for (; c + VL <= C; c += VL) {
                    V va = v_load(a + c), vb = v_load(b + c), vc = v_load(c2 + c);
                    V vd = v_load(d + c), gc = v_load(g + c), z = v_zero();
                    VI tb = vb > va;
                    V m = v_sel(tb, vb, va);
                    VI tc = vc > m;
                    m = v_sel(tc, vc, m);
                    VI td = vd > m, nd = ~td;
                    v_store(dd + c, v_sel(td, gc, z));
                    v_store(dc + c, v_sel(tc & nd, gc, z));
                    v_store(dbp + c, v_sel(tb & ~tc & nd, gc, z));
                    v_store(da + c, v_sel(tb | tc | td, z, gc));
                }
                for (; c < C; c++) {
                    float m = a[c], gc = g[c];
                    int w = 0;
                    if (b[c] > m) m = b[c], w = 1;
                    if (c2[c] > m) m = c2[c], w = 2;
                    if (d[c] > m) w = 3;
                    da[c] = w == 0 ? gc : 0.0f;
                    dbp[c] = w == 1 ? gc : 0.0f;
                    dc[c] = w == 2 ? gc : 0.0f;
                    dd[c] = w == 3 ? gc : 0.0f;
                }
            }
        }
    }
}

static const Kernels TABLE = {
    .name = KT_NAME,
    .conv2d_forward = conv_forward,
    .conv2d_backward = conv_backward,
    .dense_forward = dense_forward,
    .dense_backward = dense_backward,
    .relu_backward = relu_backward,
    .batchnorm_forward_train = bn_forward_train,
    .batchnorm_forward_infer = bn_forward_infer,
    .batchnorm_backward = bn_backward,
    .maxpool2_forward = maxpool_forward,
    .maxpool2_backward = maxpool_backward,
};

const Kernels *KT_GETTER(void) { return &TABLE; }
