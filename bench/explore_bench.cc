// Exploration benchmarks: how many snapshot points snapsim checks per second
// on one core, against the ways people check crash images today.
//   BM_Explore/invoice-sqlite/<points>  snapsim: O(1) COW snapshot per point,
//                                       O(1) clone per restore, equal images once
//   BM_Explore/replay_baseline          the dm-log-writes workflow: the log replayed
//                                       incrementally onto one device, a thin snapshot
//                                       (COW clone) per point, a full check, no memo
//   BM_Explore/replay_from_scratch_baseline  per point: replay the whole log from
//                                       the start onto a fresh image file, load, check
//   BM_Explore/full_copy_baseline       per point: full copy of the image, check
//   BM_Explore/crash/invoice-sqlite/<points> the power-loss model (--model crash)
//                                       on the same workload: crash images per second
//   BM_Explore/nojournal/invoice-sqlite/1000  the same on the guest file system's
//                                       nojournal mode (the others run on ext4)
// All on the default invoice-sqlite (journal_mode=delete, synchronous=full),
// quiesce none, one schedule, --jobs 1. items_per_second = points checked per
// second; counters: points, distinct_images, max_rss_mb,
// bytes_per_point (what the exploration added to resident memory at its
// peak, over the points it held; max_rss_mb is that peak, this benchmark's
// own: the high-water mark is reset as it starts).
// Scale targets compare /2000 with /80000 in one run (docs/performance.md).
// Run: build/bench/explore_bench --benchmark_format=json
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "checkers/suite.h"
#include "bench/baselines.h"
#include "explore/explorer.h"
#include "workloads/registry.h"

using namespace snapsim;

namespace {

// About 106 `none` points per invoice with 2 clients and 3 lines, and about
// 216 crash images (measured): the benchmark's number is the points it
// explores, within a few percent (the `points` counter says exactly).
std::vector<std::string> params_for(int64_t points, explore::Model model) {
  const int64_t per_invoice = model == explore::Model::kCrash ? 216 : 106;
  const int64_t invoices = std::max<int64_t>(1, points / per_invoice);
  return {"invoices=" + std::to_string(invoices)};
}

// A "Name:   N kB" line of /proc/self/status, in kB (0 if absent).
double status_kb(const char* name) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kb = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, name, std::strlen(name)) == 0) kb = std::atof(line + std::strlen(name));
  }
  std::fclose(f);
  return kb;
}

void run_explore(benchmark::State& state, explore::ExploreOptions::RestoreHooks baseline, int64_t points,
             explore::Model model = explore::Model::kSnapshot, sim::FsMode fs = sim::FsMode::kExt4) {
  auto w = workloads::make_workload("invoice-sqlite", params_for(points, model)).value();
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.levels = {explore::Quiesce::kNone};
  o.jobs = 1;
  o.baseline = std::move(baseline);
  o.model = model;
  o.fs_mode = fs;
  uint64_t checked = 0, distinct = 0;
  // This benchmark's own high-water mark, not the process's since it began
  // (earlier benchmarks ran in it): reset the peak, note the start.
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
  const double start_kb = status_kb("VmRSS:");
  for (auto _ : state) {
    auto r = explore::explore(*w, suite, o);
    if (!r) {
      state.SkipWithError(r.status().to_string().c_str());
      return;
    }
    checked += r->levels[0].points;
    distinct = r->levels[0].distinct_images;
    state.counters["points"] = static_cast<double>(r->levels[0].points);
  }
  state.SetItemsProcessed(static_cast<int64_t>(checked));
  state.counters["distinct_images"] = static_cast<double>(distinct);
  const double peak_kb = status_kb("VmHWM:");
  state.counters["max_rss_mb"] = peak_kb / 1024.0;
  // What the exploration added at its peak, per point it held.
  const double held = state.counters["points"];
  if (held > 0) state.counters["bytes_per_point"] = std::max(0.0, peak_kb - start_kb) * 1024.0 / held;
}

}  // namespace

int main(int argc, char** argv) {
  for (int64_t points : {1000, 2000, 10000, 80000}) {
    benchmark::RegisterBenchmark(("BM_Explore/invoice-sqlite/" + std::to_string(points)).c_str(),
                                 [points](benchmark::State& s) {
                                   run_explore(s, {}, points);
                                 })
        ->Unit(benchmark::kMillisecond);
  }
  // The power-loss model on the same workload: crash images (lost and torn
  // unflushed writes, up to 32 per FLUSH) checked per second.
  for (int64_t points : {1000, 2000, 80000}) {
    benchmark::RegisterBenchmark(("BM_Explore/crash/invoice-sqlite/" + std::to_string(points)).c_str(),
                                 [points](benchmark::State& s) {
                                   run_explore(s, {}, points, explore::Model::kCrash);
                                 })
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("BM_Explore/nojournal/invoice-sqlite/1000", [](benchmark::State& s) {
    run_explore(s, {}, 1000, explore::Model::kSnapshot, sim::FsMode::kNoJournal);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Explore/replay_baseline", [](benchmark::State& s) {
    run_explore(s, bench::incremental_replay(), 1000);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Explore/replay_from_scratch_baseline", [](benchmark::State& s) {
    run_explore(s, bench::replay(), 1000);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Explore/full_copy_baseline", [](benchmark::State& s) {
    run_explore(s, bench::full_copy(), 1000);
  })->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
