// Crash states: which of the writes a disk holds in its volatile cache
// survive a power cut.
//
// At a crash point a disk has n writes issued since its last FLUSH (FUA
// writes are durable at once and end the set). Power loss keeps any subset
// of them, and the one write the disk was destaging when the power went may
// be torn: its first sectors new, the rest as before (DESIGN.md: "a write
// torn at sector granularity"). A crash state gives each of the n writes a
// fate (lost, persisted, torn), at most one of them torn: 2^n states without
// a torn write plus n * 2^(n-1) with one, 2^(n-1) * (n + 2) in all (2^n when
// a block is one sector and cannot tear). Writes to one block that both
// persist leave the later one.
//
// plan_crash_states() picks at most `cap` of them, deterministically:
//   - when they all fit, every one (enumerated): the subsets in binary
//     order, then for each write (the last first) the subsets with it torn;
//   - else (sampled): every write persisted, none, then in equal shares
//     in-order prefixes (the first k persisted, the rest lost), "all but
//     one" (write i lost), torn prefixes (the first k persisted, write k
//     torn), each spread evenly over the n writes and always including the
//     ones nearest the cut (the last write lost, the last write torn), then
//     seeded random states for what room is left.
// A sampled point is reported as such: the run says how many states were
// possible and how many were explored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/prng.h"

namespace snapsim::explore {

enum class WriteFate : uint8_t { kLost = 0, kPersisted = 1, kTorn = 2 };

struct CrashPlan {
  std::vector<std::vector<WriteFate>> states;  // each of size n, distinct
  uint64_t possible = 0;                       // 2^(n-1)*(n+2) or 2^n, capped at kCrashStatesCap
  bool enumerated = false;                     // states holds every possible state
};

// Counts of possible states are capped here (exact in a JSON double).
inline constexpr uint64_t kCrashStatesCap = uint64_t{1} << 53;

// REQUIRES: cap >= 1. `rng` is drawn from only when sampling.
CrashPlan plan_crash_states(size_t n, size_t cap, bool tearable, sim::Prng& rng);

// What one power cut did, kept as data beside its image (prose is rendered
// from it by describe()).
struct CrashFault {
  uint32_t disk = 0;                 // the disk whose unflushed writes were cut
  std::string cause;                 // "FLUSH", "FUA write", "acknowledgement", "the end of the run"
  uint64_t unflushed = 0;            // writes issued since its last FLUSH
  uint64_t persisted = 0;            // of those, kept whole
  uint64_t lost_count = 0;
  uint64_t torn_count = 0;
  std::vector<uint64_t> lost_head;   // the first block addresses lost (at most kFaultListed)
  std::vector<uint64_t> torn_head;   // the first torn ones
  uint32_t torn_sectors = 0;         // sectors a torn write put down, of
  uint32_t sectors = 0;              // the sectors of a block
  bool others_lost = false;          // the other disks lost every write since their last FLUSH
  // Every unflushed write's block address and fate, in issue order; kept
  // only when points are recorded (ExploreOptions::record_points).
  std::shared_ptr<const std::vector<uint64_t>> write_lbas;
  std::vector<WriteFate> fates;
};

inline constexpr size_t kFaultListed = 12;

// "power lost on disk 0 before FLUSH: 3 of the 214 write(s) since its last
// flush persisted; lost: lba 12, 41028 and 199 more".
std::string describe(const CrashFault& f);

}  // namespace snapsim::explore
