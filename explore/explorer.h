// Explorer: take a point at every moment a failure model names, restore
// each, recover, check.
//
// One execution per schedule. While it runs, the failure model
// (failure_model.h: snapshot_model.cc with its quiesce levels, or
// crash_model.cc) takes O(1) COW snapshots at its points; points never
// alter the execution. Afterwards each point is cloned (O(1)), booted (simfs
// mount = reboot), inspected by the workload (its recovery runs) and
// classified by the checkers. Equal images, equal visible files and equal
// recovered states are inspected once.
#pragma once

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "explore/crash_states.h"
#include "explore/probes.h"
#include "explore/scenario.h"

namespace snapsim::explore {

// kHook: the workload's own pre-freeze hook at every step boundary, on a
// fork of the live run (snapshot_model.cc, explorer.cc hook_point()).
enum class Quiesce { kNone = 0, kFsfreeze, kApp, kHook };
inline constexpr size_t kQuiesceCount = 4;
const char* quiesce_name(Quiesce q);
cow::Result<Quiesce> parse_quiesce(const std::string& name);
// "none,fsfreeze" -> levels; errors name the bad item.
cow::Result<std::vector<Quiesce>> parse_quiesce_list(const std::string& list);

// Failure model (DESIGN.md, persistence model 4 and 5), each explained at
// the top of its file:
//   snapshot  a hypervisor snapshot: a prefix of the issued block writes
//             (with the quiesce levels)             snapshot_model.cc
//   crash     power loss: unflushed writes lost in any subset, one torn
//             at sector granularity; level `none`   crash_model.cc
//   memory    a memory snapshot reverted to: the whole VM resumes, its
//             clients do not; level `none`         memory_model.cc
// Names and factories are in failure_model.cc's table.
enum class Model { kSnapshot = 0, kCrash, kMemory };
const char* model_name(Model m);
cow::Result<Model> parse_model(const std::string& name);

struct Point;

// Which of a schedule's points a budget of `max` judges (explorer.h,
// ExploreOptions::max_points): `events` is the run's trace.
std::vector<bool> choose_points(const std::deque<Point>& points, const std::deque<Event>& events, uint64_t max);

struct ExploreOptions {
  uint64_t seed = 1;
  Model model = Model::kSnapshot;
  // Crash model: a crash point at every FLUSH and FUA write (just before
  // it makes the disk's unflushed writes durable), right after every
  // acknowledged commit and at the end of the run; at each, up to
  // crash_states images chosen by plan_crash_states() (explore/crash_states.h:
  // every state when they fit, else a documented sample). Other disks keep
  // every write they issued (even states) or only their last FLUSH's (odd
  // states). Identical images are checked once.
  uint32_t crash_states = 32;
  uint32_t sector_size = 512;        // torn-write granularity (crash model)
  // Memory model: the VM is reverted this long (simulated) after the
  // snapshot moment; unset = at the end of the run (the clients have lived
  // through all of it). The guest detects a dead client's connection after
  // keepalive_ms (Linux's default TCP keepalive: 2 hours).
  std::optional<uint64_t> revert_after_ms;
  uint64_t keepalive_ms = 7'200'000;
  Writeback writeback = Writeback::kRandom;
  // The guest file system's mode (--fs) and ext4 data mode (--fs-data);
  // unset: the workload's machine config says (default ext4, ordered).
  std::optional<sim::FsMode> fs_mode;
  std::optional<bool> ordered_data;
  std::vector<Quiesce> levels = {Quiesce::kNone, Quiesce::kFsfreeze, Quiesce::kApp};
  // Seeded schedules: each its own world (interleaving, writeback moments
  // and order, client data), from streams forked by schedule number.
  uint32_t schedules = 1;
  bool all_schedules = false;        // enumerate every interleaving of one world
  uint32_t max_schedules = 10000;    // limit for all_schedules
  uint64_t pool_blocks = 1ull << 22; // physical blocks in the COW pool
  uint32_t block_size = 4096;
  ScheduleLimits limits;
  // Replay: judge only this (level, global point) and describe it fully.
  std::optional<std::pair<Quiesce, uint64_t>> only_point;
  // With only_point: write the restored files (before the application's
  // recovery runs) into this directory, one subdirectory per disk.
  std::string export_dir;
  bool record_points = false;        // fill LevelResult::records
  // Workers that inspect restored images in parallel (forked processes, so
  // the simulation itself stays single-threaded). Results are identical to
  // jobs = 1, byte for byte.
  uint32_t jobs = 1;
  // Judge only the points whose global index % shard_count == shard_index.
  uint32_t shard_index = 0;
  uint32_t shard_count = 1;
  // A budget for big programs (--max-points): at most this many points of
  // each level are judged per schedule (0 = all). The first and last point,
  // and every point at a FLUSH, FUA write, fsync/fdatasync/syncfs, rename or
  // acknowledgement come first; the rest are evenly spaced over the run
  // (choose_points()). Point numbers stay those of the whole run, so a
  // replay of a judged point is the same point.
  uint64_t max_points = 0;
  // How a point is restored: snapsim's way is an O(1) COW clone, equal
  // images inspected once. The baselines that measure what that saves
  // (bench/baselines.h: a full copy, a dm-log-writes style replay) restore
  // each point themselves through these hooks, without any memo:
  //   begin      called as each execution starts (before mkfs)
  //   write_log  receives every block write from mkfs on (its count before
  //              a point, in this execution, is that restore's `writes`)
  //   restore    builds fresh volumes holding the point's image
  struct RestoreHooks {
    std::function<void()> begin;
    std::function<void(const BlockWriteRecord&)> write_log;
    std::function<cow::Result<std::vector<cow::VolumeId>>(cow::Pool&, const std::vector<cow::SnapshotId>&,
                                                          uint64_t writes)>
        restore;
  };
  RestoreHooks baseline;
  // --jobs: inspect in this process for fork_after_ms first, and fork the
  // workers for the rest only if it would take longer than fork_if_rest_ms
  // at the rate so far (a small batch costs less than the fork).
  uint32_t fork_after_ms = 50;
  uint32_t fork_if_rest_ms = 200;
  // Inspect points while the run goes on and release their snapshots
  // (single-disk runs without --max-points, replay or baseline): memory per
  // point stays small and, with --jobs, workers run beside the simulation,
  // each given about fork_if_rest_ms of work. Off: every point is held until
  // the run ends (the results are the same; tests compare the two).
  bool stream = true;
  // A run whose resident memory would exceed this many bytes stops with an
  // error naming the limit and what the run holds (0: no limit). Checked
  // every 1024 points taken.
  uint64_t max_memory_bytes = 0;
  // Called at each schedule's start and after each point judged: points
  // judged so far (all schedules), and what that count will be when this
  // schedule's points are judged (equal while they are not yet known).
  std::function<void(uint32_t schedule, uint32_t schedules, uint64_t points_judged, uint64_t schedule_end)> progress;
};

struct PointFailure {
  uint64_t point = 0;
  Verdict verdict = Verdict::kConsistent;
  std::string detail;
  uint32_t schedule = 0;
};

// One judged snapshot point (kept when ExploreOptions::record_points).
struct PointRecord {
  uint64_t point = 0;
  uint32_t schedule = 0;
  Verdict verdict = Verdict::kConsistent;
  uint64_t acked = 0;
  uint64_t issued = 0;
  uint64_t trace_pos = 0;
  uint64_t time_ns = 0;
  double freeze_ms = 0;
  std::string detail;
  std::string image;  // content hash of the restored image (hex)
  std::string note;   // crash model: which writes persisted
  std::optional<CrashFault> fault;  // crash model: the same, as data
  std::string resumed;  // memory model: content hash of what the fork resumed (Point::Revert::resumed)
};

// What the hook did at the `hook` level's requests (each step boundary).
struct HookStats {
  uint64_t requested = 0;         // snapshots requested
  uint64_t timed_out = 0;         // the hook did not finish within its timeout (or could not progress)
  uint64_t failed = 0;            // of those, snapshots that failed (on_failure = "fail"): no image
  uint64_t crash_consistent = 0;  // of those, taken anyway without quiescing
  double wait_ms_max = 0;         // the longest the hook took (drain and its own work)
};

// Memory model: what the clients saw after the reverts, beside the
// verdicts. Each count is of points (the totals say how much).
enum class ClientOutcome { kRevertedAcknowledged = 0, kReissuedIdentifier, kBlockedSession };
inline constexpr size_t kClientOutcomeCount = 3;
const char* client_outcome_name(ClientOutcome o);
std::optional<ClientOutcome> parse_client_outcome(const std::string& name);

struct ClientOutcomes {
  std::array<uint64_t, kClientOutcomeCount> points{};  // points with the outcome
  uint64_t reverted_acknowledgements = 0;  // acknowledged commits the reverts undid, summed
  uint64_t reissued_identifiers = 0;       // identifiers issued again, summed
  double blocked_ms_max = 0;               // the longest a new client waited on a dead session
  std::array<std::optional<PointFailure>, kClientOutcomeCount> first;  // detail: what happened
  uint64_t lock_wait_tolerance_ms = 0;     // the workload's
  bool reverted_is_failure = false;        // the workload's
  uint64_t keepalive_ms = 0;
};

struct LevelResult {
  Quiesce level = Quiesce::kNone;
  HookStats hook;                    // level hook only
  std::optional<ClientOutcomes> client;  // memory model only
  uint64_t points_existing = 0;      // every point of the level (all schedules), judged or not
  uint64_t points_budgeted_out = 0;  // left unjudged by ExploreOptions::max_points
  uint64_t points = 0;
  uint64_t distinct_images = 0;
  VerdictCounts verdicts{};
  double freeze_window_ms = 0;       // worst point
  double freeze_window_ms_mean = 0;
  std::optional<PointFailure> first_failure;
  // The first point of each verdict (for reports that gate on a subset).
  std::array<std::optional<PointFailure>, kVerdictCount> first_by_verdict;
  std::vector<PointRecord> records;  // with record_points
};

// A transaction of the first schedule, by trace position (for timelines).
struct TxnSpan {
  uint32_t client = 0;
  uint64_t begin_pos = 0;
  uint64_t end_pos = 0;  // trace position of its acknowledgement
  std::string name;      // the transaction's name, when the workload gives one
};

struct ReplayedPoint {
  Quiesce level = Quiesce::kNone;
  uint64_t point = 0;
  uint32_t schedule = 0;
  uint64_t acked = 0;
  uint64_t issued = 0;
  size_t trace_pos = 0;
  Judgement judgement;
  AppState state;
  std::vector<std::string> trace_before;  // the last events before the snapshot, printed
  std::vector<std::string> in_flight; // transactions begun and not acknowledged
  std::vector<std::string> files;    // files in the restored image
  std::vector<std::string> exported; // paths written under export_dir
  std::string note;                  // crash model: which writes persisted
  std::vector<std::string> client_outcomes;  // memory model: what the clients saw, one line each
};

// Crash model: how much of the state space the run covered (all schedules).
struct CrashCoverage {
  uint64_t points = 0;               // crash points: FLUSH, FUA, acknowledgement, end of run
  uint64_t points_sampled = 0;       // of those, sampled rather than enumerated
  uint64_t states_possible = 0;      // summed, capped at kCrashStatesCap
  bool states_possible_capped = false;
  uint64_t states_explored = 0;      // images built (equal ones are judged once)
  uint64_t max_unflushed_writes = 0; // the most writes a disk held unflushed at a point
  // Sums another count into this one (per point into an execution, per
  // execution into a run), keeping the cap.
  void add(const CrashCoverage& o) {
    points += o.points;
    points_sampled += o.points_sampled;
    states_possible = std::min(kCrashStatesCap, states_possible + o.states_possible);
    states_possible_capped = states_possible_capped || o.states_possible_capped || states_possible >= kCrashStatesCap;
    states_explored += o.states_explored;
    max_unflushed_writes = std::max(max_unflushed_writes, o.max_unflushed_writes);
  }
};

struct ExploreResult {
  std::vector<LevelResult> levels;
  uint64_t trace_hash = 0;
  uint32_t schedules_run = 0;
  uint32_t distinct_traces = 0;      // schedules whose executions differ (by trace hash)
  double sim_time_ms_total = 0;      // simulated time of every schedule
  CrashCoverage crash;               // crash model only
  Probes probes;                     // rare paths that ran (this process only)
  uint64_t commits = 0;              // in the first schedule
  double run_time_ms = 0;            // simulated time of the first schedule
  std::optional<ReplayedPoint> replayed;
  std::vector<TxnSpan> txns;         // first schedule
  uint64_t trace_events = 0;         // first schedule
  sim::FsMode fs_mode = sim::FsMode::kExt4;  // the guest file system the run used
  bool ordered_data = true;
};

cow::Result<ExploreResult> explore(Scenario& scenario, const Classifier& classifier,
                                   const ExploreOptions& options);

}  // namespace snapsim::explore
