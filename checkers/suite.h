// CheckerSuite: runs every checker and classifies a point by the worst
// finding. Without findings the point is `recovered` if the application's
// recovery had work to do, else `consistent`.
#pragma once

#include <memory>
#include <vector>

#include "checkers/checker.h"

namespace snapsim::checkers {

class CheckerSuite : public explore::Classifier {
 public:
  // The standard suite: open, integrity, invariants, commit oracle.
  static CheckerSuite standard();
  void add(std::unique_ptr<Checker> c) { checkers_.push_back(std::move(c)); }
  explore::Judgement classify(const AppState& state, const PointContext& ctx) const override;

 private:
  std::vector<std::unique_ptr<Checker>> checkers_;
};

}  // namespace snapsim::checkers
