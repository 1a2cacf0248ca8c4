// The tree, allocators and encoding shared by both modes (sim/simfs.h).
// The ext4 journal is sim/journal.cc; nojournal's sync and mount check are
// sim/nojournal.cc.
#include "sim/simfs.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include <fmt/format.h>

#include "sim/journal.h"
#include "sim/simfs_encoding.h"

namespace snapsim::sim {

using cow::Code;
using namespace fsenc;

const char* fs_mode_name(FsMode m) { return m == FsMode::kExt4 ? "ext4" : "nojournal"; }

Result<FsMode> parse_fs_mode(const std::string& name) {
  if (name == "ext4") return FsMode::kExt4;
  if (name == "nojournal") return FsMode::kNoJournal;
  return Status::invalid_argument(
      fmt::format("unknown file system mode '{}' (expected ext4 or nojournal)", name));
}

namespace {

Status validate_name(std::string_view name) {
  if (name.empty()) return Status::invalid_argument("empty file name");
  if (name == "." || name == "..") {
    return Status::invalid_argument(fmt::format("'{}' cannot be created or removed", name));
  }
  if (name.size() > kNameMax) {
    return Status::fs(Code::kNameTooLong, fmt::format("file name '{}...' is longer than {} bytes",
                                                      name.substr(0, 32), kNameMax));
  }
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Status::invalid_argument(fmt::format("file name '{}' contains '/' or NUL", name));
  }
  return Status::ok();
}

uint32_t entry_bytes(size_t name_len) { return static_cast<uint32_t>(6 + name_len); }

}  // namespace

uint64_t SimFs::blocks_needed(const SimFsOptions& o, uint32_t block_size) {
  return o.disk_bytes / block_size;
}

SimFs::SimFs(PageCache* cache, SimClock* clock, Prng prng)
    : cache_(cache), clock_(clock), prng_(prng), block_size_(cache->block_size()) {
  std::vector<std::byte> zeros(block_size_);
  zero_hash_ = cow::hash_bytes(zeros);
}

SimFs::~SimFs() = default;

int64_t SimFs::now() const { return static_cast<int64_t>(clock_->now_ns()); }

Status SimFs::format(PageCache& cache, const SimFsOptions& o, SimClock* clock) {
  const uint32_t bs = cache.block_size();
  if (bs < 512) return Status::invalid_argument("simfs needs blocks of at least 512 bytes");
  auto g = Geometry::of(o, bs);
  if (!g) return g.status();
  if (cache.disk().size_blocks() < g->disk_blocks) {
    return Status::invalid_argument(fmt::format("disk of {} blocks is smaller than the file system's {}",
                                                cache.disk().size_blocks(), g->disk_blocks));
  }
  SimFs fs(&cache, clock, Prng(0));
  fs.options_ = o;
  fs.apply(*g);
  fs.free_blocks_ = g->disk_blocks - g->data_start;
  fs.free_inodes_ = o.inodes - 2;  // inode 0 is never used, 1 is the root
  // The bitmaps' metadata area and inodes 0 and 1 are in use.
  for (uint64_t b = 0; b < g->bbitmap_blocks + g->ibitmap_blocks; ++b) {
    auto p = cache.zero_page(g->bbitmap_start + b);
    if (!p) return p.status();
    SNAPSIM_RETURN_IF_ERROR(cache.mark_dirty(g->bbitmap_start + b, kMetaOwner));
  }
  for (uint64_t b = 0; b < g->data_start; ++b) SNAPSIM_RETURN_IF_ERROR(fs.set_bit(fs.bbitmap_start_, b, true));
  SNAPSIM_RETURN_IF_ERROR(fs.set_bit(fs.ibitmap_start_, 0, true));
  SNAPSIM_RETURN_IF_ERROR(fs.set_bit(fs.ibitmap_start_, 1, true));
  for (uint64_t b = 0; b < g->itable_blocks; ++b) {
    // Only the first inode table block is written: the rest of a fresh
    // volume reads as zeros, which is a free inode.
    if (b > 0) break;
    auto p = cache.zero_page(g->itable_start + b);
    if (!p) return p.status();
    SNAPSIM_RETURN_IF_ERROR(cache.mark_dirty(g->itable_start + b, kMetaOwner));
  }
  Inode& root = fs.inodes_[1];
  root.mode = kIfDir | 0755;
  root.nlink = 2;
  root.gen = 1;
  root.parent = 1;
  root.atime = root.mtime = root.ctime = fs.now();
  SNAPSIM_RETURN_IF_ERROR(fs.store_inode(1));
  fs.dirs_[1] = Dir{};
  SNAPSIM_RETURN_IF_ERROR(fs.store_super());
  if (o.mode == FsMode::kExt4) SNAPSIM_RETURN_IF_ERROR(Journal::format(cache, g->journal_start));
  return cache.sync_all();
}

void SimFs::apply(const Geometry& g) {
  disk_blocks_ = g.disk_blocks;
  journal_start_ = g.journal_start;
  bbitmap_start_ = g.bbitmap_start;
  ibitmap_start_ = g.ibitmap_start;
  itable_start_ = g.itable_start;
  data_start_ = g.data_start;
  block_cursor_ = g.data_start;
}

Result<std::unique_ptr<SimFs>> SimFs::mount(PageCache& cache, SimClock* clock, Prng prng) {
  std::unique_ptr<SimFs> fs(new SimFs(&cache, clock, prng));
  auto sb = cache.page(0);
  if (!sb) return sb.status();
  auto o = decode_super(*sb, cache.block_size());
  if (!o) return o.status();
  fs->options_ = *o;
  auto g = Geometry::of(*o, cache.block_size());
  if (!g) return Status::error(Code::kIoError, "simfs superblock geometry is invalid: " + g.status().message());
  fs->apply(*g);
  uint64_t next_seq = 1;
  if (o->mode == FsMode::kExt4) {
    auto seq = Journal::replay(cache, g->journal_start, g->journal_blocks, &fs->repairs_);
    if (!seq) return seq.status();
    next_seq = *seq;
    sb = cache.page(0);  // replay may have rewritten it
    if (!sb) return sb.status();
  }
  SNAPSIM_RETURN_IF_ERROR(fs->load_super());
  if (o->mode == FsMode::kExt4) {
    fs->journal_ = std::make_unique<Journal>(fs.get(), g->journal_start, g->journal_blocks, next_seq);
    // Free what the orphan list holds (files unlinked while open).
    std::vector<uint32_t> chain;
    std::set<uint32_t> seen;
    for (uint32_t ino = fs->orphan_head_; ino != 0 && ino < o->inodes && seen.insert(ino).second;) {
      auto in = fs->inode(ino);
      if (!in) return in.status();
      chain.push_back(ino);
      ino = (*in)->orphan_next;
    }
    fs->orphans_ = chain;
    for (uint32_t ino : chain) {
      auto in = fs->inode(ino);
      if (!in) return in.status();
      if ((*in)->mode == 0 || (*in)->nlink != 0) {
        SNAPSIM_RETURN_IF_ERROR(fs->orphan_remove(ino));
        continue;
      }
      fs->repairs_.push_back(fmt::format("freed orphan inode {}", ino));
      SNAPSIM_RETURN_IF_ERROR(fs->orphan_remove(ino));
      SNAPSIM_RETURN_IF_ERROR(fs->free_inode(ino));
    }
  } else {
    SNAPSIM_RETURN_IF_ERROR(fs->nojournal_fsck());
    fs->install_ordering();
  }
  auto root = fs->inode(1);
  if (!root) return root.status();
  return fs;
}

Status SimFs::load_super() {
  auto p = cache_->page(0);
  if (!p) return p.status();
  free_blocks_ = get64(*p + 48);
  free_inodes_ = get32(*p + 56);
  orphan_head_ = get32(*p + 60);
  if (free_blocks_ > disk_blocks_) free_blocks_ = 0;  // repaired by a check, never trusted past the disk
  if (free_inodes_ > options_.inodes) free_inodes_ = 0;
  return Status::ok();
}

Status SimFs::store_super() {
  auto p = cache_->page(0);
  if (!p) return p.status();
  encode_super(*p, block_size_, options_);
  put64(*p + 48, free_blocks_);
  put32(*p + 56, free_inodes_);
  put32(*p + 60, orphan_head_);
  return meta_dirty(0);
}

// --- Metadata writes --------------------------------------------------------

Status SimFs::meta_dirty(uint64_t block) {
  if (journal_) {
    journal_->add(block);
    return Status::ok();
  }
  return cache_->mark_dirty(block, kMetaOwner);
}

void SimFs::touched(uint32_t ino, bool meta) {
  if (!journal_) return;
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return;
  it->second.attr_tid = journal_->running_tid();
  if (meta) {
    it->second.meta_tid = journal_->running_tid();
    if (options_.ordered_data) journal_->add_ordered(ino);
  }
}

Status SimFs::begin_op() { return journal_ ? journal_->before_op() : Status::ok(); }

Status SimFs::op_done(std::string op) {
  SNAPSIM_RETURN_IF_ERROR(cache_->background_writeback());
  if (journal_) SNAPSIM_RETURN_IF_ERROR(journal_->after_op(now(), prng_));
  if (hook_) hook_(op);
  return Status::ok();
}

uint64_t SimFs::commits() const { return journal_ ? journal_->commits() : 0; }

void SimFs::set_commit_hook(std::function<void()> hook) {
  if (journal_) journal_->set_commit_hook(std::move(hook));
}

std::vector<std::pair<uint64_t, std::span<const std::byte>>> SimFs::freeze_writes() const {
  auto out = cache_->dirty_pages();
  if (journal_) {
    journal_->freeze_writes(&out);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  return out;
}

// --- Inodes ------------------------------------------------------------------

uint64_t SimFs::inode_block(uint32_t ino) const {
  return itable_start_ + static_cast<uint64_t>(ino) * kInodeSize / block_size_;
}

Result<SimFs::Inode*> SimFs::inode(uint32_t ino) const {
  if (ino == 0 || ino >= options_.inodes) {
    return Status::not_found(fmt::format("inode {} is outside the inode table", ino));
  }
  auto it = inodes_.find(ino);
  if (it != inodes_.end()) return &it->second;
  auto p = cache_->page(inode_block(ino));
  if (!p) return p.status();
  Inode in;
  decode_inode(*p + (static_cast<uint64_t>(ino) * kInodeSize) % block_size_, &in);
  return &inodes_.emplace(ino, std::move(in)).first->second;
}

Status SimFs::store_inode(uint32_t ino) {
  auto it = inodes_.find(ino);
  assert(it != inodes_.end());
  const uint64_t block = inode_block(ino);
  auto p = cache_->page(block);
  if (!p) return p.status();
  encode_inode(it->second, *p + (static_cast<uint64_t>(ino) * kInodeSize) % block_size_);
  return meta_dirty(block);
}

Result<SimFs::Inode*> SimFs::live(FileRef f) const {
  auto in = inode(f.ino);
  if (!in || (*in)->mode == 0 || (*in)->gen != f.gen) {
    return Status::not_found(fmt::format("stale file handle (inode {})", f.ino));
  }
  return in;
}

Result<SimFs::Inode*> SimFs::live_dir(FileRef f) const {
  auto in = live(f);
  if (!in) return in;
  if (type_of((*in)->mode) != FileType::kDirectory) {
    return Status::fs(Code::kNotDir, fmt::format("inode {} is not a directory", f.ino));
  }
  return in;
}

Result<uint32_t> SimFs::alloc_inode() {
  if (free_inodes_ == 0) {
    return Status::fs_full(fmt::format("no free inode (all {} in use)", options_.inodes - 1));
  }
  const uint32_t n = options_.inodes;
  for (uint32_t k = 1; k <= n; ++k) {
    const uint32_t i = (inode_cursor_ + k) % n;
    if (i < 2) continue;
    auto used = bit(ibitmap_start_, i);
    if (!used) return used.status();
    if (*used) continue;
    inode_cursor_ = i;
    SNAPSIM_RETURN_IF_ERROR(set_bit(ibitmap_start_, i, true));
    free_inodes_ -= 1;
    SNAPSIM_RETURN_IF_ERROR(store_super());
    return i;
  }
  return Status::fs_full("no free inode in the inode bitmap");
}

Status SimFs::free_inode(uint32_t ino) {
  auto in = inode(ino);
  if (!in) return in.status();
  Inode& n = **in;
  const bool is_fast_link = type_of(n.mode) == FileType::kSymlink && n.size <= kFastLinkMax;
  if (!is_fast_link) SNAPSIM_RETURN_IF_ERROR(free_range(ino, 0, UINT64_MAX));
  cache_->drop_owner(ino);
  const uint32_t gen = n.gen;
  n = Inode{};
  n.gen = gen;
  dirs_.erase(ino);
  SNAPSIM_RETURN_IF_ERROR(store_inode(ino));
  SNAPSIM_RETURN_IF_ERROR(set_bit(ibitmap_start_, ino, false));
  free_inodes_ += 1;
  return store_super();
}

Status SimFs::drop_link(uint32_t ino) {
  auto in = inode(ino);
  if (!in) return in.status();
  Inode& n = **in;
  if (n.nlink > 0) n.nlink -= 1;
  n.ctime = now();
  if (n.nlink > 0) {
    touched(ino, false);
    return store_inode(ino);
  }
  if (n.opens > 0) {
    SNAPSIM_RETURN_IF_ERROR(store_inode(ino));
    return orphan_add(ino);
  }
  return free_inode(ino);
}

Status SimFs::orphan_add(uint32_t ino) {
  auto in = inode(ino);
  if (!in) return in.status();
  (*in)->orphan_next = orphan_head_;
  SNAPSIM_RETURN_IF_ERROR(store_inode(ino));
  orphan_head_ = ino;
  orphans_.insert(orphans_.begin(), ino);
  return store_super();
}

Status SimFs::orphan_remove(uint32_t ino) {
  auto pos = std::find(orphans_.begin(), orphans_.end(), ino);
  if (pos == orphans_.end()) return Status::ok();
  auto in = inode(ino);
  if (!in) return in.status();
  const uint32_t next = (*in)->orphan_next;
  (*in)->orphan_next = 0;
  SNAPSIM_RETURN_IF_ERROR(store_inode(ino));
  if (pos == orphans_.begin()) {
    orphan_head_ = next;
    SNAPSIM_RETURN_IF_ERROR(store_super());
  } else {
    const uint32_t prev = *(pos - 1);
    auto p = inode(prev);
    if (!p) return p.status();
    (*p)->orphan_next = next;
    SNAPSIM_RETURN_IF_ERROR(store_inode(prev));
  }
  orphans_.erase(pos);
  return Status::ok();
}

// --- Bitmaps -----------------------------------------------------------------

Result<bool> SimFs::bit(uint64_t first_block, uint64_t index) const {
  const uint64_t per = static_cast<uint64_t>(block_size_) * 8;
  auto p = cache_->page(first_block + index / per);
  if (!p) return p.status();
  const uint64_t i = index % per;
  return (static_cast<uint8_t>((*p)[i / 8]) >> (i % 8) & 1) != 0;
}

Status SimFs::set_bit(uint64_t first_block, uint64_t index, bool value) {
  const uint64_t per = static_cast<uint64_t>(block_size_) * 8;
  const uint64_t block = first_block + index / per;
  auto p = cache_->page(block);
  if (!p) return p.status();
  const uint64_t i = index % per;
  auto byte = static_cast<uint8_t>((*p)[i / 8]);
  const auto mask = static_cast<uint8_t>(1u << (i % 8));
  byte = value ? static_cast<uint8_t>(byte | mask) : static_cast<uint8_t>(byte & ~mask);
  (*p)[i / 8] = static_cast<std::byte>(byte);
  return meta_dirty(block);
}

Result<uint64_t> SimFs::alloc_block(uint64_t goal) {
  if (goal < data_start_ || goal >= disk_blocks_) goal = block_cursor_;
  const uint64_t per = static_cast<uint64_t>(block_size_) * 8;
  // Scan from the goal to the end, then from the data area's start: a page
  // of the bitmap at a time, full bytes skipped.
  for (int pass = 0; pass < 2; ++pass) {
    const uint64_t from = pass == 0 ? goal : data_start_;
    const uint64_t to = pass == 0 ? disk_blocks_ : goal;
    for (uint64_t b = from; b < to;) {
      auto p = cache_->page(bbitmap_start_ + b / per);
      if (!p) return p.status();
      const uint64_t page_end = std::min<uint64_t>(to, (b / per + 1) * per);
      for (; b < page_end; ++b) {
        const uint64_t i = b % per;
        const auto byte = static_cast<uint8_t>((*p)[i / 8]);
        if (byte == 0xff && i % 8 == 0 && b + 8 <= page_end) {
          b += 7;
          continue;
        }
        if ((byte >> (i % 8) & 1) != 0) continue;
        if (journal_ && journal_->busy(b)) continue;
        SNAPSIM_RETURN_IF_ERROR(set_bit(bbitmap_start_, b, true));
        free_blocks_ -= 1;
        block_cursor_ = b + 1 < disk_blocks_ ? b + 1 : data_start_;
        SNAPSIM_RETURN_IF_ERROR(store_super());
        return b;
      }
    }
  }
  return Status::fs_full("no free block");
}

Status SimFs::free_block(uint64_t block) {
  if (block < data_start_ || block >= disk_blocks_) return Status::ok();
  cache_->forget(block);
  mapping_owner_.erase(block);
  SNAPSIM_RETURN_IF_ERROR(set_bit(bbitmap_start_, block, false));
  free_blocks_ += 1;
  if (journal_) journal_->freed(block);
  return store_super();
}

Status SimFs::ensure_free(uint64_t blocks) {
  const auto available = [&] {
    const uint64_t busy = journal_ ? journal_->busy_count() : 0;
    return free_blocks_ > busy ? free_blocks_ - busy : 0;
  };
  if (available() >= blocks) return Status::ok();
  if (journal_ && free_blocks_ >= blocks) {
    // Freed blocks wait for a checkpoint: take one now.
    SNAPSIM_RETURN_IF_ERROR(journal_->checkpoint());
    if (available() >= blocks) return Status::ok();
  }
  return Status::fs_full(fmt::format("the guest file system is full: {} blocks needed, {} free of {}", blocks,
                                     available(), disk_blocks_ - data_start_));
}

// --- Block maps --------------------------------------------------------------

namespace {

struct MapPath {
  int depth = 0;       // mapping blocks between the inode and the data block
  uint32_t idx[4] = {};  // idx[0]: the inode's pointer; then one index per level
};

MapPath path_of(uint64_t fb, uint64_t per) {
  MapPath p;
  if (fb < kDirect) {
    p.idx[0] = static_cast<uint32_t>(fb);
    return p;
  }
  fb -= kDirect;
  if (fb < per) {
    p.depth = 1;
    p.idx[0] = kDirect;
    p.idx[1] = static_cast<uint32_t>(fb);
    return p;
  }
  fb -= per;
  if (fb < per * per) {
    p.depth = 2;
    p.idx[0] = kDirect + 1;
    p.idx[1] = static_cast<uint32_t>(fb / per);
    p.idx[2] = static_cast<uint32_t>(fb % per);
    return p;
  }
  fb -= per * per;
  p.depth = 3;
  p.idx[0] = kDirect + 2;
  p.idx[1] = static_cast<uint32_t>(fb / (per * per));
  p.idx[2] = static_cast<uint32_t>(fb / per % per);
  p.idx[3] = static_cast<uint32_t>(fb % per);
  return p;
}

}  // namespace

uint64_t SimFs::max_blocks() const {
  const uint64_t per = block_size_ / 4;
  uint64_t n = kDirect + per + per * per + per * per * per;
  if (options_.max_file_blocks != 0) n = std::min(n, options_.max_file_blocks);
  return n;
}

uint64_t SimFs::max_file_size() const { return max_blocks() * block_size_; }

Result<uint64_t> SimFs::map(const Inode& in, uint64_t fb) const {
  const uint64_t per = block_size_ / 4;
  const MapPath path = path_of(fb, per);
  uint64_t p = in.ptr[path.idx[0]];
  std::vector<std::byte> scratch;  // only for a mapping block not in the cache
  for (int level = 1; level <= path.depth; ++level) {
    if (p < data_start_ || p >= disk_blocks_) return uint64_t{0};
    const std::byte* pg = cache_->peek(p);
    if (pg == nullptr) {
      scratch.resize(block_size_);
      SNAPSIM_RETURN_IF_ERROR(cache_->read_quiet(p, scratch));
      pg = scratch.data();
    }
    p = get32(pg + 4 * path.idx[level]);
  }
  if (p < data_start_ || p >= disk_blocks_) return uint64_t{0};
  return p;
}

Result<uint64_t> SimFs::map_alloc(uint32_t ino, uint64_t fb, bool* fresh) {
  *fresh = false;
  auto inr = inode(ino);
  if (!inr) return inr.status();
  Inode& in = **inr;
  const uint64_t per = block_size_ / 4;
  const MapPath path = path_of(fb, per);
  // The allocation goal (after the file's previous block), looked up only
  // when something is allocated: an overwrite of mapped blocks needs none.
  std::optional<uint64_t> goal;
  const auto next_goal = [&]() -> uint64_t {
    if (!goal) {
      goal = block_cursor_;
      if (fb > 0) {
        auto prev = map(in, fb - 1);
        if (prev && *prev != 0) goal = *prev + 1;
      }
    }
    return *goal;
  };
  bool inode_changed = false;
  // Walk down, allocating missing mapping blocks (zeroed) on the way.
  uint64_t holder = 0;  // 0: the inode; else the mapping block holding the pointer
  uint32_t slot = path.idx[0];
  for (int level = 0; level <= path.depth; ++level) {
    uint64_t p = 0;
    if (holder == 0) {
      p = in.ptr[slot];
    } else {
      auto pg = cache_->page(holder);
      if (!pg) return pg.status();
      p = get32(*pg + 4 * slot);
    }
    const bool data_level = level == path.depth;
    if (p < data_start_ || p >= disk_blocks_) {
      auto nb = alloc_block(next_goal());
      if (!nb) return nb.status();
      p = *nb;
      goal = p + 1;
      in.blocks += 1;
      auto pg = cache_->zero_page(p);
      if (!pg) return pg.status();
      if (!data_level) SNAPSIM_RETURN_IF_ERROR(meta_dirty(p));
      if (holder == 0) {
        in.ptr[slot] = static_cast<uint32_t>(p);
        inode_changed = true;
      } else {
        auto hp = cache_->page(holder);
        if (!hp) return hp.status();
        put32(*hp + 4 * slot, static_cast<uint32_t>(p));
        if (!journal_) mapping_owner_[holder] = ino;
        SNAPSIM_RETURN_IF_ERROR(meta_dirty(holder));
      }
      if (data_level) *fresh = true;
    }
    if (data_level) {
      if (inode_changed || *fresh) touched(ino, true);
      return p;
    }
    holder = p;
    slot = path.idx[level + 1];
  }
  return Status::error(Code::kIoError, "unreachable block map walk");
}

Result<uint64_t> SimFs::blocks_to_map(const Inode& in, uint64_t first, uint64_t end) const {
  const uint64_t per = block_size_ / 4;
  uint64_t count = 0;
  std::set<uint64_t> missing;  // mapping nodes already counted, by their path prefix
  std::vector<std::byte> scratch(block_size_);
  for (uint64_t fb = first; fb < end; ++fb) {
    const MapPath path = path_of(fb, per);
    uint64_t p = in.ptr[path.idx[0]];
    uint64_t key = path.idx[0];
    bool absent = false;
    for (int level = 1; level <= path.depth; ++level) {
      if (absent || p < data_start_ || p >= disk_blocks_) {
        if (missing.insert(key | static_cast<uint64_t>(level) << 60).second) ++count;
        absent = true;
      } else {
        SNAPSIM_RETURN_IF_ERROR(cache_->read_quiet(p, scratch));
        p = get32(scratch.data() + 4 * path.idx[level]);
      }
      key = key << 16 | path.idx[level];
    }
    if (absent || p < data_start_ || p >= disk_blocks_) ++count;
  }
  return count;
}

Status SimFs::free_range(uint32_t ino, uint64_t first, uint64_t end) {
  auto inr = inode(ino);
  if (!inr) return inr.status();
  Inode& in = **inr;
  const uint64_t per = block_size_ / 4;
  uint64_t freed = 0;
  // Frees what pointer `p` (depth levels above the data) maps in
  // [first, end); returns whether p itself was freed.
  std::function<Result<bool>(uint64_t, int, uint64_t)> sub = [&](uint64_t p, int depth,
                                                                 uint64_t base) -> Result<bool> {
    if (p < data_start_ || p >= disk_blocks_) return true;  // not a block: drop the pointer
    if (depth == 0) {
      SNAPSIM_RETURN_IF_ERROR(free_block(p));
      ++freed;
      return true;
    }
    uint64_t span = 1;
    for (int d = 1; d < depth; ++d) span *= per;
    bool changed = false;
    bool empty = true;
    for (uint64_t i = 0; i < per; ++i) {
      auto pg = cache_->page(p);
      if (!pg) return pg.status();
      const uint64_t c = get32(*pg + 4 * i);
      if (c == 0) continue;
      const uint64_t cb = base + i * span;
      if (cb + span <= first || cb >= end) {
        empty = false;
        continue;
      }
      auto gone = sub(c, depth - 1, cb);
      if (!gone) return gone.status();
      if (*gone) {
        pg = cache_->page(p);
        if (!pg) return pg.status();
        put32(*pg + 4 * i, 0);
        changed = true;
      } else {
        empty = false;
      }
    }
    if (empty) {
      SNAPSIM_RETURN_IF_ERROR(free_block(p));
      ++freed;
      return true;
    }
    if (changed) SNAPSIM_RETURN_IF_ERROR(meta_dirty(p));
    return false;
  };
  bool inode_changed = false;
  for (uint32_t i = 0; i < kDirect; ++i) {
    if (in.ptr[i] == 0 || i < first || i >= end) continue;
    auto gone = sub(in.ptr[i], 0, i);
    if (!gone) return gone.status();
    in.ptr[i] = 0;
    inode_changed = true;
  }
  uint64_t base = kDirect;
  uint64_t span = per;
  for (int depth = 1; depth <= 3; ++depth) {
    uint32_t& ptr = in.ptr[kDirect + depth - 1];
    if (ptr != 0 && base < end && base + span > first) {
      auto gone = sub(ptr, depth, base);
      if (!gone) return gone.status();
      if (*gone) {
        ptr = 0;
        inode_changed = true;
      }
    }
    base += span;
    span *= per;
  }
  in.blocks = in.blocks > freed ? in.blocks - freed : 0;
  if (inode_changed || freed > 0) {
    touched(ino, true);
    return store_inode(ino);
  }
  return Status::ok();
}

Status SimFs::block_tree(const Inode& in, std::vector<uint64_t>* data, std::vector<uint64_t>* mapping) const {
  const uint64_t per = block_size_ / 4;
  std::vector<std::byte> scratch(block_size_);
  std::function<Status(uint64_t, int)> sub = [&](uint64_t p, int depth) -> Status {
    if (p < data_start_ || p >= disk_blocks_) return Status::ok();
    if (depth == 0) {
      if (data) data->push_back(p);
      return Status::ok();
    }
    if (mapping) mapping->push_back(p);
    if (depth == 1 && !data) return Status::ok();
    SNAPSIM_RETURN_IF_ERROR(cache_->read_quiet(p, scratch));
    std::vector<uint64_t> children;
    for (uint64_t i = 0; i < per; ++i) {
      if (const uint64_t c = get32(scratch.data() + 4 * i); c != 0) children.push_back(c);
    }
    for (uint64_t c : children) SNAPSIM_RETURN_IF_ERROR(sub(c, depth - 1));
    return Status::ok();
  };
  for (uint32_t i = 0; i < kPointers; ++i) {
    SNAPSIM_RETURN_IF_ERROR(sub(in.ptr[i], i < kDirect ? 0 : static_cast<int>(i - kDirect + 1)));
  }
  return Status::ok();
}

// --- Directories -------------------------------------------------------------

Result<SimFs::Dir*> SimFs::dir(uint32_t ino) const {
  auto it = dirs_.find(ino);
  if (it != dirs_.end()) return &it->second;
  auto inr = inode(ino);
  if (!inr) return inr.status();
  const Inode& in = **inr;
  Dir d;
  const uint64_t nblocks = in.size / block_size_;
  for (uint64_t k = 0; k < nblocks; ++k) {
    d.used.push_back(0);
    d.names.emplace_back();
    auto phys = map(in, k);
    if (!phys) return phys.status();
    if (*phys == 0) continue;
    auto p = cache_->page(*phys);
    if (!p) return p.status();
    for (auto& e : decode_dir_block(*p, block_size_, options_.inodes)) {
      if (d.entries.count(e.name) != 0) continue;  // a duplicate name: the first wins
      d.used.back() += entry_bytes(e.name.size());
      d.names.back().push_back(e.name);
      d.entries.emplace(std::move(e.name), DirSlot{e.ino, e.type, static_cast<uint32_t>(k)});
    }
  }
  return &dirs_.emplace(ino, std::move(d)).first->second;
}

Status SimFs::store_dir_block(uint32_t dir_ino, uint32_t k) {
  auto d = dir(dir_ino);
  if (!d) return d.status();
  auto inr = inode(dir_ino);
  if (!inr) return inr.status();
  auto phys = map(**inr, k);
  if (!phys) return phys.status();
  if (*phys == 0) return Status::error(Code::kIoError, "directory block is not mapped");
  auto p = cache_->page(*phys);
  if (!p) return p.status();
  std::vector<DirRecord> recs;
  for (const auto& name : (*d)->names[k]) {
    const DirSlot& s = (*d)->entries.find(name)->second;
    recs.push_back(DirRecord{name, s.ino, s.type});
  }
  encode_dir_block(recs, *p, block_size_);
  return meta_dirty(*phys);
}

Status SimFs::dir_add(uint32_t dir_ino, const std::string& name, uint32_t ino, FileType type) {
  auto d = dir(dir_ino);
  if (!d) return d.status();
  Dir& dd = **d;
  const uint32_t need = entry_bytes(name.size());
  const uint32_t cap = block_size_ - 2;
  uint32_t k = 0;
  for (; k < dd.used.size(); ++k) {
    if (dd.used[k] + need <= cap) break;
  }
  if (k == dd.used.size()) {
    bool fresh = false;
    auto b = map_alloc(dir_ino, k, &fresh);
    if (!b) return b.status();
    SNAPSIM_RETURN_IF_ERROR(meta_dirty(*b));
    dd.used.push_back(0);
    dd.names.emplace_back();
    auto inr = inode(dir_ino);
    if (!inr) return inr.status();
    (*inr)->size = static_cast<uint64_t>(dd.used.size()) * block_size_;
  }
  dd.used[k] += need;
  dd.names[k].push_back(name);
  dd.entries[name] = DirSlot{ino, type, k};
  return store_dir_block(dir_ino, k);
}

Status SimFs::dir_remove(uint32_t dir_ino, const std::string& name) {
  auto d = dir(dir_ino);
  if (!d) return d.status();
  Dir& dd = **d;
  auto it = dd.entries.find(name);
  if (it == dd.entries.end()) return Status::not_found(fmt::format("no entry '{}'", name));
  const uint32_t k = it->second.block;
  auto& names = dd.names[k];
  names.erase(std::find(names.begin(), names.end(), name));
  dd.used[k] -= entry_bytes(name.size());
  dd.entries.erase(it);
  return store_dir_block(dir_ino, k);
}

Result<uint32_t> SimFs::dir_lookup(uint32_t dir_ino, std::string_view name) const {
  auto d = dir(dir_ino);
  if (!d) return d.status();
  auto it = (*d)->entries.find(name);
  if (it == (*d)->entries.end()) return Status::not_found(fmt::format("no such file or directory '{}'", name));
  return it->second.ino;
}

// --- The namespace -----------------------------------------------------------

FileRef SimFs::root() const {
  auto in = inode(1);
  return FileRef{1, in ? (*in)->gen : 0};
}

Result<FileRef> SimFs::lookup_at(FileRef dirf, std::string_view name) const {
  auto d = live_dir(dirf);
  if (!d) return d.status();
  if (name == "." || name.empty()) return dirf;
  if (name == "..") {
    const uint32_t parent = dirf.ino == 1 ? 1 : (*d)->parent;
    auto p = inode(parent);
    if (!p || (*p)->mode == 0) return Status::not_found("the parent directory is gone");
    return FileRef{parent, (*p)->gen};
  }
  if (name.size() > kNameMax) {
    return Status::fs(Code::kNameTooLong, fmt::format("name '{}...' is longer than {} bytes",
                                                      name.substr(0, 32), kNameMax));
  }
  auto ino = dir_lookup(dirf.ino, name);
  if (!ino) return ino.status();
  auto in = inode(*ino);
  if (!in) return in.status();
  return FileRef{*ino, (*in)->gen};
}

Result<Stat> SimFs::stat(FileRef f) const {
  auto in = live(f);
  if (!in) return in.status();
  const Inode& n = **in;
  Stat s;
  s.ref = f;
  s.type = type_of(n.mode);
  s.mode = n.mode & 07777;
  s.uid = n.uid;
  s.gid = n.gid;
  s.nlink = n.nlink;
  s.size = n.size;
  s.blocks = n.blocks * (block_size_ / 512);
  s.atime_ns = n.atime;
  s.mtime_ns = n.mtime;
  s.ctime_ns = n.ctime;
  return s;
}

Result<std::vector<DirEntry>> SimFs::readdir(FileRef dirf) const {
  auto in = live_dir(dirf);
  if (!in) return in.status();
  auto d = dir(dirf.ino);
  if (!d) return d.status();
  std::vector<DirEntry> out;
  out.reserve((*d)->entries.size());
  for (const auto& [name, slot] : (*d)->entries) {
    auto c = inode(slot.ino);
    out.push_back(DirEntry{name, FileRef{slot.ino, c ? (*c)->gen : 0}, slot.type});
  }
  return out;
}

Result<FileRef> SimFs::create_at(FileRef dirf, std::string_view name, const NewNode& node) {
  SNAPSIM_RETURN_IF_ERROR(validate_name(name));
  auto d = live_dir(dirf);
  if (!d) return d.status();
  if (node.type == FileType::kNone) return Status::invalid_argument("cannot create a file of no type");
  if (node.type == FileType::kSymlink) {
    if (node.target.empty()) return Status::not_found("a symbolic link needs a target");
    if (node.target.size() >= kPathMax) {
      return Status::fs(Code::kNameTooLong, fmt::format("symlink target of {} bytes is longer than {}",
                                                        node.target.size(), kPathMax - 1));
    }
  }
  if (dir_lookup(dirf.ino, name).is_ok()) {
    return Status::fs(Code::kExists, fmt::format("'{}' exists", name));
  }
  if (free_inodes_ == 0) {
    return Status::fs_full(fmt::format("cannot create '{}': no free inode (all {} in use)", name,
                                       options_.inodes - 1));
  }
  uint64_t need = 4;  // a new directory block and its mapping blocks
  if (node.type == FileType::kSymlink && node.target.size() > kFastLinkMax) need += 2;
  SNAPSIM_RETURN_IF_ERROR(ensure_free(need));
  SNAPSIM_RETURN_IF_ERROR(begin_op());
  auto ino = alloc_inode();
  if (!ino) return ino.status();
  auto inr = inode(*ino);
  if (!inr) return inr.status();
  Inode& n = **inr;
  const uint32_t gen = n.gen + 1;
  n = Inode{};
  n.gen = gen;
  n.mode = mode_of(node.type) | (node.mode & 07777);
  n.uid = node.uid;
  n.gid = node.gid;
  n.nlink = node.type == FileType::kDirectory ? 2 : 1;
  n.atime = n.mtime = n.ctime = now();
  n.parent = node.type == FileType::kDirectory ? dirf.ino : 0;
  n.new_entry = true;
  n.entry_dir = dirf.ino;
  cache_->drop_owner(*ino);
  touched(*ino, true);
  if (node.type == FileType::kDirectory) dirs_[*ino] = Dir{};
  if (node.type == FileType::kSymlink) {
    n.size = node.target.size();
    if (node.target.size() <= kFastLinkMax) {
      n.fast_link = node.target;
    } else {
      SNAPSIM_RETURN_IF_ERROR(copy_in(*ino, 0, std::as_bytes(std::span(node.target))));
    }
  }
  SNAPSIM_RETURN_IF_ERROR(store_inode(*ino));
  SNAPSIM_RETURN_IF_ERROR(dir_add(dirf.ino, std::string(name), *ino, node.type));
  Inode& parent = **d;
  if (node.type == FileType::kDirectory) parent.nlink += 1;
  parent.mtime = parent.ctime = now();
  touched(dirf.ino, true);
  SNAPSIM_RETURN_IF_ERROR(store_inode(dirf.ino));
  const char* verb = node.type == FileType::kDirectory ? "mkdir"
                     : node.type == FileType::kSymlink ? "symlink"
                                                       : "create";
  SNAPSIM_RETURN_IF_ERROR(op_done(fmt::format("{} {}", verb, name)));
  return FileRef{*ino, gen};
}

Status SimFs::link_at(FileRef target, FileRef dirf, std::string_view name) {
  SNAPSIM_RETURN_IF_ERROR(validate_name(name));
  auto t = live(target);
  if (!t) return t.status();
  if (type_of((*t)->mode) == FileType::kDirectory) {
    return Status::fs(Code::kNotPermitted, "cannot make a hard link to a directory");
  }
  auto d = live_dir(dirf);
  if (!d) return d.status();
  if ((*t)->nlink == 0) return Status::not_found("cannot link a file that has no name left");
  if (dir_lookup(dirf.ino, name).is_ok()) return Status::fs(Code::kExists, fmt::format("'{}' exists", name));
  SNAPSIM_RETURN_IF_ERROR(ensure_free(4));
  SNAPSIM_RETURN_IF_ERROR(begin_op());
  Inode& n = **t;
  n.nlink += 1;
  n.ctime = now();
  n.new_entry = true;
  n.entry_dir = dirf.ino;
  touched(target.ino, false);
  SNAPSIM_RETURN_IF_ERROR(store_inode(target.ino));
  SNAPSIM_RETURN_IF_ERROR(dir_add(dirf.ino, std::string(name), target.ino, type_of(n.mode)));
  (*d)->mtime = (*d)->ctime = now();
  touched(dirf.ino, true);
  SNAPSIM_RETURN_IF_ERROR(store_inode(dirf.ino));
  return op_done(fmt::format("link {}", name));
}

Status SimFs::unlink_at(FileRef dirf, std::string_view name) {
  auto d = live_dir(dirf);
  if (!d) return d.status();
  if (name == "." || name == "..") return Status::fs(Code::kIsDir, fmt::format("'{}' is a directory", name));
  auto ino = dir_lookup(dirf.ino, name);
  if (!ino) return Status::not_found(fmt::format("cannot delete '{}': no such file", name));
  auto in = inode(*ino);
  if (!in) return in.status();
  if (type_of((*in)->mode) == FileType::kDirectory) {
    return Status::fs(Code::kIsDir, fmt::format("cannot unlink '{}': it is a directory", name));
  }
  SNAPSIM_RETURN_IF_ERROR(begin_op());
  SNAPSIM_RETURN_IF_ERROR(dir_remove(dirf.ino, std::string(name)));
  (*d)->mtime = (*d)->ctime = now();
  touched(dirf.ino, true);
  SNAPSIM_RETURN_IF_ERROR(store_inode(dirf.ino));
  SNAPSIM_RETURN_IF_ERROR(drop_link(*ino));
  return op_done(fmt::format("unlink {}", name));
}

Status SimFs::rmdir_at(FileRef dirf, std::string_view name) {
  auto d = live_dir(dirf);
  if (!d) return d.status();
  if (name == ".") return Status::invalid_argument("cannot remove '.'");
  if (name == "..") return Status::fs(Code::kNotEmpty, "cannot remove '..'");
  auto ino = dir_lookup(dirf.ino, name);
  if (!ino) return Status::not_found(fmt::format("cannot remove '{}': no such directory", name));
  auto in = inode(*ino);
  if (!in) return in.status();
  if (type_of((*in)->mode) != FileType::kDirectory) {
    return Status::fs(Code::kNotDir, fmt::format("cannot rmdir '{}': not a directory", name));
  }
  auto child = dir(*ino);
  if (!child) return child.status();
  if (!(*child)->entries.empty()) {
    return Status::fs(Code::kNotEmpty, fmt::format("cannot remove '{}': directory not empty", name));
  }
  SNAPSIM_RETURN_IF_ERROR(begin_op());
  SNAPSIM_RETURN_IF_ERROR(dir_remove(dirf.ino, std::string(name)));
  Inode& parent = **d;
  if (parent.nlink > 2) parent.nlink -= 1;
  parent.mtime = parent.ctime = now();
  touched(dirf.ino, true);
  SNAPSIM_RETURN_IF_ERROR(store_inode(dirf.ino));
  SNAPSIM_RETURN_IF_ERROR(free_inode(*ino));
  return op_done(fmt::format("rmdir {}", name));
}

Status SimFs::rename_at(FileRef from_dir, std::string_view from, FileRef to_dir, std::string_view to,
                        bool noreplace) {
  auto fd = live_dir(from_dir);
  if (!fd) return fd.status();
  auto td = live_dir(to_dir);
  if (!td) return td.status();
  if (from == "." || from == ".." || from.empty()) {
    return Status::invalid_argument(fmt::format("cannot rename '{}'", from));
  }
  SNAPSIM_RETURN_IF_ERROR(validate_name(to));
  auto src = dir_lookup(from_dir.ino, from);
  if (!src) return Status::not_found(fmt::format("cannot rename '{}': no such file", from));
  auto sin = inode(*src);
  if (!sin) return sin.status();
  const FileType stype = type_of((*sin)->mode);
  auto dst = dir_lookup(to_dir.ino, to);
  if (dst && *dst == *src) return op_done(fmt::format("rename {} {}", from, to));
  if (dst && noreplace) return Status::fs(Code::kExists, fmt::format("'{}' exists", to));
  FileType dtype = FileType::kNone;
  if (dst) {
    auto din = inode(*dst);
    if (!din) return din.status();
    dtype = type_of((*din)->mode);
    if (stype == FileType::kDirectory && dtype != FileType::kDirectory) {
      return Status::fs(Code::kNotDir, fmt::format("cannot rename directory '{}' over non-directory '{}'", from, to));
    }
    if (stype != FileType::kDirectory && dtype == FileType::kDirectory) {
      return Status::fs(Code::kIsDir, fmt::format("cannot rename '{}' over directory '{}'", from, to));
    }
    if (dtype == FileType::kDirectory) {
      auto dd = dir(*dst);
      if (!dd) return dd.status();
      if (!(*dd)->entries.empty()) {
        return Status::fs(Code::kNotEmpty, fmt::format("cannot rename over '{}': directory not empty", to));
      }
    }
  }
  if (stype == FileType::kDirectory) {
    // Not into itself or its own subtree.
    for (uint32_t a = to_dir.ino, guard = 0; guard < options_.inodes; ++guard) {
      if (a == *src) {
        return Status::invalid_argument(fmt::format("cannot move '{}' into its own subtree", from));
      }
      if (a == 1) break;
      auto ain = inode(a);
      if (!ain) return ain.status();
      a = (*ain)->parent;
    }
  }
  SNAPSIM_RETURN_IF_ERROR(ensure_free(4));
  SNAPSIM_RETURN_IF_ERROR(begin_op());
  const std::string sname(from), dname(to);
  if (dst && options_.auto_da_alloc && stype == FileType::kRegular && dtype == FileType::kRegular) {
    // auto_da_alloc: a file replacing another by rename has its data
    // written now, before the rename can commit.
    SNAPSIM_RETURN_IF_ERROR(cache_->sync_owner(*src));
  }
  const int64_t t = now();
  auto dd = dir(to_dir.ino);
  if (!dd) return dd.status();
  if (dst) {
    // Replace in place: the entry keeps its block, so the switch is one
    // block write.
    DirSlot& slot = (*dd)->entries.find(dname)->second;
    slot.ino = *src;
    slot.type = stype;
    SNAPSIM_RETURN_IF_ERROR(store_dir_block(to_dir.ino, slot.block));
  }
  // Remove the old name; add the new one unless it replaced an entry. In
  // one directory, a new name that fits the old one's block goes there.
  auto sd = dir(from_dir.ino);
  if (!sd) return sd.status();
  const uint32_t sblock = (*sd)->entries.find(sname)->second.block;
  if (!dst && from_dir.ino == to_dir.ino &&
      (*sd)->used[sblock] - entry_bytes(sname.size()) + entry_bytes(dname.size()) <= block_size_ - 2) {
    auto& names = (*sd)->names[sblock];
    *std::find(names.begin(), names.end(), sname) = dname;
    (*sd)->used[sblock] = (*sd)->used[sblock] - entry_bytes(sname.size()) + entry_bytes(dname.size());
    (*sd)->entries.erase(sname);
    (*sd)->entries[dname] = DirSlot{*src, stype, sblock};
    SNAPSIM_RETURN_IF_ERROR(store_dir_block(from_dir.ino, sblock));
  } else {
    if (!dst) SNAPSIM_RETURN_IF_ERROR(dir_add(to_dir.ino, dname, *src, stype));
    SNAPSIM_RETURN_IF_ERROR(dir_remove(from_dir.ino, sname));
  }
  Inode& s = **sin;
  s.ctime = t;
  s.new_entry = true;
  s.entry_dir = to_dir.ino;
  if (stype == FileType::kDirectory && from_dir.ino != to_dir.ino) {
    s.parent = to_dir.ino;
    if ((*fd)->nlink > 2) (*fd)->nlink -= 1;
    if (!(dst && dtype == FileType::kDirectory)) (*td)->nlink += 1;
  } else if (stype == FileType::kDirectory && dst && dtype == FileType::kDirectory) {
    if ((*td)->nlink > 2) (*td)->nlink -= 1;  // the replaced directory's ".."
  }
  touched(*src, false);
  SNAPSIM_RETURN_IF_ERROR(store_inode(*src));
  (*fd)->mtime = (*fd)->ctime = t;
  (*td)->mtime = (*td)->ctime = t;
  touched(from_dir.ino, true);
  touched(to_dir.ino, true);
  SNAPSIM_RETURN_IF_ERROR(store_inode(from_dir.ino));
  if (to_dir.ino != from_dir.ino) SNAPSIM_RETURN_IF_ERROR(store_inode(to_dir.ino));
  if (dst) {
    if (dtype == FileType::kDirectory) {
      SNAPSIM_RETURN_IF_ERROR(free_inode(*dst));
    } else {
      SNAPSIM_RETURN_IF_ERROR(drop_link(*dst));
    }
  }
  return op_done(fmt::format("rename {} {}", from, to));
}

Result<std::string> SimFs::readlink(FileRef link) const {
  auto in = live(link);
  if (!in) return in.status();
  const Inode& n = **in;
  if (type_of(n.mode) != FileType::kSymlink) return Status::invalid_argument("not a symbolic link");
  if (n.size <= kFastLinkMax) return n.fast_link;
  std::string s(n.size, '\0');
  SNAPSIM_RETURN_IF_ERROR(file_bytes(n, 0, std::as_writable_bytes(std::span(s))));
  return s;
}

Status SimFs::open_ref(FileRef f) {
  auto in = live(f);
  if (!in) return in.status();
  (*in)->opens += 1;
  return Status::ok();
}

Status SimFs::close_ref(FileRef f) {
  auto in = live(f);
  if (!in) return in.status();
  Inode& n = **in;
  if (n.opens == 0) return Status::invalid_argument(fmt::format("inode {} is not open", f.ino));
  n.opens -= 1;
  if (n.opens > 0) return Status::ok();
  if (n.da_on_close) {
    n.da_on_close = false;
    if (options_.auto_da_alloc) SNAPSIM_RETURN_IF_ERROR(cache_->sync_owner(f.ino));
  }
  if (n.nlink == 0) {
    SNAPSIM_RETURN_IF_ERROR(begin_op());
    SNAPSIM_RETURN_IF_ERROR(orphan_remove(f.ino));
    SNAPSIM_RETURN_IF_ERROR(free_inode(f.ino));
    return op_done(fmt::format("release ino {}", f.ino));
  }
  return Status::ok();
}

// --- Data --------------------------------------------------------------------

Status SimFs::file_bytes(const Inode& in, uint64_t offset, std::span<std::byte> out) const {
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t pos = offset + done;
    const size_t in_block = pos % block_size_;
    const size_t chunk = std::min<size_t>(block_size_ - in_block, out.size() - done);
    auto phys = map(in, pos / block_size_);
    if (!phys) return phys.status();
    if (*phys == 0) {
      std::memset(out.data() + done, 0, chunk);
    } else {
      auto p = cache_->page(*phys);
      if (!p) return p.status();
      std::memcpy(out.data() + done, *p + in_block, chunk);
    }
    done += chunk;
  }
  return Status::ok();
}

Result<cow::Hash128> SimFs::content_hash(FileRef f, uint64_t prefix) {
  auto in = live(f);
  if (!in) return in.status();
  const Inode& n = **in;
  const uint64_t size = std::min(n.size, prefix);
  const uint64_t full = size / block_size_;  // whole blocks
  std::vector<std::pair<uint64_t, uint64_t>> mapped;
  SNAPSIM_RETURN_IF_ERROR(mapped_blocks(n, (size + block_size_ - 1) / block_size_, &mapped));
  // Whole blocks as a sequence of zero runs and non-zero block hashes: a
  // hole and a written block of zeros hash alike, and a sparse file costs
  // what it maps, not its size.
  cow::Hasher128 h;
  h.update_value(size);
  uint64_t zeros = 0, next = 0;
  const auto end_run = [&] {
    if (zeros == 0) return;
    h.update_value(uint8_t{0}).update_value(zeros);
    zeros = 0;
  };
  uint64_t last_phys = 0;
  for (const auto& [fb, phys] : mapped) {
    if (fb >= full) {
      last_phys = phys;
      break;
    }
    zeros += fb - next;
    next = fb + 1;
    auto bh = cache_->block_hash(phys);
    if (!bh) return bh.status();
    if (*bh == zero_hash_) {
      ++zeros;
      continue;
    }
    end_run();
    h.update_value(uint8_t{1}).update_value(*bh);
  }
  zeros += full - next;
  end_run();
  if (size % block_size_ != 0) {
    std::vector<std::byte> scratch(block_size_, std::byte{0});
    if (last_phys != 0) SNAPSIM_RETURN_IF_ERROR(cache_->read_quiet(last_phys, scratch));
    h.update(scratch.data(), static_cast<size_t>(size % block_size_));
  }
  return h.digest();
}

Status SimFs::mapped_blocks(const Inode& in, uint64_t limit, std::vector<std::pair<uint64_t, uint64_t>>* out) const {
  // Called for every file of every distinct image (its content hash), so it
  // reads only the pointers below `limit` and allocates one buffer a level.
  struct Walk {
    const SimFs& fs;
    uint64_t per, limit;
    std::vector<std::pair<uint64_t, uint64_t>>* out;
    std::vector<std::byte> buf[3];  // one pointer block per depth
    // Pointer p maps file blocks [base, base + per^depth).
    Status operator()(uint64_t p, int depth, uint64_t base) {
      if (p < fs.data_start_ || p >= fs.disk_blocks_ || base >= limit) return Status::ok();
      if (depth == 0) {
        out->emplace_back(base, p);
        return Status::ok();
      }
      uint64_t span = 1;
      for (int d = 1; d < depth; ++d) span *= per;
      std::vector<std::byte>& b = buf[depth - 1];
      b.resize(fs.block_size_);
      SNAPSIM_RETURN_IF_ERROR(fs.cache_->read_quiet(p, b));
      const uint64_t left = limit - base;  // > 0
      const uint64_t n = std::min(per, left / span + (left % span != 0));  // children below limit
      for (uint64_t i = 0; i < n; ++i) {
        if (const uint64_t c = get32(b.data() + 4 * i); c != 0) SNAPSIM_RETURN_IF_ERROR((*this)(c, depth - 1, base + i * span));
      }
      return Status::ok();
    }
  };
  if (type_of(in.mode) == FileType::kSymlink && in.size <= kFastLinkMax) return Status::ok();
  Walk walk{*this, block_size_ / 4, limit, out, {}};
  for (uint32_t i = 0; i < kDirect; ++i) SNAPSIM_RETURN_IF_ERROR(walk(in.ptr[i], 0, i));
  uint64_t base = kDirect, span = walk.per;
  for (int depth = 1; depth <= 3; ++depth) {
    SNAPSIM_RETURN_IF_ERROR(walk(in.ptr[kDirect + depth - 1], depth, base));
    base += span;
    span *= walk.per;
  }
  return Status::ok();
}

Result<size_t> SimFs::read(FileRef f, uint64_t offset, std::span<std::byte> out) {
  auto in = live(f);
  if (!in) return in.status();
  const Inode& n = **in;
  if (type_of(n.mode) == FileType::kDirectory) return Status::fs(Code::kIsDir, "cannot read a directory");
  if (offset >= n.size) return size_t{0};
  const size_t len = static_cast<size_t>(std::min<uint64_t>(out.size(), n.size - offset));
  SNAPSIM_RETURN_IF_ERROR(file_bytes(n, offset, out.first(len)));
  return len;
}

Status SimFs::copy_in(uint32_t ino, uint64_t offset, std::span<const std::byte> data) {
  size_t done = 0;
  while (done < data.size()) {
    const uint64_t pos = offset + done;
    const size_t in_block = pos % block_size_;
    const size_t chunk = std::min<size_t>(block_size_ - in_block, data.size() - done);
    bool fresh = false;
    auto block = map_alloc(ino, pos / block_size_, &fresh);
    if (!block) return block.status();
    auto p = cache_->page(*block);
    if (!p) return p.status();
    std::memcpy(*p + in_block, data.data() + done, chunk);
    SNAPSIM_RETURN_IF_ERROR(cache_->mark_dirty(*block, ino));
    done += chunk;
  }
  return Status::ok();
}

Status SimFs::zero_bytes(uint32_t ino, uint64_t from, uint64_t to) {
  auto inr = inode(ino);
  if (!inr) return inr.status();
  for (uint64_t pos = from; pos < to;) {
    const uint64_t b = pos / block_size_;
    const size_t in_block = pos % block_size_;
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(block_size_ - in_block, to - pos));
    auto phys = map(**inr, b);
    if (!phys) return phys.status();
    if (*phys != 0) {
      auto p = cache_->page(*phys);
      if (!p) return p.status();
      std::memset(*p + in_block, 0, chunk);
      SNAPSIM_RETURN_IF_ERROR(cache_->mark_dirty(*phys, ino));
    }
    pos += chunk;
  }
  return Status::ok();
}

Status SimFs::write(FileRef f, uint64_t offset, std::span<const std::byte> data) {
  auto in = live(f);
  if (!in) return in.status();
  Inode& n = **in;
  if (type_of(n.mode) == FileType::kDirectory) return Status::fs(Code::kIsDir, "cannot write a directory");
  if (type_of(n.mode) != FileType::kRegular) return Status::invalid_argument("can only write a regular file");
  if (offset > max_file_size() || data.size() > max_file_size() - offset) {
    return Status::fs(Code::kFileTooBig, fmt::format("write to {}+{} exceeds the maximum file size {}", offset,
                                                     data.size(), max_file_size()));
  }
  if (!data.empty()) {
    auto need = blocks_to_map(n, offset / block_size_, (offset + data.size() - 1) / block_size_ + 1);
    if (!need) return need.status();
    SNAPSIM_RETURN_IF_ERROR(ensure_free(*need));
  }
  SNAPSIM_RETURN_IF_ERROR(begin_op());
  const uint64_t blocks_before = n.blocks;
  SNAPSIM_RETURN_IF_ERROR(copy_in(f.ino, offset, data));
  const bool grew = offset + data.size() > n.size;
  if (grew) n.size = offset + data.size();
  n.mtime = n.ctime = now();
  touched(f.ino, grew || n.blocks != blocks_before);
  SNAPSIM_RETURN_IF_ERROR(store_inode(f.ino));
  return op_done(fmt::format("write ino {} {}+{}", f.ino, offset, data.size()));
}

Status SimFs::truncate(FileRef f, uint64_t size) {
  auto in = live(f);
  if (!in) return in.status();
  Inode& n = **in;
  if (type_of(n.mode) == FileType::kDirectory) return Status::fs(Code::kIsDir, "cannot truncate a directory");
  if (type_of(n.mode) != FileType::kRegular) return Status::invalid_argument("can only truncate a regular file");
  if (size > max_file_size()) {
    return Status::fs(Code::kFileTooBig,
                      fmt::format("truncate to {} exceeds the maximum file size {}", size, max_file_size()));
  }
  SNAPSIM_RETURN_IF_ERROR(begin_op());
  const uint64_t old = n.size;
  if (size < old) {
    SNAPSIM_RETURN_IF_ERROR(free_range(f.ino, (size + block_size_ - 1) / block_size_, UINT64_MAX));
    // The kept part of the last block past the new end reads as zeros
    // when the file grows again.
    if (size % block_size_ != 0) {
      SNAPSIM_RETURN_IF_ERROR(zero_bytes(f.ino, size, (size / block_size_ + 1) * block_size_));
    }
    if (size == 0 && old > 0) n.da_on_close = true;
  }
  n.size = size;
  if (size != old) n.mtime = n.ctime = now();
  touched(f.ino, size != old);
  SNAPSIM_RETURN_IF_ERROR(store_inode(f.ino));
  return op_done(fmt::format("truncate ino {} {}", f.ino, size));
}

Result<uint64_t> SimFs::size(FileRef f) const {
  auto in = live(f);
  if (!in) return in.status();
  return (*in)->size;
}

Status SimFs::fallocate(FileRef f, Falloc mode, uint64_t offset, uint64_t length) {
  auto in = live(f);
  if (!in) return in.status();
  Inode& n = **in;
  if (type_of(n.mode) == FileType::kDirectory) return Status::fs(Code::kIsDir, "cannot fallocate a directory");
  if (type_of(n.mode) != FileType::kRegular) return Status::invalid_argument("can only fallocate a regular file");
  if (length == 0) return Status::invalid_argument("fallocate of zero bytes");
  if (offset > max_file_size() || length > max_file_size() - offset) {
    return Status::fs(Code::kFileTooBig, fmt::format("fallocate of {}+{} exceeds the maximum file size {}",
                                                     offset, length, max_file_size()));
  }
  const uint64_t end = offset + length;
  if (mode == Falloc::kPunchHole) {
    SNAPSIM_RETURN_IF_ERROR(begin_op());
    const uint64_t first_whole = (offset + block_size_ - 1) / block_size_;
    const uint64_t end_whole = end / block_size_;
    const uint64_t limit = std::min(end, n.size);
    if (first_whole < end_whole) {
      SNAPSIM_RETURN_IF_ERROR(zero_bytes(f.ino, offset, std::min(limit, first_whole * block_size_)));
      SNAPSIM_RETURN_IF_ERROR(free_range(f.ino, first_whole, end_whole));
      if (end_whole * block_size_ < limit) SNAPSIM_RETURN_IF_ERROR(zero_bytes(f.ino, end_whole * block_size_, limit));
    } else if (offset < limit) {
      SNAPSIM_RETURN_IF_ERROR(zero_bytes(f.ino, offset, limit));
    }
    n.mtime = n.ctime = now();
    touched(f.ino, true);
    SNAPSIM_RETURN_IF_ERROR(store_inode(f.ino));
    return op_done(fmt::format("punch ino {} {}+{}", f.ino, offset, length));
  }
  const uint64_t first = offset / block_size_;
  const uint64_t last_end = (end - 1) / block_size_ + 1;
  if (last_end - first > n.blocks + free_blocks_) {
    // More blocks than the file maps plus every free one: no need to count.
    return Status::fs_full(fmt::format("the guest file system is full: fallocate of {} blocks, {} free",
                                       last_end - first, free_blocks_));
  }
  auto need = blocks_to_map(n, first, last_end);
  if (!need) return need.status();
  SNAPSIM_RETURN_IF_ERROR(ensure_free(*need));
  SNAPSIM_RETURN_IF_ERROR(begin_op());
  for (uint64_t b = first; b < last_end; ++b) {
    bool fresh = false;
    auto phys = map_alloc(f.ino, b, &fresh);
    if (!phys) return phys.status();
    // A new block is written as zeros (no unwritten extents here), so a
    // crash can never show what the block held before.
    if (fresh) SNAPSIM_RETURN_IF_ERROR(cache_->mark_dirty(*phys, f.ino));
  }
  const bool grow = mode == Falloc::kAllocate && end > n.size;
  if (grow) n.size = end;
  n.ctime = now();
  if (grow) n.mtime = n.ctime;
  touched(f.ino, true);
  SNAPSIM_RETURN_IF_ERROR(store_inode(f.ino));
  return op_done(fmt::format("fallocate ino {} {}+{}", f.ino, offset, length));
}

Status SimFs::setattr(FileRef f, const SetAttr& a) {
  auto in = live(f);
  if (!in) return in.status();
  Inode& n = **in;
  SNAPSIM_RETURN_IF_ERROR(begin_op());
  if (a.mode) n.mode = (n.mode & ~07777u) | (*a.mode & 07777);
  if (a.uid) n.uid = *a.uid;
  if (a.gid) n.gid = *a.gid;
  if (a.atime_ns) n.atime = *a.atime_ns;
  if (a.mtime_ns) n.mtime = *a.mtime_ns;
  n.ctime = now();
  touched(f.ino, false);
  SNAPSIM_RETURN_IF_ERROR(store_inode(f.ino));
  return op_done(fmt::format("setattr ino {}", f.ino));
}

// --- Durability --------------------------------------------------------------

Status SimFs::sync_file(FileRef f, bool datasync) {
  auto in = live(f);
  if (!in) return in.status();
  if (!journal_) {
    SNAPSIM_RETURN_IF_ERROR(nojournal_sync_inode(f.ino));
    SNAPSIM_RETURN_IF_ERROR(cache_->flush());
    return op_done(fmt::format("{} ino {}", datasync ? "fdatasync" : "fsync", f.ino));
  }
  SNAPSIM_RETURN_IF_ERROR(cache_->sync_owner(f.ino));
  const Inode& n = **in;
  const uint64_t tid = journal_->running_tid();
  const bool needs_commit = datasync ? n.meta_tid == tid : n.attr_tid == tid;
  if (needs_commit && !journal_->running_empty()) {
    SNAPSIM_RETURN_IF_ERROR(journal_->commit());
  } else {
    SNAPSIM_RETURN_IF_ERROR(cache_->flush());
  }
  return op_done(fmt::format("{} ino {}", datasync ? "fdatasync" : "fsync", f.ino));
}

Status SimFs::sync_all() {
  SNAPSIM_RETURN_IF_ERROR(cache_->sync_all());
  if (journal_ && !journal_->running_empty()) SNAPSIM_RETURN_IF_ERROR(journal_->commit());
  return op_done("syncfs");
}

FsStat SimFs::statfs() const {
  FsStat s;
  s.block_size = block_size_;
  s.blocks = disk_blocks_ - data_start_;
  // Blocks a committed transaction freed count as free (a checkpoint makes
  // them reusable on demand); those of the running one do not yet.
  const uint64_t busy = journal_ ? journal_->busy_count() - journal_->busy_committed() : 0;
  s.blocks_free = free_blocks_ > busy ? free_blocks_ - busy : 0;
  s.inodes = options_.inodes - 1;
  s.inodes_free = free_inodes_;
  return s;
}

}  // namespace snapsim::sim
