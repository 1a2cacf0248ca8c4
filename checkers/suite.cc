#include "checkers/suite.h"

#include "checkers/commit_oracle.h"
#include "checkers/integrity_checker.h"
#include "checkers/invariant_checker.h"
#include "checkers/open_checker.h"
#include "checkers/reported_checker.h"

namespace snapsim::checkers {

CheckerSuite CheckerSuite::standard() {
  CheckerSuite s;
  s.add(std::make_unique<OpenChecker>());
  s.add(std::make_unique<IntegrityChecker>());
  s.add(std::make_unique<InvariantChecker>());
  s.add(std::make_unique<CommitOracle>());
  s.add(std::make_unique<ReportedChecker>());
  return s;
}

explore::Judgement CheckerSuite::classify(const AppState& state, const PointContext& ctx) const {
  std::optional<Finding> worst;
  for (const auto& c : checkers_) {
    // An unopenable image has nothing else to check.
    if (!state.opened && std::string(c->name()) != "open") continue;
    auto f = c->check(state, ctx);
    if (f && (!worst || f->verdict > worst->verdict)) worst = f;
  }
  if (worst) return {worst->verdict, worst->detail};
  if (state.recovered) return {Verdict::kRecovered, state.recovery_detail};
  return {Verdict::kConsistent, {}};
}

}  // namespace snapsim::checkers
