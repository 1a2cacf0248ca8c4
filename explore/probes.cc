#include "explore/probes.h"

namespace snapsim::explore {

const char* probe_name(Probe p) {
  switch (p) {
    case Probe::kImageMemoHit: return "image_memo_hit";
    case Probe::kVisibleMemoHit: return "visible_memo_hit";
    case Probe::kRecoveredMemoHit: return "recovered_memo_hit";
    case Probe::kTornWrite: return "torn_write";
    case Probe::kTornOverKept: return "torn_over_kept";
    case Probe::kOthersLost: return "others_lost";
    case Probe::kSequentialSkew: return "sequential_skew";
    case Probe::kWorkerFailed: return "worker_failed";
  }
  return "?";
}

}  // namespace snapsim::explore
