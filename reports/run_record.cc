#include "reports/run_record.h"

#include <algorithm>

#include <fmt/format.h>

namespace snapsim::reports {

std::vector<explore::Quiesce> report_columns(const std::vector<RunRecord>& runs) {
  std::vector<explore::Quiesce> columns = {explore::Quiesce::kNone, explore::Quiesce::kFsfreeze,
                                           explore::Quiesce::kApp};
  for (const auto& r : runs) {
    if (r.level.level == explore::Quiesce::kHook) {
      columns.push_back(explore::Quiesce::kHook);
      break;
    }
  }
  return columns;
}

std::vector<RunRecord> make_run_records(const RunSettings& settings, const explore::ExploreOptions& options,
                                        const explore::ExploreResult& result) {
  std::vector<RunRecord> out;
  for (const auto& l : result.levels) {
    RunRecord rec;
    rec.workload = settings.workload;
    rec.source = settings.source;
    rec.params = settings.params;
    rec.overrides = settings.overrides;
    rec.seed = options.seed;
    rec.model = options.model;
    rec.crash_states = options.crash_states;
    rec.sector_size = options.sector_size;
    rec.writeback = sim::writeback_name(options.writeback);
    rec.fs = sim::fs_mode_name(result.fs_mode);
    rec.fs_data = result.ordered_data ? "ordered" : "writeback";
    rec.schedules = settings.schedules;
    rec.schedules_run = result.schedules_run;
    rec.distinct_traces = result.distinct_traces;
    rec.sim_time_ms = result.sim_time_ms_total;
    rec.crash = result.crash;
    rec.trace_hash = result.trace_hash;
    rec.level = l;
    rec.shard = settings.shard;
    rec.txns = result.txns;
    rec.trace_events = result.trace_events;
    rec.max_points = options.max_points;
    if (l.first_failure) rec.replay = replay_command(rec, l.first_failure->point);
    out.push_back(std::move(rec));
  }
  return out;
}

std::string replay_command(const RunRecord& r, uint64_t point) {
  std::string cmd = "snapsim replay " + (r.source.empty() ? r.workload : r.source);
  for (const auto& [k, v] : r.params) cmd += fmt::format(" -p {}={}", k, v);
  cmd += fmt::format(" --seed {} --writeback {} --fs {} --fs-data {} --schedules {} --quiesce {} --point {}",
                     r.seed, r.writeback, r.fs, r.fs_data, r.schedules, explore::quiesce_name(r.level.level),
                     point);
  if (r.model != explore::Model::kSnapshot) {
    cmd += fmt::format(" --model {}", explore::model_name(r.model));
    if (r.crash_states != 32) cmd += fmt::format(" --crash-states {}", r.crash_states);
    if (r.sector_size != 512) cmd += fmt::format(" --sector-size {}", r.sector_size);
  }
  return cmd;
}

std::optional<explore::PointFailure> first_of(const RunRecord& r, const std::vector<explore::Verdict>& verdicts) {
  std::optional<explore::PointFailure> best;
  bool known = false;
  for (auto v : verdicts) {
    const auto& f = r.level.first_by_verdict[static_cast<size_t>(v)];
    known = known || f.has_value();
    if (f && (!best || f->point < best->point)) best = f;
  }
  if (known) return best;
  // Results read back from a database keep only the first failure.
  const auto& ff = r.level.first_failure;
  if (ff && std::find(verdicts.begin(), verdicts.end(), ff->verdict) != verdicts.end()) return ff;
  return std::nullopt;
}

std::string crash_coverage_line(const RunRecord& r) {
  const auto& c = r.crash;
  if (r.model != explore::Model::kCrash || c.points == 0) return {};
  const std::string possible =
      c.states_possible_capped ? fmt::format("more than {}", c.states_possible) : std::to_string(c.states_possible);
  std::string line = fmt::format("{} crash states explored of {} possible at {} crash point(s)",
                                 c.states_explored, possible, c.points);
  if (c.points_sampled == 0) return line + ": every state enumerated";
  return fmt::format("warning: {}; {} point(s) were sampled, not enumerated (up to {} unflushed "
                     "write(s) at one point); raise --crash-states (now {}) to explore more",
                     line, c.points_sampled, c.max_unflushed_writes, r.crash_states);
}

}  // namespace snapsim::reports
