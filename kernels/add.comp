#version 450
// npu-kernel: bindings=3 push=3 precisions=f32,f16
//
// add_f32 / add_f16: Y[i] = relu?(A[i] + ALPHA * B[i]) for i < COUNT (same shapes).
// Bindings: 0 A, 1 B, 2 Y. Push: COUNT, FLAGS (2 = relu), ALPHA (float bits).
// Linear index = gid.x + gid.y * (num_groups.x * 256).
#include "precision.glsl"

layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Ab { ACT_T a[]; };
layout(std430, set = 0, binding = 1) readonly buffer Bb { ACT_T b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Yb { ACT_T y[]; };

layout(push_constant) uniform P { uint COUNT, FLAGS; float ALPHA; } p;

const uint FLAG_RELU = 2u;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  if (i >= p.COUNT) return;
  float av = float(a[i]), bv = float(b[i]);
  float v = p.ALPHA == 1.0 ? av + bv : av + p.ALPHA * bv;
  if ((p.FLAGS & FLAG_RELU) != 0u) v = max(v, 0.0);
  y[i] = ACT_T(v);
}
