// Reports of `snapsim cow-bench`: a terminal table, JSON (schema in
// docs/cow-bench.schema.json) and a self-contained HTML page with inline SVG
// plots (device time per write against snapshots held, per policy; the
// oldest snapshot's exclusive space over the run).
#pragma once

#include <string>
#include <vector>

#include "cowbench/cow_bench.h"

namespace snapsim::cowbench {

struct CowBenchRun {
  std::string source;  // "randwrite 4k x 10000" or "workload invoice-sqlite"
  std::vector<CowBenchResult> results;
};

std::string cow_bench_table(const CowBenchRun& run);
std::string cow_bench_json(const CowBenchRun& run);
std::string cow_bench_html(const CowBenchRun& run);

}  // namespace snapsim::cowbench
