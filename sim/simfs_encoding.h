// simfs's on-disk encoding (layout in sim/simfs.h): geometry, superblock,
// inodes and directory blocks. Decoding never trusts the disk: a field out
// of its domain reads as absent (a free inode, a hole, a dropped entry), so
// any image a crash leaves can be mounted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cow/status.h"
#include "sim/guest_fs.h"

namespace snapsim::sim {
struct SimFsOptions;
}

namespace snapsim::sim::fsenc {

inline constexpr uint32_t kVersion = 2;
inline constexpr uint32_t kInodeSize = 256;
inline constexpr uint32_t kDirect = 12;
inline constexpr uint32_t kPointers = 15;
inline constexpr uint64_t kFastLinkMax = 60;  // bytes of a target kept in the inode
inline constexpr uint32_t kIfMask = 0170000;
inline constexpr uint32_t kIfReg = 0100000;
inline constexpr uint32_t kIfDir = 0040000;
inline constexpr uint32_t kIfLnk = 0120000;

inline void put16(std::byte* p, uint16_t v) {
  p[0] = static_cast<std::byte>(v);
  p[1] = static_cast<std::byte>(v >> 8);
}
inline void put32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void put64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline uint16_t get16(const std::byte* p) {
  return static_cast<uint16_t>(static_cast<uint16_t>(p[0]) | static_cast<uint16_t>(p[1]) << 8);
}
inline uint32_t get32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
inline uint64_t get64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

inline FileType type_of(uint32_t mode) {
  switch (mode & kIfMask) {
    case kIfReg: return FileType::kRegular;
    case kIfDir: return FileType::kDirectory;
    case kIfLnk: return FileType::kSymlink;
    default: return FileType::kNone;
  }
}
inline uint32_t mode_of(FileType t) {
  switch (t) {
    case FileType::kRegular: return kIfReg;
    case FileType::kDirectory: return kIfDir;
    case FileType::kSymlink: return kIfLnk;
    case FileType::kNone: break;
  }
  return 0;
}

// Where everything is, from the options and the block size.
struct Geometry {
  uint64_t disk_blocks = 0;
  uint64_t journal_start = 1, journal_blocks = 0;
  uint64_t bbitmap_start = 0, bbitmap_blocks = 0;
  uint64_t ibitmap_start = 0, ibitmap_blocks = 0;
  uint64_t itable_start = 0, itable_blocks = 0;
  uint64_t data_start = 0;
  static cow::Result<Geometry> of(const SimFsOptions& o, uint32_t block_size);
};

// The on-disk fields of an inode.
struct InodeRecord {
  uint32_t mode = 0;  // kIf* type | permissions; 0 = free
  uint32_t uid = 0, gid = 0, nlink = 0, gen = 0;
  uint64_t size = 0, blocks = 0;  // blocks: fs blocks in use (data + mapping)
  int64_t atime = 0, mtime = 0, ctime = 0;
  uint32_t parent = 0;       // directories
  uint32_t orphan_next = 0;  // the orphan list
  uint32_t ptr[kPointers] = {};
  std::string fast_link;     // a symlink target of up to kFastLinkMax bytes
};

void encode_inode(const InodeRecord& in, std::byte* out);  // kInodeSize bytes
void decode_inode(const std::byte* p, InodeRecord* out);

struct DirRecord {
  std::string name;
  uint32_t ino = 0;
  FileType type = FileType::kNone;
};
void encode_dir_block(const std::vector<DirRecord>& recs, std::byte* out, uint32_t block_size);
// The valid records of a block, in order; decoding stops at the first
// malformed one.
std::vector<DirRecord> decode_dir_block(const std::byte* p, uint32_t block_size, uint32_t inodes);

void encode_super(std::byte* out, uint32_t block_size, const SimFsOptions& o);
cow::Result<SimFsOptions> decode_super(const std::byte* p, uint32_t block_size);

}  // namespace snapsim::sim::fsenc
