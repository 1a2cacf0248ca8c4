// GuestFs: the guest file system as applications see it, the one seam
// through which workloads (and later the FUSE bridge) reach a file system,
// as LevelDB's Env is for its I/O. simfs (sim/simfs.h) is the first
// implementation; GuestFsWrapper forwards every call, so a test or a fault
// model overrides only what it needs (sim/faulty_fs.h).
//
// Vocabulary of the contracts below:
//   "in the cache"  visible to every later call, lost by a crash or a
//                   snapshot unless written back first;
//   "durable"       in every later snapshot and after any power cut.
// Errors are Status values; nothing throws. A failed call changes nothing
// unless its comment says otherwise.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
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

class GuestFs {
 public:
  virtual ~GuestFs() = default;

  // The file `name`; with `create`, a new empty one if there is none (the
  // name is durable only after sync_dir()). Fails: invalid_argument for a
  // bad name, not_found without `create`, fs_full when no file can be
  // created.
  virtual Result<FileRef> open(std::string_view name, bool create) = 0;
  // The file `name`, or not_found. Reads nothing from the disk.
  virtual Result<FileRef> lookup(std::string_view name) const = 0;
  bool exists(std::string_view name) const { return lookup(name).is_ok(); }
  // Every file name, sorted.
  virtual std::vector<std::string> list() const = 0;

  // A hash of the file's first min(size, prefix) bytes, equal exactly when
  // those bytes are equal. Takes no simulated time. Fails: stale handle.
  virtual Result<cow::Hash128> content_hash(FileRef f, uint64_t prefix = UINT64_MAX) = 0;
  // Up to out.size() bytes from `offset`; returns how many (short at the
  // end of the file). Fails: stale handle, a disk read error.
  virtual Result<size_t> read(FileRef f, uint64_t offset, std::span<std::byte> out) = 0;
  // Writes `data` at `offset` (a gap below it reads as zeros) in the cache.
  // Fails: stale handle; fs_full past the maximum file size; out_of_space
  // when the block pool is full (the file may then hold part of the data,
  // as a short write would).
  virtual Status write(FileRef f, uint64_t offset, std::span<const std::byte> data) = 0;
  // Sets the size (growing reads as zeros) in the cache.
  virtual Status truncate(FileRef f, uint64_t size) = 0;
  virtual Result<uint64_t> size(FileRef f) const = 0;
  // Removes the name and frees the file (durable after sync_dir()).
  virtual Status unlink(std::string_view name) = 0;
  // Renames `from` to `to`, replacing `to` atomically if it exists
  // (durable after sync_dir()).
  virtual Status rename(std::string_view from, std::string_view to) = 0;

  // When it returns ok, the file's contents and size are durable (not its
  // name: see sync_dir()). Fails: stale handle, io_error when the disk
  // reports one (nothing is then known to be durable).
  virtual Status fsync(FileRef f) = 0;
  // As fsync() (the size is the only metadata a file has).
  virtual Status fdatasync(FileRef f) = 0;
  // When it returns ok, every create, unlink and rename done before it is
  // durable.
  virtual Status sync_dir() = 0;
  // syncfs: when it returns ok, everything done before it is durable.
  virtual Status sync_all() = 0;

  virtual uint64_t max_file_size() const = 0;
  // What the mount-time check repaired (names dropped, orphans freed).
  virtual const std::vector<std::string>& mount_repairs() const = 0;
};

// Forwards every call to `target` (not owned). Derive and override what a
// test or a fault model changes.
class GuestFsWrapper : public GuestFs {
 public:
  explicit GuestFsWrapper(GuestFs* target) : target_(target) {}
  GuestFs* target() const { return target_; }

  Result<FileRef> open(std::string_view name, bool create) override { return target_->open(name, create); }
  Result<FileRef> lookup(std::string_view name) const override { return target_->lookup(name); }
  std::vector<std::string> list() const override { return target_->list(); }
  Result<cow::Hash128> content_hash(FileRef f, uint64_t prefix) override { return target_->content_hash(f, prefix); }
  Result<size_t> read(FileRef f, uint64_t offset, std::span<std::byte> out) override {
    return target_->read(f, offset, out);
  }
  Status write(FileRef f, uint64_t offset, std::span<const std::byte> data) override {
    return target_->write(f, offset, data);
  }
  Status truncate(FileRef f, uint64_t size) override { return target_->truncate(f, size); }
  Result<uint64_t> size(FileRef f) const override { return target_->size(f); }
  Status unlink(std::string_view name) override { return target_->unlink(name); }
  Status rename(std::string_view from, std::string_view to) override { return target_->rename(from, to); }
  Status fsync(FileRef f) override { return target_->fsync(f); }
  Status fdatasync(FileRef f) override { return target_->fdatasync(f); }
  Status sync_dir() override { return target_->sync_dir(); }
  Status sync_all() override { return target_->sync_all(); }
  uint64_t max_file_size() const override { return target_->max_file_size(); }
  const std::vector<std::string>& mount_repairs() const override { return target_->mount_repairs(); }

 private:
  GuestFs* target_;
};

}  // namespace snapsim::sim
