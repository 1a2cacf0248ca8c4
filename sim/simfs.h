// SimFs: a flat directory of files on one virtual disk, through the page cache.
//
// On-disk layout (block size B, from the disk):
//   block 0                    superblock (magic, geometry)
//   blocks 1 .. D              directory: 64-byte entries {name, inode, generation}
//   blocks D+1 .. D+max_files  inode table, one inode per block {used, generation, size}
//   then max_files regions     inode i owns the data blocks
//                              [data_start + i*max_file_blocks, +max_file_blocks)
// Block allocation is therefore implicit (no bitmap): the metadata that can
// be lost or reordered is the directory and each file's size.
//
// Ordering guarantees (and only these; everything else may reach the disk in
// any order, or not at all, under the writeback policy):
//   - fsync(f) / fdatasync(f): f's dirty data pages (ascending), then f's
//     inode block, then FLUSH. When it returns, f's contents and size as of
//     the call are on the disk. It does not persist f's directory entry.
//     (fdatasync is fsync here: size is the only inode field.)
//   - sync_dir(): every dirty directory block, then FLUSH. Persists creates,
//     unlinks and renames done before the call. A created file whose inode
//     was never written is still absent after a restore.
//   - sync_all() (syncfs, FIFREEZE): every dirty page, then FLUSH.
//   - A directory block and an inode block are each written whole, so a
//     change confined to one of them is atomic. With B >= 4096 and the
//     default 64 files the directory is one block: rename is then atomic.
//   - With ordered_data (default, as ext4 data=ordered) writing an inode
//     block back first writes that file's dirty data pages and, if any data
//     page of the file is written but not yet durable, issues a FLUSH (as
//     ext4's journal commit carries a PREFLUSH): a size on the disk never
//     exposes unwritten bytes, neither in a snapshot (a prefix of the
//     writes) nor after a power cut (which loses only unflushed writes).
//     Without it (data=writeback),
//     a size that reached the disk before the data exposes stale bytes (an
//     inode's region keeps what its previous file left) or zeroes.
//   - Extending a file zero-fills the gap through the cache.
// mount() runs a check: a directory entry counts only if its inode is in
// use with the same generation; an inode no entry names is freed; of two
// entries with one name or one inode, the lower slot wins.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cow/status.h"
#include "sim/guest_fs.h"
#include "sim/page_cache.h"
#include "sim/trace.h"

namespace snapsim::sim {

using cow::Result;

struct SimFsOptions {
  uint32_t max_files = 64;
  uint32_t max_file_blocks = 4096;  // 16 MiB files at 4 KiB blocks
  // data=ordered (ext4's default): a file's dirty data pages are written
  // before its inode block, so a size on disk never covers data that was
  // not written. false = data=writeback: the inode may go first and expose
  // stale or zero bytes (SQLite's pessimistic "garbage" assumption).
  bool ordered_data = true;
};

// Where simfs keeps what on its disk (the layout above), for tools that
// look at block addresses: the crash model's tests, reports.
struct SimFsLayout {
  uint64_t dir_start = 1;
  uint64_t dir_blocks = 0;
  uint64_t inode_start = 0;   // inode i is block inode_start + i
  uint32_t max_files = 0;
  uint64_t data_start = 0;    // inode i's data region starts at data_start + i * file_blocks
  uint64_t file_blocks = 0;
  static SimFsLayout of(const SimFsOptions& o, uint32_t block_size);
  // The inode whose inode block `lba` is, if it is one.
  std::optional<uint32_t> inode_of(uint64_t lba) const;
  // The inode whose data region holds `lba`, if any.
  std::optional<uint32_t> data_owner_of(uint64_t lba) const;
  uint64_t blocks() const { return data_start + static_cast<uint64_t>(max_files) * file_blocks; }
};

inline constexpr size_t kMaxNameLength = 47;

// The GuestFs contract (sim/guest_fs.h) holds, with the ordering stated
// above.
class SimFs : public GuestFs {
 public:
  // Called after every completed file operation with a one-line description.
  using OpHook = std::function<void(const std::string& op)>;

  // Disk blocks a file system with these options needs.
  static uint64_t blocks_needed(const SimFsOptions& o, uint32_t block_size);
  // Writes an empty file system through the cache and syncs it.
  static Status format(PageCache& cache, const SimFsOptions& options);
  // Reads and checks the file system on the cache's disk.
  static Result<SimFs> mount(PageCache& cache);

  Result<FileRef> open(std::string_view name, bool create) override;
  Result<FileRef> lookup(std::string_view name) const override;
  std::vector<std::string> list() const override;

  // A hash of the file's first min(size, prefix) bytes, equal for equal
  // bytes: whole blocks by their block hashes (cached page or disk, nothing
  // is read or cached), a partial last block by its bytes.
  Result<cow::Hash128> content_hash(FileRef f, uint64_t prefix = UINT64_MAX) override;
  // Reads up to out.size() bytes; returns how many (short at end of file).
  Result<size_t> read(FileRef f, uint64_t offset, std::span<std::byte> out) override;
  Status write(FileRef f, uint64_t offset, std::span<const std::byte> data) override;
  Status truncate(FileRef f, uint64_t size) override;
  Result<uint64_t> size(FileRef f) const override;
  Status unlink(std::string_view name) override;
  Status rename(std::string_view from, std::string_view to) override;

  Status fsync(FileRef f) override;
  Status fdatasync(FileRef f) override { return fsync(f); }
  Status sync_dir() override;
  Status sync_all() override { return cache_->sync_all(); }

  uint64_t max_file_size() const override;
  PageCache& cache() { return *cache_; }
  void set_op_hook(OpHook hook) { hook_ = std::move(hook); }
  // Names the fsck dropped or freed at mount, for recovery reports.
  const std::vector<std::string>& mount_repairs() const override { return repairs_; }

 private:
  struct Inode {
    bool loaded = false;  // read from disk (mount reads named ones only)
    bool used = false;
    uint32_t gen = 0;
    uint64_t size = 0;
  };
  struct Entry {
    bool used = false;
    std::string name;
    uint32_t ino = 0;
    uint32_t gen = 0;
  };
  SimFs(PageCache* cache, const SimFsOptions& o);
  void install_ordering();

  uint32_t entries_per_block() const;
  uint64_t dir_start() const { return layout_.dir_start; }
  uint64_t dir_blocks() const { return layout_.dir_blocks; }
  uint64_t inode_block(uint32_t ino) const { return layout_.inode_start + ino; }
  uint64_t data_block(uint32_t ino, uint64_t file_block) const {
    return layout_.data_start + static_cast<uint64_t>(ino) * layout_.file_blocks + file_block;
  }
  Status check(FileRef f) const;
  Status store_inode(uint32_t ino);
  Status load_inode(uint32_t ino);
  Status store_entry(uint32_t slot);
  Status store_entries(std::initializer_list<uint32_t> slots);
  Status zero_range(uint32_t ino, uint64_t from, uint64_t to);
  Status copy_in(uint32_t ino, uint64_t offset, std::span<const std::byte> data);
  int find_entry(std::string_view name) const;
  Status op_done(std::string op);

  PageCache* cache_;
  SimFsOptions options_;
  SimFsLayout layout_;
  std::vector<Inode> inodes_;
  std::vector<Entry> entries_;
  OpHook hook_;
  std::vector<std::string> repairs_;
  uint32_t next_ino_ = UINT32_MAX;  // next-fit allocation cursor (last allocated)
};

}  // namespace snapsim::sim
