#include "reports/json_report.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace snapsim::reports {

namespace {
// Milliseconds rounded to nanoseconds: stable text, no float noise.
double ms(double v) { return std::round(v * 1e6) / 1e6; }
}  // namespace

std::string to_json(const std::vector<RunRecord>& runs) {
  using json = nlohmann::ordered_json;
  json out;
  out["schema"] = 1;
  out["runs"] = json::array();
  for (const auto& r : runs) {
    json j;
    j["workload"] = r.workload;
    j["params"] = json::object();
    for (const auto& [k, v] : r.params) j["params"][k] = v;
    j["quiesce"] = explore::quiesce_name(r.level.level);
    j["model"] = explore::model_name(r.model);
    j["seed"] = r.seed;
    j["writeback"] = r.writeback;
    j["fs"] = r.fs;
    j["fs_data"] = r.fs_data;
    j["schedules"] = r.schedules;
    j["schedules_run"] = r.schedules_run;
    j["distinct_traces"] = r.distinct_traces;
    j["sim_time_ms"] = ms(r.sim_time_ms);
    if (!r.shard.empty()) j["shard"] = r.shard;
    j["points"] = r.level.points;
    j["distinct_images"] = r.level.distinct_images;
    j["verdicts"] = json::object();
    for (size_t v = 0; v < explore::kVerdictCount; ++v) {
      j["verdicts"][explore::verdict_name(static_cast<explore::Verdict>(v))] = r.level.verdicts[v];
    }
    j["freeze_window_ms"] = ms(r.level.freeze_window_ms);
    j["freeze_window_ms_mean"] = ms(r.level.freeze_window_ms_mean);
    j["trace_hash"] = fmt::format("{:016x}", r.trace_hash);
    if (r.model == explore::Model::kCrash) {
      const auto& c = r.crash;
      j["crash_coverage"] = {{"points", c.points},
                             {"sampled_points", c.points_sampled},
                             {"states_possible", c.states_possible},
                             {"states_possible_capped", c.states_possible_capped},
                             {"states_explored", c.states_explored},
                             {"max_unflushed_writes", c.max_unflushed_writes}};
    }
    if (r.max_points > 0) {
      j["budget"] = {{"max_points", r.max_points},
                     {"points_existing", r.level.points_existing},
                     {"points_left_out", r.level.points_budgeted_out},
                     {"how", "per schedule: the first and last point and every point at a FLUSH, FUA write, "
                             "fsync, fdatasync, syncfs, rename or acknowledgement first, then evenly spaced"}};
    }
    if (r.level.level == explore::Quiesce::kHook) {
      const auto& h = r.level.hook;
      j["hook"] = {{"requested", h.requested},
                   {"timed_out", h.timed_out},
                   {"failed", h.failed},
                   {"crash_consistent", h.crash_consistent},
                   {"wait_ms_max", ms(h.wait_ms_max)}};
    }
    if (r.level.client) {
      const auto& c = *r.level.client;
      json o = json::object();
      for (size_t k = 0; k < explore::kClientOutcomeCount; ++k) {
        o[explore::client_outcome_name(static_cast<explore::ClientOutcome>(k))] = c.points[k];
      }
      o["reverted_acknowledgements"] = c.reverted_acknowledgements;
      o["reissued_identifiers"] = c.reissued_identifiers;
      o["blocked_ms_max"] = ms(c.blocked_ms_max);
      o["lock_wait_tolerance_ms"] = c.lock_wait_tolerance_ms;
      o["reverted_is_failure"] = c.reverted_is_failure;
      o["keepalive_ms"] = c.keepalive_ms;
      if (r.revert_after_ms) o["revert_after_ms"] = *r.revert_after_ms;
      json first = json::object();
      for (size_t k = 0; k < explore::kClientOutcomeCount; ++k) {
        if (!c.first[k]) continue;
        first[explore::client_outcome_name(static_cast<explore::ClientOutcome>(k))] = {
            {"point", c.first[k]->point},
            {"detail", c.first[k]->detail},
            {"replay", r.client_replay[k]},
            {"schedule", c.first[k]->schedule}};
      }
      o["first"] = std::move(first);
      j["client_outcomes"] = std::move(o);
    }
    if (r.level.first_failure) {
      const auto& f = *r.level.first_failure;
      j["first_failure"] = {{"point", f.point},
                            {"verdict", explore::verdict_name(f.verdict)},
                            {"detail", f.detail},
                            {"replay", r.replay},
                            {"schedule", f.schedule}};
    } else {
      j["first_failure"] = nullptr;
    }
    out["runs"].push_back(j);
  }
  // A real program's check output may hold bytes that are not UTF-8: they
  // become U+FFFD rather than failing the report.
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace snapsim::reports
