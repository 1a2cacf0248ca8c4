// OpenChecker: the application could open the restored data at all.
// Verifies: AppState.opened (file system mounted, files readable, recovery
// did not fail). Does not verify anything about the contents.
#pragma once

#include "checkers/checker.h"

namespace snapsim::checkers {

class OpenChecker : public Checker {
 public:
  const char* name() const override { return "open"; }
  std::optional<Finding> check(const AppState& s, const PointContext&) const override {
    if (s.opened) return std::nullopt;
    return Finding{Verdict::kUnrecoverable,
                   s.open_error.empty() ? "application could not open the data" : s.open_error};
  }
};

}  // namespace snapsim::checkers
