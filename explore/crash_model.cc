// The crash model: power is lost while the disks hold writes in their
// volatile caches (DESIGN.md, persistence model 5; as CrashMonkey and ALICE).
//
// A disk completes writes in issue order, but until a FLUSH (or a FUA
// write) they sit in its volatile cache: a power cut keeps any subset of
// them, and the one write the disk was destaging may be torn at sector
// granularity (its first half of sectors new, the rest as before). The
// model keeps, per disk, a snapshot of the disk as of its last FLUSH (every
// write then issued is durable: the epoch's base) and the writes issued
// since, each reachable through an O(1) snapshot taken right after it.
//
// Crash points: at every FLUSH and FUA write (just before it makes the
// epoch's writes durable; the next epoch starts there), right after every
// acknowledged commit (power can fail at any moment; the epoch goes on) and
// at the end of the run. At each, plan_crash_states() (crash_states.h)
// picks up to ExploreOptions::crash_states states, and each is built on a
// clone of whichever base needs fewer block writes (the durable snapshot,
// or the disk as issued), sharing kept blocks with Pool::share_block; a
// torn block is written whole. The other disks lose power too: with every
// write they issued (even states) or only what their last FLUSH made
// durable (odd states). The initial image (everything synced) is a point.
// Nothing is quiesced before a power cut: level `none` only. What each cut
// did is kept as data (CrashFault) beside its image; the note is rendered
// from it. The run counts its crash points, the sampled ones and the states
// possible and explored (CrashCoverage).
#include <algorithm>
#include <cassert>
#include <cstring>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "explore/failure_model.h"

namespace snapsim::explore {

namespace {

class CrashModel : public FailureModel {
 public:
  Model id() const override { return Model::kCrash; }

  Status validate(const ExploreOptions& o) const override {
    if (o.levels.size() != 1 || o.levels[0] != Quiesce::kNone) {
      return Status::invalid_argument("the crash model (power loss) has no quiesce level: use --quiesce none");
    }
    if (o.baseline.write_log) {
      return Status::invalid_argument("a crash image is not a prefix of the write log: no replay restore");
    }
    return Status::ok();
  }

  Status start(RunView& run) override {
    run_ = &run;
    auto p = snapshot_now(run);
    if (!p) return p.status();
    run.add_point(Quiesce::kNone, std::move(*p));
    // Everything is synced: each disk's durable image is its volume now.
    Machine& mc = run.machine();
    disks_.resize(mc.disk_count());
    for (uint32_t d = 0; d < mc.disk_count(); ++d) {
      auto s = run.pool().snapshot(mc.disk(d).volume());
      if (!s) return s.status();
      disks_[d].durable = *s;
    }
    return Status::ok();
  }

  Status on_block_write(uint32_t disk) override {
    VirtualDisk& vd = run_->machine().disk(disk);
    // The write's data stays reachable through an O(1) snapshot, shared
    // (not copied) into the crash images.
    auto after = run_->pool().snapshot(vd.volume());
    if (!after) return after.status();
    disks_[disk].pending.push_back(PendingWrite{vd.last_lba(), *after});
    // A FUA write is durable at once, with everything before it.
    if (vd.writes_durable() == vd.writes_issued()) return crash_point(disk, "FUA write", true);
    return Status::ok();
  }

  Status on_flush(uint32_t disk) override { return crash_point(disk, "FLUSH", true); }

  Status after_step(bool acked) override { return acked ? crash_after_ack() : Status::ok(); }

  // Power lost after the last write: what no FLUSH made durable.
  Status finish() override {
    for (uint32_t d = 0; d < run_->machine().disk_count(); ++d) {
      if (!disks_[d].pending.empty()) SNAPSIM_RETURN_IF_ERROR(crash_point(d, "the end of the run", true));
    }
    return Status::ok();
  }

  CrashCoverage coverage() const override { return coverage_; }

 private:
  struct PendingWrite {
    uint64_t lba = 0;
    cow::SnapshotId after;                    // the disk right after the write
  };
  struct CrashDisk {
    cow::SnapshotId durable;                  // the disk as of its last FLUSH
    std::vector<PendingWrite> pending;        // issued since, in order
  };

  Status crash_point(uint32_t d, const std::string& cause, bool advance) {
    Machine& mc = run_->machine();
    cow::Pool& pool = run_->pool();
    const ExploreOptions& options = run_->options();
    CrashDisk& cd = disks_[d];
    const auto& w = cd.pending;
    const size_t n = w.size();
    const uint32_t bs = pool.block_size();
    const uint32_t sector = std::min(options.sector_size, bs);
    const bool tearable = bs / sector >= 2;
    Prng rng = Prng(options.seed).fork("crash", run_->schedule()).fork("point", crash_points_++);
    const CrashPlan plan = plan_crash_states(n, std::max<uint32_t>(options.crash_states, 1), tearable, rng);
    coverage_.add(CrashCoverage{1, plan.enumerated ? 0u : 1u, plan.possible, plan.possible >= kCrashStatesCap,
                                plan.states.size(), n});
    std::vector<cow::SnapshotId> others(mc.disk_count());
    std::vector<cow::SnapshotId> others_durable(mc.disk_count());
    bool others_pending = false;
    for (uint32_t o = 0; o < mc.disk_count(); ++o) {
      if (o == d) continue;
      auto s = pool.snapshot(mc.disk(o).volume());
      if (!s) return s.status();
      others[o] = *s;
      if (disks_[o].pending.empty()) {
        others_durable[o] = *s;
        continue;
      }
      // A snapshot of its own (the durable one is dropped at its next FLUSH).
      auto c = pool.clone(disks_[o].durable, cow::WritePolicy::kRedirectOnWrite);
      if (!c) return c.status();
      auto cs = pool.snapshot(*c);
      if (!cs) return cs.status();
      SNAPSIM_RETURN_IF_ERROR(pool.delete_volume(*c));
      others_durable[o] = *cs;
      others_pending = true;
    }
    std::shared_ptr<const std::vector<uint64_t>> lbas;
    if (options.record_points) {
      auto v = std::make_shared<std::vector<uint64_t>>();
      for (const auto& pw : w) v->push_back(pw.lba);
      lbas = std::move(v);
    }
    // Each touched block ends up as its last persisted (or torn) write, or
    // as it was durable. The touched blocks, each with its last write.
    std::vector<uint64_t> blocks;
    for (const auto& pw : w) blocks.push_back(pw.lba);
    std::sort(blocks.begin(), blocks.end());
    blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
    std::vector<uint32_t> slot(n);
    std::vector<size_t> last_write(blocks.size());
    for (size_t i = 0; i < n; ++i) {
      slot[i] = static_cast<uint32_t>(std::lower_bound(blocks.begin(), blocks.end(), w[i].lba) - blocks.begin());
      last_write[slot[i]] = i;
    }
    auto issued = pool.snapshot(mc.disk(d).volume());
    if (!issued) return issued.status();
    const uint32_t half = bs / sector / 2 * sector;  // bytes a torn write puts down
    std::vector<std::byte> buf(bs);
    constexpr size_t kDurable = SIZE_MAX;
    std::vector<size_t> holds(blocks.size());  // per block: the write it holds, or kDurable
    size_t state_index = 0;
    for (const auto& s : plan.states) {
      // The planner's contract (crash_states.h): one fate per write, at most one torn.
      assert(s.size() == n);
      assert(std::count(s.begin(), s.end(), WriteFate::kTorn) <= 1);
      std::fill(holds.begin(), holds.end(), kDurable);
      std::map<uint32_t, std::vector<std::byte>> torn;  // slot -> its bytes, when its last kept write tore
      CrashFault fault;
      fault.disk = d;
      fault.cause = cause;
      fault.unflushed = n;
      fault.torn_sectors = bs / sector / 2;
      fault.sectors = bs / sector;
      for (size_t i = 0; i < n; ++i) {
        const uint32_t k = slot[i];
        if (s[i] == WriteFate::kLost) {
          if (fault.lost_count++ < kFaultListed) fault.lost_head.push_back(w[i].lba);
          continue;
        }
        if (s[i] == WriteFate::kTorn) {  // the block as it was, then the write's first sectors
          // (the only torn write of the state: the block before it is its
          // last kept write, or durable)
          std::vector<std::byte> bytes(bs);
          const cow::SnapshotId before = holds[k] != kDurable ? w[holds[k]].after : cd.durable;
          SNAPSIM_RETURN_IF_ERROR(pool.read_blocks(before, w[i].lba, bytes));
          SNAPSIM_RETURN_IF_ERROR(pool.read_blocks(w[i].after, w[i].lba, buf));
          std::memcpy(bytes.data(), buf.data(), half);
          torn[k] = std::move(bytes);
          if (fault.torn_count++ < kFaultListed) fault.torn_head.push_back(w[i].lba);
          run_->probes().hit(Probe::kTornWrite);
          if (holds[k] != kDurable) run_->probes().hit(Probe::kTornOverKept);
        } else {
          torn.erase(k);
          fault.persisted++;
        }
        holds[k] = i;
      }
      // An image is written on whichever base needs fewer block writes: the
      // durable image (write every block some kept write touched) or the
      // disk as issued (rewrite every block whose last write was lost or
      // torn); equal contents either way.
      size_t kept = 0, from_issued = 0;
      for (size_t k = 0; k < blocks.size(); ++k) {
        kept += holds[k] != kDurable;
        from_issued += holds[k] != last_write[k] || torn.count(static_cast<uint32_t>(k));
      }
      const bool on_issued = from_issued < kept;
      auto vol = pool.clone(on_issued ? *issued : cd.durable, cow::WritePolicy::kRedirectOnWrite);
      if (!vol) return vol.status();
      for (size_t k = 0; k < blocks.size(); ++k) {
        auto t = torn.find(static_cast<uint32_t>(k));
        if (t != torn.end()) {
          SNAPSIM_RETURN_IF_ERROR(pool.write_blocks(*vol, blocks[k], t->second));
        } else if (holds[k] == kDurable) {
          if (on_issued) SNAPSIM_RETURN_IF_ERROR(pool.share_block(cd.durable, *vol, blocks[k]));
        } else if (!on_issued || holds[k] != last_write[k]) {
          SNAPSIM_RETURN_IF_ERROR(pool.share_block(w[holds[k]].after, *vol, blocks[k]));
        }
      }
      auto snap = pool.snapshot(*vol);
      if (!snap) return snap.status();
      SNAPSIM_RETURN_IF_ERROR(pool.delete_volume(*vol));
      Point p;
      p.acked = run_->log().acked();
      p.issued = run_->log().issued();
      p.trace_pos = mc.trace().size();
      p.time_ns = mc.clock().now_ns();
      fault.others_lost = others_pending && state_index++ % 2 == 1;
      if (fault.others_lost) run_->probes().hit(Probe::kOthersLost);
      p.snaps = fault.others_lost ? others_durable : others;
      p.snaps[d] = *snap;
      if (options.record_points) {
        fault.write_lbas = lbas;
        fault.fates = s;
      }
      p.fault = std::make_shared<const CrashFault>(std::move(fault));
      run_->add_point(Quiesce::kNone, std::move(p));
    }
    if (!advance) return pool.delete_snapshot(*issued);
    // The next epoch starts from the disk as issued: the FLUSH (or FUA)
    // makes all of it durable.
    SNAPSIM_RETURN_IF_ERROR(pool.delete_snapshot(cd.durable));
    for (const auto& pw : cd.pending) SNAPSIM_RETURN_IF_ERROR(pool.delete_snapshot(pw.after));
    cd.durable = *issued;
    cd.pending.clear();
    return Status::ok();
  }

  // Crash model, right after a commit was acknowledged: power can fail at
  // any moment, not only at a FLUSH. Every disk with unflushed writes gets
  // its states; with none, the one state is the disk as it is.
  Status crash_after_ack() {
    bool any = false;
    for (uint32_t d = 0; d < run_->machine().disk_count(); ++d) {
      if (disks_[d].pending.empty()) continue;
      any = true;
      SNAPSIM_RETURN_IF_ERROR(crash_point(d, "acknowledgement", false));
    }
    return any ? Status::ok() : crash_point(0, "acknowledgement", false);
  }


  RunView* run_ = nullptr;
  std::vector<CrashDisk> disks_;              // per disk
  uint64_t crash_points_ = 0;                 // names each point's Prng stream
  CrashCoverage coverage_;
};

}  // namespace

std::unique_ptr<FailureModel> make_crash_model() { return std::make_unique<CrashModel>(); }

}  // namespace snapsim::explore
