#include "sim/page_cache.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace snapsim::sim {

const char* writeback_name(Writeback w) {
  switch (w) {
    case Writeback::kEager: return "eager";
    case Writeback::kLazy: return "lazy";
    case Writeback::kRandom: return "random";
  }
  return "?";
}

cow::Result<Writeback> parse_writeback(const std::string& name) {
  if (name == "eager") return Writeback::kEager;
  if (name == "lazy") return Writeback::kLazy;
  if (name == "random") return Writeback::kRandom;
  return Status::invalid_argument(
      fmt::format("unknown writeback policy '{}' (expected eager, lazy or random)", name));
}

PageCache::PageCache(VirtualDisk* disk, Writeback policy, Prng prng, SimClock* clock,
                     const CostModel* cost)
    : disk_(disk), policy_(policy), prng_(prng), clock_(clock), cost_(cost) {}

cow::Result<std::byte*> PageCache::page(uint64_t block) {
  auto it = pages_.find(block);
  if (observing_) {
    if (it != pages_.end()) return it->second.data.get();
    auto& copy = observed_[block];
    if (!copy) {
      copy = std::make_unique<std::byte[]>(block_size());
      SNAPSIM_RETURN_IF_ERROR(disk_->read_quiet(block, {copy.get(), block_size()}));
    }
    return copy.get();
  }
  if (it == pages_.end()) {
    Page p;
    p.data = std::make_unique<std::byte[]>(block_size());
    SNAPSIM_RETURN_IF_ERROR(disk_->read(block, {p.data.get(), block_size()}));
    it = pages_.emplace(block, std::move(p)).first;
  }
  clock_->advance_us(cost_->page_copy_us);
  return it->second.data.get();
}

cow::Result<cow::Hash128> PageCache::block_hash(uint64_t block) const {
  auto it = pages_.find(block);
  if (it == pages_.end()) return disk_->block_hash(block);
  return cow::hash_bytes({it->second.data.get(), block_size()});
}

cow::Result<std::byte*> PageCache::zero_page(uint64_t block) {
  if (observing_) return Status::error(cow::Code::kInvalidArgument, "a file system write while the explorer observes");
  auto it = pages_.find(block);
  if (it == pages_.end()) {
    Page p;
    p.data = std::make_unique<std::byte[]>(block_size());
    it = pages_.emplace(block, std::move(p)).first;
  }
  std::memset(it->second.data.get(), 0, block_size());
  clock_->advance_us(cost_->page_copy_us);
  return it->second.data.get();
}

const std::byte* PageCache::peek(uint64_t block) const {
  auto it = pages_.find(block);
  return it == pages_.end() ? nullptr : it->second.data.get();
}

Status PageCache::read_quiet(uint64_t block, std::span<std::byte> out) const {
  if (const std::byte* p = peek(block)) {
    std::memcpy(out.data(), p, std::min<size_t>(out.size(), block_size()));
    return Status::ok();
  }
  return disk_->read_quiet(block, out);
}

Status PageCache::mark_dirty(uint64_t block, uint32_t owner) {
  if (observing_) return Status::error(cow::Code::kInvalidArgument, "a file system write while the explorer observes");
  auto it = pages_.find(block);
  if (it == pages_.end()) {
    return Status::invalid_argument(fmt::format("page {} is not cached", block));
  }
  Page& p = it->second;
  if (p.owner != owner) {
    if (p.owner != kMetaOwner) unindex(p.owner, block);
    if (owner != kMetaOwner) by_owner_[owner].insert(block);
    p.owner = owner;
  }
  p.dirty = true;
  dirty_.insert(block);
  if (policy_ == Writeback::kEager) return write_page(block, p);
  return Status::ok();
}

void PageCache::unindex(uint32_t owner, uint64_t block) {
  auto o = by_owner_.find(owner);
  if (o == by_owner_.end()) return;
  o->second.erase(block);
  if (o->second.empty()) by_owner_.erase(o);
}

void PageCache::forget(uint64_t block) {
  auto it = pages_.find(block);
  if (it == pages_.end()) return;
  if (it->second.owner != kMetaOwner) unindex(it->second.owner, block);
  dirty_.erase(block);
  pages_.erase(it);
}

bool PageCache::is_dirty(uint64_t block) const {
  auto it = pages_.find(block);
  return it != pages_.end() && it->second.dirty;
}

Status PageCache::write_page(uint64_t block, Page& p) {
  // Clear first: the write hook may capture a frozen image, which must not
  // count this page as dirty once it is on the disk.
  if (before_write_) {
    SNAPSIM_RETURN_IF_ERROR(before_write_(block));
    if (!p.dirty) return Status::ok();  // the hook wrote it already
  }
  p.dirty = false;
  dirty_.erase(block);
  Status st = disk_->write(block, {p.data.get(), block_size()});
  if (st.is_ok() && p.owner != kMetaOwner) owner_written_[p.owner] = disk_->writes_issued();
  if (!st.is_ok()) {
    // As Linux after a failed writeback: the page is no longer dirty and its
    // data is lost; the error goes to whoever asked (write, fsync). The page
    // is re-read so the cache never shows bytes the disk does not have.
    (void)disk_->read(block, {p.data.get(), block_size()});
  }
  return st;
}

Status PageCache::write_back(uint64_t block) {
  auto it = pages_.find(block);
  if (it == pages_.end() || !it->second.dirty) return Status::ok();
  return write_page(block, it->second);
}

bool PageCache::owner_volatile(uint32_t owner) const {
  auto it = owner_written_.find(owner);
  return it != owner_written_.end() && it->second > disk_->writes_durable();
}

void PageCache::drop_owner(uint32_t owner) {
  owner_written_.erase(owner);
  auto o = by_owner_.find(owner);
  if (o == by_owner_.end()) return;
  for (uint64_t block : o->second) {
    dirty_.erase(block);
    pages_.erase(block);
  }
  by_owner_.erase(o);
}

Status PageCache::sync_owner(uint32_t owner) {
  auto o = by_owner_.find(owner);
  if (o == by_owner_.end()) return Status::ok();
  const std::vector<uint64_t> blocks(o->second.begin(), o->second.end());  // ascending
  for (uint64_t block : blocks) {
    auto it = pages_.find(block);
    if (it != pages_.end() && it->second.dirty) SNAPSIM_RETURN_IF_ERROR(write_page(block, it->second));
  }
  return Status::ok();
}

Status PageCache::sync_all() {
  const std::vector<uint64_t> blocks(dirty_.begin(), dirty_.end());  // ascending
  for (uint64_t block : blocks) {
    auto it = pages_.find(block);
    if (it != pages_.end() && it->second.dirty) SNAPSIM_RETURN_IF_ERROR(write_page(block, it->second));
  }
  return disk_->flush();
}

Status PageCache::background_writeback() {
  if (policy_ != Writeback::kRandom) return Status::ok();
  if (!prng_.chance(1, 3)) return Status::ok();
  std::vector<uint64_t> dirty(dirty_.begin(), dirty_.end());
  if (dirty.empty()) return Status::ok();
  prng_.shuffle(dirty);
  const size_t n = 1 + prng_.uniform(dirty.size());
  for (size_t i = 0; i < n; ++i) SNAPSIM_RETURN_IF_ERROR(write_back(dirty[i]));
  return Status::ok();
}

size_t PageCache::dirty_count() const { return dirty_.size(); }

std::vector<std::pair<uint64_t, std::span<const std::byte>>> PageCache::dirty_pages() const {
  std::vector<std::pair<uint64_t, std::span<const std::byte>>> out;
  for (uint64_t block : dirty_) {
    out.emplace_back(block, std::span<const std::byte>(pages_.at(block).data.get(), block_size()));
  }
  return out;
}

}  // namespace snapsim::sim
