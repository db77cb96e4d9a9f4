#include "kernel_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu_kernel_abi.h"

static uint32_t rng_state;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}
static uint32_t rint_in(uint32_t lo, uint32_t hi) { return lo + rnd() % (hi - lo + 1); }
static float rfloat(void) { return (float)((rnd() % 20001) / 10000.0 - 1.0); }

static float *rand_array(size_t n) {
  float *a = malloc(sizeof(float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) a[i] = rfloat();
  return a;
}

static void set_binding(kcase_t *c, int i, size_t n, int random) {
  c->data[i] = random ? rand_array(n) : calloc(n ? n : 1, sizeof(float));
  c->count[i] = n;
}

static void groups_1d(uint64_t total, uint32_t local, uint32_t g[3]) {
  uint64_t n = (total + local - 1) / local;
  if (!n) n = 1;
  uint64_t x = n < 65535 ? n : 65535;
  g[0] = (uint32_t)x;
  g[1] = (uint32_t)((n + x - 1) / x);
  g[2] = 1;
}

/* gemm: conv2d_gemm_f32 with a random tile configuration, and now and then a
 * bigger problem (several M/N tiles and K chunks). */
static void make_conv(kcase_t *c, int gemm) {
  uint32_t G = rint_in(1, 3), depthwise = rnd() % 4 == 0;
  uint32_t Cg = depthwise ? 1 : rint_in(1, 5), Kg = depthwise ? rint_in(1, 2) : rint_in(1, 9);
  uint32_t big = gemm && !depthwise && rnd() % 3 == 0;
  if (big) {
    Cg = rint_in(1, 24);
    Kg = rint_in(1, 70);
  }
  if (depthwise) G = rint_in(2, 6);
  uint32_t N = rint_in(1, 2), C = G * Cg, K = G * Kg;
  uint32_t KH = rint_in(1, 4), KW = rint_in(1, 4), SH = rint_in(1, 3), SW = rint_in(1, 3);
  uint32_t DH = rint_in(1, 2), DW = rint_in(1, 2), PH = rint_in(0, 2), PW = rint_in(0, 2);
  uint32_t H = rint_in(1, big ? 24 : 13), W = rint_in(1, big ? 24 : 13);
  while (H + 2 * PH < DH * (KH - 1) + 1) H++;
  while (W + 2 * PW < DW * (KW - 1) + 1) W++;
  uint32_t OH = (H + 2 * PH - DH * (KH - 1) - 1) / SH + 1;
  uint32_t OW = (W + 2 * PW - DW * (KW - 1) - 1) / SW + 1;
  uint32_t flags = rnd() % 8;
  uint32_t p[] = {N, C, H, W, K, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, G, flags};
  memcpy(c->push, p, sizeof p);
  c->num_push = NPU_CONV_PUSH_WORDS;
  c->kernel = "conv2d_f32";
  c->num_bindings = 5;
  size_t ysz = (size_t)N * K * OH * OW;
  set_binding(c, 0, (size_t)N * C * H * W, 1);
  set_binding(c, 1, (size_t)K * Cg * KH * KW, 1);
  set_binding(c, 2, K, 1);
  set_binding(c, 3, ysz, 1);
  set_binding(c, 4, ysz, 0);
  c->groups[0] = (OH * OW + NPU_KLOCAL_CONV - 1) / NPU_KLOCAL_CONV;
  c->groups[1] = G * ((Kg + NPU_KCONV_CO_TILE - 1) / NPU_KCONV_CO_TILE);
  c->groups[2] = N;
  uint32_t bm = 0, bn = 0, ks = 0;
  if (gemm) {
    static const uint32_t cfg[][3] = {{64, 64, 1}, {32, 64, 2}, {32, 32, 4}, {16, 32, 8},
                                      {16, 16, 16}, {16, 16, 1}, {128, 16, 1}, {16, 128, 1}};
    uint32_t ci = rnd() % (sizeof cfg / sizeof cfg[0]);
    bm = cfg[ci][0];
    bn = cfg[ci][1];
    ks = cfg[ci][2];
    c->kernel = "conv2d_gemm_f32";
    c->groups[0] = (OH * OW + bn - 1) / bn;
    c->groups[1] = G * ((Kg + bm - 1) / bm);
    uint32_t hint = rnd() % 2; /* KH/KW as spec constants, or from the push constants */
    uint32_t ids[6] = {NPU_CONVG_SPEC_BM, NPU_CONVG_SPEC_BN, NPU_CONVG_SPEC_KS,
                       NPU_CONVG_SPEC_LOCAL, NPU_CONVG_SPEC_KH, NPU_CONVG_SPEC_KW};
    uint32_t vals[6] = {bm, bn, ks, NPU_CONVG_LOCAL(bm, bn, ks), hint ? KH : 0, hint ? KW : 0};
    memcpy(c->spec_id, ids, sizeof ids);
    memcpy(c->spec_value, vals, sizeof vals);
    c->num_spec = 6;
  }
  snprintf(c->desc, sizeof c->desc,
           "%s N%u C%u H%u W%u K%u k%ux%u s%u,%u p%u,%u d%u,%u g%u flags%u tile%ux%ux%u",
           c->kernel, N, C, H, W, K, KH, KW, SH, SW, PH, PW, DH, DW, G, flags, bm, bn, ks);
  c->ref = malloc(sizeof(double) * ysz);
  const float *x = c->data[0], *w = c->data[1], *b = c->data[2], *r = c->data[3];
  for (uint32_t n = 0; n < N; n++)
    for (uint32_t k = 0; k < K; k++)
      for (uint32_t oy = 0; oy < OH; oy++)
        for (uint32_t ox = 0; ox < OW; ox++) {
          double s = 0;
          uint32_t g = k / Kg;
          for (uint32_t ci = 0; ci < Cg; ci++)
            for (uint32_t ky = 0; ky < KH; ky++)
              for (uint32_t kx = 0; kx < KW; kx++) {
                long iy = (long)(oy * SH + ky * DH) - (long)PH;
                long ix = (long)(ox * SW + kx * DW) - (long)PW;
                if (iy < 0 || ix < 0 || iy >= (long)H || ix >= (long)W) continue;
                double xv = x[(((size_t)n * C + g * Cg + ci) * H + (size_t)iy) * W + (size_t)ix];
                double wv = w[(((size_t)k * Cg + ci) * KH + ky) * KW + kx];
                s += xv * wv;
              }
          size_t o = (((size_t)n * K + k) * OH + oy) * OW + ox;
          if (flags & 1) s += b[k];
          if (flags & 4) s += r[o];
          if ((flags & 2) && s < 0) s = 0;
          c->ref[o] = s;
        }
  if (!gemm) return;
  /* conv2d_gemm: MODE 0 (the conv, above), 1 (split-K partial sums) or 2 (reduce). */
  uint32_t mode = rnd() % 3, S = rint_in(1, 4), KD = Cg * KH * KW;
  uint32_t KPER = rint_in(1, KD);
  if (rnd() % 2) KPER = (KPER + 7) / 8 * 8;
  c->push[NPU_CONVG_SPLITS] = S;
  c->push[NPU_CONVG_KPER] = KPER;
  c->push[NPU_CONVG_MODE] = mode;
  c->num_push = NPU_CONVG_PUSH_WORDS;
  snprintf(c->desc + strlen(c->desc), sizeof c->desc - strlen(c->desc), " mode%u S%u KPER%u",
           mode, S, KPER);
  if (mode == NPU_CONVG_MODE_PARTIAL) {
    c->groups[2] = N * S;
    free(c->data[4]);
    free(c->ref);
    set_binding(c, 4, (size_t)S * ysz, 0);
    c->ref = malloc(sizeof(double) * S * ysz);
    for (uint32_t sp = 0; sp < S; sp++)
      for (uint32_t n = 0; n < N; n++)
        for (uint32_t k = 0; k < K; k++)
          for (uint32_t oy = 0; oy < OH; oy++)
            for (uint32_t ox = 0; ox < OW; ox++) {
              double acc = 0;
              uint32_t g = k / Kg;
              for (uint32_t ci = 0; ci < Cg; ci++)
                for (uint32_t ky = 0; ky < KH; ky++)
                  for (uint32_t kx = 0; kx < KW; kx++) {
                    uint64_t kk = ((uint64_t)ci * KH + ky) * KW + kx;
                    if (kk < (uint64_t)sp * KPER || kk >= ((uint64_t)sp + 1) * KPER) continue;
                    long iy = (long)(oy * SH + ky * DH) - (long)PH;
                    long ix = (long)(ox * SW + kx * DW) - (long)PW;
                    if (iy < 0 || ix < 0 || iy >= (long)H || ix >= (long)W) continue;
                    acc += (double)x[(((size_t)n * C + g * Cg + ci) * H + (size_t)iy) * W + (size_t)ix] *
                           w[(((size_t)k * Cg + ci) * KH + ky) * KW + kx];
                  }
              c->ref[(((size_t)sp * N + n) * K + k) * OH * OW + (size_t)oy * OW + ox] = acc;
            }
  } else if (mode == NPU_CONVG_MODE_REDUCE) {
    free(c->data[0]);
    set_binding(c, 0, (size_t)S * ysz, 1);
    groups_1d(ysz, NPU_CONVG_LOCAL(bm, bn, ks), c->groups);
    for (size_t e = 0; e < ysz; e++) {
      double v = 0;
      for (uint32_t q = 0; q < S; q++) v += c->data[0][(size_t)q * ysz + e];
      if (flags & 1) v += b[(e / ((size_t)OH * OW)) % K];
      if (flags & 4) v += r[e];
      if ((flags & 2) && v < 0) v = 0;
      c->ref[e] = v;
    }
  }
}

static void make_maxpool(kcase_t *c) {
  uint32_t N = rint_in(1, 2), C = rint_in(1, 7), KH = rint_in(1, 4), KW = rint_in(1, 4);
  uint32_t SH = rint_in(1, 3), SW = rint_in(1, 3), DH = rint_in(1, 2), DW = rint_in(1, 2);
  uint32_t PH = rint_in(0, KH / 2), PW = rint_in(0, KW / 2);
  uint32_t H = rint_in(1, 15), W = rint_in(1, 15);
  while (H + 2 * PH < DH * (KH - 1) + 1) H++;
  while (W + 2 * PW < DW * (KW - 1) + 1) W++;
  uint32_t OH = (H + 2 * PH - DH * (KH - 1) - 1) / SH + 1;
  uint32_t OW = (W + 2 * PW - DW * (KW - 1) - 1) / SW + 1;
  uint32_t p[] = {N, C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW};
  memcpy(c->push, p, sizeof p);
  c->num_push = NPU_POOL_PUSH_WORDS;
  c->kernel = "maxpool2d_f32";
  c->num_bindings = 2;
  size_t ysz = (size_t)N * C * OH * OW;
  set_binding(c, 0, (size_t)N * C * H * W, 1);
  set_binding(c, 1, ysz, 0);
  groups_1d(ysz, NPU_KLOCAL_ELEMENTWISE, c->groups);
  snprintf(c->desc, sizeof c->desc, "maxpool N%u C%u H%u W%u k%ux%u s%u,%u p%u,%u d%u,%u", N, C,
           H, W, KH, KW, SH, SW, PH, PW, DH, DW);
  c->ref = malloc(sizeof(double) * ysz);
  for (size_t nc = 0; nc < (size_t)N * C; nc++)
    for (uint32_t oy = 0; oy < OH; oy++)
      for (uint32_t ox = 0; ox < OW; ox++) {
        double m = -INFINITY;
        for (uint32_t ky = 0; ky < KH; ky++)
          for (uint32_t kx = 0; kx < KW; kx++) {
            long iy = (long)(oy * SH + ky * DH) - (long)PH;
            long ix = (long)(ox * SW + kx * DW) - (long)PW;
            if (iy < 0 || ix < 0 || iy >= (long)H || ix >= (long)W) continue;
            double v = c->data[0][(nc * H + (size_t)iy) * W + (size_t)ix];
            if (v > m) m = v;
          }
        c->ref[(nc * OH + oy) * OW + ox] = m;
      }
}

static void make_avgpool(kcase_t *c, int global) {
  uint32_t N = rint_in(1, 2), C = rint_in(1, 9), H = rint_in(1, 17), W = rint_in(1, 17);
  uint32_t OH = global ? 1 : rint_in(1, H + 2), OW = global ? 1 : rint_in(1, W + 2);
  if (global && rnd() % 3 == 0) {
    H = rint_in(60, 150); /* more than one reduction pass */
  }
  size_t ysz = (size_t)N * C * OH * OW;
  c->num_bindings = 2;
  set_binding(c, 0, (size_t)N * C * H * W, 1);
  set_binding(c, 1, ysz, 0);
  if (global) {
    c->kernel = "global_avgpool_f32";
    c->push[NPU_GAP_NC] = N * C;
    c->push[NPU_GAP_HW] = H * W;
    c->num_push = NPU_GAP_PUSH_WORDS;
    c->groups[0] = N * C;
    c->groups[1] = c->groups[2] = 1;
  } else {
    c->kernel = "avgpool2d_f32";
    uint32_t p[] = {N, C, H, W, OH, OW};
    memcpy(c->push, p, sizeof p);
    c->num_push = NPU_AVGPOOL_PUSH_WORDS;
    groups_1d(ysz, NPU_KLOCAL_ELEMENTWISE, c->groups);
  }
  snprintf(c->desc, sizeof c->desc, "%s N%u C%u H%u W%u -> %ux%u", c->kernel, N, C, H, W, OH, OW);
  c->ref = malloc(sizeof(double) * ysz);
  for (size_t nc = 0; nc < (size_t)N * C; nc++)
    for (uint32_t oy = 0; oy < OH; oy++)
      for (uint32_t ox = 0; ox < OW; ox++) {
        /* PyTorch: start = floor(o*In/Out), end = ceil((o+1)*In/Out). */
        long y0 = (long)floor((double)oy * H / OH), y1 = (long)ceil((double)(oy + 1) * H / OH);
        long x0 = (long)floor((double)ox * W / OW), x1 = (long)ceil((double)(ox + 1) * W / OW);
        double s = 0;
        for (long iy = y0; iy < y1; iy++)
          for (long ix = x0; ix < x1; ix++) s += c->data[0][(nc * H + (size_t)iy) * W + (size_t)ix];
        c->ref[(nc * OH + oy) * OW + ox] = s / (double)((y1 - y0) * (x1 - x0));
      }
}

static void make_linear(kcase_t *c) {
  uint32_t M = rint_in(1, 5), N = rint_in(1, 37), K = rint_in(1, 300);
  if (rnd() % 2) K = (K + 3) / 4 * 4;
  uint32_t flags = rnd() % 4;
  c->kernel = "linear_f32";
  c->push[NPU_LINEAR_M] = M;
  c->push[NPU_LINEAR_N] = N;
  c->push[NPU_LINEAR_K] = K;
  c->push[NPU_LINEAR_FLAGS] = flags;
  c->num_push = NPU_LINEAR_PUSH_WORDS;
  c->num_bindings = 4;
  set_binding(c, 0, (size_t)M * K, 1);
  set_binding(c, 1, (size_t)N * K, 1);
  set_binding(c, 2, N, 1);
  set_binding(c, 3, (size_t)M * N, 0);
  c->groups[0] = M * N;
  c->groups[1] = c->groups[2] = 1;
  snprintf(c->desc, sizeof c->desc, "linear M%u N%u K%u flags%u", M, N, K, flags);
  c->ref = malloc(sizeof(double) * M * N);
  for (size_t m = 0; m < M; m++)
    for (size_t n = 0; n < N; n++) {
      double s = 0;
      for (size_t k = 0; k < K; k++) s += (double)c->data[0][m * K + k] * c->data[1][n * K + k];
      if (flags & 1) s += c->data[2][n];
      if ((flags & 2) && s < 0) s = 0;
      c->ref[m * N + n] = s;
    }
}

static void make_eltwise(kcase_t *c, int kind) {
  uint32_t count = rint_in(1, 3000);
  c->ref = malloc(sizeof(double) * count);
  groups_1d(count, NPU_KLOCAL_ELEMENTWISE, c->groups);
  if (kind == KC_ADD) {
    uint32_t flags = (rnd() % 2) ? NPU_KFLAG_RELU : 0;
    float alpha = rnd() % 2 ? 1.0f : 0.5f;
    c->kernel = "add_f32";
    c->push[NPU_ADD_COUNT] = count;
    c->push[NPU_ADD_FLAGS] = flags;
    memcpy(&c->push[NPU_ADD_ALPHA], &alpha, 4);
    c->num_push = NPU_ADD_PUSH_WORDS;
    c->num_bindings = 3;
    set_binding(c, 0, count, 1);
    set_binding(c, 1, count, 1);
    set_binding(c, 2, count, 0);
    for (size_t i = 0; i < count; i++) {
      double v = (double)c->data[0][i] + (double)alpha * c->data[1][i];
      c->ref[i] = (flags && v < 0) ? 0 : v;
    }
    snprintf(c->desc, sizeof c->desc, "add count%u relu%u alpha%g", count, flags != 0, alpha);
    return;
  }
  c->kernel = kind == KC_RELU ? "relu_f32" : "copy_u32";
  c->push[NPU_UNARY_COUNT] = count;
  c->num_push = NPU_UNARY_PUSH_WORDS;
  c->num_bindings = 2;
  set_binding(c, 0, count, 1);
  set_binding(c, 1, count, 0);
  for (size_t i = 0; i < count; i++) {
    double v = c->data[0][i];
    c->ref[i] = (kind == KC_RELU && v < 0) ? 0 : v;
  }
  snprintf(c->desc, sizeof c->desc, "%s count%u", c->kernel, count);
}

void kcase_make(int kind, uint32_t seed, kcase_t *c) {
  memset(c, 0, sizeof *c);
  rng_state = seed * 2654435761u + 12345u;
  if (!rng_state) rng_state = 1;
  switch (kind) {
    case KC_CONV: make_conv(c, 0); break;
    case KC_CONV_GEMM: make_conv(c, 1); break;
    case KC_MAXPOOL: make_maxpool(c); break;
    case KC_AVGPOOL: make_avgpool(c, 0); break;
    case KC_GAP: make_avgpool(c, 1); break;
    case KC_LINEAR: make_linear(c); break;
    default: make_eltwise(c, kind); break;
  }
}

void kcase_free(kcase_t *c) {
  for (int i = 0; i < 8; i++) free(c->data[i]);
  free(c->ref);
  memset(c, 0, sizeof *c);
}

double kcase_error(const kcase_t *c, const float *got) {
  size_t n = c->count[c->num_bindings - 1];
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double r = c->ref[i];
    if ((double)got[i] == r) continue; /* also equal infinities (all-padding max windows) */
    double d = fabs((double)got[i] - r);
    if (isnan(got[i]) || isnan(d)) return INFINITY;
    double e = d / (fabs(r) > 1.0 ? fabs(r) : 1.0);
    if (e > worst) worst = e;
  }
  return worst;
}
