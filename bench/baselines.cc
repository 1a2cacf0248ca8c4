#include "bench/baselines.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>

namespace snapsim::bench {

namespace {

cow::Status os_error(const char* what) {
  return cow::Status::error(cow::Code::kIoError, fmt::format("{}: {}", what, std::strerror(errno)));
}

cow::Result<cow::VolumeId> fresh_like(cow::Pool& pool, cow::SnapshotId snap) {
  auto size = pool.size_blocks(snap);
  if (!size) return size.status();
  return pool.create_volume(*size, cow::WritePolicy::kRedirectOnWrite);
}

}  // namespace

explore::ExploreOptions::RestoreHooks full_copy() {
  explore::ExploreOptions::RestoreHooks h;
  h.restore = [](cow::Pool& pool, const std::vector<cow::SnapshotId>& snaps,
                 uint64_t) -> cow::Result<std::vector<cow::VolumeId>> {
    std::vector<cow::VolumeId> vols;
    std::vector<std::byte> buf(pool.block_size());
    for (auto snap : snaps) {
      auto vol = fresh_like(pool, snap);
      if (!vol) return vol.status();
      vols.push_back(*vol);
      auto lbas = pool.mapped_lbas(snap);
      if (!lbas) return lbas.status();
      for (uint64_t lba : *lbas) {
        SNAPSIM_RETURN_IF_ERROR(pool.read_blocks(snap, lba, buf));
        SNAPSIM_RETURN_IF_ERROR(pool.write_blocks(*vol, lba, buf));
      }
    }
    return vols;
  };
  return h;
}

explore::ExploreOptions::RestoreHooks replay() {
  auto log = std::make_shared<std::vector<sim::BlockWriteRecord>>();
  explore::ExploreOptions::RestoreHooks h;
  h.begin = [log] { log->clear(); };
  h.write_log = [log](const sim::BlockWriteRecord& w) { log->push_back(w); };
  h.restore = [log](cow::Pool& pool, const std::vector<cow::SnapshotId>& snaps,
                    uint64_t writes) -> cow::Result<std::vector<cow::VolumeId>> {
    const uint32_t bs = pool.block_size();
    std::vector<cow::VolumeId> vols;
    std::vector<std::byte> buf(bs);
    for (uint32_t d = 0; d < snaps.size(); ++d) {
      auto vol = fresh_like(pool, snaps[d]);
      if (!vol) return vol.status();
      vols.push_back(*vol);
      // Every logged write of this disk from mkfs to the point, in order,
      // onto a fresh image file; then load the blocks it holds.
      char path[] = "/tmp/snapsim-replay-XXXXXX";
      const int fd = ::mkstemp(path);
      if (fd < 0) return os_error("cannot make the replay image file");
      ::unlink(path);
      std::set<uint64_t> touched;
      for (uint64_t i = 0; i < writes && i < log->size(); ++i) {
        const auto& w = (*log)[i];
        if (w.disk != d) continue;
        if (::pwrite(fd, w.data.data(), bs, static_cast<off_t>(w.lba * bs)) != static_cast<ssize_t>(bs)) {
          const cow::Status st = os_error("cannot write the replay image file");
          ::close(fd);
          return st;
        }
        touched.insert(w.lba);
      }
      for (uint64_t lba : touched) {
        if (::pread(fd, buf.data(), bs, static_cast<off_t>(lba * bs)) != static_cast<ssize_t>(bs)) {
          const cow::Status st = os_error("cannot read the replay image file");
          ::close(fd);
          return st;
        }
        SNAPSIM_RETURN_IF_ERROR(pool.write_blocks(*vol, lba, buf));
      }
      ::close(fd);
    }
    return vols;
  };
  return h;
}

explore::ExploreOptions::RestoreHooks incremental_replay() {
  struct Device {
    std::vector<sim::BlockWriteRecord> log;
    cow::Pool* pool = nullptr;           // the execution's pool the device lives in
    std::vector<cow::VolumeId> volumes;  // one per disk
    uint64_t applied = 0;                // log entries replayed onto them
  };
  auto dev = std::make_shared<Device>();
  explore::ExploreOptions::RestoreHooks h;
  h.begin = [dev] {
    dev->log.clear();
    dev->pool = nullptr;
    dev->volumes.clear();
    dev->applied = 0;
  };
  h.write_log = [dev](const sim::BlockWriteRecord& w) { dev->log.push_back(w); };
  h.restore = [dev](cow::Pool& pool, const std::vector<cow::SnapshotId>& snaps,
                    uint64_t writes) -> cow::Result<std::vector<cow::VolumeId>> {
    // A point before the device's mark (another level's) starts it again.
    if (dev->pool != &pool || writes < dev->applied || dev->volumes.size() != snaps.size()) {
      if (dev->pool == &pool) {
        for (auto v : dev->volumes) (void)pool.delete_volume(v);
      }
      dev->volumes.clear();
      for (auto snap : snaps) {
        auto vol = fresh_like(pool, snap);
        if (!vol) return vol.status();
        dev->volumes.push_back(*vol);
      }
      dev->pool = &pool;
      dev->applied = 0;
    }
    for (; dev->applied < writes && dev->applied < dev->log.size(); ++dev->applied) {
      const auto& w = dev->log[dev->applied];
      if (w.disk >= dev->volumes.size()) continue;
      SNAPSIM_RETURN_IF_ERROR(pool.write_blocks(dev->volumes[w.disk], w.lba, w.data));
    }
    std::vector<cow::VolumeId> out;
    for (auto v : dev->volumes) {
      auto snap = pool.snapshot(v);
      if (!snap) return snap.status();
      auto clone = pool.clone(*snap);
      SNAPSIM_RETURN_IF_ERROR(pool.delete_snapshot(*snap));
      if (!clone) return clone.status();
      out.push_back(*clone);
    }
    return out;
  };
  return h;
}

}  // namespace snapsim::bench
