#include "cow/pool.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace snapsim::cow {

const char* policy_name(WritePolicy p) {
  return p == WritePolicy::kCopyOut ? "copy_out" : "redirect_on_write";
}

Result<WritePolicy> parse_policy(const std::string& name) {
  if (name == "copy_out") return WritePolicy::kCopyOut;
  if (name == "redirect_on_write") return WritePolicy::kRedirectOnWrite;
  return Status::invalid_argument(
      fmt::format("unknown write policy '{}' (expected copy_out or redirect_on_write)", name));
}

Result<Pool> Pool::create(const PoolOptions& options) {
  const uint32_t bs = options.block_size;
  if (bs < 512 || bs > (1u << 20) || (bs & (bs - 1)) != 0) {
    return Status::invalid_argument(
        fmt::format("block size {} is not a power of two between 512 and 1048576", bs));
  }
  if (options.capacity_blocks == 0 || options.capacity_blocks >= UINT32_MAX) {
    return Status::invalid_argument(
        fmt::format("pool capacity {} blocks is outside 1..{}", options.capacity_blocks,
                    UINT32_MAX - 1));
  }
  return Pool(options);
}

Pool::Pool(const PoolOptions& options)
    : store_(std::make_unique<BlockStore>(options.block_size, options.capacity_blocks)),
      map_(store_.get()) {}

Result<uint32_t> Pool::live_root(uint64_t id, Kind kind) const {
  const char* what = kind == Kind::kVolume ? "volume" : "snapshot";
  const uint32_t index = static_cast<uint32_t>(id);
  const uint32_t generation = static_cast<uint32_t>(id >> 32);
  if (index >= roots_.size() || roots_[index].generation < generation ||
      (roots_[index].generation == generation && roots_[index].kind != kind)) {
    return Status::not_found(fmt::format("unknown {} id {}", what, id));
  }
  if (roots_[index].generation != generation || !roots_[index].live) {
    return Status::not_found(fmt::format("{} id {} was deleted", what, id));
  }
  return index;
}

uint64_t Pool::add_root(Root r) {
  uint32_t index;
  if (!free_roots_.empty()) {
    index = free_roots_.back();
    free_roots_.pop_back();
    r.generation = roots_[index].generation + 1;
    roots_[index] = r;
  } else {
    index = static_cast<uint32_t>(roots_.size());
    r.generation = 0;
    roots_.push_back(r);
  }
  return (static_cast<uint64_t>(r.generation) << 32) | index;
}

Result<VolumeId> Pool::create_volume(uint64_t size_blocks, WritePolicy policy) {
  if (size_blocks == 0 || size_blocks > (1ull << 36)) {
    return Status::invalid_argument(
        fmt::format("volume size {} blocks is outside 1..2^36", size_blocks));
  }
  Root r{};
  r.kind = Kind::kVolume;
  r.size_blocks = size_blocks;
  r.levels = levels_for(size_blocks);
  r.policy = policy;
  return VolumeId{add_root(r)};
}

void Pool::release(Root& r) {
  const uint64_t before = store_->used_blocks();
  map_.decref(r.node);
  counters_.blocks_freed += before - store_->used_blocks();
  r.node = 0;
  r.live = false;
  free_roots_.push_back(static_cast<uint32_t>(&r - roots_.data()));
}

Status Pool::delete_volume(VolumeId v) {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  release(roots_[*idx]);
  return Status::ok();
}

Result<SnapshotId> Pool::snapshot(VolumeId v) {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  Root s = roots_[*idx];
  s.kind = Kind::kSnapshot;
  s.origin = v.value;
  s.counters = IoCounters{};
  map_.incref(s.node);
  return SnapshotId{add_root(s)};
}

Status Pool::delete_snapshot(SnapshotId s) {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  release(roots_[*idx]);
  return Status::ok();
}

Result<VolumeId> Pool::clone(SnapshotId s) {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  return clone(s, roots_[*idx].policy);  // a snapshot records its origin's policy
}

Result<VolumeId> Pool::clone(SnapshotId s, WritePolicy policy) {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  Root c = roots_[*idx];
  c.kind = Kind::kVolume;
  c.policy = policy;
  c.origin = UINT64_MAX;
  c.counters = IoCounters{};
  map_.incref(c.node);
  return VolumeId{add_root(c)};
}

Status Pool::rollback(VolumeId v, SnapshotId s) {
  auto vi = live_root(v.value, Kind::kVolume);
  if (!vi) return vi.status();
  auto si = live_root(s.value, Kind::kSnapshot);
  if (!si) return si.status();
  Root& vol = roots_[*vi];
  const Root& snap = roots_[*si];
  if (vol.size_blocks != snap.size_blocks) {
    return Status::invalid_argument(fmt::format(
        "cannot roll back a volume of {} blocks to a snapshot of {} blocks", vol.size_blocks,
        snap.size_blocks));
  }
  map_.incref(snap.node);  // before the decref: the two may share the node
  const uint64_t before = store_->used_blocks();
  map_.decref(vol.node);
  counters_.blocks_freed += before - store_->used_blocks();
  vol.node = snap.node;
  vol.hash = snap.hash;
  return Status::ok();
}

Status Pool::check_range(const Root& r, uint64_t lba, uint64_t blocks) const {
  if (lba > r.size_blocks || blocks > r.size_blocks - lba) {
    return Status::out_of_range(fmt::format("blocks {}..{} are beyond the end of a {}-block volume",
                                            lba, lba + blocks, r.size_blocks));
  }
  return Status::ok();
}

uint64_t Pool::blocks_needed(uint32_t index, uint64_t lba, std::vector<uint32_t>* others) const {
  const Root& r = roots_[index];
  const BlockRef ref = map_.lookup(r.node, r.levels, lba);
  if (ref == 0) return 1;
  if (!map_.path_shared(r.node, r.levels, lba)) return 0;
  if (r.policy == WritePolicy::kRedirectOnWrite) return 1;
  // Copy-out: one copy for every other live root that maps the same block.
  uint64_t n = 0;
  for (uint32_t i = 0; i < roots_.size(); ++i) {
    const Root& o = roots_[i];
    if (i == index || !o.live || lba >= o.size_blocks) continue;
    if (map_.lookup(o.node, o.levels, lba) == ref) {
      if (others) others->push_back(i);
      ++n;
    }
  }
  return n;
}

void Pool::set_mapping(uint32_t index, uint64_t lba, PhysBlock b) {
  Root& r = roots_[index];
  LeafSlot slot = map_.make_path_exclusive(r.node, r.levels, lba);
  BlockRef& ref = map_.slot(slot);
  if (ref != 0) store_->decref(ref - 1);
  ref = b + 1;
  map_.count_metadata_update();
}

void Pool::write_block(uint32_t index, uint64_t lba, const std::byte* data) {
  const uint32_t bs = store_->block_size();
  const uint64_t meta_before = map_.metadata_updates();
  IoCounters delta;
  delta.logical_writes = 1;

  Root& r0 = roots_[index];
  const BlockRef old_ref = map_.lookup(r0.node, r0.levels, lba);
  const Hash128 new_hash = hash_bytes({data, bs});
  if (old_ref != 0) r0.hash -= block_contribution(lba, store_->hash(old_ref - 1), store_->zero_hash());
  r0.hash += block_contribution(lba, new_hash, store_->zero_hash());

  if (r0.policy == WritePolicy::kCopyOut && old_ref != 0) {
    std::vector<uint32_t> others;
    blocks_needed(index, lba, &others);
    const PhysBlock old = old_ref - 1;
    for (uint32_t o : others) {
      PhysBlock copy = store_->allocate().value();  // capacity checked by the caller
      std::memcpy(store_->data(copy).data(), store_->data(old).data(), bs);
      store_->set_hash(copy, store_->hash(old));
      set_mapping(o, lba, copy);
      delta.physical_reads += 1;
      delta.physical_writes += 1;
      delta.bytes_copied += bs;
      delta.blocks_allocated += 1;
    }
  }

  Root& r = roots_[index];
  LeafSlot slot = map_.make_path_exclusive(r.node, r.levels, lba);
  BlockRef ref = map_.slot(slot);
  PhysBlock target;
  if (ref != 0 && store_->refcount(ref - 1) == 1) {
    target = ref - 1;  // exclusively ours: overwrite in place
  } else {
    assert(r.policy == WritePolicy::kRedirectOnWrite || ref == 0);
    target = store_->allocate().value();
    delta.blocks_allocated += 1;
    BlockRef& s = map_.slot(slot);
    if (s != 0) store_->decref(s - 1);
    s = target + 1;
    map_.count_metadata_update();
  }
  std::memcpy(store_->data(target).data(), data, bs);
  store_->set_hash(target, new_hash);
  delta.physical_writes += 1;
  delta.metadata_updates = map_.metadata_updates() - meta_before;
  counters_ += delta;
  roots_[index].counters += delta;
}

Status Pool::write_blocks(VolumeId v, uint64_t lba, std::span<const std::byte> data) {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  const uint32_t bs = store_->block_size();
  if (data.empty() || data.size() % bs != 0) {
    return Status::misaligned(
        fmt::format("write of {} bytes is not a positive multiple of the {}-byte block", data.size(), bs));
  }
  const uint64_t n = data.size() / bs;
  SNAPSIM_RETURN_IF_ERROR(check_range(roots_[*idx], lba, n));
  uint64_t need = 0;
  for (uint64_t i = 0; i < n; ++i) need += blocks_needed(*idx, lba + i, nullptr);
  if (need > store_->free_blocks()) {
    return Status::out_of_space(fmt::format(
        "write needs {} new blocks but the pool has {} of {} free", need, store_->free_blocks(),
        store_->capacity_blocks()));
  }
  for (uint64_t i = 0; i < n; ++i) write_block(*idx, lba + i, data.data() + i * bs);
  return Status::ok();
}

Status Pool::share_block(SnapshotId src, VolumeId dst, uint64_t lba) {
  auto si = live_root(src.value, Kind::kSnapshot);
  if (!si) return si.status();
  auto di = live_root(dst.value, Kind::kVolume);
  if (!di) return di.status();
  SNAPSIM_RETURN_IF_ERROR(check_range(roots_[*si], lba, 1));
  SNAPSIM_RETURN_IF_ERROR(check_range(roots_[*di], lba, 1));
  if (roots_[*di].policy != WritePolicy::kRedirectOnWrite) {
    return Status::invalid_argument("share_block needs a redirect-on-write volume");
  }
  const BlockRef ref = map_.lookup(roots_[*si].node, roots_[*si].levels, lba);
  Root& r = roots_[*di];
  const BlockRef old = map_.lookup(r.node, r.levels, lba);
  if (old == ref) return Status::ok();
  const uint64_t meta_before = map_.metadata_updates();
  if (old != 0) r.hash -= block_contribution(lba, store_->hash(old - 1), store_->zero_hash());
  if (ref != 0) {
    r.hash += block_contribution(lba, store_->hash(ref - 1), store_->zero_hash());
    store_->incref(ref - 1);
    set_mapping(*di, lba, ref - 1);
  } else {
    LeafSlot slot = map_.make_path_exclusive(r.node, r.levels, lba);
    BlockRef& s = map_.slot(slot);
    store_->decref(s - 1);
    s = 0;
    map_.count_metadata_update();
  }
  IoCounters delta;
  delta.metadata_updates = map_.metadata_updates() - meta_before;
  counters_ += delta;
  roots_[*di].counters += delta;
  return Status::ok();
}

Result<Hash128> Pool::block_hash(VolumeId v, uint64_t lba) const {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  const Root& r = roots_[*idx];
  SNAPSIM_RETURN_IF_ERROR(check_range(r, lba, 1));
  const BlockRef ref = map_.lookup(r.node, r.levels, lba);
  return ref == 0 ? store_->zero_hash() : store_->hash(ref - 1);
}

void Pool::read_block(const Root& r, uint64_t lba, std::byte* out) {
  const uint32_t bs = store_->block_size();
  const BlockRef ref = map_.lookup(r.node, r.levels, lba);
  if (ref == 0) {
    std::memset(out, 0, bs);
  } else {
    std::memcpy(out, store_->data(ref - 1).data(), bs);
    counters_.physical_reads += 1;
  }
  counters_.logical_reads += 1;
}

Status Pool::read_blocks_root(uint32_t index, uint64_t lba, std::span<std::byte> out) {
  const uint32_t bs = store_->block_size();
  if (out.empty() || out.size() % bs != 0) {
    return Status::misaligned(
        fmt::format("read of {} bytes is not a positive multiple of the {}-byte block", out.size(), bs));
  }
  const uint64_t n = out.size() / bs;
  SNAPSIM_RETURN_IF_ERROR(check_range(roots_[index], lba, n));
  for (uint64_t i = 0; i < n; ++i) read_block(roots_[index], lba + i, out.data() + i * bs);
  return Status::ok();
}

Status Pool::read_blocks(VolumeId v, uint64_t lba, std::span<std::byte> out) {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  return read_blocks_root(*idx, lba, out);
}

Status Pool::read_blocks(SnapshotId s, uint64_t lba, std::span<std::byte> out) {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  return read_blocks_root(*idx, lba, out);
}

Status Pool::write_bytes(VolumeId v, uint64_t offset, std::span<const std::byte> data) {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  if (data.empty()) return Status::ok();
  const uint32_t bs = store_->block_size();
  const Root& r = roots_[*idx];
  if (offset > r.size_blocks * bs || data.size() > r.size_blocks * bs - offset) {
    return Status::out_of_range(fmt::format("bytes {}..{} are beyond the end of a {}-byte volume",
                                            offset, offset + data.size(), r.size_blocks * bs));
  }
  const uint64_t first = offset / bs;
  const uint64_t last = (offset + data.size() - 1) / bs;
  uint64_t need = 0;
  for (uint64_t lba = first; lba <= last; ++lba) need += blocks_needed(*idx, lba, nullptr);
  if (need > store_->free_blocks()) {
    return Status::out_of_space(fmt::format(
        "write needs {} new blocks but the pool has {} of {} free", need, store_->free_blocks(),
        store_->capacity_blocks()));
  }
  std::vector<std::byte> buf(bs);
  for (uint64_t lba = first; lba <= last; ++lba) {
    const uint64_t block_start = lba * bs;
    const uint64_t from = std::max<uint64_t>(offset, block_start);
    const uint64_t to = std::min<uint64_t>(offset + data.size(), block_start + bs);
    const std::byte* src = data.data() + (from - offset);
    if (from == block_start && to == block_start + bs) {
      write_block(*idx, lba, src);
      continue;
    }
    // Read-modify-write of a partial block.
    const Root& cur = roots_[*idx];
    const BlockRef ref = map_.lookup(cur.node, cur.levels, lba);
    if (ref == 0) {
      std::fill(buf.begin(), buf.end(), std::byte{0});
    } else {
      std::memcpy(buf.data(), store_->data(ref - 1).data(), bs);
      counters_.physical_reads += 1;
      roots_[*idx].counters.physical_reads += 1;
    }
    std::memcpy(buf.data() + (from - block_start), src, to - from);
    write_block(*idx, lba, buf.data());
  }
  return Status::ok();
}

Status Pool::read_bytes_root(uint32_t index, uint64_t offset, std::span<std::byte> out) {
  if (out.empty()) return Status::ok();
  const uint32_t bs = store_->block_size();
  const Root& r = roots_[index];
  if (offset > r.size_blocks * bs || out.size() > r.size_blocks * bs - offset) {
    return Status::out_of_range(fmt::format("bytes {}..{} are beyond the end of a {}-byte volume",
                                            offset, offset + out.size(), r.size_blocks * bs));
  }
  const uint64_t first = offset / bs;
  const uint64_t last = (offset + out.size() - 1) / bs;
  for (uint64_t lba = first; lba <= last; ++lba) {
    const uint64_t block_start = lba * bs;
    const uint64_t from = std::max<uint64_t>(offset, block_start);
    const uint64_t to = std::min<uint64_t>(offset + out.size(), block_start + bs);
    std::byte* dst = out.data() + (from - offset);
    const BlockRef ref = map_.lookup(r.node, r.levels, lba);
    if (ref == 0) {
      std::memset(dst, 0, to - from);
    } else {
      std::memcpy(dst, store_->data(ref - 1).data() + (from - block_start), to - from);
      counters_.physical_reads += 1;
    }
    counters_.logical_reads += 1;
  }
  return Status::ok();
}

Status Pool::read_bytes(VolumeId v, uint64_t offset, std::span<std::byte> out) {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  return read_bytes_root(*idx, offset, out);
}

Status Pool::read_bytes(SnapshotId s, uint64_t offset, std::span<std::byte> out) {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  return read_bytes_root(*idx, offset, out);
}

Result<uint64_t> Pool::size_blocks(VolumeId v) const {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  return roots_[*idx].size_blocks;
}

Result<uint64_t> Pool::size_blocks(SnapshotId s) const {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  return roots_[*idx].size_blocks;
}

Result<WritePolicy> Pool::policy(VolumeId v) const {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  return roots_[*idx].policy;
}

bool Pool::is_live(VolumeId v) const { return live_root(v.value, Kind::kVolume).is_ok(); }
bool Pool::is_live(SnapshotId s) const { return live_root(s.value, Kind::kSnapshot).is_ok(); }

std::vector<SnapshotId> Pool::snapshots_of(VolumeId v) const {
  std::vector<SnapshotId> out;
  for (uint32_t i = 0; i < roots_.size(); ++i) {
    const Root& r = roots_[i];
    if (r.live && r.kind == Kind::kSnapshot && r.origin == v.value) {
      out.push_back(SnapshotId{(static_cast<uint64_t>(r.generation) << 32) | i});
    }
  }
  return out;
}

Result<Hash128> Pool::content_hash(VolumeId v) const {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  return roots_[*idx].hash;
}

Result<Hash128> Pool::content_hash(SnapshotId s) const {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  return roots_[*idx].hash;
}

Hash128 Pool::recompute(const Root& r) const {
  Hash128 h;
  map_.for_each_mapping(r.node, r.levels, [&](uint64_t lba, PhysBlock b) {
    h += block_contribution(lba, hash_bytes(store_->data(b)), store_->zero_hash());
  });
  return h;
}

Result<Hash128> Pool::recompute_content_hash(VolumeId v) const {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  return recompute(roots_[*idx]);
}

Result<Hash128> Pool::recompute_content_hash(SnapshotId s) const {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  return recompute(roots_[*idx]);
}

SpaceUsage Pool::usage_of(uint32_t index) const {
  // How many distinct live roots map each physical block.
  std::unordered_map<PhysBlock, uint32_t> holders;
  for (const Root& r : roots_) {
    if (!r.live) continue;
    map_.for_each_mapping(r.node, r.levels, [&](uint64_t, PhysBlock b) { ++holders[b]; });
  }
  SpaceUsage u;
  const Root& r = roots_[index];
  map_.for_each_mapping(r.node, r.levels, [&](uint64_t, PhysBlock b) {
    ++u.mapped_blocks;
    if (holders[b] == 1) {
      ++u.exclusive_blocks;
    } else {
      ++u.shared_blocks;
    }
  });
  return u;
}

Result<std::vector<uint64_t>> Pool::mapped_lbas(SnapshotId s) const {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  std::vector<uint64_t> out;
  const Root& r = roots_[*idx];
  map_.for_each_mapping(r.node, r.levels, [&](uint64_t lba, PhysBlock) { out.push_back(lba); });
  return out;
}

Result<SpaceUsage> Pool::usage(VolumeId v) const {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  return usage_of(*idx);
}

Result<SpaceUsage> Pool::usage(SnapshotId s) const {
  auto idx = live_root(s.value, Kind::kSnapshot);
  if (!idx) return idx.status();
  return usage_of(*idx);
}

Result<IoCounters> Pool::counters(VolumeId v) const {
  auto idx = live_root(v.value, Kind::kVolume);
  if (!idx) return idx.status();
  return roots_[*idx].counters;
}

Status Pool::verify_refcounts() const {
  // Distinct nodes reachable from live roots, and the references into them.
  std::unordered_map<NodeRef, uint32_t> node_refs;
  std::unordered_map<PhysBlock, uint32_t> block_refs;
  std::unordered_set<NodeRef> visited;
  std::vector<NodeRef> stack;
  for (const Root& r : roots_) {
    if (!r.live || r.node == 0) continue;
    ++node_refs[r.node];
    stack.push_back(r.node);
  }
  while (!stack.empty()) {
    NodeRef n = stack.back();
    stack.pop_back();
    if (!visited.insert(n).second) continue;
    for (uint32_t ref : map_.slots(n)) {
      if (ref == 0) continue;
      if (map_.is_leaf(n)) {
        ++block_refs[ref - 1];
      } else {
        ++node_refs[ref];
        stack.push_back(ref);
      }
    }
  }
  for (const auto& [n, count] : node_refs) {
    if (map_.node_refcount(n) != count) {
      return Status::error(Code::kInvalidArgument,
                           fmt::format("node {} has refcount {} but {} references", n - 1,
                                       map_.node_refcount(n), count));
    }
  }
  if (map_.live_nodes() != visited.size()) {
    return Status::error(Code::kInvalidArgument,
                         fmt::format("{} nodes are live but {} are reachable (leak)",
                                     map_.live_nodes(), visited.size()));
  }
  for (const auto& [b, count] : block_refs) {
    if (store_->refcount(b) != count) {
      return Status::error(Code::kInvalidArgument,
                           fmt::format("block {} has refcount {} but {} references", b,
                                       store_->refcount(b), count));
    }
  }
  if (store_->used_blocks() != block_refs.size()) {
    return Status::error(Code::kInvalidArgument,
                         fmt::format("{} blocks are in use but {} are referenced (leak)",
                                     store_->used_blocks(), block_refs.size()));
  }
  return Status::ok();
}

}  // namespace snapsim::cow
