// Workload: an application run inside the simulator, with its parameters.
//
// A workload is a explore::Scenario (setup, clients, live digest, inspect of a
// restored image) plus a name and resolved parameters. Built-in workloads
// are listed in workloads/registry.h; see docs/architecture.md for how to
// add one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cow/status.h"
#include "explore/scenario.h"

namespace snapsim::workloads {

using cow::Result;
using cow::Status;

enum class ParamKind { kInt, kChoice, kBool, kText };

struct ParamSpec {
  std::string name;
  ParamKind kind = ParamKind::kInt;
  std::string default_value;
  std::string help;
  int64_t min = 0;                   // kInt (kText: validated by the workload)
  int64_t max = 0;                   // kInt
  std::vector<std::string> choices;  // kChoice
  // A size of the workload (clients, transactions, lines): --shrink tries
  // smaller values of it, in the order the specs are declared.
  bool shrinkable = false;
};

// Resolved parameters, every spec present, ordered by name.
class Params {
 public:
  // Defaults overridden by "key=value" items; errors name the key and value.
  static Result<Params> resolve(const std::string& workload, const std::vector<ParamSpec>& specs,
                                const std::vector<std::string>& overrides);
  int64_t integer(const std::string& key) const;
  const std::string& text(const std::string& key) const;
  bool boolean(const std::string& key) const;
  const std::map<std::string, std::string>& all() const { return values_; }
  // "clients=2 invoices=3": for reproducer command lines.
  std::string to_flags() const;
  // The shrinkable parameters (ParamSpec::shrinkable), in declared order.
  const std::vector<std::string>& shrinkable() const { return shrinkable_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> shrinkable_;
};

class Workload : public explore::Scenario {
 public:
  virtual std::string name() const = 0;
  virtual const Params& params() const = 0;
};

}  // namespace snapsim::workloads
