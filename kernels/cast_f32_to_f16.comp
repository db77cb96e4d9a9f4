#version 450
// npu-kernel: bindings=2 push=1
//
// cast_f32_to_f16: Y[i] = float16_t(X[i]) for i < COUNT; the fp16 programs' boundary
// between float32 graph inputs/outputs and float16 activations (f32 -> f16
// rounds to nearest even). Only 16-bit storage is used (no f16 arithmetic).
// Bindings: 0 X, 1 Y. Linear index = gid.x + gid.y * (num_groups.x * 256).
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { float16_t y[]; };

layout(push_constant) uniform P { uint COUNT; } p;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  if (i >= p.COUNT) return;
  y[i] = float16_t(x[i]);
}
