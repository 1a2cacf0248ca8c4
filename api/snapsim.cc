#include "api/snapsim.h"

#include <fmt/format.h>

#include "checkers/suite.h"
#include "reports/run_record.h"
#include "explore/explorer.h"
#include "host/process.h"
#include "workloads/registry.h"
#include "workloads/script.h"

namespace snapsim::api {

uint64_t RunSummary::failures(const std::string& quiesce) const {
  const LevelSummary* l = level(quiesce);
  return l ? l->failures : 0;
}

const LevelSummary* RunSummary::level(const std::string& quiesce) const {
  for (const auto& l : levels) {
    if (l.quiesce == quiesce) return &l;
  }
  return nullptr;
}

cow::Result<RunSummary> run_workload(const RunOptions& options) {
  explore::ExploreOptions o;
  auto levels = explore::parse_quiesce_list(options.quiesce);
  if (!levels) return levels.status();
  o.levels = *levels;
  auto wb = sim::parse_writeback(options.writeback);
  if (!wb) return wb.status();
  o.writeback = *wb;
  o.seed = options.seed;
  o.schedules = options.schedules;
  o.ordered_data = options.ordered_data;
  if (!options.fs.empty()) {
    auto mode = sim::parse_fs_mode(options.fs);
    if (!mode) return mode.status();
    o.fs_mode = *mode;
  }
  auto w = host::load_workload(options.workload, options.params);
  if (!w) return w.status();
  auto suite = checkers::CheckerSuite::standard();
  auto r = explore::explore(**w, suite, o);
  if (!r) return r.status();
  const reports::RunSettings settings{(*w)->name(),
                                      host::is_workload_file(options.workload) ? options.workload : "",
                                      (*w)->params().all(), {}, std::to_string(options.schedules), {}};
  const auto records = reports::make_run_records(settings, o, *r);
  RunSummary out;
  out.workload = (*w)->name();
  out.trace_hash = r->trace_hash;
  for (const auto& l : r->levels) {
    LevelSummary s;
    s.quiesce = explore::quiesce_name(l.level);
    s.points = l.points;
    s.distinct_images = l.distinct_images;
    for (size_t v = 0; v < explore::kVerdictCount; ++v) {
      s.verdicts[explore::verdict_name(static_cast<explore::Verdict>(v))] = l.verdicts[v];
    }
    s.failures = explore::failure_count(l.verdicts);
    s.freeze_window_ms = l.freeze_window_ms;
    if (l.first_failure) {
      s.first_failure = fmt::format("{} at point {}: {}", explore::verdict_name(l.first_failure->verdict),
                                    l.first_failure->point, l.first_failure->detail);
      s.replay = records[&l - r->levels.data()].replay;
    }
    out.levels.push_back(std::move(s));
  }
  return out;
}

}  // namespace snapsim::api
