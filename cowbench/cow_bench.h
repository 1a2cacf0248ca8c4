// CowBench: what keeping snapshots costs a running VM, measured with the COW
// engine and the cost model (the engine behind `snapsim cow-bench`).
//
// One configuration = write policy x chunk (block) size x snapshots held x
// device profile, driven by an I/O stream: a fio-like pattern (seqwrite,
// randwrite, randrw:R with R% reads) or the block writes of a workload run.
// The volume is first filled (so snapshots share real data), then the
// snapshots are taken (or, with every/keep, taken every K writes with the
// last R kept), then the stream runs and everything is counted:
// physical I/O per logical write (write amplification), metadata updates,
// modeled device time (cow/cost_model.h), IOPS and throughput from it, the
// first write to a shared block separated from rewrites, space held by the
// volume and exclusively by each snapshot, and the engine's own CPU time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cow/cost_model.h"
#include "cow/pool.h"
#include "sim/prng.h"
#include "explore/scenario.h"

namespace snapsim::cowbench {

using cow::Result;
using cow::Status;
using explore::Scenario;
using sim::Prng;

struct IoOp {
  enum Kind : uint8_t { kWrite, kRead, kFlush } kind = kWrite;
  uint64_t offset = 0;  // bytes
  uint32_t length = 0;  // bytes
};

struct PatternSpec {
  std::string pattern = "randwrite";  // seqwrite | randwrite | randrw:R
  uint32_t io_size = 4096;
  uint64_t ios = 10000;
  uint64_t fsync_every = 0;           // 0 = never
  uint64_t volume_bytes = 64ull << 20;
};

// Generates the I/O stream of a pattern; errors name the bad setting.
cow::Result<std::vector<IoOp>> make_pattern(const PatternSpec& spec, uint64_t seed);

// The block-write stream (with FLUSHes) of one execution of a scenario on
// disk 0, after its setup; the volume size needed is returned in *bytes.
cow::Result<std::vector<IoOp>> record_block_stream(Scenario& scenario, uint64_t seed,
                                                   uint64_t* volume_bytes);

struct CowBenchConfig {
  cow::WritePolicy policy = cow::WritePolicy::kRedirectOnWrite;
  uint32_t block_size = 4096;
  uint32_t snapshots = 0;
  cow::DeviceProfile device = cow::default_device();
  uint64_t every = 0;  // take a snapshot every K writes (0: all at the start)
  uint64_t keep = 0;   // keep the last R (with every)
};

struct CowBenchResult {
  CowBenchConfig config;
  uint64_t logical_writes = 0;
  uint64_t logical_reads = 0;
  uint64_t logical_bytes_written = 0;
  uint64_t flushes = 0;
  cow::IoCounters io;                 // during the stream only
  double write_amplification = 0;     // physical bytes written / logical bytes written
  double reads_per_write = 0;         // physical reads per logical write
  double writes_per_write = 0;        // physical writes per logical write
  double metadata_per_write = 0;
  double device_time_ms = 0;
  double iops = 0;
  double throughput_mb_s = 0;
  uint64_t first_writes = 0;          // writes that hit a block some snapshot still shared
  uint64_t rewrites = 0;
  double first_write_us = 0;          // modeled mean device time
  double rewrite_us = 0;
  uint64_t volume_blocks = 0;         // source size, in blocks
  uint64_t volume_mapped_blocks = 0;
  std::vector<uint64_t> snapshot_exclusive_blocks;  // per held snapshot, oldest first
  uint64_t snapshot_space_blocks = 0;  // pool blocks held only because of snapshots
  // (op, blocks held by snapshots) over the run: grows as the source is
  // overwritten; per snapshot it never exceeds the source's size.
  std::vector<std::pair<uint64_t, uint64_t>> space_timeline;
  double cpu_ns_per_op = 0;           // wall-clock engine time (not deterministic)
};

struct CowBenchOptions {
  uint64_t pool_bytes = 0;  // 0: enough for the volume and every snapshot's copy
  uint64_t seed = 1;
  // Fill only the blocks the stream touches (a workload's stream on a large
  // sparse disk) instead of the whole volume.
  bool fill_touched_only = false;
  std::function<void(uint64_t done, uint64_t total)> progress;
};

cow::Result<CowBenchResult> run_cow_bench(const CowBenchConfig& config, const std::vector<IoOp>& ops,
                                          uint64_t volume_bytes, const CowBenchOptions& options);

// "4k", "64k", "1m", "512" -> bytes; errors name the bad size.
cow::Result<uint64_t> parse_size(const std::string& text);

}  // namespace snapsim::cowbench
