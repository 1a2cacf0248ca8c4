// The --json report: {"schema": 1, "runs": [...]}, as DESIGN.md and
// docs/results.schema.json specify. Keys are in a fixed order and numbers
// are rendered deterministically: the same runs give byte-identical JSON.
#pragma once

#include <string>
#include <vector>

#include "reports/run_record.h"

namespace snapsim::reports {

std::string to_json(const std::vector<RunRecord>& runs);

}  // namespace snapsim::reports
