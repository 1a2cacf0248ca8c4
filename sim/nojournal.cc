// The nojournal mode (`--fs nojournal`): ext4 without a journal (ext2-like),
// the pessimistic model SQLite's documentation assumes.
//
// Every metadata block (superblock, bitmaps, inode table, directory and
// mapping blocks) is a page of the page cache like file data, written back
// whenever the writeback policy chooses, in any order.
// Data: with data=ordered (default) an inode block or a mapping block is
// written back only after the dirty data of the files it describes, and
// after a FLUSH if that data is not yet durable, as ext4's delayed
// allocation keeps the on-disk size and block pointers behind the data even
// without a journal: no size or pointer on the disk exposes unwritten data.
// With data=writeback (`--fs-data writeback`, ext2's behaviour) they may go
// first, and the data then reads as zeros or as what the block held before:
// another file's old data, even an old SQLite journal that looks hot.
// Each metadata block is written whole, so a change confined to one block
// is atomic: a rename within one directory block is; one that moves an
// entry between blocks or directories is not (a crash can show both names,
// or neither).
//
// fsync(f) / fdatasync(f): f's dirty data pages (ascending), then f's
// mapping blocks and inode block, and, if f got a name since its directory
// was last synced, that directory's blocks and inode (and so on upward, as
// ext4_sync_parent does without a journal); then FLUSH. fsync of a
// directory writes its blocks, mapping blocks and inode, and the inode
// blocks of the entries it gained since (so a synced name never points at
// an inode that is not on the disk; the files' data needs their own fsync). syncfs writes
// every dirty page, then FLUSH. The bitmaps and free counts reach the disk
// only by writeback or syncfs: mount rebuilds them.
//
// Mount always checks the file system, as e2fsck -p after an unclean
// shutdown (a hypervisor snapshot or a power cut is one):
//   - the root must be a directory (else it is rebuilt empty);
//   - from the root, every entry must name an inode in use of the entry's
//     type (else the entry is dropped); a directory reached twice keeps its
//     first name; a directory's parent is the one it was found in;
//   - every block pointer must be inside the data area (else it becomes a
//     hole); a block an inode checked earlier claims too is cloned, as
//     e2fsck clones duplicate blocks, so each file keeps its bytes;
//   - link counts are set to the names found (directories: 2 + subdirs),
//     block counts to the blocks claimed;
//   - an inode in use that no entry reaches (an orphan left open at the
//     crash, or a file whose entry never reached the disk) is freed (e2fsck
//     would move a named-nowhere file with data to lost+found; snapsim frees
//     it and says so in mount_repairs());
//   - both bitmaps and the free counts are rebuilt from what was reached.
// Every repair is one line of mount_repairs().
#include <algorithm>
#include <bit>
#include <cstring>
#include <deque>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "sim/simfs.h"

namespace snapsim::sim {

using namespace fsenc;

Status SimFs::nojournal_sync_inode(uint32_t ino) {
  auto inr = inode(ino);
  if (!inr) return inr.status();
  Inode& in = **inr;
  const FileType t = type_of(in.mode);
  if (t == FileType::kDirectory) {
    std::vector<uint64_t> blocks;
    SNAPSIM_RETURN_IF_ERROR(block_tree(in, &blocks, nullptr));
    // The inodes its new entries name, so no synced entry points at an
    // inode that never reached the disk.
    if (auto d = dirs_.find(ino); d != dirs_.end()) {
      for (const auto& [name, slot] : d->second.entries) {
        auto c = inodes_.find(slot.ino);
        if (c == inodes_.end() || !c->second.new_entry || c->second.entry_dir != ino) continue;
        c->second.new_entry = false;
        blocks.push_back(inode_block(slot.ino));
      }
    }
    std::sort(blocks.begin(), blocks.end());
    blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
    for (uint64_t b : blocks) SNAPSIM_RETURN_IF_ERROR(cache_->write_back(b));
  } else {
    SNAPSIM_RETURN_IF_ERROR(cache_->sync_owner(ino));
  }
  std::vector<uint64_t> mapping;
  SNAPSIM_RETURN_IF_ERROR(block_tree(in, nullptr, &mapping));
  std::sort(mapping.begin(), mapping.end());
  for (uint64_t b : mapping) SNAPSIM_RETURN_IF_ERROR(cache_->write_back(b));
  SNAPSIM_RETURN_IF_ERROR(cache_->write_back(inode_block(ino)));
  if (in.new_entry) {
    in.new_entry = false;
    const uint32_t parent = t == FileType::kDirectory ? in.parent : in.entry_dir;
    if (parent != 0 && parent != ino) {
      auto p = inode(parent);
      if (p && (*p)->mode != 0) SNAPSIM_RETURN_IF_ERROR(nojournal_sync_inode(parent));
    }
  }
  return Status::ok();
}

void SimFs::install_ordering() {
  if (!options_.ordered_data || journal_) {
    cache_->set_before_write(nullptr);
    return;
  }
  cache_->set_before_write([this](uint64_t block) { return order_before(block); });
}

Status SimFs::order_before(uint64_t block) {
  std::vector<uint32_t> owners;
  if (block >= itable_start_ && block < data_start_) {
    const uint32_t per = block_size_ / kInodeSize;
    const uint64_t first = (block - itable_start_) * per;
    for (uint64_t ino = first; ino < first + per && ino < options_.inodes; ++ino) {
      if (inodes_.count(static_cast<uint32_t>(ino))) owners.push_back(static_cast<uint32_t>(ino));
    }
  } else if (auto it = mapping_owner_.find(block); it != mapping_owner_.end()) {
    owners.push_back(it->second);
  }
  bool volatile_data = false;
  for (uint32_t ino : owners) {
    SNAPSIM_RETURN_IF_ERROR(cache_->sync_owner(ino));
    volatile_data = volatile_data || cache_->owner_volatile(ino);
  }
  return volatile_data ? cache_->flush() : Status::ok();
}

Status SimFs::nojournal_fsck() {
  const uint64_t words = (disk_blocks_ + 63) / 64;
  std::vector<uint64_t> used(words, 0);
  const auto is_used = [&](uint64_t b) { return (used[b / 64] >> (b % 64) & 1) != 0; };
  const auto mark = [&](uint64_t b) { used[b / 64] |= 1ull << (b % 64); };
  for (uint64_t b = 0; b < data_start_; ++b) mark(b);
  const uint64_t per = block_size_ / 4;
  uint64_t clone_cursor = data_start_;
  // Every block any reachable inode points at: a clone never goes there.
  std::vector<uint64_t> refd(words, 0);
  {
    std::set<uint32_t> seen = {1};
    std::deque<uint32_t> todo = {1};
    while (!todo.empty()) {
      const uint32_t ino = todo.front();
      todo.pop_front();
      auto in = inode(ino);
      if (!in || (*in)->mode == 0) continue;
      std::vector<uint64_t> blocks;
      if (!(type_of((*in)->mode) == FileType::kSymlink && (*in)->size <= kFastLinkMax)) {
        SNAPSIM_RETURN_IF_ERROR(block_tree(**in, &blocks, &blocks));
      }
      for (uint64_t b : blocks) refd[b / 64] |= 1ull << (b % 64);
      if (type_of((*in)->mode) != FileType::kDirectory) continue;
      auto d = dir(ino);
      if (!d) return d.status();
      for (const auto& [name, slot] : (*d)->entries) {
        if (seen.insert(slot.ino).second) todo.push_back(slot.ino);
      }
    }
  }
  const auto taken = [&](uint64_t b) { return is_used(b) || (refd[b / 64] >> (b % 64) & 1) != 0; };

  // Claims the blocks an inode maps; a pointer outside the data area or to
  // a block already claimed becomes a hole.
  const auto claim = [&](uint32_t ino) -> Status {
    auto inr = inode(ino);
    if (!inr) return inr.status();
    Inode& in = **inr;
    if (type_of(in.mode) == FileType::kSymlink && in.size <= kFastLinkMax) return Status::ok();
    uint64_t count = 0;
    uint64_t dropped = 0;
    bool inode_changed = false;
    uint64_t cloned = 0;
    // Returns the block the pointer keeps (0: dropped): a block another
    // inode claimed first is cloned, as e2fsck does with duplicate blocks,
    // so each file keeps the bytes it points at.
    std::function<Result<uint64_t>(uint64_t, int)> sub = [&](uint64_t p, int depth) -> Result<uint64_t> {
      if (p < data_start_ || p >= disk_blocks_) {
        ++dropped;
        return uint64_t{0};
      }
      if (is_used(p)) {
        while (clone_cursor < disk_blocks_ && taken(clone_cursor)) ++clone_cursor;
        if (clone_cursor >= disk_blocks_) {
          ++dropped;
          return uint64_t{0};
        }
        const uint64_t q = clone_cursor;
        auto from = cache_->page(p);
        if (!from) return from.status();
        std::vector<std::byte> copy(*from, *from + block_size_);
        auto to = cache_->zero_page(q);
        if (!to) return to.status();
        std::copy(copy.begin(), copy.end(), *to);
        SNAPSIM_RETURN_IF_ERROR(cache_->mark_dirty(q, depth == 0 ? ino : kMetaOwner));
        ++cloned;
        p = q;
      }
      mark(p);
      ++count;
      if (depth == 0) return p;
      bool changed = false;
      for (uint64_t i = 0; i < per; ++i) {
        auto pg = cache_->page(p);
        if (!pg) return pg.status();
        const uint64_t c = get32(*pg + 4 * i);
        if (c == 0) continue;
        auto kept = sub(c, depth - 1);
        if (!kept) return kept.status();
        if (*kept != c) {
          pg = cache_->page(p);
          if (!pg) return pg.status();
          put32(*pg + 4 * i, static_cast<uint32_t>(*kept));
          changed = true;
        }
      }
      if (changed) SNAPSIM_RETURN_IF_ERROR(cache_->mark_dirty(p, kMetaOwner));
      return p;
    };
    for (uint32_t i = 0; i < kPointers; ++i) {
      if (in.ptr[i] == 0) continue;
      const int depth = i < kDirect ? 0 : static_cast<int>(i - kDirect + 1);
      auto kept = sub(in.ptr[i], depth);
      if (!kept) return kept.status();
      if (*kept != in.ptr[i]) {
        in.ptr[i] = static_cast<uint32_t>(*kept);
        inode_changed = true;
      }
    }
    if (dropped > 0) repairs_.push_back(fmt::format("inode {}: {} bad block pointers dropped", ino, dropped));
    if (cloned > 0) repairs_.push_back(fmt::format("inode {}: {} blocks shared with another inode cloned", ino, cloned));
    if (in.blocks != count) {
      in.blocks = count;
      inode_changed = true;
    }
    if (inode_changed) SNAPSIM_RETURN_IF_ERROR(store_inode(ino));
    return Status::ok();
  };

  // The root.
  auto root = inode(1);
  if (!root) return root.status();
  if (type_of((*root)->mode) != FileType::kDirectory) {
    const uint32_t gen = (*root)->gen == 0 ? 1 : (*root)->gen;
    **root = Inode{};
    (*root)->mode = kIfDir | 0755;
    (*root)->gen = gen;
    (*root)->nlink = 2;
    (*root)->parent = 1;
    dirs_[1] = Dir{};
    repairs_.push_back("root directory rebuilt empty");
    SNAPSIM_RETURN_IF_ERROR(store_inode(1));
  }
  SNAPSIM_RETURN_IF_ERROR(claim(1));

  std::map<uint32_t, uint32_t> names;  // non-directories: names found
  std::map<uint32_t, uint32_t> subdirs;
  std::set<uint32_t> dirs_seen = {1};
  std::deque<uint32_t> queue = {1};
  while (!queue.empty()) {
    const uint32_t d = queue.front();
    queue.pop_front();
    auto dd = dir(d);
    if (!dd) return dd.status();
    std::vector<std::pair<std::string, DirSlot>> entries((*dd)->entries.begin(), (*dd)->entries.end());
    for (const auto& [name, slot] : entries) {
      auto c = inode(slot.ino);
      const FileType ct = c ? type_of((*c)->mode) : FileType::kNone;
      std::string why;
      if (ct == FileType::kNone) {
        why = "not in use";
      } else if (ct != slot.type) {
        why = "of another type";
      } else if (ct == FileType::kDirectory && dirs_seen.count(slot.ino) != 0) {
        why = "a directory named twice";
      }
      if (!why.empty()) {
        repairs_.push_back(fmt::format("dropped entry '{}' (inode {} {})", name, slot.ino, why));
        SNAPSIM_RETURN_IF_ERROR(dir_remove(d, name));
        continue;
      }
      if (ct == FileType::kDirectory) {
        dirs_seen.insert(slot.ino);
        subdirs[d] += 1;
        if ((*c)->parent != d) {
          (*c)->parent = d;
          SNAPSIM_RETURN_IF_ERROR(store_inode(slot.ino));
        }
        SNAPSIM_RETURN_IF_ERROR(claim(slot.ino));
        queue.push_back(slot.ino);
      } else {
        if (names[slot.ino]++ == 0) SNAPSIM_RETURN_IF_ERROR(claim(slot.ino));
      }
    }
  }
  // Link counts.
  const auto fix_links = [&](uint32_t ino, uint32_t want) -> Status {
    auto in = inode(ino);
    if (!in) return in.status();
    if ((*in)->nlink == want) return Status::ok();
    repairs_.push_back(fmt::format("inode {}: link count {} set to {}", ino, (*in)->nlink, want));
    (*in)->nlink = want;
    return store_inode(ino);
  };
  for (uint32_t d : dirs_seen) SNAPSIM_RETURN_IF_ERROR(fix_links(d, 2 + subdirs[d]));
  for (const auto& [ino, n] : names) SNAPSIM_RETURN_IF_ERROR(fix_links(ino, n));

  // The bitmaps, rebuilt a word at a time: the inode bitmap from what was
  // reached, the block bitmap from what was claimed. Bit i of a bitmap is
  // bit i % 8 of its byte i / 8, so a little-endian 64-bit word holds 64.
  const uint64_t bits_per = static_cast<uint64_t>(block_size_) * 8;
  const auto rewrite = [&](uint64_t first_block, uint64_t nbits, const std::vector<uint64_t>& want,
                           const std::function<Status(uint64_t, uint64_t)>& on_cleared,
                           uint64_t* corrected) -> Status {
    for (uint64_t base = 0; base < nbits; base += bits_per) {
      const uint64_t block = first_block + base / bits_per;
      auto pg = cache_->page(block);
      if (!pg) return pg.status();
      // The common case, nothing to repair, in one comparison.
      const uint64_t bits = std::min<uint64_t>(bits_per, nbits - base);
      if constexpr (std::endian::native == std::endian::little) {
        const size_t full = static_cast<size_t>(bits / 64) * 8;
        const auto* expect = reinterpret_cast<const std::byte*>(want.data() + base / 64);
        if (std::memcmp(*pg, expect, full) == 0 && bits % 64 == 0) continue;
      }
      bool changed = false;
      for (uint64_t w = 0; w * 64 < bits; ++w) {
        const uint64_t bit0 = base + w * 64;
        const uint64_t have = get64(*pg + 8 * w);
        const uint64_t valid = nbits - bit0 >= 64 ? ~0ull : (1ull << (nbits - bit0)) - 1;
        const uint64_t goal = want[bit0 / 64] & valid;
        if ((have & valid) == goal) continue;
        const uint64_t cleared = have & valid & ~goal;
        for (uint64_t c = cleared; c != 0; c &= c - 1) {
          SNAPSIM_RETURN_IF_ERROR(on_cleared(bit0 + static_cast<uint64_t>(std::countr_zero(c)), block));
          pg = cache_->page(block);
          if (!pg) return pg.status();
        }
        *corrected += static_cast<uint64_t>(std::popcount((have & valid) ^ goal));
        put64(*pg + 8 * w, (have & ~valid) | goal);
        changed = true;
      }
      if (changed) SNAPSIM_RETURN_IF_ERROR(cache_->mark_dirty(block, kMetaOwner));
    }
    return Status::ok();
  };
  std::vector<uint64_t> reached((options_.inodes + 63) / 64, 0);
  const auto reach = [&](uint64_t i) { reached[i / 64] |= 1ull << (i % 64); };
  reach(0);
  reach(1);
  for (uint32_t d : dirs_seen) reach(d);
  for (const auto& [ino, n] : names) reach(ino);
  uint64_t inode_bits = 0;
  SNAPSIM_RETURN_IF_ERROR(rewrite(
      ibitmap_start_, options_.inodes, reached,
      [&](uint64_t k, uint64_t) -> Status {
        auto in = inode(static_cast<uint32_t>(k));
        if (!in) return in.status();
        if ((*in)->mode == 0) return Status::ok();
        repairs_.push_back(fmt::format("freed unreachable inode {}", k));
        const uint32_t gen = (*in)->gen;
        **in = Inode{};
        (*in)->gen = gen;
        return store_inode(static_cast<uint32_t>(k));
      },
      &inode_bits));
  uint32_t in_use = 0;
  for (uint64_t w : reached) in_use += static_cast<uint32_t>(std::popcount(w));
  uint64_t corrected = 0;
  SNAPSIM_RETURN_IF_ERROR(rewrite(
      bbitmap_start_, disk_blocks_, used, [](uint64_t, uint64_t) { return Status::ok(); }, &corrected));
  if (corrected > 0) repairs_.push_back(fmt::format("block bitmap: {} bits corrected", corrected));
  uint64_t used_count = 0;
  for (uint64_t w : used) {
    if (w != 0) used_count += static_cast<uint64_t>(std::popcount(w));
  }
  free_blocks_ = disk_blocks_ - used_count;
  free_inodes_ = options_.inodes - in_use;
  orphan_head_ = 0;
  orphans_.clear();
  return store_super();
}

std::vector<std::string> SimFs::check() const {
  std::vector<std::string> bad;
  std::map<uint64_t, uint32_t> owner;  // block -> inode
  std::map<uint32_t, uint32_t> names;
  std::map<uint32_t, uint32_t> subdirs;
  std::set<uint32_t> dirs_seen = {1};
  std::deque<uint32_t> queue = {1};
  const auto claim = [&](uint32_t ino) {
    auto in = inode(ino);
    if (!in) return;
    if (type_of((*in)->mode) == FileType::kSymlink && (*in)->size <= kFastLinkMax) return;
    std::vector<uint64_t> blocks;
    if (!block_tree(**in, &blocks, &blocks).is_ok()) {
      bad.push_back(fmt::format("inode {}: unreadable block map", ino));
      return;
    }
    for (uint64_t b : blocks) {
      auto [it, fresh] = owner.emplace(b, ino);
      if (!fresh) bad.push_back(fmt::format("block {} claimed by inodes {} and {}", b, it->second, ino));
    }
    if ((*in)->blocks != blocks.size()) {
      bad.push_back(fmt::format("inode {}: {} blocks counted, {} mapped", ino, (*in)->blocks, blocks.size()));
    }
  };
  claim(1);
  while (!queue.empty()) {
    const uint32_t d = queue.front();
    queue.pop_front();
    auto dd = dir(d);
    if (!dd) {
      bad.push_back(fmt::format("directory {} unreadable", d));
      continue;
    }
    for (const auto& [name, slot] : (*dd)->entries) {
      auto c = inode(slot.ino);
      if (!c || type_of((*c)->mode) != slot.type) {
        bad.push_back(fmt::format("entry '{}' names inode {} of another type or free", name, slot.ino));
        continue;
      }
      if (slot.type == FileType::kDirectory) {
        if (!dirs_seen.insert(slot.ino).second) bad.push_back(fmt::format("directory {} named twice", slot.ino));
        if ((*c)->parent != d) bad.push_back(fmt::format("directory {}: parent {} but found in {}", slot.ino, (*c)->parent, d));
        subdirs[d] += 1;
        claim(slot.ino);
        queue.push_back(slot.ino);
      } else if (names[slot.ino]++ == 0) {
        claim(slot.ino);
      }
    }
  }
  for (uint32_t o : orphans_) {
    auto in = inode(o);
    if (!in || (*in)->nlink != 0 || (*in)->mode == 0) bad.push_back(fmt::format("orphan {} is not an unlinked file", o));
    names[o] += 0;
    claim(o);
  }
  for (uint32_t d : dirs_seen) {
    auto in = inode(d);
    if (in && (*in)->nlink != 2 + subdirs[d]) {
      bad.push_back(fmt::format("directory {}: link count {}, {} expected", d, (*in)->nlink, 2 + subdirs[d]));
    }
  }
  for (const auto& [ino, n] : names) {
    auto in = inode(ino);
    if (in && (*in)->nlink != n) bad.push_back(fmt::format("inode {}: link count {}, {} names", ino, (*in)->nlink, n));
  }
  uint32_t in_use = 0;
  for (uint32_t i = 0; i < options_.inodes; ++i) {
    auto set = bit(ibitmap_start_, i);
    if (!set) continue;
    const bool reached = i < 2 || dirs_seen.count(i) != 0 || names.count(i) != 0;
    in_use += *set ? 1 : 0;
    if (*set != reached) bad.push_back(fmt::format("inode {}: bitmap says {}", i, *set ? "used" : "free"));
  }
  uint64_t used = 0;
  for (uint64_t b = 0; b < disk_blocks_; ++b) {
    auto set = bit(bbitmap_start_, b);
    if (!set) continue;
    used += *set ? 1 : 0;
    const bool want = b < data_start_ || owner.count(b) != 0;
    if (*set != want) bad.push_back(fmt::format("block {}: bitmap says {}", b, *set ? "used" : "free"));
    if (bad.size() > 50) break;
  }
  if (free_blocks_ != disk_blocks_ - used) {
    bad.push_back(fmt::format("free block count {}, bitmap has {}", free_blocks_, disk_blocks_ - used));
  }
  if (free_inodes_ != options_.inodes - in_use) {
    bad.push_back(fmt::format("free inode count {}, bitmap has {}", free_inodes_, options_.inodes - in_use));
  }
  return bad;
}

}  // namespace snapsim::sim
