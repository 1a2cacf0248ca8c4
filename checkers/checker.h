// Checker: one property of a restored image. Each checker says in its own
// header what it verifies and what it deliberately does not, and returns the
// first divergence it finds (a Finding), not a bool.
#pragma once

#include <optional>
#include <string>

#include "explore/scenario.h"

namespace snapsim::checkers {

using explore::AppState;
using explore::PointContext;
using explore::Verdict;

struct Finding {
  Verdict verdict;
  std::string detail;
};

class Checker {
 public:
  virtual ~Checker() = default;
  virtual const char* name() const = 0;
  virtual std::optional<Finding> check(const AppState& state, const PointContext& ctx) const = 0;
};

}  // namespace snapsim::checkers
