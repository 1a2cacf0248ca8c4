#include "sim/simfs_encoding.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "sim/simfs.h"

namespace snapsim::sim::fsenc {

namespace {
constexpr char kMagic[8] = {'S', 'N', 'A', 'P', 'S', 'M', 'F', '2'};
uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
}  // namespace

cow::Result<Geometry> Geometry::of(const SimFsOptions& o, uint32_t bs) {
  Geometry g;
  if (bs < 512 || (bs & (bs - 1)) != 0) {
    return Status::invalid_argument(fmt::format("block size {} is not a power of two of at least 512", bs));
  }
  g.disk_blocks = o.disk_bytes / bs;
  if (o.inodes < 16) return Status::invalid_argument(fmt::format("{} inodes are too few (at least 16)", o.inodes));
  if (o.mode == FsMode::kExt4) {
    g.journal_blocks = o.journal_blocks != 0 ? o.journal_blocks
                                             : std::clamp<uint64_t>(g.disk_blocks / 64, 256, 32768);
    if (g.journal_blocks < 16) {
      return Status::invalid_argument(fmt::format("a journal of {} blocks is too small (at least 16)", g.journal_blocks));
    }
  }
  g.bbitmap_start = g.journal_start + g.journal_blocks;
  g.bbitmap_blocks = ceil_div(g.disk_blocks, uint64_t{bs} * 8);
  g.ibitmap_start = g.bbitmap_start + g.bbitmap_blocks;
  g.ibitmap_blocks = ceil_div(o.inodes, uint64_t{bs} * 8);
  g.itable_start = g.ibitmap_start + g.ibitmap_blocks;
  g.itable_blocks = ceil_div(uint64_t{o.inodes} * kInodeSize, bs);
  g.data_start = g.itable_start + g.itable_blocks;
  if (g.data_start + 16 > g.disk_blocks || g.disk_blocks > (1ull << 32)) {
    return Status::invalid_argument(fmt::format(
        "a disk of {} bytes cannot hold this file system ({} blocks of metadata, at most 2^32 blocks)",
        o.disk_bytes, g.data_start));
  }
  return g;
}

void encode_inode(const InodeRecord& in, std::byte* p) {
  std::memset(p, 0, kInodeSize);
  put32(p + 0, in.mode);
  put32(p + 4, in.uid);
  put32(p + 8, in.gid);
  put32(p + 12, in.nlink);
  put32(p + 16, in.gen);
  put32(p + 20, in.parent);
  put32(p + 24, in.orphan_next);
  put64(p + 32, in.size);
  put64(p + 40, in.blocks);
  put64(p + 48, static_cast<uint64_t>(in.atime));
  put64(p + 56, static_cast<uint64_t>(in.mtime));
  put64(p + 64, static_cast<uint64_t>(in.ctime));
  if (type_of(in.mode) == FileType::kSymlink && in.size <= kFastLinkMax) {
    std::memcpy(p + 72, in.fast_link.data(), std::min<size_t>(in.fast_link.size(), kFastLinkMax));
  } else {
    for (uint32_t i = 0; i < kPointers; ++i) put32(p + 72 + 4 * i, in.ptr[i]);
  }
}

void decode_inode(const std::byte* p, InodeRecord* out) {
  InodeRecord in;
  in.mode = get32(p + 0);
  in.gen = get32(p + 16);
  if (type_of(in.mode) == FileType::kNone) {
    // A free inode (or garbage): only the generation matters.
    *out = InodeRecord{};
    out->gen = in.gen;
    return;
  }
  in.uid = get32(p + 4);
  in.gid = get32(p + 8);
  in.nlink = get32(p + 12);
  in.parent = get32(p + 20);
  in.orphan_next = get32(p + 24);
  in.size = get64(p + 32);
  in.blocks = get64(p + 40);
  in.atime = static_cast<int64_t>(get64(p + 48));
  in.mtime = static_cast<int64_t>(get64(p + 56));
  in.ctime = static_cast<int64_t>(get64(p + 64));
  if (type_of(in.mode) == FileType::kSymlink && in.size <= kFastLinkMax) {
    in.fast_link.assign(reinterpret_cast<const char*>(p + 72), static_cast<size_t>(in.size));
  } else {
    for (uint32_t i = 0; i < kPointers; ++i) in.ptr[i] = get32(p + 72 + 4 * i);
  }
  *out = std::move(in);
}

void encode_dir_block(const std::vector<DirRecord>& recs, std::byte* p, uint32_t bs) {
  std::memset(p, 0, bs);
  put16(p, static_cast<uint16_t>(recs.size()));
  size_t pos = 2;
  for (const auto& r : recs) {
    put32(p + pos, r.ino);
    p[pos + 4] = static_cast<std::byte>(r.type);
    p[pos + 5] = static_cast<std::byte>(r.name.size());
    std::memcpy(p + pos + 6, r.name.data(), r.name.size());
    pos += 6 + r.name.size();
  }
}

std::vector<DirRecord> decode_dir_block(const std::byte* p, uint32_t bs, uint32_t inodes) {
  std::vector<DirRecord> out;
  const uint16_t count = get16(p);
  size_t pos = 2;
  for (uint16_t i = 0; i < count; ++i) {
    if (pos + 6 > bs) break;
    DirRecord r;
    r.ino = get32(p + pos);
    const auto type = static_cast<uint8_t>(p[pos + 4]);
    const auto len = static_cast<uint8_t>(p[pos + 5]);
    if (r.ino < 2 || r.ino >= inodes || type < 1 || type > 3 || len == 0 || pos + 6 + len > bs) break;
    r.type = static_cast<FileType>(type);
    r.name.assign(reinterpret_cast<const char*>(p + pos + 6), len);
    pos += 6 + len;
    if (r.name == "." || r.name == ".." || r.name.find('/') != std::string::npos ||
        r.name.find('\0') != std::string::npos) {
      continue;
    }
    out.push_back(std::move(r));
  }
  return out;
}

void encode_super(std::byte* p, uint32_t bs, const SimFsOptions& o) {
  std::memset(p, 0, 48);
  std::memcpy(p, kMagic, sizeof kMagic);
  put32(p + 8, kVersion);
  put32(p + 12, bs);
  put64(p + 16, o.disk_bytes);
  put32(p + 24, o.inodes);
  put32(p + 28, o.journal_blocks);
  p[32] = static_cast<std::byte>(o.mode);
  p[33] = static_cast<std::byte>(o.ordered_data ? 1 : 0);
  p[34] = static_cast<std::byte>(o.auto_da_alloc ? 1 : 0);
  put32(p + 36, o.commit_interval_ms);
  put64(p + 40, o.max_file_blocks);
}

cow::Result<SimFsOptions> decode_super(const std::byte* p, uint32_t bs) {
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0 || get32(p + 8) != kVersion || get32(p + 12) != bs) {
    return Status::error(cow::Code::kIoError, "no simfs superblock on the disk");
  }
  SimFsOptions o;
  o.disk_bytes = get64(p + 16);
  o.inodes = get32(p + 24);
  o.journal_blocks = get32(p + 28);
  const auto mode = static_cast<uint8_t>(p[32]);
  if (mode > 1) return Status::error(cow::Code::kIoError, "simfs superblock names an unknown mode");
  o.mode = static_cast<FsMode>(mode);
  o.ordered_data = p[33] != std::byte{0};
  o.auto_da_alloc = p[34] != std::byte{0};
  o.commit_interval_ms = get32(p + 36);
  o.max_file_blocks = get64(p + 40);
  return o;
}

}  // namespace snapsim::sim::fsenc
