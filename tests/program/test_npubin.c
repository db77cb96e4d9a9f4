/* .npubin: round trip, dump, and a corrupted file of every kind (the suite
 * runs under ASan/UBSan, so "never crashes, never reads out of bounds" is
 * checked too). */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crc32.h"
#include "npu/program.h"

static const uint32_t spirv_a[] = {0x07230203, 0x00010000, 0, 10, 0};
static const uint32_t spirv_c[] = {0x07230203, 0x00010300, 7, 20, 0, 0xdeadbeef};

static npu_program_t *sample(void) {
  npu_program_builder_t *b;
  assert_ok(npu_program_builder_create("vulkan", "sample-model", &b));
  npu_program_buffer_t bufs[] = {
      {NPU_BUFFER_ACTIVATIONS, 4096, "act"},   {NPU_BUFFER_WEIGHT, 64, "fc.weight"},
      {NPU_BUFFER_INPUT, 16, "in"},            {NPU_BUFFER_OUTPUT, 16, "out"},
      {NPU_BUFFER_STATE, 1ull << 60, "kv"},    {NPU_BUFFER_WEIGHT, 16, NULL},
  };
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    assert_ok(npu_program_add_buffer(b, &bufs[i], NULL));
  npu_program_tensor_t ts[] = {
      {.name = "x", .dtype = NPU_DTYPE_FLOAT32, .shape = {2, {1, 4}}, .buffer = 2, .size = 16},
      {.name = "w", .dtype = NPU_DTYPE_FLOAT32, .shape = {2, {4, 4}}, .buffer = 1, .size = 64},
      {.name = "h", .dtype = NPU_DTYPE_FLOAT32, .shape = {2, {1, 4}}, .buffer = 0,
       .offset = 128, .size = 16},
      {.name = "y", .dtype = NPU_DTYPE_FLOAT32, .shape = {2, {1, 4}}, .buffer = 3, .size = 16},
      {.name = "kv", .dtype = NPU_DTYPE_BFLOAT16, .shape = {2, {2, 2}}, .buffer = 4,
       .offset = 1ull << 59, .size = 8},
      {.name = "b", .dtype = NPU_DTYPE_FLOAT32, .shape = {1, {4}}, .buffer = 5, .size = 16},
      {.name = "s", .dtype = NPU_DTYPE_INT64, .shape = {0, {0}}, .buffer = 0, .size = 8},
  };
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
    assert_ok(npu_program_add_tensor(b, &ts[i], NULL));
  assert_ok(npu_program_add_weight(b, &(npu_program_weight_t){
                                          .tensor = 1, .key = "fc.weight",
                                          .checkpoint_dtype = NPU_DTYPE_BFLOAT16}));
  npu_attr_value_t inner[] = {{.kind = NPU_ATTR_NULL}};
  npu_attr_value_t items[] = {npu_attr_int(1), npu_attr_float(2.5), npu_attr_list(inner, 1)};
  npu_attr_t attrs[] = {
      {"eps", npu_attr_float(1e-5)},
      {"inf", npu_attr_float(INFINITY)},
      {"ninf", npu_attr_float(-INFINITY)},
      {"nan", npu_attr_float(NAN)},
      {"negzero", npu_attr_float(-0.0)},
      {"third", npu_attr_float(1.0 / 3.0)},
      {"big", npu_attr_int(INT64_MAX)},
      {"small", npu_attr_int(INT64_MIN)},
      {"flag", npu_attr_bool(true)},
      {"mode", npu_attr_string("a \"quoted\" string")},
      {"dt", npu_attr_dtype(NPU_DTYPE_BFLOAT16)},
      {"lst", npu_attr_list(items, 3)},
      {"none", {.kind = NPU_ATTR_NULL}},
  };
  const char *srcs[] = {"bn.bias", "bn.running_mean"};
  assert_ok(npu_program_add_weight(
      b, &(npu_program_weight_t){.tensor = 5, .transform = "bn_fold_bias", .sources = srcs,
                                 .num_sources = 2, .attrs = attrs,
                                 .num_attrs = (int32_t)(sizeof attrs / sizeof attrs[0])}));
  assert_ok(npu_program_add_kernel(b, &(npu_program_kernel_t){.name = "matvec", .spirv = spirv_a,
                                                              .spirv_words = 5,
                                                              .num_bindings = 3,
                                                              .push_words = 2},
                                   NULL));
  assert_ok(npu_program_add_kernel(
      b, &(npu_program_kernel_t){.name = "copy", .num_bindings = 2, .push_words = 0}, NULL));
  assert_ok(npu_program_add_kernel(b, &(npu_program_kernel_t){.name = "kv_write",
                                                              .spirv = spirv_c, .spirv_words = 6,
                                                              .num_bindings = 1,
                                                              .push_words = 1},
                                   NULL));
  assert_ok(npu_program_add_dispatch(b, &(npu_program_dispatch_t){
                                            .kernel = 0, .node = "fc", .groups = {1, 1, 1},
                                            .bindings = {0, 1, 2}, .num_bindings = 3,
                                            .push = {4, 0xFFFFFFFFu}, .num_push = 2,
                                            .spec = {{0, 16}, {1, 0xFFFFFFFFu}}, .num_spec = 2}));
  assert_ok(npu_program_add_dispatch(b, &(npu_program_dispatch_t){
                                            .kernel = 1, .node = NULL, .groups = {4, 1, 1},
                                            .bindings = {2, 3}, .num_bindings = 2}));
  assert_ok(npu_program_add_dispatch(b, &(npu_program_dispatch_t){
                                            .kernel = 2, .node = "cache", .groups = {2, 3, 4},
                                            .bindings = {4}, .num_bindings = 1, .push = {7},
                                            .num_push = 1}));
  assert_ok(npu_program_add_input(b, 0));
  assert_ok(npu_program_add_output(b, 3));
  npu_program_t *p;
  assert_ok(npu_program_builder_finish(b, &p));
  return p;
}

static void str_eq(const char *a, const char *b) {
  if (!a || !b) assert_ptr_equal(a, b);
  else assert_string_equal(a, b);
}

static void assert_programs_equal(const npu_program_t *a, const npu_program_t *b) {
  str_eq(npu_program_backend(a), npu_program_backend(b));
  str_eq(npu_program_model_name(a), npu_program_model_name(b));
  assert_int_equal(npu_program_buffer_count(a), npu_program_buffer_count(b));
  for (int32_t i = 0; i < npu_program_buffer_count(a); i++) {
    const npu_program_buffer_t *x = npu_program_buffer(a, i), *y = npu_program_buffer(b, i);
    assert_int_equal(x->kind, y->kind);
    assert_int_equal(x->size, y->size);
    str_eq(x->name, y->name);
  }
  assert_int_equal(npu_program_tensor_count(a), npu_program_tensor_count(b));
  for (int32_t i = 0; i < npu_program_tensor_count(a); i++) {
    const npu_program_tensor_t *x = npu_program_tensor(a, i), *y = npu_program_tensor(b, i);
    str_eq(x->name, y->name);
    assert_int_equal(x->dtype, y->dtype);
    assert_true(npu_shape_equal(&x->shape, &y->shape));
    assert_int_equal(x->buffer, y->buffer);
    assert_int_equal(x->offset, y->offset);
    assert_int_equal(x->size, y->size);
    assert_int_equal(npu_program_find_tensor(b, x->name), i);
  }
  int32_t na, nb;
  const int32_t *ia = npu_program_inputs(a, &na), *ib = npu_program_inputs(b, &nb);
  assert_int_equal(na, nb);
  for (int32_t i = 0; i < na; i++) assert_int_equal(ia[i], ib[i]);
  ia = npu_program_outputs(a, &na);
  ib = npu_program_outputs(b, &nb);
  assert_int_equal(na, nb);
  for (int32_t i = 0; i < na; i++) assert_int_equal(ia[i], ib[i]);
  assert_int_equal(npu_program_weight_count(a), npu_program_weight_count(b));
  for (int32_t i = 0; i < npu_program_weight_count(a); i++) {
    const npu_program_weight_t *x = npu_program_weight(a, i), *y = npu_program_weight(b, i);
    assert_int_equal(x->tensor, y->tensor);
    str_eq(x->key, y->key);
    str_eq(x->transform, y->transform);
    assert_int_equal(x->num_sources, y->num_sources);
    for (int32_t j = 0; j < x->num_sources; j++) str_eq(x->sources[j], y->sources[j]);
    assert_int_equal(x->num_attrs, y->num_attrs);
    for (int32_t j = 0; j < x->num_attrs; j++) {
      str_eq(x->attrs[j].name, y->attrs[j].name);
      if (!npu_attr_value_equal(&x->attrs[j].value, &y->attrs[j].value))
        fail_msg("weight %d attr %s differs", (int)i, x->attrs[j].name);
    }
    assert_int_equal(x->checkpoint_dtype, y->checkpoint_dtype);
  }
  assert_int_equal(npu_program_kernel_count(a), npu_program_kernel_count(b));
  for (int32_t i = 0; i < npu_program_kernel_count(a); i++) {
    const npu_program_kernel_t *x = npu_program_kernel(a, i), *y = npu_program_kernel(b, i);
    str_eq(x->name, y->name);
    assert_int_equal(x->spirv_words, y->spirv_words);
    if (x->spirv_words) assert_memory_equal(x->spirv, y->spirv, x->spirv_words * 4);
    else assert_null(y->spirv);
    assert_int_equal(x->num_bindings, y->num_bindings);
    assert_int_equal(x->push_words, y->push_words);
  }
  assert_int_equal(npu_program_dispatch_count(a), npu_program_dispatch_count(b));
  for (int32_t i = 0; i < npu_program_dispatch_count(a); i++) {
    const npu_program_dispatch_t *x = npu_program_dispatch(a, i), *y = npu_program_dispatch(b, i);
    assert_int_equal(x->kernel, y->kernel);
    str_eq(x->node, y->node);
    assert_memory_equal(x->groups, y->groups, sizeof x->groups);
    assert_int_equal(x->num_bindings, y->num_bindings);
    assert_memory_equal(x->bindings, y->bindings, sizeof(int32_t) * (size_t)x->num_bindings);
    assert_int_equal(x->num_push, y->num_push);
    assert_memory_equal(x->push, y->push, sizeof(uint32_t) * (size_t)x->num_push);
    assert_int_equal(x->num_spec, y->num_spec);
    assert_memory_equal(x->spec, y->spec, sizeof(npu_spec_constant_t) * (size_t)x->num_spec);
  }
}

/* Writes p to a fresh file and returns its bytes. */
static unsigned char *image_of(const npu_program_t *p, size_t *size, char *path_out) {
  const char *dir = npu_test_tmpdir("npubin");
  char path[1024];
  snprintf(path, sizeof path, "%s/p.npubin", dir);
  assert_ok(npu_program_write_npubin(p, path));
  if (path_out) strcpy(path_out, path);
  unsigned char *img = (unsigned char *)npu_test_read_file(path, size);
  assert_non_null(img);
  return img;
}

static uint32_t rd32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) {
  return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static void wr32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void wr64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Recomputes the table and header CRCs after an edit (the table at 64). */
static void refresh_crcs(unsigned char *img) {
  uint32_t count = rd32(img + 32);
  wr32(img + 48, npu_crc32(0, img + 64, (size_t)count * 32));
  wr32(img + 36, 0);
  wr32(img + 36, npu_crc32(0, img, 64));
}

static void expect_error(const unsigned char *img, size_t size, const char *needle) {
  npu_program_t *p = NULL;
  assert_error_contains(npu_program_read_npubin_buffer(img, size, "t.npubin", &p), needle);
  assert_null(p);
}

static void test_round_trip(void **state) {
  (void)state;
  npu_program_t *p = sample();
  char path[1024];
  size_t size;
  unsigned char *img = image_of(p, &size, path);
  npu_program_t *q = NULL;
  assert_ok(npu_program_read_npubin(path, &q));
  assert_programs_equal(p, q);
  npu_program_t *r = NULL;
  assert_ok(npu_program_read_npubin_buffer(img, size, "mem", &r));
  assert_programs_equal(p, r);
  /* Writing the reread program gives the same bytes. */
  size_t size2;
  unsigned char *img2 = image_of(q, &size2, NULL);
  assert_int_equal(size, size2);
  assert_memory_equal(img, img2, size);
  /* Layout: magic, versions, alignment. */
  assert_memory_equal(img, "NPUBIN\0\0", 8);
  assert_int_equal(rd32(img + 8), 1);
  assert_int_equal(rd32(img + 12), 1);
  assert_string_equal((const char *)img + 16, "vulkan");
  assert_int_equal(rd32(img + 32), 3); /* metadata + 2 SPIR-V */
  for (uint32_t i = 0; i < 3; i++) assert_int_equal(rd64(img + 64 + 32 * i + 8) % 64, 0);
  free(img);
  free(img2);
  npu_program_destroy(p);
  npu_program_destroy(q);
  npu_program_destroy(r);
}

static void test_dump(void **state) {
  (void)state;
  npu_program_t *p = sample();
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  assert_ok(npu_program_dump(p, f));
  fclose(f);
  assert_non_null(strstr(text, "backend vulkan, model sample-model"));
  assert_non_null(strstr(text, "[1] SPIRV"));
  assert_non_null(strstr(text, "[0] matvec node fc groups [1, 1, 1] bindings (x, w, h)"));
  assert_non_null(strstr(text, "[1] copy node - groups [4, 1, 1] bindings (h, y)"));
  assert_non_null(strstr(text, "spec {0=16, 1=4294967295}"));
  assert_non_null(strstr(text, "bn_fold_bias(bn.bias, bn.running_mean)"));
  assert_non_null(strstr(text, "inputs: x"));
  free(text);
  npu_program_destroy(p);
}

static void test_truncated(void **state) {
  (void)state;
  npu_program_t *p = sample();
  size_t size;
  unsigned char *img = image_of(p, &size, NULL);
  for (size_t n = 0; n < size; n++) {
    /* A fresh allocation of exactly n bytes, so ASan sees any overread. */
    unsigned char *cut = malloc(n ? n : 1);
    memcpy(cut, img, n);
    expect_error(cut, n, "t.npubin");
    free(cut);
  }
  expect_error(img, 4, "not an .npubin file");
  expect_error(img, 40, "truncated .npubin header");
  expect_error(img, 100, "does not fit in the file");
  expect_error(img, size - 1, "extend past the end of the file");
  free(img);
  npu_program_destroy(p);
}

static void test_flipped_bytes(void **state) {
  (void)state;
  npu_program_t *p = sample();
  size_t size;
  unsigned char *img = image_of(p, &size, NULL);
  uint32_t count = rd32(img + 32);
  const char *kinds[] = {"", "METADATA", "SPIRV", "STRINGS"};
  for (uint32_t i = 0; i < count; i++) {
    const unsigned char *e = img + 64 + 32 * i;
    uint64_t off = rd64(e + 8), sz = rd64(e + 16);
    for (uint64_t at = off; at < off + sz; at += (sz / 7) + 1) {
      img[at] ^= 0x40;
      char needle[64];
      snprintf(needle, sizeof needle, "section %u (%s) CRC mismatch: stored 0x", i,
               kinds[rd32(e)]);
      expect_error(img, size, needle);
      img[at] ^= 0x40;
    }
  }
  for (size_t at = 16; at < 64; at++) {
    img[at] ^= 1;
    expect_error(img, size, "header CRC mismatch");
    img[at] ^= 1;
  }
  for (size_t at = 64; at < 64 + 32 * (size_t)count; at += 5) {
    img[at] ^= 1;
    expect_error(img, size, "section table CRC mismatch");
    img[at] ^= 1;
  }
  /* Unchanged image still loads. */
  npu_program_t *q = NULL;
  assert_ok(npu_program_read_npubin_buffer(img, size, "t.npubin", &q));
  npu_program_destroy(q);
  free(img);
  npu_program_destroy(p);
}

static void test_header_errors(void **state) {
  (void)state;
  npu_program_t *p = sample();
  size_t size;
  unsigned char *img = image_of(p, &size, NULL);
  unsigned char *m = malloc(size);

  memcpy(m, img, size);
  m[0] = 'X';
  expect_error(m, size, "t.npubin: not an .npubin file (bad magic)");
  expect_error((const unsigned char *)"hello world, this is not it", 27, "not an .npubin file");

  memcpy(m, img, size);
  wr32(m + 8, 2);
  expect_error(m, size, "format version 2 is newer than this reader supports (1)");

  memcpy(m, img, size);
  wr32(m + 12, 9);
  refresh_crcs(m);
  expect_error(m, size, "kernel ABI 9");

  memcpy(m, img, size);
  wr64(m + 40, size + 64);
  refresh_crcs(m);
  expect_error(m, size, "section table offset");

  memcpy(m, img, size);
  wr64(m + 40, UINT64_MAX - 7);
  refresh_crcs(m);
  expect_error(m, size, "section table offset");

  memcpy(m, img, size);
  wr32(m + 32, UINT32_MAX);
  wr32(m + 36, 0); /* the table CRC is never reached: refresh the header's only */
  wr32(m + 36, npu_crc32(0, m, 64));
  expect_error(m, size, "does not fit in the file");

  /* Huge section size and offset: overflow-safe checks. */
  memcpy(m, img, size);
  wr64(m + 64 + 16, UINT64_MAX - 10);
  refresh_crcs(m);
  expect_error(m, size, "section 0 (METADATA): bytes [");
  memcpy(m, img, size);
  wr64(m + 64 + 32 + 8, UINT64_MAX - 63);
  refresh_crcs(m);
  expect_error(m, size, "section 1 (SPIRV): bytes [");
  memcpy(m, img, size);
  wr64(m + 64 + 32 + 8, rd64(img + 64 + 32 + 8) + 4);
  refresh_crcs(m);
  expect_error(m, size, "not 64-byte aligned");
  memcpy(m, img, size);
  wr32(m + 64 + 32, 77);
  refresh_crcs(m);
  expect_error(m, size, "section 1: unknown kind 77");
  memcpy(m, img, size);
  wr64(m + 64 + 32 + 8, 0);
  refresh_crcs(m);
  expect_error(m, size, "overlaps");

  /* A SPIR-V section without the SPIR-V magic (CRC made consistent). */
  memcpy(m, img, size);
  uint64_t off = rd64(m + 64 + 32 + 8), sz = rd64(m + 64 + 32 + 16);
  m[off] = 0;
  wr32(m + 64 + 32 + 24, npu_crc32(0, m + off, (size_t)sz));
  refresh_crcs(m);
  expect_error(m, size, "section 1 (SPIRV): bad SPIR-V magic");

  npu_program_t *q = NULL;
  assert_error_contains(npu_program_read_npubin("/nonexistent/x.npubin", &q),
                        "/nonexistent/x.npubin");
  free(m);
  free(img);
  npu_program_destroy(p);
}

/* Rebuilds the image with its metadata JSON edited: `from` must occur. */
static unsigned char *with_json_edit(const unsigned char *img, size_t size, const char *from,
                                     const char *to, size_t *out_size) {
  uint64_t moff = rd64(img + 64 + 8), msz = rd64(img + 64 + 16);
  assert_true(moff + msz <= size);
  char *json = malloc((size_t)msz + 1);
  memcpy(json, img + moff, (size_t)msz);
  json[msz] = 0;
  char *hit = strstr(json, from);
  if (!hit) fail_msg("\"%s\" not in metadata: %s", from, json);
  size_t nlen = msz - strlen(from) + strlen(to);
  char *edited = malloc(nlen + 1);
  size_t pre = (size_t)(hit - json);
  memcpy(edited, json, pre);
  strcpy(edited + pre, to);
  strcat(edited, hit + strlen(from));
  free(json);
  /* Lay out: header and table as before, metadata, then the other sections. */
  uint32_t count = rd32(img + 32);
  uint64_t pos = rd64(img + 64 + 8);
  uint64_t total = pos + nlen;
  for (uint32_t i = 1; i < count; i++) total = ((total + 63) & ~63ull) + rd64(img + 64 + 32 * i + 16);
  unsigned char *out = calloc(1, (size_t)total);
  memcpy(out, img, 64 + 32 * (size_t)count);
  memcpy(out + pos, edited, nlen);
  wr64(out + 64 + 16, nlen);
  wr32(out + 64 + 24, npu_crc32(0, edited, nlen));
  free(edited);
  pos += nlen;
  for (uint32_t i = 1; i < count; i++) {
    pos = (pos + 63) & ~63ull;
    unsigned char *e = out + 64 + 32 * i;
    memcpy(out + pos, img + rd64(e + 8), (size_t)rd64(e + 16));
    wr64(e + 8, pos);
    pos += rd64(e + 16);
  }
  refresh_crcs(out);
  *out_size = (size_t)total;
  return out;
}

static void expect_json_error(const unsigned char *img, size_t size, const char *from,
                              const char *to, const char *needle) {
  size_t n;
  unsigned char *m = with_json_edit(img, size, from, to, &n);
  expect_error(m, n, needle);
  free(m);
}

static void test_metadata_errors(void **state) {
  (void)state;
  npu_program_t *p = sample();
  size_t size;
  unsigned char *img = image_of(p, &size, NULL);
  /* The identity edit loads: the helper itself is sound. */
  size_t n;
  unsigned char *same = with_json_edit(img, size, "\"tensors\"", "\"tensors\"", &n);
  npu_program_t *q = NULL;
  assert_ok(npu_program_read_npubin_buffer(same, n, "same", &q));
  assert_programs_equal(p, q);
  npu_program_destroy(q);
  free(same);

  expect_json_error(img, size, "{\"format\"", "{{\"format\"", "(METADATA): invalid JSON");
  expect_json_error(img, size, "\"bindings\":[2,3]", "\"bindings\":[2,\"three\"]",
                    "metadata: dispatches[1].bindings[1]: expected an integer");
  expect_json_error(img, size, "\"push_words\":0", "\"push_wordz\":0",
                    "metadata: kernels[1].push_words: missing");
  expect_json_error(img, size, "\"groups\":[2,3,4]", "\"groups\":[2,0,4]",
                    "dispatches[2].groups[1]: expected an integer in [1, 4294967295]");
  expect_json_error(img, size, "\"groups\":[2,3,4]", "\"groups\":[2,3]",
                    "dispatches[2].groups: expected 3 workgroup counts");
  expect_json_error(img, size, "{\"float\":\"inf\"}", "{\"float\":\"infinity\"}",
                    "weights[1].attrs[1].value.float");
  expect_json_error(img, size, "\"bindings\":[4]", "\"bindings\":[99]",
                    "binding 0: tensor 99 out of range");
  expect_json_error(img, size, "\"backend\":\"vulkan\"", "\"backend\":\"cpu\"",
                    "backend: \"cpu\" disagrees with the header's \"vulkan\"");
  expect_json_error(img, size, "\"spirv_section\":1", "\"spirv_section\":0",
                    "kernels[0].spirv_section: section 0 is METADATA, not SPIRV");
  expect_json_error(img, size, "\"spirv_section\":1", "\"spirv_section\":2",
                    "section 2 belongs to kernel 2, not 0");
  expect_json_error(img, size, "\"spirv_section\":1", "\"spirv_section\":3",
                    "kernels[0].spirv_section: expected an integer in [-1, 2]");
  expect_json_error(img, size, "\"shape\":[4]", "\"shape\":[1,1,1,1,1,1,1,1,4]",
                    "tensors[5].shape: 9 items, at most 8");
  expect_json_error(img, size, "\"dtype\":\"float32\"", "\"dtype\":\"float99\"",
                    "tensors[0].dtype: unknown dtype \"float99\"");
  expect_json_error(img, size, "\"kind\":\"state\"", "\"kind\":\"magic\"",
                    "buffers[4].kind: unknown buffer kind");
  expect_json_error(img, size, "\"size\":16", "\"size\":\"18446744073709551616\"",
                    "buffers[2].size: expected an unsigned 64-bit integer");
  expect_json_error(img, size, "\"size\":16", "\"size\":-16",
                    "buffers[2].size: expected an unsigned 64-bit integer");
  expect_json_error(img, size, "\"name\":\"copy\"", "\"name\":\"matvec\"",
                    "kernels[1]: duplicate kernel name \"matvec\"");
  expect_json_error(img, size, "\"tensors\":[", "\"tensors\":7,\"x\":[",
                    "metadata: tensors: expected an array");
  expect_json_error(img, size, "\"format_version\":1", "\"format_version\":2",
                    "format_version: 2 disagrees");
  expect_json_error(img, size, "\"offset\":128", "\"offset\":4090",
                    "tensor 2 (h): bytes [4090, +16) overflow buffer 0 (act)");
  /* Deeply nested attribute lists are refused, not recursed into. */
  char deep[4096] = "{\"list\":";
  for (int i = 0; i < 200; i++) strcat(deep, "[{\"list\":");
  strcat(deep, "[]");
  for (int i = 0; i < 200; i++) strcat(deep, "}]");
  strcat(deep, "}");
  expect_json_error(img, size, "{\"bool\":true}", deep, "nested too deeply");
  free(img);
  npu_program_destroy(p);
}

/* NPU_WRITE_NPUBIN_SEEDS=DIR writes the fuzzer's seed corpus. */
static void test_write_seeds(void **state) {
  (void)state;
  const char *dir = getenv("NPU_WRITE_NPUBIN_SEEDS");
  if (!dir) skip();
  char path[1024];
  npu_program_t *p = sample();
  snprintf(path, sizeof path, "%s/sample.seed", dir);
  assert_ok(npu_program_write_npubin(p, path));
  npu_program_destroy(p);
  npu_program_builder_t *b;
  assert_ok(npu_program_builder_create("cpu", "min", &b));
  assert_ok(npu_program_add_buffer(b, &(npu_program_buffer_t){NPU_BUFFER_INPUT, 4, "in"}, NULL));
  assert_ok(npu_program_add_tensor(
      b, &(npu_program_tensor_t){.name = "x", .dtype = NPU_DTYPE_FLOAT32, .size = 4}, NULL));
  assert_ok(npu_program_add_kernel(
      b, &(npu_program_kernel_t){.name = "relu_f32", .num_bindings = 1, .push_words = 1}, NULL));
  assert_ok(npu_program_add_dispatch(b, &(npu_program_dispatch_t){
                                            .kernel = 0, .node = "relu", .groups = {1, 1, 1},
                                            .bindings = {0}, .num_bindings = 1, .push = {1},
                                            .num_push = 1}));
  assert_ok(npu_program_add_input(b, 0));
  assert_ok(npu_program_add_output(b, 0));
  assert_ok(npu_program_builder_finish(b, &p));
  snprintf(path, sizeof path, "%s/minimal-cpu.seed", dir);
  assert_ok(npu_program_write_npubin(p, path));
  npu_program_destroy(p);
  assert_ok(npu_program_builder_create("vulkan", NULL, &b));
  assert_ok(npu_program_builder_finish(b, &p));
  snprintf(path, sizeof path, "%s/empty-vulkan.seed", dir);
  assert_ok(npu_program_write_npubin(p, path));
  npu_program_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_dump),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_flipped_bytes),
      cmocka_unit_test(test_header_errors),
      cmocka_unit_test(test_metadata_errors),
      cmocka_unit_test(test_write_seeds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
