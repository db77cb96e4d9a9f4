#version 450
// npu-kernel: bindings=2 push=1 precisions=f32,f16
//
// relu_f32 / relu_f16: Y[i] = max(X[i], 0) for i < COUNT.
// Bindings: 0 X, 1 Y. Linear index = gid.x + gid.y * (num_groups.x * 256).
#include "precision.glsl"

layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { ACT_T x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { ACT_T y[]; };

layout(push_constant) uniform P { uint COUNT; } p;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  if (i >= p.COUNT) return;
  y[i] = ACT_T(max(float(x[i]), 0.0));
}
