// InvariantChecker: every application invariant holds (ledger balanced,
// invoice totals equal their lines, gapless numbering, ...). The workload
// evaluates its invariants; this reports the first that failed. Does not
// verify durability (which commit the state is): see CommitOracle.
#pragma once

#include "checkers/checker.h"

namespace snapsim::checkers {

class InvariantChecker : public Checker {
 public:
  const char* name() const override { return "invariants"; }
  std::optional<Finding> check(const AppState& s, const PointContext&) const override {
    if (s.invariant_failures.empty()) return std::nullopt;
    std::string d = s.invariant_failures.front();
    if (s.invariant_failures.size() > 1) {
      d += " (and " + std::to_string(s.invariant_failures.size() - 1) + " more)";
    }
    return Finding{Verdict::kInvariantViolation, d};
  }
};

}  // namespace snapsim::checkers
