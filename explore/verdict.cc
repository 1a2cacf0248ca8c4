#include "explore/verdict.h"

namespace snapsim::explore {

namespace {
constexpr const char* kNames[kVerdictCount] = {
    "consistent", "recovered", "lost_committed", "torn_transaction",
    "invariant_violation", "corrupt", "unrecoverable"};
}

const char* verdict_name(Verdict v) { return kNames[static_cast<size_t>(v)]; }

std::optional<Verdict> parse_verdict(std::string_view name) {
  for (size_t i = 0; i < kVerdictCount; ++i) {
    if (name == kNames[i]) return static_cast<Verdict>(i);
  }
  return std::nullopt;
}

}  // namespace snapsim::explore
