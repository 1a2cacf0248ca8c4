// GuestFs: the guest file system as applications see it, the one seam
// through which workloads (and the FUSE bridge) reach a file system, as
// LevelDB's Env is for its I/O. simfs (sim/simfs.h) implements it;
// GuestFsWrapper forwards every call, so a test or a fault model overrides
// only what it needs (sim/faulty_fs.h).
//
// The virtual calls are inode-based, as FUSE's low-level API is: a file is a
// FileRef, a name lives in a directory FileRef. Path helpers (resolve, open,
// mkdir, rename, ...) are built on them once, below, and never overridden.
// Paths are absolute from the root; a leading '/' is optional, "." and ".."
// are understood, symbolic links are followed (at most 40, then ELOOP).
//
// Vocabulary of the contracts below:
//   "in the cache"  visible to every later call, lost by a crash or a
//                   snapshot unless written back first;
//   "durable"       in every later snapshot and after any power cut.
// What becomes durable when is the file system's mode (simfs.h: ext4 or
// nojournal); the contracts name only what every mode guarantees.
// Errors are Status values with POSIX meaning (cow::Code: kNotFound =
// ENOENT, kExists, kNotDir, kIsDir, kNotEmpty, kNameTooLong, kLoop,
// kNotPermitted, kInvalidArgument = EINVAL, kFsFull = ENOSPC, kFileTooBig =
// EFBIG, kIoError = EIO); errno_of() maps them. Nothing throws. A failed
// call changes nothing unless its comment says otherwise.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cow/content_hash.h"
#include "cow/status.h"

namespace snapsim::sim {

using cow::Result;
using cow::Status;

// A handle: inode number plus generation, so a handle to a deleted file
// fails instead of reaching a file that reused the inode.
struct FileRef {
  uint32_t ino = UINT32_MAX;
  uint32_t gen = 0;
  friend bool operator==(FileRef, FileRef) = default;
};

inline std::ostream& operator<<(std::ostream& os, FileRef f) { return os << f.ino << "." << f.gen; }

enum class FileType : uint8_t { kNone = 0, kRegular = 1, kDirectory = 2, kSymlink = 3 };
const char* file_type_name(FileType t);
inline std::ostream& operator<<(std::ostream& os, FileType t) { return os << file_type_name(t); }

inline constexpr size_t kNameMax = 255;   // bytes in one name (NAME_MAX)
inline constexpr size_t kPathMax = 4096;  // bytes in a path, and in a symlink's target (PATH_MAX)

struct Stat {
  FileRef ref;
  FileType type = FileType::kNone;
  uint32_t mode = 0;  // permission bits (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // allocated, in 512-byte units (st_blocks), mapping blocks included
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
};

// What setattr changes; unset fields stay. Size goes through truncate().
struct SetAttr {
  std::optional<uint32_t> mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<int64_t> atime_ns;
  std::optional<int64_t> mtime_ns;
};

// A new inode for create_at().
struct NewNode {
  FileType type = FileType::kRegular;
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string target;  // a symlink's target
};

struct DirEntry {
  std::string name;
  FileRef ref;
  FileType type = FileType::kNone;
  friend bool operator==(const DirEntry&, const DirEntry&) = default;
};

struct FsStat {
  uint32_t block_size = 0;
  uint64_t blocks = 0;       // data blocks the files can use
  uint64_t blocks_free = 0;
  uint64_t inodes = 0;
  uint64_t inodes_free = 0;
  uint32_t name_max = kNameMax;
};

enum class Falloc : uint8_t {
  kAllocate,   // mode 0: allocate, zero-filled, and grow the size to cover the range
  kKeepSize,   // FALLOC_FL_KEEP_SIZE: allocate, the size unchanged
  kPunchHole,  // FALLOC_FL_PUNCH_HOLE|KEEP_SIZE: the range reads as zeros, its whole blocks are freed
};

// One entry of walk().
struct WalkEntry {
  std::string path;  // from the root, no leading '/': "dir/file"
  Stat stat;
};

int errno_of(const Status& st);

class GuestFs {
 public:
  virtual ~GuestFs() = default;

  virtual FileRef root() const = 0;
  // The entry `name` of directory `dir` (no symlink followed). Fails:
  // stale handle, not_dir, not_found, name_too_long.
  virtual Result<FileRef> lookup_at(FileRef dir, std::string_view name) const = 0;
  virtual Result<Stat> stat(FileRef f) const = 0;
  // Every entry of `dir` except "." and "..", sorted by name.
  virtual Result<std::vector<DirEntry>> readdir(FileRef dir) const = 0;
  // A new regular file, directory or symlink `name` in `dir` (durable per
  // the mode: an fsync of `dir`, or in ext4 of anything). Fails: exists,
  // not_dir, name_too_long, invalid_argument (empty, ".", "..", '/' or NUL
  // in the name), fs_full when no inode or block is left.
  virtual Result<FileRef> create_at(FileRef dir, std::string_view name, const NewNode& node) = 0;
  // A new name for the non-directory `target`. Fails: not_permitted for a
  // directory, exists, and as create_at.
  virtual Status link_at(FileRef target, FileRef dir, std::string_view name) = 0;
  // Removes a non-directory's name; the file is freed with its last name,
  // or at its last close_ref() if it is open. Fails: is_dir, not_found.
  virtual Status unlink_at(FileRef dir, std::string_view name) = 0;
  // Removes an empty directory. Fails: not_dir, not_empty, not_found,
  // invalid_argument for "." (and the root).
  virtual Status rmdir_at(FileRef dir, std::string_view name) = 0;
  // rename(2): moves `from` to `to`, atomically replacing an existing `to`
  // of a compatible kind; two names of one inode: nothing happens. Fails:
  // not_found; exists with `noreplace`; is_dir (file over directory);
  // not_dir (directory over file); not_empty (over a non-empty directory);
  // invalid_argument (a directory into itself or its own subtree).
  virtual Status rename_at(FileRef from_dir, std::string_view from, FileRef to_dir,
                           std::string_view to, bool noreplace = false) = 0;
  virtual Result<std::string> readlink(FileRef link) const = 0;
  // An open file description: an unlinked file lives until its last close.
  virtual Status open_ref(FileRef f) = 0;
  virtual Status close_ref(FileRef f) = 0;

  // A hash of the file's first min(size, prefix) bytes, equal exactly when
  // those bytes are equal. Takes no simulated time. Fails: stale handle.
  virtual Result<cow::Hash128> content_hash(FileRef f, uint64_t prefix = UINT64_MAX) = 0;
  // Up to out.size() bytes from `offset`; returns how many (short at the
  // end of the file; a hole reads as zeros). Fails: stale handle, is_dir,
  // a disk read error.
  virtual Result<size_t> read(FileRef f, uint64_t offset, std::span<std::byte> out) = 0;
  // Writes `data` at `offset` in the cache (a gap below it reads as zeros).
  // Fails: stale handle, is_dir; file_too_big past the largest file;
  // fs_full when the blocks it needs are not free (nothing is written);
  // out_of_space when the block pool is full.
  virtual Status write(FileRef f, uint64_t offset, std::span<const std::byte> data) = 0;
  // Sets the size (growing reads as zeros) in the cache.
  virtual Status truncate(FileRef f, uint64_t size) = 0;
  virtual Result<uint64_t> size(FileRef f) const = 0;
  virtual Status fallocate(FileRef f, Falloc mode, uint64_t offset, uint64_t length) = 0;
  virtual Status setattr(FileRef f, const SetAttr& attr) = 0;

  // When it returns ok, the file's contents and attributes are durable, and
  // for a directory its entries (a file's name: see the mode). Fails: stale
  // handle, io_error when the disk reports one (nothing is then known to be
  // durable).
  virtual Status fsync(FileRef f) = 0;
  // As fsync(), except attributes that reading the data does not need
  // (times) may stay volatile.
  virtual Status fdatasync(FileRef f) = 0;
  // syncfs: when it returns ok, everything done before it is durable.
  virtual Status sync_all() = 0;

  virtual FsStat statfs() const = 0;
  virtual uint64_t max_file_size() const = 0;
  // What the mount repaired or replayed (journal transactions, orphans
  // freed, entries dropped), one line each.
  virtual const std::vector<std::string>& mount_repairs() const = 0;

  // --- Path helpers (built on the calls above) ---

  // The file at `path`; follow_last = false leaves a final symlink itself.
  Result<FileRef> resolve(std::string_view path, bool follow_last = true) const;
  // The directory that holds `path`'s last component, and that component.
  Result<std::pair<FileRef, std::string>> resolve_parent(std::string_view path) const;
  Result<FileRef> lookup(std::string_view path) const { return resolve(path); }
  bool exists(std::string_view path) const { return resolve(path).is_ok(); }
  // The regular file at `path`; with `create`, a new empty one (mode 0644)
  // if there is none. Not an open file description (see open_ref()).
  Result<FileRef> open(std::string_view path, bool create);
  Result<FileRef> mkdir(std::string_view path, uint32_t mode = 0755);
  // mkdir -p: every missing directory on the way.
  Status mkdirs(std::string_view path, uint32_t mode = 0755);
  Status rmdir(std::string_view path);
  Status unlink(std::string_view path);
  Status rename(std::string_view from, std::string_view to);
  Status link(std::string_view existing, std::string_view path);
  Result<FileRef> symlink(std::string_view target, std::string_view path);
  // fsync of the directory that holds `path` (what makes a create, unlink
  // or rename of `path` durable on every mode).
  Status fsync_parent(std::string_view path);
  Result<Stat> stat_path(std::string_view path) const;
  // Every regular file's path, sorted (from the root, no leading '/').
  std::vector<std::string> list() const;
  // Every entry of the tree below the root, depth-first in name order.
  std::vector<WalkEntry> walk() const;
};

// Forwards every call to `target` (not owned). Derive and override what a
// test or a fault model changes.
class GuestFsWrapper : public GuestFs {
 public:
  explicit GuestFsWrapper(GuestFs* target) : target_(target) {}
  GuestFs* target() const { return target_; }

  FileRef root() const override { return target_->root(); }
  Result<FileRef> lookup_at(FileRef dir, std::string_view name) const override {
    return target_->lookup_at(dir, name);
  }
  Result<Stat> stat(FileRef f) const override { return target_->stat(f); }
  Result<std::vector<DirEntry>> readdir(FileRef dir) const override { return target_->readdir(dir); }
  Result<FileRef> create_at(FileRef dir, std::string_view name, const NewNode& node) override {
    return target_->create_at(dir, name, node);
  }
  Status link_at(FileRef target, FileRef dir, std::string_view name) override {
    return target_->link_at(target, dir, name);
  }
  Status unlink_at(FileRef dir, std::string_view name) override { return target_->unlink_at(dir, name); }
  Status rmdir_at(FileRef dir, std::string_view name) override { return target_->rmdir_at(dir, name); }
  Status rename_at(FileRef from_dir, std::string_view from, FileRef to_dir, std::string_view to,
                   bool noreplace) override {
    return target_->rename_at(from_dir, from, to_dir, to, noreplace);
  }
  Result<std::string> readlink(FileRef link) const override { return target_->readlink(link); }
  Status open_ref(FileRef f) override { return target_->open_ref(f); }
  Status close_ref(FileRef f) override { return target_->close_ref(f); }
  Result<cow::Hash128> content_hash(FileRef f, uint64_t prefix) override { return target_->content_hash(f, prefix); }
  Result<size_t> read(FileRef f, uint64_t offset, std::span<std::byte> out) override {
    return target_->read(f, offset, out);
  }
  Status write(FileRef f, uint64_t offset, std::span<const std::byte> data) override {
    return target_->write(f, offset, data);
  }
  Status truncate(FileRef f, uint64_t size) override { return target_->truncate(f, size); }
  Result<uint64_t> size(FileRef f) const override { return target_->size(f); }
  Status fallocate(FileRef f, Falloc mode, uint64_t offset, uint64_t length) override {
    return target_->fallocate(f, mode, offset, length);
  }
  Status setattr(FileRef f, const SetAttr& attr) override { return target_->setattr(f, attr); }
  Status fsync(FileRef f) override { return target_->fsync(f); }
  Status fdatasync(FileRef f) override { return target_->fdatasync(f); }
  Status sync_all() override { return target_->sync_all(); }
  FsStat statfs() const override { return target_->statfs(); }
  uint64_t max_file_size() const override { return target_->max_file_size(); }
  const std::vector<std::string>& mount_repairs() const override { return target_->mount_repairs(); }

 private:
  GuestFs* target_;
};

}  // namespace snapsim::sim
