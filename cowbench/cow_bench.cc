#include "cowbench/cow_bench.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>

#include <fmt/format.h>

#include "sim/machine.h"
#include "sim/scheduler.h"

namespace snapsim::cowbench {

using explore::CommitLog;
using sim::Client;
using sim::EventKind;
using sim::Machine;
using sim::RandomChoices;
using sim::ScheduleLimits;
using sim::run_schedule;

cow::Result<uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return Status::invalid_argument("empty size");
  uint64_t mult = 1;
  std::string digits = text;
  const char last = static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
  if (last == 'k' || last == 'm' || last == 'g') {
    mult = last == 'k' ? 1024 : last == 'm' ? 1024 * 1024 : 1024ull * 1024 * 1024;
    digits = text.substr(0, text.size() - 1);
  }
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 12) {
    return Status::invalid_argument(
        fmt::format("'{}' is not a size (a number with an optional k, m or g suffix)", text));
  }
  return std::stoull(digits) * mult;
}

cow::Result<std::vector<IoOp>> make_pattern(const PatternSpec& spec, uint64_t seed) {
  int read_percent = 0;
  bool sequential = false;
  if (spec.pattern == "seqwrite") {
    sequential = true;
  } else if (spec.pattern == "randwrite") {
  } else if (spec.pattern.rfind("randrw:", 0) == 0) {
    const std::string pct = spec.pattern.substr(7);
    if (pct.empty() || pct.find_first_not_of("0123456789") != std::string::npos || pct.size() > 3 ||
        std::stoi(pct) > 100) {
      return Status::invalid_argument(
          fmt::format("pattern '{}': the read percentage must be 0 to 100", spec.pattern));
    }
    read_percent = std::stoi(pct);
  } else {
    return Status::invalid_argument(fmt::format(
        "unknown pattern '{}' (expected seqwrite, randwrite or randrw:R)", spec.pattern));
  }
  if (spec.io_size == 0) return Status::invalid_argument("--io-size must be positive");
  if (spec.ios == 0) return Status::invalid_argument("--ios must be positive");
  if (spec.io_size > spec.volume_bytes) {
    return Status::invalid_argument(fmt::format("--io-size {} is larger than the volume ({} bytes)",
                                                spec.io_size, spec.volume_bytes));
  }
  const uint64_t slots = spec.volume_bytes / spec.io_size;
  Prng prng = Prng(seed).fork("cow-bench-pattern");
  std::vector<IoOp> ops;
  ops.reserve(spec.ios + (spec.fsync_every ? spec.ios / spec.fsync_every : 0));
  uint64_t writes = 0;
  for (uint64_t i = 0; i < spec.ios; ++i) {
    const uint64_t slot = sequential ? i % slots : prng.uniform(slots);
    const bool read = read_percent > 0 && prng.uniform(100) < static_cast<uint64_t>(read_percent);
    ops.push_back(IoOp{read ? IoOp::kRead : IoOp::kWrite, slot * spec.io_size, spec.io_size});
    if (!read && spec.fsync_every && ++writes % spec.fsync_every == 0) ops.push_back(IoOp{IoOp::kFlush, 0, 0});
  }
  return ops;
}

cow::Result<std::vector<IoOp>> record_block_stream(Scenario& scenario, uint64_t seed,
                                                   uint64_t* volume_bytes) {
  auto pool = cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = 1u << 22});
  if (!pool) return pool.status();
  auto m = Machine::boot_fresh(&*pool, scenario.machine_config(), Prng(seed).fork("machine"));
  if (!m) return m.status();
  SNAPSIM_RETURN_IF_ERROR(scenario.setup(**m));
  SNAPSIM_RETURN_IF_ERROR((*m)->sync_all());
  CommitLog log;
  auto d0 = scenario.digest(**m);
  if (!d0) return d0.status();
  log.set_initial(*d0);
  const size_t start = (*m)->trace().size();
  auto clients = scenario.make_clients(**m, log);
  if (!clients) return clients.status();
  std::vector<Client*> raw;
  for (auto& c : *clients) raw.push_back(c.get());
  RandomChoices choices(Prng(seed).fork("schedule", 0));
  SNAPSIM_RETURN_IF_ERROR(run_schedule(raw, choices, nullptr, ScheduleLimits{}));
  std::vector<IoOp> ops;
  const auto& ev = (*m)->trace().events();
  for (size_t i = start; i < ev.size(); ++i) {
    if (ev[i].a != 0) continue;  // disk 0
    if (ev[i].kind == EventKind::kBlockWrite) {
      ops.push_back(IoOp{IoOp::kWrite, (ev[i].b & ~(1ull << 63)) * 4096, 4096});
    } else if (ev[i].kind == EventKind::kFlush) {
      ops.push_back(IoOp{IoOp::kFlush, 0, 0});
    }
  }
  *volume_bytes = (*m)->disk(0).size_blocks() * 4096;
  return ops;
}

cow::Result<CowBenchResult> run_cow_bench(const CowBenchConfig& config, const std::vector<IoOp>& ops,
                                          uint64_t volume_bytes, const CowBenchOptions& options) {
  const uint32_t bs = config.block_size;
  if (bs < 512 || bs > (1u << 20) || (bs & (bs - 1))) {
    return Status::invalid_argument(
        fmt::format("block size {} is not a power of two from 512 bytes to 1 MiB", bs));
  }
  if (config.every > 0 && config.keep == 0) {
    return Status::invalid_argument("--every needs --keep R (how many snapshots to keep)");
  }
  const uint64_t blocks = (volume_bytes + bs - 1) / bs;
  const uint64_t held = config.every ? config.keep : config.snapshots;
  const uint64_t needed = blocks * (held + 1) + 16;
  uint64_t capacity = options.pool_bytes ? options.pool_bytes / bs : needed;
  if (capacity < blocks) {
    return Status::invalid_argument(fmt::format(
        "the pool ({} blocks of {} bytes) is smaller than the volume ({} blocks)", capacity, bs, blocks));
  }
  for (const auto& op : ops) {
    if (op.kind != IoOp::kFlush && op.offset + op.length > blocks * bs) {
      return Status::invalid_argument(fmt::format(
          "the I/O stream reaches byte {}, beyond the {}-byte volume", op.offset + op.length, blocks * bs));
    }
  }
  // The pool grows to what the configuration needs; a COW policy cannot
  // keep more than that, so a full pool here is a bad --pool-size.
  auto pool_r = cow::Pool::create(cow::PoolOptions{.block_size = bs,
                                                   .capacity_blocks = std::min<uint64_t>(capacity, UINT32_MAX - 1)});
  if (!pool_r) return pool_r.status();
  cow::Pool& pool = *pool_r;
  auto vol = pool.create_volume(blocks, config.policy);
  if (!vol) return vol.status();
  // Fill the volume so that snapshots share real data.
  if (options.fill_touched_only) {
    std::set<uint64_t> touched;
    for (const auto& op : ops) {
      if (op.kind == IoOp::kFlush) continue;
      for (uint64_t b = op.offset / bs; b <= (op.offset + op.length - 1) / bs; ++b) touched.insert(b);
    }
    std::vector<std::byte> fill(bs, std::byte{0x5a});
    for (uint64_t lba : touched) SNAPSIM_RETURN_IF_ERROR(pool.write_blocks(*vol, lba, fill));
  } else {
    std::vector<std::byte> fill(std::min<uint64_t>(blocks, 256) * bs, std::byte{0x5a});
    for (uint64_t lba = 0; lba < blocks; lba += 256) {
      const uint64_t n = std::min<uint64_t>(256, blocks - lba);
      SNAPSIM_RETURN_IF_ERROR(pool.write_blocks(*vol, lba, std::span(fill).first(n * bs)));
    }
  }
  std::deque<cow::SnapshotId> snaps;
  if (!config.every) {
    for (uint32_t i = 0; i < config.snapshots; ++i) {
      auto s = pool.snapshot(*vol);
      if (!s) return s.status();
      snaps.push_back(*s);
    }
  }
  CowBenchResult r;
  r.config = config;
  r.volume_blocks = blocks;
  const cow::IoCounters start = pool.counters();
  double first_us = 0, rewrite_us = 0;
  std::vector<std::byte> data(std::max<uint32_t>(bs, 4096));
  std::vector<std::byte> out(data.size());
  const uint64_t sample_every = std::max<uint64_t>(1, ops.size() / 50);
  const auto t0 = std::chrono::steady_clock::now();
  double cpu_excluded_ns = 0;
  for (uint64_t i = 0; i < ops.size(); ++i) {
    const IoOp& op = ops[i];
    if (op.kind == IoOp::kFlush) {
      ++r.flushes;
      continue;
    }
    if (data.size() < op.length) {
      data.resize(op.length);
      out.resize(op.length);
    }
    if (op.kind == IoOp::kRead) {
      SNAPSIM_RETURN_IF_ERROR(pool.read_bytes(*vol, op.offset, std::span(out).first(op.length)));
      ++r.logical_reads;
      continue;
    }
    data[0] = static_cast<std::byte>(i);
    const cow::IoCounters before = pool.counters();
    Status st = (op.offset % bs == 0 && op.length % bs == 0)
                    ? pool.write_blocks(*vol, op.offset / bs, std::span(data).first(op.length))
                    : pool.write_bytes(*vol, op.offset, std::span(data).first(op.length));
    if (!st.is_ok()) {
      return Status::error(st.code(), fmt::format("write {} of {}: {}", i, ops.size(), st.message()));
    }
    const cow::IoCounters d = pool.counters() - before;
    const double us = cow::device_time_us(d, bs, config.device);
    if (d.bytes_copied > 0 || d.blocks_allocated > 0) {
      ++r.first_writes;
      first_us += us;
    } else {
      ++r.rewrites;
      rewrite_us += us;
    }
    ++r.logical_writes;
    r.logical_bytes_written += op.length;
    if (config.every && r.logical_writes % config.every == 0) {
      auto s = pool.snapshot(*vol);
      if (!s) return s.status();
      snaps.push_back(*s);
      while (snaps.size() > config.keep) {
        SNAPSIM_RETURN_IF_ERROR(pool.delete_snapshot(snaps.front()));
        snaps.pop_front();
      }
    }
    if (i % sample_every == 0 || i + 1 == ops.size()) {
      const auto ts = std::chrono::steady_clock::now();
      const uint64_t mapped = pool.usage(*vol).value().mapped_blocks;
      r.space_timeline.emplace_back(i + 1, pool.store().used_blocks() - mapped);
      cpu_excluded_ns += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - ts).count();
      if (options.progress) options.progress(i + 1, ops.size());
    }
  }
  const double wall_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  r.io = pool.counters() - start;
  const double w = static_cast<double>(std::max<uint64_t>(r.logical_writes, 1));
  r.write_amplification = r.logical_bytes_written
                              ? static_cast<double>(r.io.physical_writes) * bs / static_cast<double>(r.logical_bytes_written)
                              : 0;
  r.reads_per_write = static_cast<double>(r.io.physical_reads) / w;
  r.writes_per_write = static_cast<double>(r.io.physical_writes) / w;
  r.metadata_per_write = static_cast<double>(r.io.metadata_updates) / w;
  const double dev_us = cow::device_time_us(r.io, bs, config.device) +
                        static_cast<double>(r.flushes) * config.device.flush_us +
                        (config.every ? static_cast<double>(r.logical_writes / config.every) *
                                            config.device.snapshot_create_us
                                      : 0);
  r.device_time_ms = dev_us / 1000.0;
  const uint64_t n_ops = r.logical_writes + r.logical_reads;
  r.iops = dev_us > 0 ? static_cast<double>(n_ops) / (dev_us / 1e6) : 0;
  r.throughput_mb_s =
      dev_us > 0 ? static_cast<double>(r.logical_bytes_written + r.logical_reads * (ops.empty() ? 0 : ops[0].length)) /
                       1e6 / (dev_us / 1e6)
                 : 0;
  r.first_write_us = r.first_writes ? first_us / static_cast<double>(r.first_writes) : 0;
  r.rewrite_us = r.rewrites ? rewrite_us / static_cast<double>(r.rewrites) : 0;
  r.volume_mapped_blocks = pool.usage(*vol).value().mapped_blocks;
  r.snapshot_space_blocks = pool.store().used_blocks() - r.volume_mapped_blocks;
  for (auto s : snaps) r.snapshot_exclusive_blocks.push_back(pool.usage(s).value().exclusive_blocks);
  r.cpu_ns_per_op = n_ops ? (wall_ns - cpu_excluded_ns) / static_cast<double>(n_ops) : 0;
  return r;
}

}  // namespace snapsim::cowbench
