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
    rec.revert_after_ms = options.revert_after_ms;
    rec.keepalive_ms = options.keepalive_ms;
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
    if (l.client) {
      for (size_t k = 0; k < explore::kClientOutcomeCount; ++k) {
        if (l.client->first[k]) rec.client_replay[k] = replay_command(rec, l.client->first[k]->point);
      }
    }
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
    if (r.revert_after_ms) cmd += fmt::format(" --revert-after-ms {}", *r.revert_after_ms);
    if (r.model == explore::Model::kMemory && r.keepalive_ms != 7'200'000) {
      cmd += fmt::format(" --keepalive-ms {}", r.keepalive_ms);
    }
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

std::vector<std::string> client_outcome_lines(const RunRecord& r) {
  std::vector<std::string> out;
  if (!r.level.client) return out;
  const explore::ClientOutcomes& c = *r.level.client;
  const std::string what[explore::kClientOutcomeCount] = {
      fmt::format("{} point(s) undid acknowledged work ({} acknowledged commit(s) in all){}",
                  c.points[0], c.reverted_acknowledgements, c.reverted_is_failure ? ", which these clients cannot tolerate" : ": inherent to a revert"),
      fmt::format("{} point(s) issued an identifier a client already holds again ({} in all)", c.points[1],
                  c.reissued_identifiers),
      fmt::format("{} point(s) blocked new clients longer than they tolerate ({} ms) on a dead session's lock "
                  "(longest wait {:.0f} ms, keepalive {} ms)",
                  c.points[2], c.lock_wait_tolerance_ms, c.blocked_ms_max, c.keepalive_ms)};
  for (size_t k = 0; k < explore::kClientOutcomeCount; ++k) {
    std::string line = fmt::format("{}: {}", explore::client_outcome_name(static_cast<explore::ClientOutcome>(k)), what[k]);
    if (c.first[k]) line += fmt::format("; first at point {}: {}", c.first[k]->point, c.first[k]->detail);
    out.push_back(line);
  }
  return out;
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
