// COW engine microbenchmarks. Names are stable so results compare over time:
//   BM_Write/<policy>/{baseline,first_after_snapshot,rewrite_after_snapshot}
//   BM_SnapshotCreate/<blocks written>
//   BM_Read/snapshots:<N>
//   BM_Memcpy4K
// Run: build/bench/cow_bench --benchmark_format=json (or --benchmark_out=F).
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "cow/pool.h"

using namespace snapsim::cow;

namespace {

constexpr uint32_t kBs = 4096;
constexpr uint64_t kWorkingSet = 4096;  // blocks cycled through by the write cases

Pool make_pool(uint64_t capacity) {
  return Pool::create(PoolOptions{.block_size = kBs, .capacity_blocks = capacity}).value();
}

void fill(Pool& p, VolumeId v, uint64_t blocks) {
  std::vector<std::byte> data(kBs * 64, std::byte{1});
  for (uint64_t lba = 0; lba < blocks; lba += 64) {
    const uint64_t n = std::min<uint64_t>(64, blocks - lba);
    if (!p.write_blocks(v, lba, std::span(data).first(n * kBs)).is_ok()) std::abort();
  }
}

enum class Case { kBaseline, kFirstAfterSnapshot, kRewriteAfterSnapshot };

void BM_Write(benchmark::State& state, WritePolicy policy, Case c) {
  Pool p = make_pool(kWorkingSet * 4);
  VolumeId v = p.create_volume(kWorkingSet, policy).value();
  fill(p, v, kWorkingSet);
  SnapshotId snap;
  if (c != Case::kBaseline) snap = p.snapshot(v).value();
  if (c == Case::kRewriteAfterSnapshot) fill(p, v, kWorkingSet);  // unshare every block
  std::vector<std::byte> data(kBs, std::byte{7});
  uint64_t lba = 0;
  const IoCounters before = p.counters();
  uint64_t writes = 0;
  IoCounters io;
  for (auto _ : state) {
    data[0] = static_cast<std::byte>(lba);
    if (!p.write_blocks(v, lba, data).is_ok()) std::abort();
    ++writes;
    if (++lba == kWorkingSet) {
      lba = 0;
      if (c == Case::kFirstAfterSnapshot) {
        // Every block is now unshared: start a new snapshot so the next pass
        // is again a pass of first writes.
        state.PauseTiming();
        io += p.counters() - before;
        if (!p.delete_snapshot(snap).is_ok()) std::abort();
        snap = p.snapshot(v).value();
        state.ResumeTiming();
      }
    }
  }
  const IoCounters total = p.counters() - before;
  state.SetItemsProcessed(static_cast<int64_t>(writes));
  state.SetBytesProcessed(static_cast<int64_t>(writes * kBs));
  const double n = static_cast<double>(std::max<uint64_t>(writes, 1));
  state.counters["phys_reads_per_write"] = static_cast<double>(total.physical_reads) / n;
  state.counters["phys_writes_per_write"] = static_cast<double>(total.physical_writes) / n;
  state.counters["phys_io_per_write"] =
      static_cast<double>(total.physical_reads + total.physical_writes) / n;
}

void BM_SnapshotCreate(benchmark::State& state) {
  const uint64_t blocks = static_cast<uint64_t>(state.range(0));
  Pool p = make_pool(blocks + 16);
  VolumeId v = p.create_volume(blocks, WritePolicy::kRedirectOnWrite).value();
  fill(p, v, blocks);
  std::vector<SnapshotId> batch;
  batch.reserve(1024);
  for (auto _ : state) {
    batch.push_back(p.snapshot(v).value());
    if (batch.size() == 1024) {
      state.PauseTiming();
      for (auto s : batch) {
        if (!p.delete_snapshot(s).is_ok()) std::abort();
      }
      batch.clear();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["blocks_written"] = static_cast<double>(blocks);
}

void BM_Read(benchmark::State& state) {
  const int snapshots = static_cast<int>(state.range(0));
  constexpr uint64_t kBlocks = 16384;
  Pool p = make_pool(kBlocks * 4);
  VolumeId v = p.create_volume(kBlocks, WritePolicy::kRedirectOnWrite).value();
  fill(p, v, kBlocks);
  std::vector<std::byte> data(kBs, std::byte{3});
  // Interleave snapshots with scattered overwrites so the maps really differ.
  for (int i = 0; i < snapshots; ++i) {
    (void)p.snapshot(v).value();
    for (uint64_t k = 0; k < 64; ++k) {
      if (!p.write_blocks(v, (k * 977 + static_cast<uint64_t>(i) * 131) % kBlocks, data).is_ok())
        std::abort();
    }
  }
  std::vector<std::byte> out(kBs);
  uint64_t lba = 0;
  for (auto _ : state) {
    if (!p.read_blocks(v, lba, out).is_ok()) std::abort();
    benchmark::DoNotOptimize(out.data());
    lba = (lba + 7919) % kBlocks;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kBs);
}

void BM_Memcpy4K(benchmark::State& state) {
  std::vector<std::byte> a(kBs, std::byte{1});
  std::vector<std::byte> b(kBs);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), kBs);
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * kBs);
}

}  // namespace

int main(int argc, char** argv) {
  for (auto policy : {WritePolicy::kRedirectOnWrite, WritePolicy::kCopyOut}) {
    const std::string p = policy_name(policy);
    benchmark::RegisterBenchmark(("BM_Write/" + p + "/baseline").c_str(), BM_Write, policy,
                                 Case::kBaseline);
    benchmark::RegisterBenchmark(("BM_Write/" + p + "/first_after_snapshot").c_str(), BM_Write,
                                 policy, Case::kFirstAfterSnapshot);
    benchmark::RegisterBenchmark(("BM_Write/" + p + "/rewrite_after_snapshot").c_str(), BM_Write,
                                 policy, Case::kRewriteAfterSnapshot);
  }
  benchmark::RegisterBenchmark("BM_SnapshotCreate", BM_SnapshotCreate)
      ->Arg(1024)
      ->Arg(16384)
      ->Arg(262144);
  benchmark::RegisterBenchmark("BM_Read", BM_Read)->ArgName("snapshots")->Arg(1)->Arg(100);
  benchmark::RegisterBenchmark("BM_Memcpy4K", BM_Memcpy4K);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
