// The built-in workloads: names, descriptions, parameters, constructors.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "workloads/workload.h"

namespace snapsim::workloads {

struct WorkloadInfo {
  std::string name;
  std::string description;
  std::vector<ParamSpec> params;
  std::function<std::unique_ptr<Workload>(const Params&)> make;
};

const std::vector<WorkloadInfo>& builtin_workloads();

// The built-in suite (`snapsim` with no arguments): each workload once with
// its defaults, plus the configurations that show what the matrix is for.
struct SuiteEntry {
  std::string workload;
  std::vector<std::string> overrides;  // "key=value"
};
std::vector<SuiteEntry> builtin_suite();
const WorkloadInfo* find_workload(const std::string& name);
// Looks the workload up and resolves `overrides` ("key=value"). Errors are
// one line naming the unknown workload, key or bad value.
Result<std::unique_ptr<Workload>> make_workload(const std::string& name,
                                                const std::vector<std::string>& overrides);

}  // namespace snapsim::workloads
