// InvariantChecker: every application invariant holds (ledger balanced,
// invoice totals equal their lines, gapless numbering, ...). The workload
// evaluates its invariants; this reports every one that failed, by name,
// in the workload's order. Does not verify durability (which commit the
// state is): see CommitOracle.
#pragma once

#include "checkers/checker.h"

namespace snapsim::checkers {

class InvariantChecker : public Checker {
 public:
  const char* name() const override { return "invariants"; }
  std::optional<Finding> check(const AppState& s, const PointContext&) const override {
    if (s.invariant_failures.empty()) return std::nullopt;
    std::string d;
    for (const auto& f : s.invariant_failures) d += (d.empty() ? "" : "; ") + f;
    return Finding{Verdict::kInvariantViolation, d};
  }
};

}  // namespace snapsim::checkers
