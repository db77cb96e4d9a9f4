// kernels/precision.glsl — storage types for kernels built in several precisions.
//
// A kernel whose header line says "precisions=f32,f16" is compiled once per
// precision, with NPU_PRECISION_F32 or NPU_PRECISION_F16 defined, into the
// kernels <stem>_f32 and <stem>_f16. Activations and weights are STORED as
// ACT_T; arithmetic always accumulates in fp32 (float).
#if defined(NPU_PRECISION_F16)
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define ACT_T float16_t
#define ACT2_T f16vec2
#define ACT4_T f16vec4
#else
#define ACT_T float
#define ACT2_T vec2
#define ACT4_T vec4
#endif
