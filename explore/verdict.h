// Verdict: what restoring one snapshot point gave, worst last.
//
// The vocabulary lives here because the explorer counts verdicts; the logic
// that decides them lives in checkers/ and is injected into the explorer.
#pragma once

#include <array>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace snapsim::explore {

enum class Verdict : uint8_t {
  kConsistent = 0,      // opened without recovery, every check passed
  kRecovered,           // recovery ran (journal rollback, WAL/redo replay), then every check passed
  kLostCommitted,       // consistent, but a transaction acked before the snapshot is missing
  kTornTransaction,     // part of a transaction is visible
  kInvariantViolation,  // an application invariant fails
  kCorrupt,             // storage integrity check failed
  kUnrecoverable,       // the application cannot open the restored data at all
};
inline constexpr size_t kVerdictCount = 7;

const char* verdict_name(Verdict v);
std::optional<Verdict> parse_verdict(std::string_view name);
inline std::ostream& operator<<(std::ostream& os, Verdict v) { return os << verdict_name(v); }
inline bool is_failure(Verdict v) { return v >= Verdict::kLostCommitted; }
inline Verdict worst(Verdict a, Verdict b) { return a > b ? a : b; }

using VerdictCounts = std::array<uint64_t, kVerdictCount>;

// Points with a failure verdict (lost_committed and worse).
inline uint64_t failure_count(const VerdictCounts& v) {
  uint64_t n = 0;
  for (size_t i = static_cast<size_t>(Verdict::kLostCommitted); i < kVerdictCount; ++i) n += v[i];
  return n;
}

}  // namespace snapsim::explore
