// CommitOracle: the generic durability and atomicity oracle.
//
// The workload recorded the digest of its logical state after every commit
// (serialized). A restored state must equal the digest after some commit
// count k with acked <= k <= issued:
//   match with k in range  -> no finding
//   match only with k < acked -> lost_committed (an acknowledged commit is gone)
//   no match at all        -> torn_transaction (part of a transaction visible)
// Does not verify invariants or storage integrity: a state can match no
// digest *because* it is corrupt; the classifier reports the worst finding.
#pragma once

#include "checkers/checker.h"

namespace snapsim::checkers {

class CommitOracle : public Checker {
 public:
  const char* name() const override { return "commit-oracle"; }
  std::optional<Finding> check(const AppState& s, const PointContext& ctx) const override;
};

}  // namespace snapsim::checkers
