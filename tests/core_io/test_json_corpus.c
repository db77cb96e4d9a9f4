/* Bad-input corpus: every file in tests/corpus/json must fail to import with
 * the message listed in EXPECTED.txt, and EXPECTED.txt must list every file. */
#include "test_support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/graph_io.h"

#define CORPUS NPU_SOURCE_DIR "/tests/corpus/json"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_corpus(void **state) {
  (void)state;
  char *dir_files[256];
  int num_dir = 0;
  DIR *d = opendir(CORPUS);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0 && num_dir < 256)
      dir_files[num_dir++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(dir_files, (size_t)num_dir, sizeof dir_files[0], cmp_str);
  assert_true(num_dir >= 14);

  FILE *f = fopen(CORPUS "/EXPECTED.txt", "r");
  assert_non_null(f);
  char line[1024];
  char *listed[256];
  int num_listed = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0] || line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    if (!tab) fail_msg("EXPECTED.txt: line without a tab: %s", line);
    *tab = '\0';
    const char *needle = tab + 1;
    assert_true(num_listed < 256);
    listed[num_listed++] = strdup(line);
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", CORPUS, line);
    npu_graph_t *g = NULL;
    npu_status_t s = npu_graph_import_json_file(path, &g);
    if (!s) fail_msg("%s imported without error", line);
    assert_null(g);
    char full[4096];
    snprintf(full, sizeof full, "%s: %s", npu_status_location(s) ? npu_status_location(s) : "",
             npu_status_message(s));
    if (!strstr(full, needle)) fail_msg("%s: error '%s' lacks '%s'", line, full, needle);
    if (!strstr(full, line)) fail_msg("%s: error '%s' does not name the file", line, full);
    npu_status_free(s);
  }
  fclose(f);
  qsort(listed, (size_t)num_listed, sizeof listed[0], cmp_str);
  for (int i = 0; i < num_dir || i < num_listed; i++) {
    if (i >= num_dir) fail_msg("EXPECTED.txt lists %s, which is not in the corpus", listed[i]);
    if (i >= num_listed) fail_msg("corpus file %s is not in EXPECTED.txt", dir_files[i]);
    if (strcmp(dir_files[i], listed[i]) != 0)
      fail_msg("corpus and EXPECTED.txt differ at %s / %s", dir_files[i], listed[i]);
  }
  for (int i = 0; i < num_dir; i++) free(dir_files[i]);
  for (int i = 0; i < num_listed; i++) free(listed[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
