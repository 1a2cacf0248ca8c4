// --html: one self-contained page (inline CSS and SVG, no script, no
// network): the matrix, then per run a timeline of the first schedule's
// trace with every snapshot point coloured by verdict, the transactions as
// bars per client, the freeze window of the quiesce level, and the first
// failure's detail and replay command.
#pragma once

#include <string>
#include <vector>

#include "reports/run_record.h"

namespace snapsim::reports {

std::string to_html(const std::vector<RunRecord>& runs, const std::string& title);

}  // namespace snapsim::reports
