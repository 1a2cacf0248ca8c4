// ReportedChecker: the verdict the application's own check named. A
// process workload's check may end its output with "verdict: NAME detail"
// (host/process.h); that verdict is judged beside the others (the worst
// wins). Verifies nothing itself: the application's check is the authority
// on what it found.
#pragma once

#include "checkers/checker.h"

namespace snapsim::checkers {

class ReportedChecker : public Checker {
 public:
  const char* name() const override { return "reported"; }
  std::optional<Finding> check(const AppState& s, const PointContext&) const override {
    if (s.reported < 0 || s.reported >= static_cast<int>(explore::kVerdictCount)) return std::nullopt;
    const auto v = static_cast<Verdict>(s.reported);
    if (v == Verdict::kConsistent || v == Verdict::kRecovered) return std::nullopt;
    return Finding{v, s.reported_detail.empty() ? "the application's check said so" : s.reported_detail};
  }
};

}  // namespace snapsim::checkers
