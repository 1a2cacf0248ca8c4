// IntegrityChecker: the storage layer's own integrity check passed (record
// framing of the flat files, PRAGMA integrity_check / foreign_key_check for
// SQLite). Does not verify application invariants or which commit the state
// corresponds to.
#pragma once

#include "checkers/checker.h"

namespace snapsim::checkers {

class IntegrityChecker : public Checker {
 public:
  const char* name() const override { return "integrity"; }
  std::optional<Finding> check(const AppState& s, const PointContext&) const override {
    if (s.integrity_error.empty()) return std::nullopt;
    return Finding{Verdict::kCorrupt, s.integrity_error};
  }
};

}  // namespace snapsim::checkers
