// The guest file system's own costs, per mode (ext4 journal vs nojournal):
//   BM_Fs/create_write_fsync/<mode>   a new file, 8 KiB written, fsync
//   BM_Fs/rename/<mode>               rename over an existing file (atomic replace)
//   BM_Fs/readdir_10000/<mode>        readdir of a directory of 10,000 entries
//   BM_Fs/mount_10000/<mode>          mount of an image holding that directory
//                                     (journal replay, or the full check)
// Simulated disk on a COW pool in memory, lazy writeback, 4 KiB blocks.
// items_per_second = operations per second on one core.
// Run: build/bench/fs_bench --benchmark_format=json
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "cow/pool.h"
#include "sim/machine.h"

using namespace snapsim;

namespace {

struct Rig {
  std::unique_ptr<cow::Pool> pool;
  std::unique_ptr<sim::Machine> m;
};

Rig rig(sim::FsMode mode) {
  Rig r;
  r.pool = std::make_unique<cow::Pool>(
      cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = 1u << 22}).value());
  sim::MachineConfig c;
  c.fs.mode = mode;
  c.writeback = sim::Writeback::kLazy;
  r.m = sim::Machine::boot_fresh(r.pool.get(), c, sim::Prng(1)).value();
  return r;
}

sim::FsMode mode_of(const benchmark::State& s) {
  return s.range(0) == 0 ? sim::FsMode::kExt4 : sim::FsMode::kNoJournal;
}

void BM_CreateWriteFsync(benchmark::State& state) {
  auto r = rig(mode_of(state));
  auto& fs = r.m->fs();
  const std::string data(8192, 'd');
  const auto bytes = std::as_bytes(std::span(data));
  uint64_t i = 0;
  for (auto _ : state) {
    auto f = fs.open("f" + std::to_string(i++ % 4000), true);
    if (!f || !fs.write(*f, 0, bytes).is_ok() || !fs.fsync(*f).is_ok()) {
      state.SkipWithError("create/write/fsync failed");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_Rename(benchmark::State& state) {
  auto r = rig(mode_of(state));
  auto& fs = r.m->fs();
  (void)fs.open("target", true);
  for (auto _ : state) {
    if (!fs.open("tmp", true).is_ok() || !fs.rename("tmp", "target").is_ok()) {
      state.SkipWithError("rename failed");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

Rig big_dir(sim::FsMode mode) {
  auto r = rig(mode);
  auto& fs = r.m->fs();
  (void)fs.mkdir("d");
  for (int i = 0; i < 10000; ++i) (void)fs.open("d/entry-" + std::to_string(i), true);
  (void)r.m->sync_all();
  return r;
}

void BM_Readdir10000(benchmark::State& state) {
  auto r = big_dir(mode_of(state));
  auto& fs = r.m->fs();
  const auto d = fs.lookup("d").value();
  size_t n = 0;
  for (auto _ : state) {
    auto entries = fs.readdir(d);
    n = entries ? entries->size() : 0;
    benchmark::DoNotOptimize(n);
  }
  state.counters["entries"] = static_cast<double>(n);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_Mount10000(benchmark::State& state) {
  auto r = big_dir(mode_of(state));
  const auto snap = r.pool->snapshot(r.m->disk().volume()).value();
  for (auto _ : state) {
    auto vol = r.pool->clone(snap).value();
    auto m = sim::Machine::boot_restored(r.pool.get(), r.m->config(), {vol}, sim::Prng(2));
    if (!m || (*m)->fs().readdir((*m)->fs().lookup("d").value()).value().size() != 10000) {
      state.SkipWithError("mount failed");
      return;
    }
    m->reset();
    (void)r.pool->delete_volume(vol);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK(BM_CreateWriteFsync)->ArgName("nojournal")->Arg(0)->Arg(1);
BENCHMARK(BM_Rename)->ArgName("nojournal")->Arg(0)->Arg(1);
BENCHMARK(BM_Readdir10000)->ArgName("nojournal")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Mount10000)->ArgName("nojournal")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
