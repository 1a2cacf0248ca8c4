// Shrinking: the smallest configuration that still fails.
//
// Greedy, one parameter at a time in the order given (a workload's
// shrinkable parameters, ParamSpec::shrinkable): for each, the smallest
// value from 1 up that still fails, the others as shrunk so far. Values are
// whole numbers; a parameter missing from `start` or not a number is left
// as it is. `fails` runs one configuration; it is called for every trial,
// and once more for `start` when no trial failed, so its last call that
// returned true was for the result's parameters.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace snapsim::explore {

using ParamMap = std::map<std::string, std::string>;

struct Shrunk {
  ParamMap params;
  bool fails = false;  // the result still fails (false: not even `start` did)
};

Shrunk shrink(ParamMap start, const std::vector<std::string>& order,
              const std::function<bool(const ParamMap&)>& fails);

}  // namespace snapsim::explore
