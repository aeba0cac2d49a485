// Drives v8cage-reprl with Fuzzilli's own client code: libreprl (spawning,
// the REPRL protocol, timeouts, crash detection) and libcoverage (the
// shared-memory edge bitmap), compiled from a Fuzzilli checkout by
// `cargo xtask fuzzilli prove`. Only this driver is ours; it checks what
// Fuzzilli relies on and prints one line per check, then a summary.
//
//   driver <executions> <target> [target args...] -- <program.js>...

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libcoverage.h"
#include "libreprl.h"

// Fuzzilli's default timeout range is 300-900 ms (V8Profile.swift).
#define TIMEOUT_US (900 * 1000)

static struct reprl_context* reprl;
static int failures;

static void check(int ok, const char* what, const char* detail) {
  printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, detail[0] ? ": " : "", detail);
  if (!ok) failures++;
}

static int run(const char* script, int fresh, uint64_t timeout_us) {
  uint64_t micros = 0;
  int status = reprl_execute(reprl, script, strlen(script), timeout_us, &micros, fresh);
  if (status < 0) {
    fprintf(stderr, "reprl_execute: %s\n", reprl_get_last_error(reprl));
    exit(2);
  }
  return status;
}

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* text = calloc(1, (size_t)size + 1);
  if (text != NULL && fread(text, 1, (size_t)size, f) != (size_t)size) text[0] = 0;
  fclose(f);
  return text;
}

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: driver <executions> <target> [args...] -- <program.js>...\n");
    return 2;
  }
  long executions = strtol(argv[1], NULL, 10);
  int separator = 2;
  while (separator < argc && strcmp(argv[separator], "--") != 0) separator++;
  if (separator >= argc - 1) {
    fprintf(stderr, "no programs after --\n");
    return 2;
  }
  argv[separator] = NULL;  // the target's argv ends here
  const char** target_argv = (const char**)&argv[2];
  int programs = argc - separator - 1;
  char** sources = calloc((size_t)programs, sizeof(char*));
  for (int i = 0; i < programs; i++) {
    sources[i] = read_file(argv[separator + 1 + i]);
    if (sources[i] == NULL) {
      fprintf(stderr, "cannot read %s\n", argv[separator + 1 + i]);
      return 2;
    }
  }

  struct cov_context coverage = {0};
  coverage.id = 0;
  if (cov_initialize(&coverage) != 0) return 2;
  char shm_id[128];
  snprintf(shm_id, sizeof shm_id, "SHM_ID=shm_id_%d_%d", getpid(), coverage.id);
  const char* envp[] = {shm_id, NULL};

  reprl = reprl_create_context();
  if (reprl_initialize_context(reprl, target_argv, envp, 1, 1) != 0) {
    fprintf(stderr, "reprl_initialize_context: %s\n", reprl_get_last_error(reprl));
    return 2;
  }

  // Handshake (inside the first execution's spawn) and a normal program.
  int status = run("fuzzilli('FUZZILLI_PRINT', 'hello')", 1, TIMEOUT_US);
  check(RIFEXITED(status) && REXITSTATUS(status) == 0, "handshake and a first program", "");
  check(strcmp(reprl_fetch_fuzzout(reprl), "hello\n") == 0, "FUZZILLI_PRINT reaches the fuzzout channel",
        reprl_fetch_fuzzout(reprl));
  cov_finish_initialization(&coverage, 0);
  char detail[256];
  snprintf(detail, sizeof detail, "%u edges", coverage.num_edges - 1);
  check(coverage.num_edges > 1, "the target reports instrumented edges", detail);

  status = run("throw new Error('uncaught')", 0, TIMEOUT_US);
  check(RIFEXITED(status) && REXITSTATUS(status) == 1, "an uncaught exception is exit status 1", "");

  // fresh_instance: globals survive between executions of one instance,
  // not across a fresh one.
  run("globalThis.survivor = 1", 0, TIMEOUT_US);
  run("fuzzilli('FUZZILLI_PRINT', typeof survivor)", 0, TIMEOUT_US);
  int kept = strcmp(reprl_fetch_fuzzout(reprl), "number\n") == 0;
  run("fuzzilli('FUZZILLI_PRINT', typeof survivor)", 1, TIMEOUT_US);
  int fresh = strcmp(reprl_fetch_fuzzout(reprl), "undefined\n") == 0;
  check(kept && fresh, "fresh_instance starts a new instance", "");

  // Coverage: a program that reaches new code finds new edges.
  struct edge_set edges = {0};
  cov_clear_bitmap(&coverage);
  run("1", 0, TIMEOUT_US);
  cov_evaluate(&coverage, &edges);
  free(edges.edge_indices);
  uint32_t before = coverage.found_edges;
  cov_clear_bitmap(&coverage);
  run("new Intl.NumberFormat('de').format(1234.5) + JSON.stringify({a: [1, 2n].map(String)})", 0, TIMEOUT_US);
  int grew = cov_evaluate(&coverage, &edges);
  free(edges.edge_indices);
  snprintf(detail, sizeof detail, "%u -> %u", before, coverage.found_edges);
  check(grew && coverage.found_edges > before, "edges grow for a new program", detail);

  // Programs that run into Fuzzilli's timeout are dropped, as Fuzzilli
  // drops them (the libFuzzer corpus has deliberate endless loops).
  int kept_programs = 0;
  for (int i = 0; i < programs; i++) {
    if (RIFTIMEDOUT(run(sources[i], 0, TIMEOUT_US))) {
      printf("     (%s runs into the timeout: not in the loop below)\n", argv[separator + 1 + i]);
      continue;
    }
    sources[kept_programs] = sources[i];
    argv[separator + 1 + kept_programs] = argv[separator + 1 + i];
    kept_programs++;
  }
  programs = kept_programs;
  // Which ones, for the comparison run (cargo xtask fuzzilli prove).
  const char* kept_list = getenv("V8CAGE_KEPT_PROGRAMS");
  FILE* kept_file = kept_list ? fopen(kept_list, "w") : NULL;
  for (int i = 0; kept_file && i < programs; i++) fprintf(kept_file, "%s\n", argv[separator + 1 + i]);
  if (kept_file) fclose(kept_file);

  // Many executions over the programs, the bitmap cleared before each, as
  // Fuzzilli does.
  double started = seconds_now();
  long crashes = 0, timeouts = 0;
  for (long i = 0; i < executions; i++) {
    cov_clear_bitmap(&coverage);
    status = run(sources[i % programs], 0, TIMEOUT_US);
    if (RIFSIGNALED(status)) {
      crashes++;
      fprintf(stderr, "crash (signal %d) on %s:\n%s\n", RTERMSIG(status), argv[separator + 1 + i % programs],
              reprl_fetch_stderr(reprl));
    }
    if (RIFTIMEDOUT(status)) timeouts++;
    cov_evaluate(&coverage, &edges);
    free(edges.edge_indices);
  }
  double elapsed = seconds_now() - started;
  snprintf(detail, sizeof detail,
           "%ld executions of %d programs in %.2f s: %.0f exec/s, %ld crashes, %ld timeouts, %u edges found",
           executions, programs, elapsed, (double)executions / elapsed, crashes, timeouts, coverage.found_edges);
  check(crashes == 0, "no false crash", detail);

  // Fuzzilli's crash self-test, each kind on a fresh instance.
  int kinds[] = {0, 1, 2, 3, 8, 9};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    char script[64];
    snprintf(script, sizeof script, "fuzzilli('FUZZILLI_CRASH', %d)", kinds[k]);
    status = run(script, 1, TIMEOUT_US);
    snprintf(detail, sizeof detail, "kind %d: status 0x%x, signal %d", kinds[k], status, RTERMSIG(status));
    check(RIFSIGNALED(status), "FUZZILLI_CRASH is seen as a crash", detail);
  }

  // A program that never ends is Fuzzilli's timeout.
  status = run("for (;;) {}", 1, 300 * 1000);
  check(RIFTIMEDOUT(status), "an endless program is a timeout", "");
  status = run("fuzzilli('FUZZILLI_PRINT', 'after')", 0, TIMEOUT_US);
  check(RIFEXITED(status) && strcmp(reprl_fetch_fuzzout(reprl), "after\n") == 0, "a new instance runs after it", "");

  reprl_destroy_context(reprl);
  cov_shutdown(&coverage);
  printf("%s: %d check(s) failed\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}
