#include "sim/machine.h"

#include <fmt/format.h>
#include <xxhash.h>

namespace snapsim::sim {

Machine::Machine(cow::Pool* pool, const MachineConfig& config, Prng prng)
    : pool_(pool), config_(config), prng_(prng) {}

Status Machine::attach(cow::VolumeId volume) {
  const uint32_t index = static_cast<uint32_t>(disks_.size());
  disks_.push_back(
      std::make_unique<VirtualDisk>(pool_, volume, index, &clock_, &config_.cost, &trace_));
  caches_.push_back(std::make_unique<PageCache>(disks_.back().get(), config_.writeback,
                                                prng_.fork("writeback", index), &clock_,
                                                &config_.cost));
  return Status::ok();
}

Result<std::unique_ptr<Machine>> Machine::boot_fresh(
    cow::Pool* pool, const MachineConfig& config, Prng prng,
    const std::function<void(const BlockWriteRecord&)>& log) {
  std::unique_ptr<Machine> m(new Machine(pool, config, prng));
  const uint64_t blocks = SimFs::blocks_needed(config.fs, pool->block_size());
  for (uint32_t d = 0; d < config.disks; ++d) {
    auto vol = pool->create_volume(blocks, cow::WritePolicy::kRedirectOnWrite);
    if (!vol) return vol.status();
    SNAPSIM_RETURN_IF_ERROR(m->attach(*vol));
    if (log) {
      VirtualDisk* disk = m->disks_.back().get();
      disk->set_write_hook([disk, log](uint32_t) { log(disk->last_write()); });
    }
    SNAPSIM_RETURN_IF_ERROR(SimFs::format(*m->caches_[d], config.fs, &m->clock_));
    auto fs = SimFs::mount(*m->caches_[d], &m->clock_, m->prng_.fork("fs", d));
    if (!fs) return fs.status();
    m->mounted(std::move(*fs));
  }
  return m;
}

Result<std::unique_ptr<Machine>> Machine::boot_restored(cow::Pool* pool,
                                                        const MachineConfig& config,
                                                        const std::vector<cow::VolumeId>& volumes,
                                                        Prng prng) {
  std::unique_ptr<Machine> m(new Machine(pool, config, prng));
  for (auto v : volumes) {
    SNAPSIM_RETURN_IF_ERROR(m->attach(v));
    auto fs = SimFs::mount(*m->caches_.back(), &m->clock_, m->prng_.fork("fs", m->fs_.size()));
    if (!fs) return fs.status();
    m->mounted(std::move(*fs));
  }
  return m;
}

void Machine::mounted(std::unique_ptr<SimFs> fs) {
  const uint32_t index = static_cast<uint32_t>(fs_.size());
  // Every file operation costs time and is traced, hook or not.
  fs->set_op_hook([this, index](const std::string& op) {
    clock_.advance_us(config_.cost.file_op_us);
    trace_.add(EventKind::kFileOp, index, 0, clock_.now_ns(), op);
    if (op_hook_) op_hook_(op);
  });
  view_.push_back(fs.get());
  fs_.push_back(std::move(fs));
}

void Machine::wrap_fs(uint32_t disk, std::unique_ptr<GuestFs> wrapper) {
  view_[disk] = wrapper.get();
  wrappers_.push_back(std::move(wrapper));
}

Status Machine::sync_all() {
  for (auto& fs : fs_) SNAPSIM_RETURN_IF_ERROR(fs->sync_all());
  return Status::ok();
}

void Machine::set_write_hook(VirtualDisk::WriteHook hook) {
  for (auto& d : disks_) d->set_write_hook(hook);
}

void Machine::set_flush_hook(VirtualDisk::WriteHook hook) {
  for (auto& d : disks_) d->set_flush_hook(hook);
}

void Machine::set_op_hook(SimFs::OpHook hook) { op_hook_ = std::move(hook); }

std::vector<cow::VolumeId> Machine::volumes() const {
  std::vector<cow::VolumeId> out;
  for (const auto& d : disks_) out.push_back(d->volume());
  return out;
}

std::optional<cow::Hash128> Machine::visible_files() { return visible_files(nullptr); }

std::optional<cow::Hash128> Machine::visible_files(
    const std::function<uint64_t(uint32_t, const std::string&, uint64_t)>& prefix) {
  cow::Hasher128 h;
  for (uint32_t d = 0; d < disk_count(); ++d) {
    for (const auto& e : fs(d).walk()) {
      uint64_t n = e.stat.size;
      if (e.stat.type == FileType::kRegular && prefix) {
        const uint64_t want = prefix(d, e.path, e.stat.size);
        if (want == kLeaveOut) continue;
        n = std::min(n, want);
      }
      h.update(e.path.data(), e.path.size() + 1).update_value(d).update_value(static_cast<uint8_t>(e.stat.type));
      // Owners and modes are visible too (a program may refuse a data
      // directory that is not 0700, as PostgreSQL does).
      h.update_value(e.stat.mode).update_value(e.stat.uid).update_value(e.stat.gid);
      if (e.stat.type == FileType::kSymlink) {
        auto t = fs(d).readlink(e.stat.ref);
        if (!t) return std::nullopt;
        h.update(t->data(), t->size() + 1);
      } else if (e.stat.type == FileType::kRegular) {
        auto c = fs(d).content_hash(e.stat.ref, n);
        if (!c) return std::nullopt;  // unreadable: no key (the caller inspects without a memo)
        h.update_value(*c);
      }
    }
  }
  return h.digest();
}

}  // namespace snapsim::sim
