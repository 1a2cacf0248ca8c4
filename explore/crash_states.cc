#include "explore/crash_states.h"

#include <algorithm>
#include <cassert>
#include <set>

#include <fmt/format.h>

namespace snapsim::explore {

namespace {

// m values from [lo, hi], evenly spread, always including hi (and lo when
// m >= 2), in descending order (nearest the cut first).
std::vector<size_t> spread(size_t lo, size_t hi, size_t m) {
  std::vector<size_t> out;
  if (hi < lo || m == 0) return out;
  const size_t span = hi - lo;
  if (m > span) m = span + 1;
  for (size_t i = 0; i < m; ++i) {
    out.push_back(m == 1 ? hi : hi - span * i / (m - 1));
  }
  return out;
}

}  // namespace

CrashPlan plan_crash_states(size_t n, size_t cap, bool tearable, sim::Prng& rng) {
  assert(cap >= 1);
  CrashPlan plan;
  // 2^n subsets, and with tearing n * 2^(n-1) more: capped, never overflowing.
  auto saturating_pow2 = [](size_t k) {
    return k >= 53 ? kCrashStatesCap : std::min(kCrashStatesCap, uint64_t{1} << k);
  };
  if (!tearable || n == 0) {
    plan.possible = saturating_pow2(n);
  } else {
    const uint64_t half = saturating_pow2(n - 1);
    plan.possible = half >= kCrashStatesCap / (n + 2) ? kCrashStatesCap : half * (n + 2);
  }
  std::set<std::vector<WriteFate>> seen;
  auto add = [&](std::vector<WriteFate> s) {
    if (plan.states.size() < cap && seen.insert(s).second) plan.states.push_back(std::move(s));
  };
  auto subset = [n](uint64_t mask, size_t skip) {
    std::vector<WriteFate> s(n, WriteFate::kLost);
    for (size_t i = 0, bit = 0; i < n; ++i) {
      if (i == skip) continue;
      if ((mask >> bit++) & 1) s[i] = WriteFate::kPersisted;
    }
    return s;
  };
  add(std::vector<WriteFate>(n, WriteFate::kPersisted));
  add(std::vector<WriteFate>(n, WriteFate::kLost));
  if (plan.possible <= cap && plan.possible < kCrashStatesCap) {
    for (uint64_t mask = 0; mask < (uint64_t{1} << n); ++mask) add(subset(mask, SIZE_MAX));
    if (tearable) {
      for (size_t t = n; t-- > 0;) {
        for (uint64_t mask = 0; mask < (uint64_t{1} << (n - 1)); ++mask) {
          auto s = subset(mask, t);
          s[t] = WriteFate::kTorn;
          add(std::move(s));
        }
      }
    }
    plan.enumerated = plan.states.size() == plan.possible;
    return plan;
  }
  const size_t share = std::max<size_t>(1, (cap - plan.states.size()) / (tearable ? 4 : 3));
  for (size_t k : spread(1, n - 1, share)) {  // in-order prefixes
    std::vector<WriteFate> s(n, WriteFate::kLost);
    std::fill(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k), WriteFate::kPersisted);
    add(std::move(s));
  }
  for (size_t i : spread(0, n - 1, share)) {  // all but one
    std::vector<WriteFate> s(n, WriteFate::kPersisted);
    s[i] = WriteFate::kLost;
    add(std::move(s));
  }
  if (tearable) {
    for (size_t k : spread(0, n - 1, share)) {  // torn prefixes
      std::vector<WriteFate> s(n, WriteFate::kLost);
      std::fill(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k), WriteFate::kPersisted);
      s[k] = WriteFate::kTorn;
      add(std::move(s));
    }
  }
  // Random subsets; with tearing, one in four also tears one random write.
  for (size_t tries = 0; plan.states.size() < cap && tries < 4 * cap; ++tries) {
    std::vector<WriteFate> s(n);
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<WriteFate>(rng.uniform(2));
    if (tearable && rng.uniform(4) == 0) s[rng.uniform(n)] = WriteFate::kTorn;
    add(std::move(s));
  }
  return plan;
}

std::string describe(const CrashFault& f) {
  auto listed = [](const std::vector<uint64_t>& head, uint64_t count) {
    std::string out = fmt::format("lba {}", fmt::join(head, ", "));
    if (count > head.size()) out += fmt::format(" and {} more", count - head.size());
    return out;
  };
  std::string out = fmt::format(
      "power lost on disk {} {} {}: {} of the {} write(s) since its last flush persisted", f.disk,
      f.cause == "acknowledgement" ? "right after the" : "before", f.cause, f.persisted, f.unflushed);
  if (f.others_lost) out += "; the other disks lost every write since their last flush";
  if (f.lost_count) out += "; lost: " + listed(f.lost_head, f.lost_count);
  if (f.torn_count) {
    out += fmt::format("; torn ({} of {} sectors written): {}", f.torn_sectors, f.sectors,
                       listed(f.torn_head, f.torn_count));
  }
  return out;
}

}  // namespace snapsim::explore
