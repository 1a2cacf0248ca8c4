// Baselines: the ways people restore crash images without snapsim, to
// measure what its O(1) clones and memos save (bench/explore_bench.cc), and
// as the from-scratch oracle of tests/workloads/check_memo_test.cc. Each
// fills ExploreOptions::baseline; every point is then restored into fresh
// volumes and inspected in full, with no memo. `none` points only.
//   full_copy  copy every mapped block of the image into a fresh volume
//   replay     replay the block-write log from mkfs up to the point onto a
//              fresh image file, then load that file (replay-log run from
//              scratch for every point: quadratic in the log)
//   incremental_replay  the workflow people use (xfstests with
//              dm-log-writes, e.g. generic/482): one device the log is
//              replayed onto incrementally, mark after mark, and a thin
//              snapshot of it per point (here a COW snapshot and clone),
//              checked in full
#pragma once

#include <memory>
#include <vector>

#include "explore/explorer.h"

namespace snapsim::bench {

explore::ExploreOptions::RestoreHooks full_copy();
// The log lives as long as the hooks (shared by their two functions).
explore::ExploreOptions::RestoreHooks replay();
explore::ExploreOptions::RestoreHooks incremental_replay();

}  // namespace snapsim::bench
