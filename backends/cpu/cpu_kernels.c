/* backends/cpu/cpu_kernels.c — see cpu_kernels.h. Each function computes the
 * whole dispatch (the workgroup grid only matters on the GPU). Accumulation is
 * in float, in the same order as the GLSL where that is cheap to keep. */
#include "cpu_kernels.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "npu_kernel_abi.h"

static void conv2d_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0], *w = bind[1], *b = bind[2], *r = bind[3];
  float *y = bind[4];
  uint32_t N = p[NPU_CONV_N], C = p[NPU_CONV_C], H = p[NPU_CONV_H], W = p[NPU_CONV_W];
  uint32_t K = p[NPU_CONV_K], OH = p[NPU_CONV_OH], OW = p[NPU_CONV_OW];
  uint32_t KH = p[NPU_CONV_KH], KW = p[NPU_CONV_KW], SH = p[NPU_CONV_SH], SW = p[NPU_CONV_SW];
  uint32_t PH = p[NPU_CONV_PH], PW = p[NPU_CONV_PW], DH = p[NPU_CONV_DH], DW = p[NPU_CONV_DW];
  uint32_t G = p[NPU_CONV_GROUPS], flags = p[NPU_CONV_FLAGS];
  uint32_t Kg = K / G, Cg = C / G, npix = OH * OW;
  for (uint32_t n = 0; n < N; n++)
    for (uint32_t k = 0; k < K; k++) {
      uint32_t g = k / Kg;
      const float *wk = w + (size_t)k * Cg * KH * KW;
      const float *xg = x + ((size_t)n * C + (size_t)g * Cg) * H * W;
      for (uint32_t oy = 0; oy < OH; oy++)
        for (uint32_t ox = 0; ox < OW; ox++) {
          int64_t iy0 = (int64_t)oy * SH - PH, ix0 = (int64_t)ox * SW - PW;
          float acc = 0.0f;
          for (uint32_t c = 0; c < Cg; c++) {
            const float *xc = xg + (size_t)c * H * W;
            const float *wc = wk + (size_t)c * KH * KW;
            for (uint32_t ky = 0; ky < KH; ky++) {
              int64_t iy = iy0 + (int64_t)ky * DH;
              if (iy < 0 || iy >= H) continue;
              for (uint32_t kx = 0; kx < KW; kx++) {
                int64_t ix = ix0 + (int64_t)kx * DW;
                if (ix < 0 || ix >= W) continue;
                acc += xc[iy * W + ix] * wc[ky * KW + kx];
              }
            }
          }
          float v = acc;
          size_t oi = ((size_t)n * K + k) * npix + (size_t)oy * OW + ox;
          if (flags & NPU_KFLAG_BIAS) v += b[k];
          if (flags & NPU_KFLAG_RESIDUAL) v += r[oi];
          if (flags & NPU_KFLAG_RELU) v = v > 0.0f ? v : 0.0f;
          y[oi] = v;
        }
    }
}

static void maxpool2d_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0];
  float *y = bind[1];
  uint32_t N = p[NPU_POOL_N], C = p[NPU_POOL_C], H = p[NPU_POOL_H], W = p[NPU_POOL_W];
  uint32_t OH = p[NPU_POOL_OH], OW = p[NPU_POOL_OW], KH = p[NPU_POOL_KH], KW = p[NPU_POOL_KW];
  uint32_t SH = p[NPU_POOL_SH], SW = p[NPU_POOL_SW], PH = p[NPU_POOL_PH], PW = p[NPU_POOL_PW];
  uint32_t DH = p[NPU_POOL_DH], DW = p[NPU_POOL_DW];
  for (size_t nc = 0; nc < (size_t)N * C; nc++)
    for (uint32_t oy = 0; oy < OH; oy++)
      for (uint32_t ox = 0; ox < OW; ox++) {
        int64_t iy0 = (int64_t)oy * SH - PH, ix0 = (int64_t)ox * SW - PW;
        float m = -INFINITY;
        for (uint32_t ky = 0; ky < KH; ky++) {
          int64_t iy = iy0 + (int64_t)ky * DH;
          if (iy < 0 || iy >= H) continue;
          for (uint32_t kx = 0; kx < KW; kx++) {
            int64_t ix = ix0 + (int64_t)kx * DW;
            if (ix < 0 || ix >= W) continue;
            float v = x[nc * H * W + (size_t)iy * W + (size_t)ix];
            m = v > m ? v : m;
          }
        }
        y[(nc * OH + oy) * OW + ox] = m;
      }
}

static void avgpool2d_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0];
  float *y = bind[1];
  uint32_t N = p[0], C = p[1], H = p[2], W = p[3], OH = p[4], OW = p[5];
  for (size_t nc = 0; nc < (size_t)N * C; nc++)
    for (uint32_t oy = 0; oy < OH; oy++)
      for (uint32_t ox = 0; ox < OW; ox++) {
        uint32_t y0 = oy * H / OH, y1 = ((oy + 1) * H + OH - 1) / OH;
        uint32_t x0 = ox * W / OW, x1 = ((ox + 1) * W + OW - 1) / OW;
        float s = 0.0f;
        for (uint32_t iy = y0; iy < y1; iy++)
          for (uint32_t ix = x0; ix < x1; ix++) s += x[nc * H * W + (size_t)iy * W + ix];
        y[(nc * OH + oy) * OW + ox] = s / (float)((y1 - y0) * (x1 - x0));
      }
}

static void global_avgpool_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0];
  float *y = bind[1];
  uint32_t NC = p[NPU_GAP_NC], HW = p[NPU_GAP_HW];
  for (size_t pl = 0; pl < NC; pl++) {
    float s = 0.0f;
    for (size_t i = 0; i < HW; i++) s += x[pl * HW + i];
    y[pl] = s / (float)HW;
  }
}

static void linear_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0], *w = bind[1], *b = bind[2];
  float *y = bind[3];
  uint32_t M = p[NPU_LINEAR_M], N = p[NPU_LINEAR_N], K = p[NPU_LINEAR_K];
  uint32_t flags = p[NPU_LINEAR_FLAGS];
  for (size_t m = 0; m < M; m++)
    for (size_t n = 0; n < N; n++) {
      float s = 0.0f;
      for (size_t k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      if (flags & NPU_KFLAG_BIAS) s += b[n];
      if (flags & NPU_KFLAG_RELU) s = s > 0.0f ? s : 0.0f;
      y[m * N + n] = s;
    }
}

static void relu_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0];
  float *y = bind[1];
  for (size_t i = 0; i < p[NPU_UNARY_COUNT]; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void add_f32(void *const *bind, const uint32_t *p) {
  const float *a = bind[0], *b = bind[1];
  float *y = bind[2];
  float alpha;
  memcpy(&alpha, &p[NPU_ADD_ALPHA], 4);
  uint32_t flags = p[NPU_ADD_FLAGS];
  for (size_t i = 0; i < p[NPU_ADD_COUNT]; i++) {
    float v = alpha == 1.0f ? a[i] + b[i] : a[i] + alpha * b[i];
    if (flags & NPU_KFLAG_RELU) v = v > 0.0f ? v : 0.0f;
    y[i] = v;
  }
}

static void copy_u32(void *const *bind, const uint32_t *p) {
  memmove(bind[1], bind[0], (size_t)p[NPU_UNARY_COUNT] * 4);
}

/* ---- f16 variants ---------------------------------------------------------
 * The <op>_f16 kernels store activations and weights as IEEE binary16 and
 * compute in float: every f16 input is widened to float, the f32 kernel above
 * runs (same accumulation order), and the output is rounded to f16 with
 * round-to-nearest-even. */

uint16_t npu_cpu_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
  int32_t e = (int32_t)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    mant |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = sign | ((uint32_t)e << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
  return (uint16_t)h;
}

float npu_cpu_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    float v = ldexpf((float)mant, -24);
    return sign ? -v : v;
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  memcpy(&f, &x, 4);
  return f;
}

#define F16_MAX_BIND 8

/* Runs fn on float copies of the f16 bindings: count[i] elements of binding i
 * (0: not read, passed as NULL); the last binding (nb-1) is the output. */
static void run_as_f16(npu_cpu_kernel_fn fn, void *const *bind, const uint32_t *p, int nb,
                       const size_t *count) {
  float *tmp[F16_MAX_BIND] = {0};
  void *fb[F16_MAX_BIND] = {0};
  bool ok = true;
  for (int i = 0; i < nb && ok; i++) {
    if (!count[i]) continue;
    tmp[i] = malloc(sizeof(float) * count[i]);
    if (!tmp[i]) {
      ok = false;
      break;
    }
    fb[i] = tmp[i];
    if (i < nb - 1) {
      const uint16_t *src = bind[i];
      for (size_t j = 0; j < count[i]; j++) tmp[i][j] = npu_cpu_f16_to_f32(src[j]);
    }
  }
  if (ok) {
    fn(fb, p);
    uint16_t *dst = bind[nb - 1];
    for (size_t j = 0; j < count[nb - 1]; j++) dst[j] = npu_cpu_f32_to_f16(tmp[nb - 1][j]);
  }
  for (int i = 0; i < nb; i++) free(tmp[i]);
}

static void conv2d_direct_f16(void *const *bind, const uint32_t *p) {
  size_t N = p[NPU_CONV_N], C = p[NPU_CONV_C], K = p[NPU_CONV_K], G = p[NPU_CONV_GROUPS];
  size_t ysz = N * K * p[NPU_CONV_OH] * p[NPU_CONV_OW];
  uint32_t flags = p[NPU_CONV_FLAGS];
  size_t count[5] = {N * C * p[NPU_CONV_H] * p[NPU_CONV_W],
                     K * (C / (G ? G : 1)) * p[NPU_CONV_KH] * p[NPU_CONV_KW],
                     (flags & NPU_KFLAG_BIAS) ? K : 0, (flags & NPU_KFLAG_RESIDUAL) ? ysz : 0, ysz};
  run_as_f16(conv2d_f32, bind, p, 5, count);
}

static void maxpool2d_f16(void *const *bind, const uint32_t *p) {
  size_t nc = (size_t)p[NPU_POOL_N] * p[NPU_POOL_C];
  size_t count[2] = {nc * p[NPU_POOL_H] * p[NPU_POOL_W], nc * p[NPU_POOL_OH] * p[NPU_POOL_OW]};
  run_as_f16(maxpool2d_f32, bind, p, 2, count);
}

static void avgpool2d_f16(void *const *bind, const uint32_t *p) {
  size_t nc = (size_t)p[0] * p[1];
  size_t count[2] = {nc * p[2] * p[3], nc * p[4] * p[5]};
  run_as_f16(avgpool2d_f32, bind, p, 2, count);
}

static void global_avgpool_f16(void *const *bind, const uint32_t *p) {
  size_t count[2] = {(size_t)p[NPU_GAP_NC] * p[NPU_GAP_HW], p[NPU_GAP_NC]};
  run_as_f16(global_avgpool_f32, bind, p, 2, count);
}

static void linear_f16(void *const *bind, const uint32_t *p) {
  size_t M = p[NPU_LINEAR_M], N = p[NPU_LINEAR_N], K = p[NPU_LINEAR_K];
  size_t count[4] = {M * K, N * K, (p[NPU_LINEAR_FLAGS] & NPU_KFLAG_BIAS) ? N : 0, M * N};
  run_as_f16(linear_f32, bind, p, 4, count);
}

static void relu_f16(void *const *bind, const uint32_t *p) {
  size_t count[2] = {p[NPU_UNARY_COUNT], p[NPU_UNARY_COUNT]};
  run_as_f16(relu_f32, bind, p, 2, count);
}

static void add_f16(void *const *bind, const uint32_t *p) {
  size_t count[3] = {p[NPU_ADD_COUNT], p[NPU_ADD_COUNT], p[NPU_ADD_COUNT]};
  run_as_f16(add_f32, bind, p, 3, count);
}

static void cast_f32_to_f16(void *const *bind, const uint32_t *p) {
  const float *x = bind[0];
  uint16_t *y = bind[1];
  for (size_t i = 0; i < p[NPU_UNARY_COUNT]; i++) y[i] = npu_cpu_f32_to_f16(x[i]);
}

static void cast_f16_to_f32(void *const *bind, const uint32_t *p) {
  const uint16_t *x = bind[0];
  float *y = bind[1];
  for (size_t i = 0; i < p[NPU_UNARY_COUNT]; i++) y[i] = npu_cpu_f16_to_f32(x[i]);
}

/* conv2d_gemm_<prec> (kernels/conv2d_gemm.comp): the implicit-GEMM conv. MODE 0:
 * the same bindings and results as the direct conv (only the summation order
 * differs; the tiling spec constants never change the result). MODE 1/2:
 * split-K partial sums and their reduction (npu_kernel_abi.h). */
static void conv2d_gemm_partial(const float *x, const float *w, float *part, const uint32_t *p) {
  uint32_t N = p[NPU_CONV_N], C = p[NPU_CONV_C], H = p[NPU_CONV_H], W = p[NPU_CONV_W];
  uint32_t K = p[NPU_CONV_K], OH = p[NPU_CONV_OH], OW = p[NPU_CONV_OW];
  uint32_t KH = p[NPU_CONV_KH], KW = p[NPU_CONV_KW], SH = p[NPU_CONV_SH], SW = p[NPU_CONV_SW];
  uint32_t PH = p[NPU_CONV_PH], PW = p[NPU_CONV_PW], DH = p[NPU_CONV_DH], DW = p[NPU_CONV_DW];
  uint32_t G = p[NPU_CONV_GROUPS], S = p[NPU_CONVG_SPLITS], KPER = p[NPU_CONVG_KPER];
  uint32_t Kg = K / G, Cg = C / G, npix = OH * OW, KHW = KH * KW, KD = Cg * KHW;
  for (uint32_t sp = 0; sp < S; sp++) {
    uint64_t kb64 = (uint64_t)sp * KPER, ke64 = kb64 + KPER;
    uint32_t kbeg = kb64 < KD ? (uint32_t)kb64 : KD, kend = ke64 < KD ? (uint32_t)ke64 : KD;
    for (uint32_t n = 0; n < N; n++)
      for (uint32_t k = 0; k < K; k++) {
        uint32_t g = k / Kg;
        const float *wk = w + (size_t)k * KD;
        const float *xg = x + ((size_t)n * C + (size_t)g * Cg) * H * W;
        for (uint32_t pix = 0; pix < npix; pix++) {
          int64_t iy0 = (int64_t)(pix / OW) * SH - PH, ix0 = (int64_t)(pix % OW) * SW - PW;
          float acc = 0.0f;
          for (uint32_t kk = kbeg; kk < kend; kk++) {
            uint32_t c = kk / KHW, ky = (kk % KHW) / KW, kx = kk % KW;
            int64_t iy = iy0 + (int64_t)ky * DH, ix = ix0 + (int64_t)kx * DW;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            acc += xg[(size_t)c * H * W + (size_t)iy * W + (size_t)ix] * wk[kk];
          }
          part[(((size_t)sp * N + n) * K + k) * npix + pix] = acc;
        }
      }
  }
}

/* MODE 2 with the epilogue operands already in float. */
static void conv2d_gemm_reduce(const float *part, const float *b, const float *r, float *y,
                               const uint32_t *p) {
  size_t npix = (size_t)p[NPU_CONV_OH] * p[NPU_CONV_OW], K = p[NPU_CONV_K];
  size_t total = (size_t)p[NPU_CONV_N] * K * npix;
  uint32_t flags = p[NPU_CONV_FLAGS], S = p[NPU_CONVG_SPLITS];
  for (size_t e = 0; e < total; e++) {
    float v = 0.0f;
    for (uint32_t q = 0; q < S; q++) v += part[(size_t)q * total + e];
    if (flags & NPU_KFLAG_BIAS) v += b[(e / npix) % K];
    if (flags & NPU_KFLAG_RESIDUAL) v += r[e];
    if (flags & NPU_KFLAG_RELU) v = v > 0.0f ? v : 0.0f;
    y[e] = v;
  }
}

static void conv2d_gemm_f32(void *const *bind, const uint32_t *p) {
  switch (p[NPU_CONVG_MODE]) {
    case NPU_CONVG_MODE_PARTIAL: conv2d_gemm_partial(bind[0], bind[1], bind[4], p); break;
    case NPU_CONVG_MODE_REDUCE: conv2d_gemm_reduce(bind[0], bind[2], bind[3], bind[4], p); break;
    default: conv2d_f32(bind, p); break;
  }
}

static float *f16_widen(const void *src, size_t n) {
  float *f = malloc(sizeof(float) * (n ? n : 1));
  if (f)
    for (size_t i = 0; i < n; i++) f[i] = npu_cpu_f16_to_f32(((const uint16_t *)src)[i]);
  return f;
}

static void conv2d_gemm_f16(void *const *bind, const uint32_t *p) {
  size_t N = p[NPU_CONV_N], C = p[NPU_CONV_C], K = p[NPU_CONV_K], G = p[NPU_CONV_GROUPS];
  size_t ysz = N * K * p[NPU_CONV_OH] * p[NPU_CONV_OW];
  uint32_t flags = p[NPU_CONV_FLAGS];
  size_t xsz = N * C * p[NPU_CONV_H] * p[NPU_CONV_W];
  size_t wsz = K * (C / (G ? G : 1)) * p[NPU_CONV_KH] * p[NPU_CONV_KW];
  if (p[NPU_CONVG_MODE] == NPU_CONVG_MODE_PARTIAL) {
    /* f16 X and W; the partial sums stay float. */
    float *x = f16_widen(bind[0], xsz), *w = f16_widen(bind[1], wsz);
    if (x && w) conv2d_gemm_partial(x, w, bind[4], p);
    free(x);
    free(w);
    return;
  }
  if (p[NPU_CONVG_MODE] == NPU_CONVG_MODE_REDUCE) {
    float *b = f16_widen(bind[2], (flags & NPU_KFLAG_BIAS) ? K : 0);
    float *r = f16_widen(bind[3], (flags & NPU_KFLAG_RESIDUAL) ? ysz : 0);
    float *y = malloc(sizeof(float) * (ysz ? ysz : 1));
    if (b && r && y) {
      conv2d_gemm_reduce(bind[0], b, r, y, p);
      for (size_t i = 0; i < ysz; i++) ((uint16_t *)bind[4])[i] = npu_cpu_f32_to_f16(y[i]);
    }
    free(b);
    free(r);
    free(y);
    return;
  }
  size_t count[5] = {xsz, wsz, (flags & NPU_KFLAG_BIAS) ? K : 0,
                     (flags & NPU_KFLAG_RESIDUAL) ? ysz : 0, ysz};
  run_as_f16(conv2d_f32, bind, p, 5, count);
}

static const struct {
  const char *name;
  npu_cpu_kernel_fn fn;
} table[] = {
    {"conv2d_gemm_f32", conv2d_gemm_f32}, {"conv2d_gemm_f16", conv2d_gemm_f16},
    {"conv2d_f32", conv2d_f32},       {"maxpool2d_f32", maxpool2d_f32},
    {"avgpool2d_f32", avgpool2d_f32}, {"global_avgpool_f32", global_avgpool_f32},
    {"linear_f32", linear_f32},       {"relu_f32", relu_f32},
    {"add_f32", add_f32},             {"copy_u32", copy_u32},
    {"conv2d_direct_f16", conv2d_direct_f16}, {"maxpool2d_f16", maxpool2d_f16},
    {"avgpool2d_f16", avgpool2d_f16},         {"global_avgpool_f16", global_avgpool_f16},
    {"linear_f16", linear_f16},               {"relu_f16", relu_f16},
    {"add_f16", add_f16},                     {"cast_f32_to_f16", cast_f32_to_f16},
    {"cast_f16_to_f32", cast_f16_to_f32},
};

npu_cpu_kernel_fn npu_cpu_kernel_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i].name, name) == 0) return table[i].fn;
  return NULL;
}
