// Helpers for sim tests: a pool and a freshly formatted machine.
#pragma once

#include <memory>
#include <string>

#include "cow/pool.h"
#include "sim/machine.h"

namespace snapsim::testing {

struct TestMachine {
  std::unique_ptr<cow::Pool> pool;
  std::unique_ptr<sim::Machine> machine;
};

// A small file system: 8 MiB, 64 inodes, a 64-block journal in ext4 mode.
inline sim::MachineConfig small_config(sim::Writeback wb, bool ordered = true,
                                       sim::FsMode mode = sim::FsMode::kExt4) {
  sim::MachineConfig c;
  c.fs.mode = mode;
  c.fs.ordered_data = ordered;
  c.fs.inodes = 64;
  c.fs.disk_bytes = 8ull << 20;
  c.fs.journal_blocks = 64;
  c.writeback = wb;
  return c;
}

inline TestMachine make_machine(const sim::MachineConfig& c, uint64_t seed = 1, uint32_t block_size = 4096) {
  TestMachine t;
  t.pool = std::make_unique<cow::Pool>(
      cow::Pool::create(cow::PoolOptions{.block_size = block_size, .capacity_blocks = 1u << 18})
          .value());
  t.machine = sim::Machine::boot_fresh(t.pool.get(), c, sim::Prng(seed)).value();
  return t;
}

inline TestMachine make_machine(sim::Writeback wb, uint64_t seed = 1, uint32_t block_size = 4096,
                                bool ordered = true, sim::FsMode mode = sim::FsMode::kExt4) {
  return make_machine(small_config(wb, ordered, mode), seed, block_size);
}

// Boots a restored machine from a snapshot of every disk, as after a reboot.
inline std::unique_ptr<sim::Machine> restore(cow::Pool& pool, const sim::MachineConfig& c,
                                             const std::vector<cow::SnapshotId>& snaps) {
  std::vector<cow::VolumeId> vols;
  for (auto s : snaps) vols.push_back(pool.clone(s).value());
  return sim::Machine::boot_restored(&pool, c, vols, sim::Prng(99)).value();
}

inline std::span<const std::byte> bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

inline std::string read_file(sim::GuestFs& fs, const std::string& name) {
  auto f = fs.lookup(name);
  if (!f) return "<missing>";
  std::string s(fs.size(*f).value(), '\0');
  (void)fs.read(*f, 0, std::as_writable_bytes(std::span(s))).value();
  return s;
}

}  // namespace snapsim::testing
