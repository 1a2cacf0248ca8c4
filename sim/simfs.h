// SimFs: the guest file system, hierarchical and POSIX enough for real
// programs, on one virtual disk through the page cache. Its durability is a
// mode chosen at format time (SimFsOptions::mode, `--fs`):
//   ext4       metadata journaled as ext4/jbd2 does (sim/journal.h says how)
//   nojournal  metadata written back in any order, checked at mount
//              (sim/nojournal.cc says how)
// The tree, the allocators and the on-disk encoding below are shared.
//
// On-disk layout (block size B from the disk, all integers little-endian):
//   block 0          superblock: magic, version, geometry, mode, options,
//                    free counts, the orphan list's head
//   journal          `journal_blocks` blocks (ext4 only): sim/journal.h
//   block bitmap     one bit per disk block, set = in use
//   inode bitmap     one bit per inode, set = in use
//   inode table      256-byte inodes, B/256 per block; inode 0 is never
//                    used, inode 1 is the root directory
//   data             file data, directory blocks, mapping blocks
// An inode holds type and permissions, owner, link count, generation, size,
// blocks in use, times (ns of SimClock), a directory's parent, the next
// orphan, and 15 block pointers: 12 direct, one single, one double and one
// triple indirect (B/4 pointers of 32 bits per mapping block; 0 = a hole,
// so files are sparse). A symlink's target up to 60 bytes lives in the
// pointers (ext4's fast symlink), a longer one in data blocks.
// A directory is a file of blocks, each {u16 count, count x {u32 inode, u8
// type, u8 name length, name}}; its parent is in its inode; "." and ".."
// are not stored. Directory blocks are metadata (journaled in ext4).
//
// Allocation: next-fit from a goal (the file's previous block), so files
// lie mostly in order; inodes next-fit from the last one allocated, so a
// freed inode is not handed straight back. In ext4 mode a block freed in a
// transaction is not reused until the journal holding that transaction is
// checkpointed (as mballoc keeps freed extents busy until commit): a crash
// can then never expose another file's new data in a file whose deletion
// did not commit, and replay never overwrites a reused block.
// A write that needs more blocks than are free, and a create with no free
// inode, fail with fs_full before changing anything.
//
// Unlink of an open file drops its name; the inode joins the orphan list
// (superblock head, linked through the inodes) until its last close_ref(),
// and mount frees what a crash left on it.
// Times: mtime/ctime as POSIX says; atime is set at create and by setattr
// only (mounted noatime).
// Not modeled: extended attributes, devices/FIFOs/sockets, quotas, mmap
// (the FUSE bridge turns shared mappings into writes), permission checks
// (the caller, e.g. FUSE's default_permissions, does them).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cow/status.h"
#include "sim/guest_fs.h"
#include "sim/page_cache.h"
#include "sim/prng.h"
#include "sim/sim_clock.h"
#include "sim/simfs_encoding.h"
#include "sim/trace.h"

namespace snapsim::sim {

using cow::Result;

enum class FsMode : uint8_t { kExt4 = 1, kNoJournal = 0 };
const char* fs_mode_name(FsMode m);
inline std::ostream& operator<<(std::ostream& os, FsMode m) { return os << fs_mode_name(m); }
Result<FsMode> parse_fs_mode(const std::string& name);

struct SimFsOptions {
  FsMode mode = FsMode::kExt4;
  // data=ordered (ext4's default): a transaction's file data is written
  // before its commit block (nojournal: before the inode or mapping block
  // that exposes it), so metadata on the disk never exposes unwritten data.
  // false = data=writeback: a file may show stale or zero bytes after a
  // crash (the journal still keeps ext4's metadata consistent).
  bool ordered_data = true;
  // ext4's auto_da_alloc: the data of a file that replaces another by
  // rename, or that was truncated to zero and rewritten, is written at the
  // rename / the close.
  bool auto_da_alloc = true;
  uint32_t commit_interval_ms = 5000;  // ext4 commit=5
  uint64_t disk_bytes = 1ull << 30;     // the disk (thin: only used blocks cost)
  uint32_t inodes = 65536;              // inodes, the root included
  uint32_t journal_blocks = 0;          // 0: disk blocks / 64, in 256 .. 32768
  uint64_t max_file_blocks = 0;         // 0: what the block map reaches
};

class Journal;

// The GuestFs contract (sim/guest_fs.h) holds, with the durability of the
// mode.
class SimFs : public GuestFs {
 public:
  // Called after every completed file operation with a one-line description.
  using OpHook = std::function<void(const std::string& op)>;

  // Disk blocks a file system with these options takes.
  static uint64_t blocks_needed(const SimFsOptions& o, uint32_t block_size);
  // Writes an empty file system (a root directory) and syncs it.
  static Status format(PageCache& cache, const SimFsOptions& options, SimClock* clock);
  // Mounts the file system on the cache's disk as a boot does: ext4 replays
  // the journal, nojournal checks and repairs the tree; both free orphans.
  // Never fails on an image a crash or snapshot of this file system left;
  // fails with io_error on a disk that holds no simfs.
  static Result<std::unique_ptr<SimFs>> mount(PageCache& cache, SimClock* clock, Prng prng);
  ~SimFs() override;

  FileRef root() const override;
  Result<FileRef> lookup_at(FileRef dir, std::string_view name) const override;
  Result<Stat> stat(FileRef f) const override;
  Result<std::vector<DirEntry>> readdir(FileRef dir) const override;
  Result<FileRef> create_at(FileRef dir, std::string_view name, const NewNode& node) override;
  Status link_at(FileRef target, FileRef dir, std::string_view name) override;
  Status unlink_at(FileRef dir, std::string_view name) override;
  Status rmdir_at(FileRef dir, std::string_view name) override;
  Status rename_at(FileRef from_dir, std::string_view from, FileRef to_dir, std::string_view to,
                   bool noreplace) override;
  Result<std::string> readlink(FileRef link) const override;
  Status open_ref(FileRef f) override;
  Status close_ref(FileRef f) override;
  // Whole blocks by their block hashes (cached page or disk; nothing is read
  // or cached), a hole as a zero block, a partial last block by its bytes.
  Result<cow::Hash128> content_hash(FileRef f, uint64_t prefix = UINT64_MAX) override;
  Result<size_t> read(FileRef f, uint64_t offset, std::span<std::byte> out) override;
  Status write(FileRef f, uint64_t offset, std::span<const std::byte> data) override;
  Status truncate(FileRef f, uint64_t size) override;
  Result<uint64_t> size(FileRef f) const override;
  Status fallocate(FileRef f, Falloc mode, uint64_t offset, uint64_t length) override;
  Status setattr(FileRef f, const SetAttr& attr) override;
  Status fsync(FileRef f) override { return sync_file(f, false); }
  Status fdatasync(FileRef f) override { return sync_file(f, true); }
  Status sync_all() override;
  FsStat statfs() const override;
  uint64_t max_file_size() const override;
  const std::vector<std::string>& mount_repairs() const override { return repairs_; }

  const SimFsOptions& options() const { return options_; }
  PageCache& cache() { return *cache_; }
  void set_op_hook(OpHook hook) { hook_ = std::move(hook); }
  // The writes FIFREEZE would make, as (block, contents), ascending: every
  // dirty page, and in ext4 the journal checkpointed (every journaled block
  // at home, the journal empty), so the frozen image needs no recovery.
  // Changes nothing.
  std::vector<std::pair<uint64_t, std::span<const std::byte>>> freeze_writes() const;
  // Journal commits so far (ext4; 0 for nojournal), for tests and traces.
  uint64_t commits() const;
  // Called after each journal commit block is written (ext4), for tests.
  void set_commit_hook(std::function<void()> hook);
  // Checks the tree against the bitmaps, link counts and the orphan list
  // and returns every inconsistency found (none on a healthy file system).
  std::vector<std::string> check() const;

 private:
  friend class Journal;
  struct Inode : fsenc::InodeRecord {
    // Runtime only.
    uint32_t opens = 0;
    bool new_entry = false;     // nojournal: named since its directory was synced
    uint32_t entry_dir = 0;     // the directory of its latest name
    bool da_on_close = false;   // auto_da_alloc: truncated to zero, written at close
    uint64_t meta_tid = 0;      // transaction of the last size/mapping change
    uint64_t attr_tid = 0;      // transaction of the last change of any field
  };
  struct DirSlot {
    uint32_t ino = 0;
    FileType type = FileType::kNone;
    uint32_t block = 0;  // directory block holding the entry
  };
  struct Dir {
    std::map<std::string, DirSlot, std::less<>> entries;
    std::vector<uint32_t> used;  // bytes used per directory block
    std::vector<std::vector<std::string>> names;  // entries per block
  };

  SimFs(PageCache* cache, SimClock* clock, Prng prng);
  void apply(const fsenc::Geometry& g);
  Status load_super();
  Status store_super();

  // Inodes.
  Result<Inode*> inode(uint32_t ino) const;  // loads it
  Result<Inode*> live(FileRef f) const;      // a handle's inode, or not_found
  Status store_inode(uint32_t ino);
  uint64_t inode_block(uint32_t ino) const;
  Result<uint32_t> alloc_inode();
  Status free_inode(uint32_t ino);
  Status drop_link(uint32_t ino);  // nlink-- and free or orphan at zero
  Status orphan_add(uint32_t ino);
  Status orphan_remove(uint32_t ino);

  // Bitmaps.
  Result<bool> bit(uint64_t first_block, uint64_t index) const;
  Status set_bit(uint64_t first_block, uint64_t index, bool value);
  Result<uint64_t> alloc_block(uint64_t goal);
  Status free_block(uint64_t block);
  Status ensure_free(uint64_t blocks);

  // Block maps.
  Result<uint64_t> map(const Inode& in, uint64_t fb) const;
  Result<uint64_t> map_alloc(uint32_t ino, uint64_t fb, bool* fresh);
  Result<uint64_t> blocks_to_map(const Inode& in, uint64_t first, uint64_t end) const;
  Status free_range(uint32_t ino, uint64_t first, uint64_t end);
  // The blocks an inode maps: its data blocks and its mapping blocks
  // (either may be null), in tree order.
  Status block_tree(const Inode& in, std::vector<uint64_t>* data, std::vector<uint64_t>* mapping) const;
  // (file block, disk block) of every mapped data block below `limit`, ascending.
  Status mapped_blocks(const Inode& in, uint64_t limit, std::vector<std::pair<uint64_t, uint64_t>>* out) const;
  uint64_t max_blocks() const;

  // Directories.
  Result<Dir*> dir(uint32_t ino) const;  // loads it
  Status dir_add(uint32_t dir_ino, const std::string& name, uint32_t ino, FileType type);
  Status dir_remove(uint32_t dir_ino, const std::string& name);
  Status store_dir_block(uint32_t dir_ino, uint32_t block);
  Result<uint32_t> dir_lookup(uint32_t dir_ino, std::string_view name) const;
  Result<Inode*> live_dir(FileRef f) const;

  // Data.
  Status copy_in(uint32_t ino, uint64_t offset, std::span<const std::byte> data);
  Status zero_bytes(uint32_t ino, uint64_t from, uint64_t to);  // mapped blocks only
  Status file_bytes(const Inode& in, uint64_t offset, std::span<std::byte> out) const;

  // Metadata writes: journaled (ext4) or dirty in the cache (nojournal).
  Status meta_dirty(uint64_t block);
  void touched(uint32_t ino, bool meta);  // a changed inode: its transaction ids
  Status begin_op();
  Status op_done(std::string op);
  Status sync_file(FileRef f, bool datasync);
  Status nojournal_sync_inode(uint32_t ino);
  // nojournal with data=ordered: data before the inode or mapping block
  // that exposes it (sim/nojournal.cc).
  void install_ordering();
  Status order_before(uint64_t block);
  Status nojournal_fsck();
  int64_t now() const;

  PageCache* cache_;
  SimClock* clock_;
  Prng prng_;
  SimFsOptions options_;
  uint32_t block_size_ = 0;
  uint64_t disk_blocks_ = 0;
  uint64_t journal_start_ = 0, bbitmap_start_ = 0, ibitmap_start_ = 0, itable_start_ = 0,
           data_start_ = 0;
  uint64_t free_blocks_ = 0;
  uint32_t free_inodes_ = 0;
  uint32_t orphan_head_ = 0;
  uint64_t block_cursor_ = 0;
  uint32_t inode_cursor_ = 1;
  mutable std::unordered_map<uint32_t, Inode> inodes_;
  mutable std::unordered_map<uint32_t, Dir> dirs_;
  std::vector<uint32_t> orphans_;  // in list order, head first
  std::unordered_map<uint64_t, uint32_t> mapping_owner_;  // mapping block -> inode (nojournal ordering)
  std::unique_ptr<Journal> journal_;
  OpHook hook_;
  std::vector<std::string> repairs_;
  cow::Hash128 zero_hash_{};
};

}  // namespace snapsim::sim
