#include "sim/simfs.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include <fmt/format.h>
#include <xxhash.h>

namespace snapsim::sim {

namespace {

constexpr char kMagic[8] = {'S', 'N', 'A', 'P', 'S', 'I', 'M', 'F'};
constexpr uint32_t kInodeMagic = 0x444f4e49;  // "INOD"
constexpr uint32_t kVersion = 1;
constexpr uint32_t kEntrySize = 64;

void put32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void put64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
uint32_t get32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
uint64_t get64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

Status validate_name(std::string_view name) {
  if (name.empty()) return Status::invalid_argument("empty file name");
  if (name.size() > kMaxNameLength) {
    return Status::invalid_argument(
        fmt::format("file name '{}' is longer than {} bytes", name, kMaxNameLength));
  }
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Status::invalid_argument(fmt::format("file name '{}' contains '/' or NUL", name));
  }
  return Status::ok();
}

}  // namespace

SimFsLayout SimFsLayout::of(const SimFsOptions& o, uint32_t block_size) {
  SimFsLayout l;
  const uint64_t per = block_size / kEntrySize;
  l.dir_blocks = (o.max_files + per - 1) / per;
  l.inode_start = l.dir_start + l.dir_blocks;
  l.max_files = o.max_files;
  l.data_start = l.inode_start + o.max_files;
  l.file_blocks = o.max_file_blocks;
  return l;
}

std::optional<uint32_t> SimFsLayout::inode_of(uint64_t lba) const {
  if (lba < inode_start || lba >= inode_start + max_files) return std::nullopt;
  return static_cast<uint32_t>(lba - inode_start);
}

std::optional<uint32_t> SimFsLayout::data_owner_of(uint64_t lba) const {
  if (lba < data_start || lba >= blocks()) return std::nullopt;
  return static_cast<uint32_t>((lba - data_start) / file_blocks);
}

SimFs::SimFs(PageCache* cache, const SimFsOptions& o)
    : cache_(cache),
      options_(o),
      layout_(SimFsLayout::of(o, cache->block_size())),
      inodes_(o.max_files),
      entries_(o.max_files) {}

uint32_t SimFs::entries_per_block() const { return cache_->block_size() / kEntrySize; }

uint64_t SimFs::blocks_needed(const SimFsOptions& o, uint32_t block_size) {
  return SimFsLayout::of(o, block_size).blocks();
}

uint64_t SimFs::max_file_size() const {
  return static_cast<uint64_t>(options_.max_file_blocks) * cache_->block_size();
}

Status SimFs::format(PageCache& cache, const SimFsOptions& o) {
  if (o.max_files == 0 || o.max_file_blocks == 0) {
    return Status::invalid_argument("simfs needs at least one file of one block");
  }
  if (cache.disk().size_blocks() < blocks_needed(o, cache.block_size())) {
    return Status::invalid_argument(fmt::format(
        "disk of {} blocks is too small for simfs ({} needed)", cache.disk().size_blocks(),
        blocks_needed(o, cache.block_size())));
  }
  SimFs fs(&cache, o);
  auto sb = cache.page(0);
  if (!sb) return sb.status();
  std::memset(*sb, 0, cache.block_size());
  std::memcpy(*sb, kMagic, sizeof kMagic);
  put32(*sb + 8, kVersion);
  put32(*sb + 12, cache.block_size());
  put32(*sb + 16, o.max_files);
  put32(*sb + 20, o.max_file_blocks);
  put32(*sb + 24, o.ordered_data ? 1 : 0);
  SNAPSIM_RETURN_IF_ERROR(cache.mark_dirty(0, kMetaOwner));
  for (uint32_t i = 0; i < o.max_files; ++i) SNAPSIM_RETURN_IF_ERROR(fs.store_inode(i));
  for (uint32_t i = 0; i < o.max_files; ++i) SNAPSIM_RETURN_IF_ERROR(fs.store_entry(i));
  return cache.sync_all();
}

Result<SimFs> SimFs::mount(PageCache& cache) {
  auto sb = cache.page(0);
  if (!sb) return sb.status();
  if (std::memcmp(*sb, kMagic, sizeof kMagic) != 0 || get32(*sb + 8) != kVersion ||
      get32(*sb + 12) != cache.block_size()) {
    return Status::error(cow::Code::kIoError, "no simfs superblock on the disk");
  }
  SimFsOptions o{.max_files = get32(*sb + 16), .max_file_blocks = get32(*sb + 20),
                 .ordered_data = get32(*sb + 24) != 0};
  SimFs fs(&cache, o);
  // Inodes are read when a directory entry names them (or when one is
  // allocated): an inode no entry names is free after mount anyway.
  std::vector<bool> named(o.max_files, false);
  for (uint32_t slot = 0; slot < o.max_files; ++slot) {
    const uint64_t block = fs.dir_start() + slot / fs.entries_per_block();
    auto p = cache.page(block);
    if (!p) return p.status();
    const std::byte* e = *p + (slot % fs.entries_per_block()) * kEntrySize;
    if (static_cast<uint8_t>(e[0]) != 1) continue;
    const size_t len = std::min<size_t>(static_cast<uint8_t>(e[1]), kMaxNameLength);
    std::string name(reinterpret_cast<const char*>(e + 2), len);
    const uint32_t ino = get32(e + 52);
    const uint32_t gen = get32(e + 56);
    if (ino < o.max_files) SNAPSIM_RETURN_IF_ERROR(fs.load_inode(ino));
    if (ino >= o.max_files || !fs.inodes_[ino].used || fs.inodes_[ino].gen != gen) {
      fs.repairs_.push_back(fmt::format("dropped entry '{}' (inode {} not in use)", name, ino));
      continue;
    }
    if (named[ino] || fs.find_entry(name) >= 0) {
      fs.repairs_.push_back(fmt::format("dropped duplicate entry '{}'", name));
      continue;
    }
    named[ino] = true;
    fs.entries_[slot] = Entry{true, name, ino, gen};
  }
  for (uint32_t i = 0; i < o.max_files; ++i) {
    if (fs.inodes_[i].loaded && fs.inodes_[i].used && !named[i]) {
      fs.repairs_.push_back(fmt::format("freed orphan inode {}", i));
      fs.inodes_[i].used = false;
      fs.inodes_[i].size = 0;
    }
  }
  fs.install_ordering();
  return fs;
}

void SimFs::install_ordering() {
  if (!options_.ordered_data) {
    cache_->set_before_write(nullptr);
    return;
  }
  const uint64_t first = inode_block(0);
  const uint64_t last = inode_block(options_.max_files - 1);
  PageCache* cache = cache_;
  cache_->set_before_write([cache, first, last](uint64_t block) -> Status {
    if (block < first || block > last) return Status::ok();
    const auto ino = static_cast<uint32_t>(block - first);
    SNAPSIM_RETURN_IF_ERROR(cache->sync_owner(ino));
    // Written is not durable: a disk cache may keep the inode and lose the
    // data under a power cut. ext4 commits the metadata with a PREFLUSH, so
    // its data is on stable storage first; so does this.
    if (cache->owner_volatile(ino)) return cache->flush();
    return Status::ok();
  });
}

Status SimFs::load_inode(uint32_t ino) {
  assert(ino < options_.max_files);
  Inode& in = inodes_[ino];
  if (in.loaded) return Status::ok();
  auto p = cache_->page(inode_block(ino));
  if (!p) return p.status();
  in.loaded = true;
  in.gen = get32(*p + 8);
  in.used = get32(*p) == kInodeMagic && static_cast<uint8_t>((*p)[4]) == 1;
  in.size = in.used ? get64(*p + 16) : 0;
  return Status::ok();
}

Status SimFs::store_inode(uint32_t ino) {
  assert(ino < options_.max_files);
  const uint64_t block = inode_block(ino);
  auto p = cache_->page(block);
  if (!p) return p.status();
  std::memset(*p, 0, cache_->block_size());
  put32(*p, kInodeMagic);
  (*p)[4] = static_cast<std::byte>(inodes_[ino].used ? 1 : 0);
  put32(*p + 8, inodes_[ino].gen);
  put64(*p + 16, inodes_[ino].size);
  return cache_->mark_dirty(block, kMetaOwner);
}

Status SimFs::store_entry(uint32_t slot) { return store_entries({slot}); }

Status SimFs::store_entries(std::initializer_list<uint32_t> slots) {
  // Encode every changed slot first, then dirty each block once: a change
  // confined to one directory block reaches the disk whole, even under
  // write-through.
  std::vector<uint64_t> blocks;
  for (uint32_t slot : slots) {
    const uint64_t block = dir_start() + slot / entries_per_block();
    auto p = cache_->page(block);
    if (!p) return p.status();
    std::byte* e = *p + (slot % entries_per_block()) * kEntrySize;
    std::memset(e, 0, kEntrySize);
    const Entry& en = entries_[slot];
    if (en.used) {
      e[0] = std::byte{1};
      e[1] = static_cast<std::byte>(en.name.size());
      std::memcpy(e + 2, en.name.data(), en.name.size());
      put32(e + 52, en.ino);
      put32(e + 56, en.gen);
    }
    if (std::find(blocks.begin(), blocks.end(), block) == blocks.end()) blocks.push_back(block);
  }
  for (uint64_t b : blocks) SNAPSIM_RETURN_IF_ERROR(cache_->mark_dirty(b, kMetaOwner));
  return Status::ok();
}

int SimFs::find_entry(std::string_view name) const {
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].used && entries_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

Status SimFs::check(FileRef f) const {
  if (f.ino >= inodes_.size() || !inodes_[f.ino].used || inodes_[f.ino].gen != f.gen) {
    return Status::not_found(fmt::format("stale file handle (inode {})", f.ino));
  }
  return Status::ok();
}

Status SimFs::op_done(std::string op) {
  SNAPSIM_RETURN_IF_ERROR(cache_->background_writeback());
  if (hook_) hook_(op);
  return Status::ok();
}

Result<FileRef> SimFs::lookup(std::string_view name) const {
  const int slot = find_entry(name);
  if (slot < 0) return Status::not_found(fmt::format("no file '{}'", name));
  return FileRef{entries_[slot].ino, entries_[slot].gen};
}

std::vector<std::string> SimFs::list() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) {
    if (e.used) out.push_back(e.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<FileRef> SimFs::open(std::string_view name, bool create) {
  SNAPSIM_RETURN_IF_ERROR(validate_name(name));
  if (auto f = lookup(name); f.is_ok() || !create) return f;
  // Next-fit from the most recently allocated inode, like a real allocator
  // that does not hand a just-freed inode (and its blocks) straight back.
  uint32_t ino = UINT32_MAX;
  for (uint32_t k = 1; k <= options_.max_files; ++k) {
    const uint32_t i = (next_ino_ + k) % options_.max_files;
    if (!inodes_[i].used) {
      ino = i;
      break;
    }
  }
  int slot = -1;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!entries_[i].used) {
      slot = static_cast<int>(i);
      break;
    }
  }
  if (ino == UINT32_MAX || slot < 0) {
    return Status::fs_full(
        fmt::format("cannot create '{}': all {} files of the file system are in use", name,
                    options_.max_files));
  }
  next_ino_ = ino;
  SNAPSIM_RETURN_IF_ERROR(load_inode(ino));  // its generation on disk
  Inode& in = inodes_[ino];
  in.used = true;
  in.gen += 1;
  in.size = 0;
  cache_->drop_owner(ino);
  SNAPSIM_RETURN_IF_ERROR(store_inode(ino));
  entries_[slot] = Entry{true, std::string(name), ino, in.gen};
  SNAPSIM_RETURN_IF_ERROR(store_entry(static_cast<uint32_t>(slot)));
  SNAPSIM_RETURN_IF_ERROR(op_done(fmt::format("create {}", name)));
  return FileRef{ino, in.gen};
}

Result<uint64_t> SimFs::size(FileRef f) const {
  SNAPSIM_RETURN_IF_ERROR(check(f));
  return inodes_[f.ino].size;
}

Result<cow::Hash128> SimFs::content_hash(FileRef f, uint64_t prefix) {
  SNAPSIM_RETURN_IF_ERROR(check(f));
  const uint64_t n = std::min(inodes_[f.ino].size, prefix);
  const uint32_t bs = cache_->block_size();
  cow::Hasher128 h;
  h.update_value(n);
  Status st;
  for (uint64_t b = 0; b * bs < n && st.is_ok(); ++b) {
    const uint64_t block = data_block(f.ino, b);
    if ((b + 1) * bs <= n) {
      auto bh = cache_->block_hash(block);
      if (!bh) {
        st = bh.status();
        break;
      }
      h.update_value(*bh);
    } else {
      auto p = cache_->page(block);
      if (!p) {
        st = p.status();
        break;
      }
      h.update(*p, static_cast<size_t>(n - b * bs));
    }
  }
  if (!st.is_ok()) return st;
  return h.digest();
}

Result<size_t> SimFs::read(FileRef f, uint64_t offset, std::span<std::byte> out) {
  SNAPSIM_RETURN_IF_ERROR(check(f));
  const uint64_t size = inodes_[f.ino].size;
  if (offset >= size) return size_t{0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), size - offset));
  const uint32_t bs = cache_->block_size();
  size_t done = 0;
  while (done < n) {
    const uint64_t pos = offset + done;
    const size_t in_block = pos % bs;
    const size_t chunk = std::min<size_t>(bs - in_block, n - done);
    auto p = cache_->page(data_block(f.ino, pos / bs));
    if (!p) return p.status();
    std::memcpy(out.data() + done, *p + in_block, chunk);
    done += chunk;
  }
  return n;
}

Status SimFs::copy_in(uint32_t ino, uint64_t offset, std::span<const std::byte> data) {
  const uint32_t bs = cache_->block_size();
  size_t done = 0;
  while (done < data.size()) {
    const uint64_t pos = offset + done;
    const size_t in_block = pos % bs;
    const size_t chunk = std::min<size_t>(bs - in_block, data.size() - done);
    const uint64_t block = data_block(ino, pos / bs);
    auto p = cache_->page(block);
    if (!p) return p.status();
    std::memcpy(*p + in_block, data.data() + done, chunk);
    SNAPSIM_RETURN_IF_ERROR(cache_->mark_dirty(block, ino));
    done += chunk;
  }
  return Status::ok();
}

Status SimFs::zero_range(uint32_t ino, uint64_t from, uint64_t to) {
  if (from >= to) return Status::ok();
  const uint32_t bs = cache_->block_size();
  std::vector<std::byte> zeros(std::min<uint64_t>(to - from, 16 * bs));
  for (uint64_t pos = from; pos < to;) {
    const size_t chunk = std::min<uint64_t>(zeros.size(), to - pos);
    SNAPSIM_RETURN_IF_ERROR(copy_in(ino, pos, std::span(zeros).first(chunk)));
    pos += chunk;
  }
  return Status::ok();
}

Status SimFs::write(FileRef f, uint64_t offset, std::span<const std::byte> data) {
  SNAPSIM_RETURN_IF_ERROR(check(f));
  if (offset > max_file_size() || data.size() > max_file_size() - offset) {
    return Status::fs_full(fmt::format("write to {}+{} exceeds the maximum file size {}",
                                            offset, data.size(), max_file_size()));
  }
  Inode& in = inodes_[f.ino];
  if (offset > in.size) SNAPSIM_RETURN_IF_ERROR(zero_range(f.ino, in.size, offset));
  SNAPSIM_RETURN_IF_ERROR(copy_in(f.ino, offset, data));
  if (offset + data.size() > in.size) {
    in.size = offset + data.size();
    SNAPSIM_RETURN_IF_ERROR(store_inode(f.ino));
  }
  return op_done(fmt::format("write ino {} {}+{}", f.ino, offset, data.size()));
}

Status SimFs::truncate(FileRef f, uint64_t size) {
  SNAPSIM_RETURN_IF_ERROR(check(f));
  if (size > max_file_size()) {
    return Status::fs_full(
        fmt::format("truncate to {} exceeds the maximum file size {}", size, max_file_size()));
  }
  Inode& in = inodes_[f.ino];
  if (size == in.size) return op_done(fmt::format("truncate ino {} {}", f.ino, size));
  const uint32_t bs = cache_->block_size();
  if (size < in.size) {
    // Shrink the size first, then zero the tail of the last kept block (now
    // beyond the end), so a later extension reads zeros and no image shows
    // zeros inside the old size.
    const uint64_t old = in.size;
    in.size = size;
    SNAPSIM_RETURN_IF_ERROR(store_inode(f.ino));
    SNAPSIM_RETURN_IF_ERROR(zero_range(f.ino, size, std::min<uint64_t>(old, (size + bs - 1) / bs * bs)));
  } else {
    SNAPSIM_RETURN_IF_ERROR(zero_range(f.ino, in.size, size));
    in.size = size;
    SNAPSIM_RETURN_IF_ERROR(store_inode(f.ino));
  }
  return op_done(fmt::format("truncate ino {} {}", f.ino, size));
}

Status SimFs::unlink(std::string_view name) {
  const int slot = find_entry(name);
  if (slot < 0) return Status::not_found(fmt::format("cannot delete '{}': no such file", name));
  const uint32_t ino = entries_[slot].ino;
  entries_[slot] = Entry{};
  SNAPSIM_RETURN_IF_ERROR(store_entry(static_cast<uint32_t>(slot)));
  inodes_[ino].used = false;
  inodes_[ino].size = 0;
  cache_->drop_owner(ino);
  SNAPSIM_RETURN_IF_ERROR(store_inode(ino));
  return op_done(fmt::format("unlink {}", name));
}

Status SimFs::rename(std::string_view from, std::string_view to) {
  SNAPSIM_RETURN_IF_ERROR(validate_name(to));
  const int src = find_entry(from);
  if (src < 0) return Status::not_found(fmt::format("cannot rename '{}': no such file", from));
  if (from == to) return op_done(fmt::format("rename {} {}", from, to));
  const int dst = find_entry(to);
  if (dst < 0) {
    entries_[src].name = std::string(to);
    SNAPSIM_RETURN_IF_ERROR(store_entry(static_cast<uint32_t>(src)));
  } else {
    const uint32_t victim = entries_[dst].ino;
    entries_[dst].ino = entries_[src].ino;
    entries_[dst].gen = entries_[src].gen;
    entries_[src] = Entry{};
    SNAPSIM_RETURN_IF_ERROR(
        store_entries({static_cast<uint32_t>(dst), static_cast<uint32_t>(src)}));
    inodes_[victim].used = false;
    inodes_[victim].size = 0;
    cache_->drop_owner(victim);
    SNAPSIM_RETURN_IF_ERROR(store_inode(victim));
  }
  return op_done(fmt::format("rename {} {}", from, to));
}

Status SimFs::fsync(FileRef f) {
  SNAPSIM_RETURN_IF_ERROR(check(f));
  SNAPSIM_RETURN_IF_ERROR(cache_->sync_owner(f.ino));
  SNAPSIM_RETURN_IF_ERROR(cache_->write_back(inode_block(f.ino)));
  SNAPSIM_RETURN_IF_ERROR(cache_->flush());
  return op_done(fmt::format("fsync ino {}", f.ino));
}

Status SimFs::sync_dir() {
  for (uint64_t b = 0; b < dir_blocks(); ++b) {
    SNAPSIM_RETURN_IF_ERROR(cache_->write_back(dir_start() + b));
  }
  SNAPSIM_RETURN_IF_ERROR(cache_->flush());
  return op_done("sync dir");
}

}  // namespace snapsim::sim
