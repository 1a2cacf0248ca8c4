// --junit: one <testcase> per workload x configuration x quiesce level; a
// test case fails when any point got a failure verdict, with the first
// failure's detail as the message and its replay command in the body.
#pragma once

#include <string>
#include <vector>

#include "reports/run_record.h"

namespace snapsim::reports {

std::string to_junit(const std::vector<RunRecord>& runs);
std::string xml_escape(const std::string& s);

}  // namespace snapsim::reports
