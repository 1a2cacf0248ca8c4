// The public C++ API: run a workload (built-in or a TOML script) the way
// `snapsim run` does and get its results, so a vendor's own test suite can
// gate on them. RapidCheck generators of configurations are in
// api/generators.h; examples/bank_transfer_property_test.cc shows both.
//
//   snapsim::api::RunOptions o;
//   o.workload = "examples/bank-transfer.toml";
//   o.params = {"journal_mode=wal"};
//   auto r = snapsim::api::run_workload(o);
//   if (r.is_ok() && r->failures("app") == 0) { ... }
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cow/status.h"

namespace snapsim::api {

struct RunOptions {
  std::string workload;             // built-in name, or a path ending in .toml
  std::vector<std::string> params;  // "key=value" overrides
  std::string quiesce = "none,fsfreeze,app";
  uint64_t seed = 1;
  uint32_t schedules = 1;
  std::string writeback = "random";  // eager | lazy | random
  std::string fs;                    // ext4 | nojournal; "": the workload's own
  std::optional<bool> ordered_data;  // ext4 data=ordered / writeback; unset: the workload's own
};

struct LevelSummary {
  std::string quiesce;
  uint64_t points = 0;
  uint64_t distinct_images = 0;
  std::map<std::string, uint64_t> verdicts;  // all seven verdict names
  uint64_t failures = 0;                     // lost_committed and worse
  double freeze_window_ms = 0;
  std::optional<std::string> first_failure;  // "verdict at point P: detail"
  std::string replay;                        // command line reproducing it
};

struct RunSummary {
  std::string workload;
  std::vector<LevelSummary> levels;
  uint64_t trace_hash = 0;
  // Failures at one level ("none", "fsfreeze", "app"); 0 if not explored.
  uint64_t failures(const std::string& quiesce) const;
  const LevelSummary* level(const std::string& quiesce) const;
};

// Bad input (unknown workload, bad parameter, a bad script) is an error
// Status with a one-line message, as the CLI's exit status 2.
// Not thread-safe: run one exploration at a time per process (SQLite's
// process-wide PRNG is reseeded per run). For parallelism use separate
// processes: the CLI's --jobs workers or --shard.
cow::Result<RunSummary> run_workload(const RunOptions& options);

}  // namespace snapsim::api
