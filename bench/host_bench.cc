// What real programs cost: the FUSE recording's overhead against the same
// loop on a host tmpfs directory (report the ratio of the two), and the
// exploration of a recorded process workload, whose cost is its check
// processes (points judged per second, distinct images, check processes
// per second on one core).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "checkers/suite.h"
#include "explore/explorer.h"
#include "host/fuse_fs.h"
#include "host/process.h"

using namespace snapsim;

namespace {

// A directory to run the loop in: a FUSE mount of a fresh guest, or a
// directory on /dev/shm (tmpfs).
struct Dir {
  std::unique_ptr<cow::Pool> pool;
  std::unique_ptr<sim::Machine> m;
  std::vector<host::Op> ops;
  std::unique_ptr<host::FuseMount> mount;
  std::string path;
  bool ok = false;

  explicit Dir(bool fuse) {
    path = fuse ? "/tmp/snapsim-bench-XXXXXX" : "/dev/shm/snapsim-bench-XXXXXX";
    if (!::mkdtemp(path.data())) return;
    if (!fuse) {
      ok = true;
      return;
    }
    auto p = cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = 1u << 18});
    if (!p) return;
    pool = std::make_unique<cow::Pool>(std::move(*p));
    sim::MachineConfig c;
    c.fs.disk_bytes = 512u << 20;
    c.writeback = sim::Writeback::kLazy;
    auto mm = sim::Machine::boot_fresh(pool.get(), c, sim::Prng(1));
    if (!mm) return;
    m = std::move(*mm);
    auto r = host::FuseMount::mount(*m, path, &ops);
    if (!r) return;
    mount = std::move(*r);
    ok = true;
  }
  // Drops the recorded requests now and then, so a long loop stays in memory.
  void trim() {
    if (mount && ops.size() > 100000) mount->locked([&] { ops.clear(); });
  }
  ~Dir() {
    if (mount) mount->wait_released(2000);
    mount.reset();
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void BM_WriteFsync(benchmark::State& state, bool fuse) {
  Dir d(fuse);
  if (!d.ok) {
    state.SkipWithError("cannot make the directory (FUSE needs /dev/fuse and root)");
    return;
  }
  const std::string file = d.path + "/data";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT, 0644);
  std::string page(4096, 'x');
  uint64_t i = 0;
  for (auto _ : state) {
    if (::pwrite(fd, page.data(), page.size(), static_cast<off_t>((i++ % 256) * 4096)) != 4096 || ::fsync(fd) != 0) {
      state.SkipWithError("write or fsync failed");
      break;
    }
    d.trim();
  }
  ::close(fd);
  state.SetItemsProcessed(state.iterations());
}

void BM_CreateRename(benchmark::State& state, bool fuse) {
  Dir d(fuse);
  if (!d.ok) {
    state.SkipWithError("cannot make the directory (FUSE needs /dev/fuse and root)");
    return;
  }
  const std::string tmp = d.path + "/doc.tmp", doc = d.path + "/doc";
  for (auto _ : state) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ::write(fd, "a document\n", 11) != 11 || ::close(fd) != 0 || ::rename(tmp.c_str(), doc.c_str()) != 0) {
      state.SkipWithError("create, write or rename failed");
      break;
    }
    d.trim();
  }
  state.SetItemsProcessed(state.iterations());
}

// Explores a shipped process example at `none` (recorded once, outside the timing).
void BM_ExploreProcess(benchmark::State& state, const std::string& script, std::vector<std::string> params) {
  auto w = host::load_workload(std::string(SNAPSIM_SOURCE_DIR) + "/examples/process/" + script, params);
  if (!w) {
    state.SkipWithError(w.status().to_string().c_str());
    return;
  }
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.levels = {explore::Quiesce::kNone};
  o.jobs = 1;
  uint64_t points = 0, distinct = 0, checks = 0;
  for (auto _ : state) {
    const uint64_t before = host::checks_run();
    auto r = explore::explore(**w, suite, o);
    if (!r) {
      state.SkipWithError(r.status().to_string().c_str());
      return;
    }
    points += r->levels[0].points;
    distinct += r->levels[0].distinct_images;
    checks += host::checks_run() - before;
    state.counters["points"] = static_cast<double>(r->levels[0].points);
  }
  state.SetItemsProcessed(static_cast<int64_t>(points));
  state.counters["distinct_images"] = static_cast<double>(distinct) / static_cast<double>(state.iterations());
  state.counters["check_processes"] = static_cast<double>(checks) / static_cast<double>(state.iterations());
  state.counters["check_processes_per_s"] = benchmark::Counter(static_cast<double>(checks), benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  for (bool fuse : {false, true}) {
    const std::string where = fuse ? "fuse" : "tmpfs";
    benchmark::RegisterBenchmark(("BM_Record/write_fsync/" + where).c_str(),
                                 [fuse](benchmark::State& s) { BM_WriteFsync(s, fuse); })
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_Record/create_rename/" + where).c_str(),
                                 [fuse](benchmark::State& s) { BM_CreateRename(s, fuse); })
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("BM_ExploreProcess/rename-durability", [](benchmark::State& s) {
    BM_ExploreProcess(s, "rename-durability/rename-durability.toml", {});
  })->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("BM_ExploreProcess/sqlite3-invoice", [](benchmark::State& s) {
    BM_ExploreProcess(s, "sqlite3-invoice.toml", {});
  })->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
