/* npurun: runs a compiled program (.npubin) on a device through the runtime:
 * inputs and outputs as .npy files, latency statistics over repeated runs,
 * the profiler, and a check of the output against a golden .npy. See
 * docs/runtime.md ("npurun"). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "npu/npy.h"
#include "npu/program.h"
#include "npu/runtime.h"

#ifndef NPU_VERSION
#define NPU_VERSION "0"
#endif

enum { EXIT_OK = 0, EXIT_BAD_INPUT = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

static const char usage_text[] =
    "usage: npurun PROGRAM.npubin [options]\n"
    "\n"
    "Runs a compiled program on a device: reads its inputs from .npy files, runs it\n"
    "(warmup runs, then timed runs), writes its outputs as .npy files and checks an\n"
    "output against a golden.\n"
    "\n"
    "  -w, --weights PATH         .safetensors file or checkpoint directory (required\n"
    "                             when the program has weights)\n"
    "  -i, --input NAME=FILE.npy  an input (repeatable); plain FILE.npy only when the\n"
    "                             program has one input. dtype and shape must match the\n"
    "                             program exactly: nothing is converted\n"
    "  -o, --output NAME=FILE.npy write an output (repeatable); plain FILE.npy only when\n"
    "                             the program has one output. Written in the output's dtype\n"
    "      --backend vulkan|cpu   the device backend (default: the program's backend)\n"
    "      --device SELECTOR      device index or name substring (default: NPU_DEVICE,\n"
    "                             else the first discrete GPU, ...)\n"
    "      --profile              profile the timed runs and print per-kernel times\n"
    "      --trace FILE.json      write a Chrome trace of the last timed run\n"
    "      --repeat N             timed runs (default 1); N > 1 prints median, min, mean\n"
    "                             and p90 latency (wall clock of each run)\n"
    "      --warmup N             untimed runs before the timed ones (default 0)\n"
    "      --check GOLDEN.npy     compare the (first) output with GOLDEN: max abs error,\n"
    "                             max relative error = max|out - golden| / max|golden|,\n"
    "                             and for 2-D [N, C] outputs top-1 (argmax) agreement per\n"
    "                             row. Fails if the relative error exceeds --rtol or any\n"
    "                             row's top-1 differs\n"
    "      --rtol X               tolerance of --check (default 1e-3)\n"
    "  -q, --quiet                print only errors, --profile and a failed --check\n"
    "  -h, --help                 this text\n"
    "      --version              the npurun version\n"
    "\n"
    "Environment: NPU_DEVICE (device choice), NPU_VULKAN_VALIDATION=1 (Vulkan\n"
    "validation layer; errors are printed as 'vulkan validation error: ...'),\n"
    "NPU_PLUGIN_PATH (extra plugin directories).\n"
    "\n"
    "Exit status: 0 success; 1 bad input (program, weights, .npy, device choice) or a\n"
    "failed --check; 2 usage error; 3 internal, device or I/O error.\n";

static int exit_code_for(npu_status_t st) {
  switch (npu_status_code(st)) {
    case NPU_STATUS_OK: return EXIT_OK;
    case NPU_STATUS_INVALID_ARGUMENT:
    case NPU_STATUS_PARSE_ERROR:
    case NPU_STATUS_NOT_FOUND:
    case NPU_STATUS_UNSUPPORTED:
    case NPU_STATUS_VERIFY_FAILED:
    case NPU_STATUS_ABI_MISMATCH: return EXIT_BAD_INPUT;
    default: return EXIT_INTERNAL;
  }
}

static int fail(npu_status_t st) {
  int code = exit_code_for(st);
  npu_status_fprint(stderr, st);
  npu_status_free(st);
  return code;
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "npurun: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'npurun --help'.\n");
  return EXIT_USAGE;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* "NAME=FILE" or "FILE". */
typedef struct io_arg {
  char *name; /* NULL when not given */
  const char *file;
} io_arg_t;

static bool parse_io(const char *arg, io_arg_t *out) {
  const char *eq = strchr(arg, '=');
  if (!eq) {
    out->name = NULL;
    out->file = arg;
    return true;
  }
  if (eq == arg || !eq[1]) return false;
  size_t n = (size_t)(eq - arg);
  out->name = malloc(n + 1);
  if (!out->name) return false;
  memcpy(out->name, arg, n);
  out->name[n] = '\0';
  out->file = eq + 1;
  return true;
}

static bool parse_count(const char *s, long min, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > 100000000L) return false;
  *out = v;
  return true;
}

/* "'x', 'y'" for error messages. */
static void list_names(const npu_program_t *p, const int32_t *idx, int32_t n, char *buf,
                       size_t size) {
  size_t len = 0;
  buf[0] = '\0';
  for (int32_t i = 0; i < n && len + 1 < size; i++) {
    int w = snprintf(buf + len, size - len, "%s'%s'", i ? ", " : "",
                     npu_program_tensor(p, idx[i])->name);
    if (w < 0) break;
    len += (size_t)w;
  }
  if (len >= size) len = size - 1;
  if (n == 0) snprintf(buf, size, "(none)");
}

/* Index into idx[] of the tensor named `name`, or -1. */
static int32_t find_in(const npu_program_t *p, const int32_t *idx, int32_t n, const char *name) {
  for (int32_t i = 0; i < n; i++)
    if (strcmp(npu_program_tensor(p, idx[i])->name, name) == 0) return i;
  return -1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float f;
  if (exp == 0) {
    f = ldexpf((float)mant, -24);
  } else if (exp == 31) {
    f = mant ? NAN : INFINITY;
  } else {
    f = ldexpf((float)(mant | 0x400), (int)exp - 25);
  }
  return sign ? -f : f;
}

/* Element i of a host array as double; false for dtypes --check cannot read. */
static bool element(npu_dtype_t dt, const void *data, int64_t i, double *out) {
  switch (dt) {
    case NPU_DTYPE_FLOAT32: *out = ((const float *)data)[i]; return true;
    case NPU_DTYPE_FLOAT64: *out = ((const double *)data)[i]; return true;
    case NPU_DTYPE_FLOAT16: *out = half_to_float(((const uint16_t *)data)[i]); return true;
    case NPU_DTYPE_BFLOAT16: {
      uint32_t u = (uint32_t)((const uint16_t *)data)[i] << 16;
      float f;
      memcpy(&f, &u, sizeof f);
      *out = f;
      return true;
    }
    case NPU_DTYPE_INT32: *out = ((const int32_t *)data)[i]; return true;
    case NPU_DTYPE_INT64: *out = (double)((const int64_t *)data)[i]; return true;
    case NPU_DTYPE_INT8: *out = ((const int8_t *)data)[i]; return true;
    case NPU_DTYPE_UINT8: *out = ((const uint8_t *)data)[i]; return true;
    default: return false;
  }
}

/* Compares an output with the golden; prints the result. Returns EXIT_OK or
 * EXIT_BAD_INPUT. */
static int check_output(const char *out_name, npu_dtype_t dt, const npu_shape_t *shape,
                        const void *data, const char *golden_path, double rtol, bool quiet) {
  npu_npy_t g;
  npu_status_t st = npu_npy_read(golden_path, &g);
  if (st) return fail(st);
  char s1[128], s2[128];
  int rc = EXIT_OK;
  if (!npu_shape_equal(shape, &g.shape)) {
    fprintf(stderr, "npurun: --check: output '%s' has shape %s, the golden %s has shape %s\n",
            out_name, npu_shape_format(shape, s1, sizeof s1), golden_path,
            npu_shape_format(&g.shape, s2, sizeof s2));
    npu_npy_free(&g);
    return EXIT_BAD_INPUT;
  }
  double probe;
  int64_t n = 0;
  npu_shape_numel(shape, &n);
  if (n > 0 && (!element(dt, data, 0, &probe) || !element(g.dtype, g.data, 0, &probe))) {
    fprintf(stderr, "npurun: --check: cannot compare dtype %s (output '%s') with %s (%s)\n",
            npu_dtype_name(dt), out_name, npu_dtype_name(g.dtype), golden_path);
    npu_npy_free(&g);
    return EXIT_BAD_INPUT;
  }
  double max_abs = 0, max_ref = 0;
  int64_t worst = -1, nonfinite = 0;
  for (int64_t i = 0; i < n; i++) {
    double a = 0, b = 0;
    element(dt, data, i, &a);
    element(g.dtype, g.data, i, &b);
    if (!isfinite(a) || !isfinite(b)) {
      if (!(a == b)) nonfinite++; /* equal infinities agree; NaN never does */
      continue;
    }
    double d = fabs(a - b);
    if (d > max_abs) {
      max_abs = d;
      worst = i;
    }
    if (fabs(b) > max_ref) max_ref = fabs(b);
  }
  double rel = max_ref > 0 ? max_abs / max_ref : (max_abs > 0 ? INFINITY : 0.0);
  bool ok = nonfinite == 0 && rel <= rtol;
  if (!quiet || !ok) {
    printf("check: output '%s' %s vs %s\n", out_name, npu_shape_format(shape, s1, sizeof s1),
           golden_path);
    printf("  max abs error: %.6g\n", max_abs);
    printf("  max rel error: %.6g  (max|out - golden| / max|golden|; rtol %g)\n", rel, rtol);
  }
  if (nonfinite) {
    printf("  FAIL: %lld element(s) are NaN or infinite where the golden differs\n",
           (long long)nonfinite);
  }
  if (rel > rtol) {
    printf("  FAIL: max rel error %.6g > rtol %g (worst element %lld)\n", rel, rtol,
           (long long)worst);
  }
  if (shape->rank == 2 && shape->dims[0] > 0 && shape->dims[1] > 0) {
    int64_t rows = shape->dims[0], cols = shape->dims[1], agree = 0, shown = 0;
    for (int64_t r = 0; r < rows; r++) {
      int64_t am = 0, bm = 0;
      double av = -INFINITY, bv = -INFINITY;
      for (int64_t c = 0; c < cols; c++) {
        double a = 0, b = 0;
        element(dt, data, r * cols + c, &a);
        element(g.dtype, g.data, r * cols + c, &b);
        if (a > av || c == 0) av = a, am = c;
        if (b > bv || c == 0) bv = b, bm = c;
      }
      if (am == bm) {
        agree++;
      } else {
        ok = false;
        if (shown++ < 10)
          printf("  FAIL: row %lld: top-1 is class %lld, the golden's is %lld\n", (long long)r,
                 (long long)am, (long long)bm);
      }
    }
    if (!quiet || agree != rows)
      printf("  top-1 agreement: %lld/%lld rows\n", (long long)agree, (long long)rows);
  }
  if (!ok) rc = EXIT_BAD_INPUT;
  if (!quiet || !ok) printf("check: %s\n", ok ? "PASS" : "FAIL");
  npu_npy_free(&g);
  return rc;
}

enum {
  OPT_BACKEND = 256,
  OPT_DEVICE,
  OPT_PROFILE,
  OPT_TRACE,
  OPT_REPEAT,
  OPT_WARMUP,
  OPT_CHECK,
  OPT_RTOL,
  OPT_VERSION,
};

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"weights", required_argument, NULL, 'w'},
      {"input", required_argument, NULL, 'i'},
      {"output", required_argument, NULL, 'o'},
      {"backend", required_argument, NULL, OPT_BACKEND},
      {"device", required_argument, NULL, OPT_DEVICE},
      {"profile", no_argument, NULL, OPT_PROFILE},
      {"trace", required_argument, NULL, OPT_TRACE},
      {"repeat", required_argument, NULL, OPT_REPEAT},
      {"warmup", required_argument, NULL, OPT_WARMUP},
      {"check", required_argument, NULL, OPT_CHECK},
      {"rtol", required_argument, NULL, OPT_RTOL},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  const char *weights_path = NULL, *backend = NULL, *selector = NULL, *trace = NULL;
  const char *golden = NULL;
  bool profile = false, quiet = false;
  long repeat = 1, warmup = 0;
  double rtol = 1e-3;
  io_arg_t *ins = calloc((size_t)argc + 1, sizeof *ins);
  io_arg_t *outs = calloc((size_t)argc + 1, sizeof *outs);
  int num_ins = 0, num_outs = 0;
  int rc = EXIT_OK;
  npu_status_t st = NULL;
  npu_program_t *prog = NULL;
  npu_device_t *dev = NULL;
  npu_executor_t *ex = NULL;
  npu_weights_t *w = NULL;
  double *lat = NULL;
  void *first_out = NULL;
  npu_dtype_t first_dtype = NPU_DTYPE_INVALID;
  npu_shape_t first_shape = {0};
  const char *first_name = NULL;
  if (!ins || !outs) {
    fprintf(stderr, "npurun: out of memory\n");
    rc = EXIT_INTERNAL;
    goto done;
  }
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":w:i:o:qh", longopts, NULL)) != -1) {
    switch (c) {
      case 'w': weights_path = optarg; break;
      case 'i':
        if (!parse_io(optarg, &ins[num_ins++])) {
          rc = usage_error("bad --input '%s' (NAME=FILE.npy or FILE.npy)", optarg);
          goto done;
        }
        break;
      case 'o':
        if (!parse_io(optarg, &outs[num_outs++])) {
          rc = usage_error("bad --output '%s' (NAME=FILE.npy or FILE.npy)", optarg);
          goto done;
        }
        break;
      case OPT_BACKEND: backend = optarg; break;
      case OPT_DEVICE: selector = optarg; break;
      case OPT_PROFILE: profile = true; break;
      case OPT_TRACE: trace = optarg; break;
      case OPT_REPEAT:
        if (!parse_count(optarg, 1, &repeat)) {
          rc = usage_error("--repeat needs a positive integer, got '%s'", optarg);
          goto done;
        }
        break;
      case OPT_WARMUP:
        if (!parse_count(optarg, 0, &warmup)) {
          rc = usage_error("--warmup needs a non-negative integer, got '%s'", optarg);
          goto done;
        }
        break;
      case OPT_CHECK: golden = optarg; break;
      case OPT_RTOL: {
        char *end = NULL;
        errno = 0;
        rtol = strtod(optarg, &end);
        if (errno || end == optarg || *end || !(rtol >= 0) || !isfinite(rtol)) {
          rc = usage_error("--rtol needs a non-negative number, got '%s'", optarg);
          goto done;
        }
        break;
      }
      case 'q': quiet = true; break;
      case 'h': fputs(usage_text, stdout); goto done;
      case OPT_VERSION: printf("npurun %s\n", NPU_VERSION); goto done;
      case ':': rc = usage_error("option '%s' needs an argument", argv[optind - 1]); goto done;
      default: rc = usage_error("unknown option '%s'", argv[optind - 1]); goto done;
    }
  }
  if (optind >= argc) {
    rc = usage_error("%s", "no program given (npurun PROGRAM.npubin ...)");
    goto done;
  }
  if (optind + 1 < argc) {
    rc = usage_error("unexpected argument '%s' (one program only)", argv[optind + 1]);
    goto done;
  }
  if (backend && strcmp(backend, "vulkan") != 0 && strcmp(backend, "cpu") != 0) {
    rc = usage_error("unknown --backend '%s' (vulkan or cpu)", backend);
    goto done;
  }
  const char *prog_path = argv[optind];

  /* Program. */
  double t0 = now_ms();
  st = npu_program_read_npubin(prog_path, &prog);
  if (st) {
    rc = fail(st);
    goto done;
  }
  double t_read = now_ms() - t0;
  int32_t n_in = 0, n_out = 0;
  const int32_t *in_idx = npu_program_inputs(prog, &n_in);
  const int32_t *out_idx = npu_program_outputs(prog, &n_out);
  int32_t n_weights = npu_program_weight_count(prog);
  char names[1024];

  /* Everything that can be checked before a device is opened. */
  if (n_weights > 0 && !weights_path) {
    fprintf(stderr,
            "npurun: %s: the program has %d weight(s); pass --weights PATH (a .safetensors "
            "file or checkpoint directory)\n",
            prog_path, (int)n_weights);
    rc = EXIT_USAGE;
    goto done;
  }
  int32_t *in_of = calloc((size_t)num_ins + 1, sizeof *in_of);
  int32_t *out_of = calloc((size_t)num_outs + 1, sizeof *out_of);
  bool *in_given = calloc((size_t)n_in + 1, sizeof *in_given);
  if (!in_of || !out_of || !in_given) {
    free(in_of), free(out_of), free(in_given);
    fprintf(stderr, "npurun: out of memory\n");
    rc = EXIT_INTERNAL;
    goto done;
  }
  for (int i = 0; i < num_ins && !rc; i++) {
    list_names(prog, in_idx, n_in, names, sizeof names);
    if (!ins[i].name) {
      if (n_in != 1) {
        fprintf(stderr,
                "npurun: --input %s: the program has %d inputs (%s); use --input NAME=FILE.npy\n",
                ins[i].file, (int)n_in, names);
        rc = EXIT_USAGE;
        break;
      }
      in_of[i] = 0;
    } else if ((in_of[i] = find_in(prog, in_idx, n_in, ins[i].name)) < 0) {
      fprintf(stderr, "npurun: --input %s=%s: the program has no input '%s' (inputs: %s)\n",
              ins[i].name, ins[i].file, ins[i].name, names);
      rc = EXIT_BAD_INPUT;
      break;
    }
    if (!rc && in_given[in_of[i]]) {
      fprintf(stderr, "npurun: input '%s' is given twice\n",
              npu_program_tensor(prog, in_idx[in_of[i]])->name);
      rc = EXIT_USAGE;
    }
    if (!rc) in_given[in_of[i]] = true;
  }
  for (int32_t i = 0; i < n_in && !rc; i++) {
    if (!in_given[i]) {
      fprintf(stderr, "npurun: input '%s' is not given (--input %s=FILE.npy)\n",
              npu_program_tensor(prog, in_idx[i])->name, npu_program_tensor(prog, in_idx[i])->name);
      rc = EXIT_USAGE;
    }
  }
  for (int i = 0; i < num_outs && !rc; i++) {
    list_names(prog, out_idx, n_out, names, sizeof names);
    if (!outs[i].name) {
      if (n_out != 1) {
        fprintf(stderr,
                "npurun: --output %s: the program has %d outputs (%s); use --output "
                "NAME=FILE.npy\n",
                outs[i].file, (int)n_out, names);
        rc = EXIT_USAGE;
        break;
      }
      out_of[i] = 0;
    } else if ((out_of[i] = find_in(prog, out_idx, n_out, outs[i].name)) < 0) {
      fprintf(stderr, "npurun: --output %s=%s: the program has no output '%s' (outputs: %s)\n",
              outs[i].name, outs[i].file, outs[i].name, names);
      rc = EXIT_BAD_INPUT;
    }
  }
  free(in_given);
  if (!rc && golden && n_out < 1) {
    fprintf(stderr, "npurun: --check: the program has no output\n");
    rc = EXIT_BAD_INPUT;
  }
  if (rc) {
    free(in_of), free(out_of);
    goto done;
  }

  /* Device and executor. */
  if (!backend) backend = npu_program_backend(prog);
  st = npu_device_open(backend, selector, &dev);
  if (!st) {
    if (!quiet) printf("device: %s (%s)\n", npu_device_name(dev), npu_device_backend(dev));
    t0 = now_ms();
    st = npu_executor_create(dev, prog, &ex);
  }
  double t_prog = t_read + (now_ms() - t0);
  /* Weights. */
  double t_weights = 0;
  if (!st && n_weights > 0) {
    t0 = now_ms();
    st = npu_weights_open(weights_path, &w);
    if (!st) st = npu_executor_load_weights(ex, w);
    t_weights = now_ms() - t0;
    npu_weights_close(w);
    w = NULL;
  }
  /* Inputs. */
  for (int i = 0; i < num_ins && !st; i++) {
    const npu_program_tensor_t *t = npu_program_tensor(prog, in_idx[in_of[i]]);
    npu_npy_t a;
    st = npu_npy_read(ins[i].file, &a);
    if (st) break;
    char s1[128], s2[128];
    if (a.dtype != t->dtype) {
      st = npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "input '%s': %s holds %s, the program expects %s (npurun converts "
                     "nothing: save the array as %s)",
                     t->name, ins[i].file, npu_dtype_name(a.dtype), npu_dtype_name(t->dtype),
                     npu_dtype_name(t->dtype));
    } else if (!npu_shape_equal(&a.shape, &t->shape)) {
      st = npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "input '%s': %s has shape %s, the program expects %s", t->name, ins[i].file,
                     npu_shape_format(&a.shape, s1, sizeof s1),
                     npu_shape_format(&t->shape, s2, sizeof s2));
    } else {
      npu_host_tensor_t ht = {a.dtype, a.shape, a.data, a.size};
      st = npu_executor_set_input(ex, t->name, &ht);
    }
    npu_npy_free(&a);
  }
  free(in_of);
  if (st) {
    free(out_of);
    rc = fail(st);
    goto done;
  }

  /* Runs. */
  for (long i = 0; i < warmup && !st; i++) st = npu_executor_run(ex);
  if (!st && (profile || trace)) st = npu_executor_enable_profiling(ex, true);
  lat = calloc((size_t)repeat, sizeof *lat);
  if (!lat && !st) st = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  for (long i = 0; i < repeat && !st; i++) {
    t0 = now_ms();
    st = npu_executor_run(ex);
    lat[i] = now_ms() - t0;
  }
  if (st) {
    free(out_of);
    rc = fail(st);
    goto done;
  }
  if (!quiet) {
    printf("program: %s (%s, %s): %d dispatch(es), %d weight(s)\n", prog_path,
           npu_program_model_name(prog) ? npu_program_model_name(prog) : "?",
           npu_program_backend(prog), (int)npu_program_dispatch_count(prog), (int)n_weights);
    printf("program load: %.3f ms (read %.3f ms, executor create %.3f ms)\n", t_prog, t_read,
           t_prog - t_read);
    if (n_weights > 0) printf("weight load: %.3f ms\n", t_weights);
    if (repeat > 1) {
      double sum = 0;
      for (long i = 0; i < repeat; i++) sum += lat[i];
      qsort(lat, (size_t)repeat, sizeof *lat, cmp_double);
      long p90 = (long)ceil(0.9 * (double)repeat) - 1;
      double median = repeat % 2 ? lat[repeat / 2] : 0.5 * (lat[repeat / 2 - 1] + lat[repeat / 2]);
      printf("latency over %ld run(s) (%ld warmup): median %.3f ms, min %.3f ms, mean %.3f ms, "
             "p90 %.3f ms\n",
             repeat, warmup, median, lat[0], sum / (double)repeat, lat[p90]);
    } else {
      printf("latency: %.3f ms (1 run, %ld warmup)\n", lat[0], warmup);
    }
  }
  if (profile) st = npu_executor_print_profile(ex, stdout);
  if (!st && trace) {
    st = npu_executor_write_chrome_trace(ex, trace);
    if (!st && !quiet) printf("trace: %s\n", trace);
  }
  if (st) {
    free(out_of);
    rc = fail(st);
    goto done;
  }

  /* Outputs. */
  for (int i = -1; i < num_outs && !st; i++) {
    /* i == -1: the first output, for --check. */
    if (i < 0 && !golden) continue;
    const npu_program_tensor_t *t = npu_program_tensor(prog, out_idx[i < 0 ? 0 : out_of[i]]);
    void *buf = malloc(t->size ? t->size : 1);
    if (!buf) {
      st = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory reading output '%s'", t->name);
      break;
    }
    npu_host_tensor_t ht = {t->dtype, t->shape, buf, t->size};
    st = npu_executor_get_output(ex, t->name, &ht);
    if (!st && i >= 0) {
      st = npu_npy_write(outs[i].file, t->dtype, &t->shape, buf);
      if (!st && !quiet) printf("output '%s' -> %s\n", t->name, outs[i].file);
    }
    if (i < 0 && !st) {
      first_out = buf;
      first_dtype = t->dtype;
      first_shape = t->shape;
      first_name = t->name;
    } else {
      free(buf);
    }
  }
  free(out_of);
  if (st) {
    rc = fail(st);
    goto done;
  }
  if (golden) rc = check_output(first_name, first_dtype, &first_shape, first_out, golden, rtol,
                                quiet);

done:
  free(first_out);
  free(lat);
  npu_executor_destroy(ex);
  npu_program_destroy(prog);
  npu_device_close(dev);
  if (ins)
    for (int i = 0; i < num_ins; i++) free(ins[i].name);
  if (outs)
    for (int i = 0; i < num_outs; i++) free(outs[i].name);
  free(ins);
  free(outs);
  return rc;
}
