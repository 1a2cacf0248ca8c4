// RunRecord: one row of results (workload x configuration x quiesce level),
// what every report format renders.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "explore/explorer.h"

namespace snapsim::reports {

struct RunRecord {
  std::string workload;
  std::string source;     // script path for script workloads, else empty
  std::map<std::string, std::string> params;
  // The settings given with -p (or by the suite), in order: what tells a
  // matrix row apart from its neighbours.
  std::vector<std::pair<std::string, std::string>> overrides;
  explore::Model model = explore::Model::kSnapshot;
  uint32_t crash_states = 32;  // crash model settings (in the replay command)
  uint32_t sector_size = 512;
  std::optional<uint64_t> revert_after_ms;  // memory model settings (in the replay command)
  uint64_t keepalive_ms = 7'200'000;
  uint64_t seed = 0;
  std::string writeback;
  std::string fs = "ext4";         // guest file system mode
  std::string fs_data = "ordered";
  std::string shard;      // "K/N" when this run judged one shard
  std::string schedules;  // "3" or "all"
  uint32_t schedules_run = 0;
  uint32_t distinct_traces = 0;  // schedules whose executions differ
  double sim_time_ms = 0;        // simulated time of every schedule
  explore::CrashCoverage crash;      // model crash: states possible and explored
  uint64_t trace_hash = 0;
  explore::LevelResult level;
  std::string replay;     // command line reproducing first_failure (empty if none)
  // Memory model: the command lines reproducing each outcome's first point.
  std::array<std::string, explore::kClientOutcomeCount> client_replay;
  std::vector<explore::TxnSpan> txns;  // first schedule, for timelines
  uint64_t trace_events = 0;       // first schedule
  uint64_t max_points = 0;         // --max-points (0 = every point judged)
};

// What a run was asked to do, as its records show it.
struct RunSettings {
  std::string workload;
  std::string source;                                           // script path, or empty
  std::map<std::string, std::string> params;                    // every resolved parameter
  std::vector<std::pair<std::string, std::string>> overrides;   // as given with -p
  std::string schedules;                                        // "3" or "all"
  std::string shard;                                            // "K/N", or empty
};

// One record per explored level of `result`, with the replay command of
// each first failure: the one place a RunRecord is assembled (CLI and API).
// The quiesce levels a matrix shows as columns: none, fsfreeze, app, and
// hook when some run explored it.
std::vector<explore::Quiesce> report_columns(const std::vector<RunRecord>& runs);

std::vector<RunRecord> make_run_records(const RunSettings& settings, const explore::ExploreOptions& options,
                                        const explore::ExploreResult& result);

// The command line that replays one point of a run.
// Memory model: one line per client outcome seen (what the reverts did to
// the clients), empty for other models.
std::vector<std::string> client_outcome_lines(const RunRecord& r);
std::string replay_command(const RunRecord& r, uint64_t point);

// The earliest point whose verdict is in `verdicts`, if the run has one
// (from LevelResult::first_by_verdict, else first_failure).
std::optional<explore::PointFailure> first_of(const RunRecord& r, const std::vector<explore::Verdict>& verdicts);

// One line on how much of the crash state space a crash-model run covered;
// it starts with "warning:" when some crash point was sampled.
std::string crash_coverage_line(const RunRecord& r);

}  // namespace snapsim::reports
