// Coverage probes (as FoundationDB's CODE_PROBE): rare paths count each time
// they run, so a test can show that they ran. One exploration owns its
// counts (no globals); ExploreResult::probes has them. Hits inside forked
// inspection workers stay in the worker: probe tests run with jobs = 1.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace snapsim::explore {

enum class Probe : uint8_t {
  kImageMemoHit = 0,   // a point whose image (content hash) was judged before
  kVisibleMemoHit,     // a new image whose visible files were inspected before
  kRecoveredMemoHit,   // the workload's checks skipped: its recovered state was checked before
  kTornWrite,          // a crash image with a torn write
  kTornOverKept,       // ... torn over an earlier kept write of the same block in the epoch
  kOthersLost,         // a crash image where the other disks lost their unflushed writes
  kSequentialSkew,     // a sequential group point whose later disk comes from a later moment
  kWorkerFailed,       // an inspection worker died or sent a malformed message
};
inline constexpr size_t kProbeCount = 8;

const char* probe_name(Probe p);

class Probes {
 public:
  void hit(Probe p, uint64_t n = 1) { counts_[static_cast<size_t>(p)] += n; }
  uint64_t count(Probe p) const { return counts_[static_cast<size_t>(p)]; }

 private:
  std::array<uint64_t, kProbeCount> counts_{};
};

}  // namespace snapsim::explore
