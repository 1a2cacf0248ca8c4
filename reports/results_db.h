// --db: every run and every snapshot point in an SQLite results file.
//
// Schema (version 1; docs/results-db.md):
//   meta(key, value)                       schema_version, generator
//   run(id, workload, source, params (JSON), quiesce, model, seed, writeback,
//       fs_data, schedules, schedules_run, points, distinct_images, one
//       column per verdict, freeze_window_ms, freeze_window_ms_mean,
//       trace_hash, first_failure_point, first_failure_verdict,
//       first_failure_detail, replay)
//   point(run_id, point, schedule, verdict, acked, issued, trace_pos,
//         time_ns, freeze_ms, detail, image) PRIMARY KEY (run_id, point)
// The file is written in one transaction into a temporary file that is
// renamed over the target: an interrupted run never leaves half a file.
#pragma once

#include <string>
#include <vector>

#include "cow/status.h"
#include "reports/run_record.h"

namespace snapsim::reports {

cow::Status write_results_db(const std::string& path, const std::vector<RunRecord>& runs,
                             const std::string& shard = {});
// Combines the runs of several shards of one exploration: verdict counts and
// points add up, distinct images are counted over the union, the first
// failure is the lowest point. Overlapping inputs are an error.
cow::Result<std::vector<RunRecord>> merge_runs(const std::vector<std::vector<RunRecord>>& shards);
// Reads a results file back (runs and their points), for merging shards.
cow::Result<std::vector<RunRecord>> read_results_db(const std::string& path);

}  // namespace snapsim::reports
