// RunRecord: one row of results (workload x configuration x quiesce level),
// what every report format renders.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sim/explorer.h"

namespace snapsim::reports {

struct RunRecord {
  std::string workload;
  std::string source;     // script path for script workloads, else empty
  std::map<std::string, std::string> params;
  std::string model = "snapshot";
  uint32_t crash_states = 32;  // crash model settings (in the replay command)
  uint32_t sector_size = 512;
  uint64_t seed = 0;
  std::string writeback;
  std::string fs_data = "ordered";
  std::string shard;      // "K/N" when this run judged one shard
  std::string schedules;  // "3" or "all"
  uint32_t schedules_run = 0;
  uint64_t trace_hash = 0;
  sim::LevelResult level;
  std::string replay;     // command line reproducing first_failure (empty if none)
  std::vector<sim::TxnSpan> txns;  // first schedule, for timelines
  uint64_t trace_events = 0;       // first schedule
};

// The command line that replays one point of a run.
std::string replay_command(const RunRecord& r, uint64_t point);

}  // namespace snapsim::reports
