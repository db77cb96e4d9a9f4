#version 450
// npu-kernel: bindings=5 push=20 precisions=f32,f16
//
// conv2d_gemm: the same convolution as conv2d_f32 (NCHW, zero padding, any
// stride, dilation and groups; bias, residual add and ReLU fused, residual
// before ReLU), computed as an implicit GEMM per group and batch image:
//   Y[m, p] = sum_k W[m, k] * im2col(X)[k, p]
// with M = K/G output channels, P = OH*OW pixels, KD = (C/G)*KH*KW.
// Bindings: 0 X [N,C,H,W], 1 W [K,C/G,KH,KW], 2 B [K], 3 R [N,K,OH,OW],
// 4 Y [N,K,OH,OW]; push constants: the conv2d layout (NPU_CONV_*) and
// SPLITS, KPER, MODE (NPU_CONVG_*). Split-K across workgroups:
//   MODE 0: the convolution (SPLITS, KPER ignored).
//   MODE 1: partial sums: z = n*SPLITS + split; split s sums k in
//           [s*KPER, min((s+1)*KPER, KD)) and writes the raw float sum to
//           binding 4 read as float [SPLITS,N,K,OH*OW] (no bias/residual/ReLU).
//   MODE 2: reduce: binding 0 read as float [SPLITS,N,K,OH*OW];
//           Y = epilogue(sum over splits in order); a linear grid of
//           workgroups (x, then y) over N*K*OH*OW, local size elements
//           each; W unused.
//
// Tiling (specialization constants, NPU_CONVG_SPEC_* in npu_kernel_abi.h):
// a workgroup computes a BM x BN tile of Y (channels x pixels) with KS
// "K slices" of (BM/4)*(BN/4) invocations each; every invocation holds a 4x4
// register block (rows 4*ty + i, columns 4*tx + j: one vec4 shared-memory
// read of W and one of X per k; stores of 4 consecutive pixels). Slice s handles
// the K chunks s, s+KS, s+2*KS, ... of BK = 8; the W chunk (contiguous along
// k) and the im2col X chunk (coalesced along pixels) are staged in shared
// memory. With KS > 1 the slices' partial tiles are summed in shared memory
// in slice order (deterministic). The local size (spec id 3) must be
// (BM/4)*(BN/4)*KS; BM and BN must each be 16, 32, 64 or 128. Spec ids 4 and
// 5 may repeat KH and KW (0: read them from the push constants) so that the
// im2col index arithmetic divides by constants. The global loads of the next
// K chunk are issued into registers before the current chunk is multiplied.
// Groups: x = ceil(OH*OW/BN), y = G * ceil((K/G)/BM), z = N (MODE 1: N*SPLITS).
#include "precision.glsl"

layout(local_size_x_id = 3, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const uint BM = 64u;
layout(constant_id = 1) const uint BN = 64u;
layout(constant_id = 2) const uint KS = 1u;
layout(constant_id = 4) const uint KH_HINT = 0u;
layout(constant_id = 5) const uint KW_HINT = 0u;

const uint BK = 8u;
const uint TS = (BM / 4u) * (BN / 4u);  // invocations per K slice
const uint NT = TS * KS;                // invocations per workgroup
const uint ASTR = BM + 4u;              // padded row stride of the W chunk
const uint BSTR = BN;
const uint ALOADS = (BK * BM) / TS;     // W elements staged per invocation (128/BN)
const uint BLOADS = (BK * BN) / TS;     // X elements staged per invocation (128/BM)
const uint AOFF = 0u;                   // W chunks: [KS][BK][ASTR]
const uint BOFF = KS * BK * ASTR;       // X chunks: [KS][BK][BSTR]
const uint TILE_FLOATS = KS * BK * (ASTR + BSTR);
const uint RED_FLOATS = KS * BM * BN;   // partial tiles, reusing the same memory
const uint SMEM = TILE_FLOATS > RED_FLOATS ? TILE_FLOATS : RED_FLOATS;

layout(std430, set = 0, binding = 0) readonly buffer Xb { ACT_T x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wb { ACT_T w[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bb { ACT_T b[]; };
layout(std430, set = 0, binding = 3) readonly buffer Rb { ACT_T r[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Yb { ACT_T y[]; };

layout(std430, set = 0, binding = 0) readonly buffer Xf { float xf[]; };   // MODE 2
layout(std430, set = 0, binding = 4) writeonly buffer Yf { float yf[]; };  // MODE 1

layout(push_constant) uniform P {
  uint N, C, H, W, K, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, G, FLAGS, SPLITS, KPER, MODE;
} p;

const uint FLAG_BIAS = 1u, FLAG_RELU = 2u, FLAG_RESIDUAL = 4u;

shared vec4 S[SMEM / 4u];  // all offsets and strides are multiples of 4

void store_out(uint n, uint k, uint pix, uint npix, float v) {
  if ((p.FLAGS & FLAG_BIAS) != 0u) v += float(b[k]);
  uint oi = (n * p.K + k) * npix + pix;
  if ((p.FLAGS & FLAG_RESIDUAL) != 0u) v += float(r[oi]);
  if ((p.FLAGS & FLAG_RELU) != 0u) v = max(v, 0.0);
  y[oi] = ACT_T(v);
}

void reduce_splits() {
  uint npix = p.OH * p.OW;
  uint total = p.N * p.K * npix;
  uint e = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * NT + gl_LocalInvocationID.x;
  if (e >= total) return;
  float v = 0.0;
  for (uint q = 0u; q < p.SPLITS; ++q) v += xf[q * total + e];
  uint pix = e % npix;
  uint nk = e / npix;
  store_out(nk / p.K, nk % p.K, pix, npix, v);
}

void main() {
  if (p.MODE == 2u) {
    reduce_splits();
    return;
  }
  uint tid = gl_LocalInvocationID.x;
  bool partial = p.MODE == 1u;
  uint n = partial ? gl_WorkGroupID.z / p.SPLITS : gl_WorkGroupID.z;
  uint split = partial ? gl_WorkGroupID.z % p.SPLITS : 0u;
  uint s = tid / TS;
  uint ts = tid % TS;
  uint tx = ts % (BN / 4u), ty = ts / (BN / 4u);
  uint Kg = p.K / p.G, Cg = p.C / p.G;
  uint mtiles = (Kg + BM - 1u) / BM;
  uint g = gl_WorkGroupID.y / mtiles;
  uint m0 = (gl_WorkGroupID.y % mtiles) * BM;
  uint n0 = gl_WorkGroupID.x * BN;
  uint npix = p.OH * p.OW;
  uint KHc = KH_HINT != 0u ? KH_HINT : p.KH;
  uint KWc = KW_HINT != 0u ? KW_HINT : p.KW;
  uint KHW = KHc * KWc;
  uint KD = Cg * KHW;
  uint plane = p.H * p.W;
  uint xbase = (n * p.C + g * Cg) * plane;
  uint kbeg = partial ? split * p.KPER : 0u;
  uint kend = partial ? min(KD, kbeg + p.KPER) : KD;

  // W staging: this invocation always loads column ak of the chunk, rows
  // am0 + q*(TS/BK). X staging: always pixel bn of the tile, chunk rows
  // bk0 + q*(TS/BN).
  uint ak = ts % BK, am0 = ts / BK;
  uint bnn = ts % BN, bk0 = ts / BN;
  uint pix = n0 + bnn;
  bool pix_ok = pix < npix;
  uint oy = pix / p.OW, ox = pix - (pix / p.OW) * p.OW;
  int iy0 = int(oy * p.SH) - int(p.PH);
  int ix0 = int(ox * p.SW) - int(p.PW);
  uint wrow0 = (g * Kg + m0 + am0) * KD;  // W row of load q=0

  float ra[ALOADS];
  float rb[BLOADS];
  float acc[4][4];
  for (uint i = 0u; i < 4u; ++i)
    for (uint j = 0u; j < 4u; ++j) acc[i][j] = 0.0;

  uint steps = kend > kbeg ? (kend - kbeg + BK * KS - 1u) / (BK * KS) : 0u;
  // Loads of chunk `it` into ra/rb.
#define LOAD_CHUNK(it)                                                        \
  {                                                                           \
    uint k0_ = kbeg + ((it) * KS + s) * BK;                                   \
    uint ka_ = k0_ + ak;                                                      \
    for (uint q = 0u; q < ALOADS; ++q) {                                      \
      uint m_ = m0 + am0 + q * (TS / BK);                                     \
      ra[q] = (ka_ < kend && m_ < Kg) ? float(w[wrow0 + q * (TS / BK) * KD + ka_]) : 0.0; \
    }                                                                         \
    for (uint q = 0u; q < BLOADS; ++q) {                                      \
      uint k_ = k0_ + bk0 + q * (TS / BN);                                    \
      float v_ = 0.0;                                                         \
      if (pix_ok && k_ < kend) {                                              \
        uint c_ = k_ / KHW;                                                   \
        uint rem_ = k_ - c_ * KHW;                                            \
        uint ky_ = rem_ / KWc;                                                \
        uint kx_ = rem_ - ky_ * KWc;                                          \
        int iy_ = iy0 + int(ky_ * p.DH);                                      \
        int ix_ = ix0 + int(kx_ * p.DW);                                      \
        if (iy_ >= 0 && iy_ < int(p.H) && ix_ >= 0 && ix_ < int(p.W))         \
          v_ = float(x[xbase + c_ * plane + uint(iy_) * p.W + uint(ix_)]);    \
      }                                                                       \
      rb[q] = v_;                                                             \
    }                                                                         \
  }

  if (steps > 0u) LOAD_CHUNK(0u)
  for (uint it = 0u; it < steps; ++it) {
    for (uint q = 0u; q < ALOADS; ++q)
    {
      uint i_ = AOFF + (s * BK + ak) * ASTR + am0 + q * (TS / BK);
      S[i_ >> 2][i_ & 3u] = ra[q];
    }
    for (uint q = 0u; q < BLOADS; ++q)
    {
      uint i_ = BOFF + (s * BK + bk0 + q * (TS / BN)) * BSTR + bnn;
      S[i_ >> 2][i_ & 3u] = rb[q];
    }
    barrier();
    if (it + 1u < steps) LOAD_CHUNK(it + 1u)
    for (uint kk = 0u; kk < BK; ++kk) {
      vec4 av = S[(AOFF + (s * BK + kk) * ASTR) / 4u + ty];
      vec4 bv = S[(BOFF + (s * BK + kk) * BSTR) / 4u + tx];
      float a0 = av.x, a1 = av.y, a2 = av.z, a3 = av.w;
      float b0 = bv.x, b1 = bv.y, b2 = bv.z, b3 = bv.w;
      acc[0][0] = fma(a0, b0, acc[0][0]); acc[0][1] = fma(a0, b1, acc[0][1]);
      acc[0][2] = fma(a0, b2, acc[0][2]); acc[0][3] = fma(a0, b3, acc[0][3]);
      acc[1][0] = fma(a1, b0, acc[1][0]); acc[1][1] = fma(a1, b1, acc[1][1]);
      acc[1][2] = fma(a1, b2, acc[1][2]); acc[1][3] = fma(a1, b3, acc[1][3]);
      acc[2][0] = fma(a2, b0, acc[2][0]); acc[2][1] = fma(a2, b1, acc[2][1]);
      acc[2][2] = fma(a2, b2, acc[2][2]); acc[2][3] = fma(a2, b3, acc[2][3]);
      acc[3][0] = fma(a3, b0, acc[3][0]); acc[3][1] = fma(a3, b1, acc[3][1]);
      acc[3][2] = fma(a3, b2, acc[3][2]); acc[3][3] = fma(a3, b3, acc[3][3]);
    }
    barrier();
  }

  uint kbase = g * Kg;
  if (KS == 1u) {
    for (uint i = 0u; i < 4u; ++i) {
      uint m = m0 + 4u * ty + i;
      if (m >= Kg) continue;
      for (uint j = 0u; j < 4u; ++j) {
        uint px = n0 + 4u * tx + j;
        if (px >= npix) continue;
        if (partial)
          yf[((split * p.N + n) * p.K + kbase + m) * npix + px] = acc[i][j];
        else
          store_out(n, kbase + m, px, npix, acc[i][j]);
      }
    }
  } else {
    for (uint i = 0u; i < 4u; ++i)
      S[(s * BM * BN + (4u * ty + i) * BN) / 4u + tx] =
          vec4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    barrier();
    for (uint o = tid; o < BM * BN; o += NT) {
      uint mm = o / BN, nn = o - mm * BN;
      uint m = m0 + mm, px = n0 + nn;
      if (m >= Kg || px >= npix) continue;
      float v = 0.0;
      for (uint q = 0u; q < KS; ++q) v += S[(q * BM * BN + o) >> 2][o & 3u];
      if (partial)
        yf[((split * p.N + n) * p.K + kbase + m) * npix + px] = v;
      else
        store_out(n, kbase + m, px, npix, v);
    }
  }
}
