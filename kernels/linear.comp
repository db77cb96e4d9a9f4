#version 450
// npu-kernel: bindings=4 push=4 precisions=f32,f16
//
// linear_f32 / linear_f16: Y[m,n] = relu?( sum_k X[m,k] * W[n,k] + B[n]? ).
// Bindings: 0 X [M,K], 1 W [N,K], 2 B [N] (ignored without FLAG_BIAS),
// 3 Y [M,N]. One workgroup of 64 per output element (m,n):
// idx = gid.x + gid.y * num_groups.x, m = idx / N, n = idx % N. Each lane
// reads strided vec4 chunks of the row when K is a multiple of 4.
#include "precision.glsl"

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { ACT_T x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wb { ACT_T w[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bb { ACT_T b[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Yb { ACT_T y[]; };

layout(push_constant) uniform P { uint M, N, K, FLAGS; } p;

const uint FLAG_BIAS = 1u, FLAG_RELU = 2u;

shared float part[64];

void main() {
  uint idx = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  uint t = gl_LocalInvocationID.x;
  bool live = idx < p.M * p.N;
  uint m = live ? idx / p.N : 0u;
  uint n = live ? idx % p.N : 0u;
  float s = 0.0;
  if (live) {
    uint xb = m * p.K, wb = n * p.K;
    if ((p.K & 3u) == 0u) {
      for (uint k = t * 4u; k < p.K; k += 256u) {
        vec4 xv = vec4(float(x[xb + k]), float(x[xb + k + 1u]), float(x[xb + k + 2u]),
                         float(x[xb + k + 3u]));
        vec4 wv = vec4(float(w[wb + k]), float(w[wb + k + 1u]), float(w[wb + k + 2u]),
                         float(w[wb + k + 3u]));
        s += dot(xv, wv);
      }
    } else {
      for (uint k = t; k < p.K; k += 64u) s += float(x[xb + k]) * float(w[wb + k]);
    }
  }
  part[t] = s;
  barrier();
  for (uint st = 32u; st > 0u; st >>= 1u) {
    if (t < st) part[t] += part[t + st];
    barrier();
  }
  if (t == 0u && live) {
    float v = part[0];
    if ((p.FLAGS & FLAG_BIAS) != 0u) v += float(b[n]);
    if ((p.FLAGS & FLAG_RELU) != 0u) v = max(v, 0.0);
    y[idx] = ACT_T(v);
  }
}
