// Inspector: restores points and lets the workload judge what it finds.
//
// A point is restored on O(1) clones of its snapshots, booted (simfs mount =
// reboot) and handed to the workload's inspect(), which runs the
// application's recovery and its checks. Equal work is done once, by three
// memos the inspector owns (so one exploration never sees another's, and
// explore() is re-entrant): the caller's images by content hash, machines
// with equal visible files (Machine::visible_files), and the workload's own
// CheckMemo of recovered states. Each is a pure optimisation
// (tests/workloads/check_memo_test.cc compares with inspection from scratch).
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>

#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "explore/image_map.h"
#include "explore/probes.h"
#include "explore/scenario.h"

namespace snapsim::explore {


// The content hash of a point's images (every disk), equal for equal bytes.
ImageKey image_key(cow::Pool& pool, const std::vector<cow::SnapshotId>& snaps);

// Inspection results by image, each distinct state held once: most images
// of a run recover to one of a few thousand states (every point of a
// rolled-back transaction recovers to the state before it), so a run holds
// four bytes and an index entry per image instead of a copy of its state.
class StateCache {
 public:
  const AppState* find(const ImageKey& key) const {
    const uint32_t* i = index_.find(key);
    return i ? &states_[*i] : nullptr;
  }
  bool contains(const ImageKey& key) const { return index_.contains(key); }
  const AppState& put(const ImageKey& key, AppState state);
  size_t size() const { return index_.size(); }  // images
  size_t states() const { return states_.size(); }

 private:
  ImageMap<uint32_t> index_;
  std::deque<AppState> states_;  // stable addresses
  std::unordered_multimap<uint64_t, uint32_t> by_hash_;  // state hash -> index
};

// An image still to inspect, for the parallel workers.
struct Todo {
  ImageKey key;
  std::vector<cow::SnapshotId> snaps;
};

// Writes a guest file system's tree under `dir` on the host: directories,
// regular files (sparse ones cost their size on the host, never in memory),
// symlinks, with the guest's modes (and owners, when snapsim is root).
// Appends each file and symlink written to *written (may be null).
Status export_tree(sim::GuestFs& fs, const std::string& dir, std::vector<std::string>* written);

// What an inspection worker's memos learned (visible files and recovered
// states, each with its state), sent back so that later workers start
// with it.
struct Learned {
  std::vector<std::pair<ImageKey, AppState>> visible;
  std::vector<std::pair<Digest, AppState>> checks;
};

class Inspector {
 public:
  Inspector(Scenario& scenario, uint64_t seed, Probes* probes)
      : scenario_(scenario), seed_(seed), probes_(probes) {}

  // Boots a machine from clones of `snaps` and lets the workload open it.
  // With `files`: lists the restored files. With `export_dir`: writes them
  // (before recovery) there, one subdirectory per disk; a write failure is
  // returned in *export_status. Never fails otherwise: problems are in the
  // AppState.
  AppState inspect(cow::Pool& pool, const MachineConfig& config, const std::vector<cow::SnapshotId>& snaps,
                   std::vector<std::string>* files = nullptr, const std::string& export_dir = {},
                   std::vector<std::string>* exported = nullptr, Status* export_status = nullptr);

  // Inspects every image in `todo` on `jobs` forked workers and stores each
  // state in *cache. Each worker gets a copy-on-write copy of the whole
  // process (pool, SQLite state, these memos) and inspects one contiguous
  // slice (neighbouring points mostly recover to the same state, so each
  // worker's memos keep hitting), then sends its states back in one
  // message. Inspection is deterministic per image, so the results do not
  // depend on the number of workers.
  Status inspect_parallel(cow::Pool& pool, const MachineConfig& config, const std::vector<Todo>& todo,
                          uint32_t jobs, StateCache* cache);

  // A worker: what the memos learn from now on goes to *into too.
  void start_learning(Learned* into) {
    learning_ = into;
    check_memo_.set_journal(&into->checks);
  }
  // The explorer: adds a worker's lessons to the memos (later workers are
  // forked with them). Pure: memo entries never change a result.
  void learn(const Learned& l) {
    for (const auto& [k, s] : l.visible) visible_.put(k, s);
    for (const auto& [k, s] : l.checks) check_memo_.store(k, s);
  }

 private:
  Scenario& scenario_;
  uint64_t seed_;
  Probes* probes_;
  CheckMemo check_memo_;                  // checks by recovered files
  StateCache visible_;  // inspections by visible files
  Learned* learning_ = nullptr;
};

// Inspects images while the run that makes them goes on, so that their
// snapshots can be released at once (explorer.cc, streaming). With one job
// every image is inspected here. With more, images are inspected here for
// the first `in_place_ms` of inspection time (a small run never forks);
// after that they are batched, and a batch worth at least `batch_ms` at the
// rate measured so far goes to a forked worker that runs beside the
// simulation as soon as one of the `jobs` workers is free (it grows while
// all are busy). A worker gets a copy-on-write copy
// of the process as it was at the fork, so the batch's snapshots are
// released in this process right after. Inspection is deterministic per
// image: the states never depend on the number of jobs or on timing.
class StreamInspector {
 public:
  StreamInspector(Inspector& inspector, uint32_t jobs, uint32_t in_place_ms, uint32_t batch_ms, Probes* probes)
      : inspector_(inspector), jobs_(jobs), in_place_ms_(in_place_ms), batch_ms_(batch_ms), probes_(probes) {}
  ~StreamInspector();
  StreamInspector(const StreamInspector&) = delete;
  StreamInspector& operator=(const StreamInspector&) = delete;

  // Takes the snapshots of one point (this releases them). `wanted`: the
  // point is judged (not another shard's), so its image is inspected
  // unless *cache has it or it is already on its way.
  Status submit(cow::Pool& pool, const MachineConfig& config, const ImageKey& key,
                std::vector<cow::SnapshotId> snaps, bool wanted, StateCache* cache);
  // Inspects what is still batched and waits for every worker: afterwards
  // *cache holds the state of every wanted image.
  Status finish(cow::Pool& pool, const MachineConfig& config, StateCache* cache);

 private:
  struct Worker {
    std::chrono::steady_clock::time_point started;
    pid_t pid = -1;
    int fd = -1;
    std::vector<ImageKey> keys;
    std::vector<uint8_t> in;
  };
  Status fork_batch(cow::Pool& pool, const MachineConfig& config);
  // Reads what the workers sent; with `block`, waits until one finishes.
  Status collect(bool block);
  Status reap(Worker& w);

  // Estimated inspection time of one image: the workers' latest, else the
  // in-place mean.
  double per_image_ms() const {
    if (worker_image_ms_ >= 0) return worker_image_ms_;
    return in_place_s_ * 1000.0 / static_cast<double>(std::max<uint64_t>(in_place_n_, 1));
  }

  static constexpr size_t kMaxBatch = 16384;
  static constexpr double kMaxBatchMs = 1000;
  Inspector& inspector_;
  uint32_t jobs_, in_place_ms_, batch_ms_;
  Probes* probes_;
  double in_place_s_ = 0;  // inspection time spent here
  uint64_t in_place_n_ = 0;
  double worker_image_ms_ = -1;  // < 0: no worker finished yet
  std::vector<Todo> batch_;
  std::set<ImageKey> queued_;  // batched or with a worker
  std::vector<Worker> workers_;
  uint64_t submits_ = 0;
  uint64_t finished_workers_ = 0;
  StateCache* cache_ = nullptr;  // of the latest submit or finish
  Status failed_;
};

// The workers' wire format (MessagePack): every AppState field. Exposed for
// its round-trip test.
// A worker's whole reply: its states and what its memos learned.
std::vector<uint8_t> encode_reply(const std::vector<AppState>& states, const Learned& learned);
Result<std::pair<std::vector<AppState>, Learned>> decode_reply(const std::vector<uint8_t>& bytes);

}  // namespace snapsim::explore
