// --junit: one <testcase> per workload x configuration x quiesce level; a
// test case fails when some point got a verdict in `fail_on` (--fail-on;
// empty: every failure verdict), with the first such point's detail as the
// message and its replay command in the body. time= is the run's simulated
// time in seconds (every schedule). Under --model memory a test case also
// fails on the client outcomes in `fail_on_client`; with neither list given,
// on reissued_identifier, blocked_session, and reverted_acknowledged when the
// workload says its clients cannot tolerate it.
#pragma once

#include <string>
#include <vector>

#include "reports/run_record.h"

namespace snapsim::reports {

std::string to_junit(const std::vector<RunRecord>& runs, const std::vector<explore::Verdict>& fail_on = {},
                     const std::vector<explore::ClientOutcome>& fail_on_client = {});

}  // namespace snapsim::reports
