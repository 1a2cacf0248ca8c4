// The terminal matrix: rows workloads (with their configuration), columns
// quiesce levels, cells verdict counts; per row a conclusion: the weakest
// level at which every point restored consistent, and its freeze window.
#pragma once

#include <string>
#include <vector>

#include "reports/run_record.h"

namespace snapsim::reports {

std::string render_matrix(const std::vector<RunRecord>& runs, bool color);

}  // namespace snapsim::reports
