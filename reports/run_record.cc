#include "reports/run_record.h"

#include <fmt/format.h>

namespace snapsim::reports {

std::string replay_command(const RunRecord& r, uint64_t point) {
  std::string cmd = "snapsim replay " + (r.source.empty() ? r.workload : r.source);
  for (const auto& [k, v] : r.params) cmd += fmt::format(" -p {}={}", k, v);
  cmd += fmt::format(" --seed {} --writeback {} --fs-data {} --schedules {} --quiesce {} --point {}",
                     r.seed, r.writeback, r.fs_data, r.schedules, sim::quiesce_name(r.level.level),
                     point);
  if (r.model != "snapshot") {
    cmd += fmt::format(" --model {}", r.model);
    if (r.crash_states != 32) cmd += fmt::format(" --crash-states {}", r.crash_states);
    if (r.sector_size != 512) cmd += fmt::format(" --sector-size {}", r.sector_size);
  }
  return cmd;
}

}  // namespace snapsim::reports
