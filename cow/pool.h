// Pool: volumes, snapshots and clones over one block store.
//
// A *volume* is a writable logical block device; a *snapshot* is a read-only
// frozen image of a volume; a *clone* is a new writable volume that starts as
// a snapshot's image (this is how a snapshot is restored without touching
// it). All three are roots in one BlockMap (cow/block_map.h), so:
//   snapshot()  O(1): share the volume's root node.
//   clone()     O(1): share the snapshot's root node.
//   rollback()  O(1): the volume takes the snapshot's root node.
//   delete_*()  frees exactly the nodes and blocks nothing else references.
//
// Write policies (same logical contents, different physical cost):
//   kRedirectOnWrite (dm-thin, qcow2, ZFS): a write to a block that another
//     root still maps goes to a newly allocated block; the old one stays with
//     the snapshot. Cost: 1 physical write, whatever the number of snapshots.
//   kCopyOut (dm-snapshot, classic "snapshot file"): the volume keeps its
//     blocks in place. Before the first write to a block that other roots
//     still map, its old data is copied out to a new block *for each* of
//     those roots (N sharing snapshots = N copies). Cost per such write:
//     N physical reads + N physical writes (the copies) + 1 write in place,
//     so 3 physical I/Os with one snapshot, 2N + 1 with N.
//
// Errors are values: an out-of-space write changes nothing (the needed
// blocks are counted before anything is touched); bad ids, deleted
// snapshots, out-of-range and misaligned addresses return clear errors.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cow/block_map.h"
#include "cow/block_store.h"
#include "cow/content_hash.h"
#include "cow/io_counters.h"
#include "cow/status.h"

namespace snapsim::cow {

enum class WritePolicy { kRedirectOnWrite, kCopyOut };
const char* policy_name(WritePolicy p);
inline std::ostream& operator<<(std::ostream& os, WritePolicy p) { return os << policy_name(p); }
Result<WritePolicy> parse_policy(const std::string& name);

struct PoolOptions {
  uint32_t block_size = 4096;  // bytes; power of two in [512, 1 MiB] (cow-bench chunks reach 1 MiB)
  uint64_t capacity_blocks = 1ull << 20;   // physical blocks in the pool
};

// Ids are (generation << 32 | slot): slots of deleted roots are reused, and
// the generation makes a stale id fail with not_found instead of aliasing.
struct VolumeId {
  uint64_t value = UINT64_MAX;
  friend bool operator==(VolumeId, VolumeId) = default;
};
struct SnapshotId {
  uint64_t value = UINT64_MAX;
  friend bool operator==(SnapshotId, SnapshotId) = default;
};

// Space a root holds. mapped = shared + exclusive. Exclusive blocks are
// mapped by this root alone: deleting it frees exactly those.
struct SpaceUsage {
  uint64_t mapped_blocks = 0;
  uint64_t exclusive_blocks = 0;
  uint64_t shared_blocks = 0;
};

class Pool {
 public:
  static Result<Pool> create(const PoolOptions& options);

  uint32_t block_size() const { return store_->block_size(); }
  const BlockStore& store() const { return *store_; }

  Result<VolumeId> create_volume(uint64_t size_blocks, WritePolicy policy);
  Status delete_volume(VolumeId v);
  Result<SnapshotId> snapshot(VolumeId v);
  Status delete_snapshot(SnapshotId s);
  // A writable volume whose initial contents are the snapshot's.
  Result<VolumeId> clone(SnapshotId s, WritePolicy policy);
  Result<VolumeId> clone(SnapshotId s);  // inherits the origin volume's policy
  // The volume's contents become the snapshot's. REQUIRES same size.
  Status rollback(VolumeId v, SnapshotId s);

  // Whole-block I/O: data.size() must be a positive multiple of block_size().
  Status write_blocks(VolumeId v, uint64_t lba, std::span<const std::byte> data);
  Status read_blocks(VolumeId v, uint64_t lba, std::span<std::byte> out);
  Status read_blocks(SnapshotId s, uint64_t lba, std::span<std::byte> out);
  // Byte-range I/O at any offset and length; partial blocks are
  // read-modify-write. All-or-nothing on out-of-space.
  Status write_bytes(VolumeId v, uint64_t offset, std::span<const std::byte> data);
  Status read_bytes(VolumeId v, uint64_t offset, std::span<std::byte> out);
  Status read_bytes(SnapshotId s, uint64_t offset, std::span<std::byte> out);

  Result<uint64_t> size_blocks(VolumeId v) const;
  Result<uint64_t> size_blocks(SnapshotId s) const;
  Result<WritePolicy> policy(VolumeId v) const;
  bool is_live(VolumeId v) const;
  bool is_live(SnapshotId s) const;
  std::vector<SnapshotId> snapshots_of(VolumeId v) const;

  // Content hash of the image, maintained incrementally (O(1) per write).
  Result<Hash128> content_hash(VolumeId v) const;
  Result<Hash128> content_hash(SnapshotId s) const;
  // The same hash computed from scratch, for verification.
  Result<Hash128> recompute_content_hash(VolumeId v) const;
  Result<Hash128> recompute_content_hash(SnapshotId s) const;

  // Makes block `lba` of volume `dst` the one snapshot `src` has there,
  // without copying it: both then share one physical block, and a later
  // write to either goes through COW as usual. A hole unmaps it. Only for
  // redirect-on-write volumes, and only at the same address (copy-out finds
  // the roots it must copy out for by address). No physical I/O.
  Status share_block(SnapshotId src, VolumeId dst, uint64_t lba);

  // Content hash (XXH3-128) of one block of the volume, without reading it:
  // a hole hashes as a zero block.
  Result<Hash128> block_hash(VolumeId v, uint64_t lba) const;

  // Logical addresses of every mapped block of the snapshot, ascending.
  Result<std::vector<uint64_t>> mapped_lbas(SnapshotId s) const;

  Result<SpaceUsage> usage(VolumeId v) const;
  Result<SpaceUsage> usage(SnapshotId s) const;

  // Counters for the whole pool and those attributed to one volume.
  const IoCounters& counters() const { return counters_; }
  Result<IoCounters> counters(VolumeId v) const;
  size_t live_nodes() const { return map_.live_nodes(); }

  // Recounts every node and block reference from the live roots and compares
  // with the stored counts. Returns the first mismatch (a leak or a double
  // free) or ok.
  Status verify_refcounts() const;

 private:
  enum class Kind : uint8_t { kVolume, kSnapshot };
  struct Root {
    Kind kind;
    bool live = true;
    NodeRef node = 0;
    uint64_t size_blocks = 0;
    int levels = 1;
    WritePolicy policy = WritePolicy::kRedirectOnWrite;
    uint32_t generation = 0;
    uint64_t origin = UINT64_MAX;  // for snapshots: the origin volume's id
    Hash128 hash;
    IoCounters counters;
  };
  explicit Pool(const PoolOptions& options);

  Result<uint32_t> live_root(uint64_t id, Kind kind) const;
  uint64_t add_root(Root r);
  Status check_range(const Root& r, uint64_t lba, uint64_t blocks) const;
  // Physical blocks a write to lba through root `index` needs; `others`
  // receives the roots a copy-out must serve.
  uint64_t blocks_needed(uint32_t index, uint64_t lba, std::vector<uint32_t>* others) const;
  void write_block(uint32_t index, uint64_t lba, const std::byte* data);
  void set_mapping(uint32_t index, uint64_t lba, PhysBlock b);
  void read_block(const Root& r, uint64_t lba, std::byte* out);
  Status read_blocks_root(uint32_t index, uint64_t lba, std::span<std::byte> out);
  Status read_bytes_root(uint32_t index, uint64_t offset, std::span<std::byte> out);
  Hash128 recompute(const Root& r) const;
  SpaceUsage usage_of(uint32_t index) const;
  void release(Root& r);

  std::unique_ptr<BlockStore> store_;  // heap: map_ points at it and Pool is movable
  BlockMap map_;
  std::vector<Root> roots_;
  std::vector<uint32_t> free_roots_;
  IoCounters counters_;
};

}  // namespace snapsim::cow
