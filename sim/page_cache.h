// PageCache: the guest's volatile page cache over one virtual disk.
//
// File and metadata writes land here as dirty pages; the disk sees them only
// when they are written back:
//   - sync of an owner (fsync of a file: its data pages in ascending block
//     order), of single blocks (inode, directory), or of everything;
//   - the writeback policy, after every file operation:
//       eager   every page is written the moment it is dirtied (write-through)
//       lazy    never: only syncs write pages back
//       random  with probability 1/3, a random number of dirty pages, chosen
//               at random and written in random order (the run's
//               "writeback" Prng stream): a real kernel's writeback order is
//               not the application's write order.
// A snapshot never captures this cache; fsfreeze and app quiescing flush it.
// The file system decides which pages are dirty: in ext4 mode metadata is
// journaled and never dirty here (sim/journal.h).
// A failed writeback (a full block pool) drops the page's unwritten data and
// reports the error, as Linux does: no page stays dirty forever.
// Pages are never evicted (clean pages stay cached): guest RAM is not modeled.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <span>
#include <string>
#include <vector>

#include "cow/status.h"
#include "sim/prng.h"
#include "sim/virtual_disk.h"

namespace snapsim::sim {

enum class Writeback { kEager, kLazy, kRandom };
const char* writeback_name(Writeback w);
cow::Result<Writeback> parse_writeback(const std::string& name);

inline constexpr uint32_t kMetaOwner = UINT32_MAX;

class PageCache {
 public:
  PageCache(VirtualDisk* disk, Writeback policy, Prng prng, SimClock* clock, const CostModel* cost);

  uint32_t block_size() const { return disk_->block_size(); }
  VirtualDisk& disk() { return *disk_; }

  // The cached page for `block`, read from disk on first use.
  cow::Result<std::byte*> page(uint64_t block);
  // While observing (Machine::Observation), page() charges no time and
  // caches nothing: a block not cached is read quietly into a side copy
  // kept until observing ends. For the explorer's reads of the live run
  // (the commit oracle's digest), which are not the guest's work; nothing
  // may write while observing.
  void set_observing(bool on) {
    observing_ = on;
    if (!on) observed_.clear();
  }
  // XXH3-128 of the block as page() would show it (the cached page, else
  // the disk's block), without caching it or charging time.
  cow::Result<cow::Hash128> block_hash(uint64_t block) const;
  // A cached page of zeros for `block`, read from nowhere: a block the file
  // system just allocated (its old contents must never show).
  cow::Result<std::byte*> zero_page(uint64_t block);
  // The cached page, or nullptr; charges no time.
  const std::byte* peek(uint64_t block) const;
  // The block as page() would show it, into `out`, without caching it or
  // charging time.
  Status read_quiet(uint64_t block, std::span<std::byte> out) const;
  // Forgets one page, dirty or not (the file system freed the block).
  void forget(uint64_t block);
  Writeback policy() const { return policy_; }
  // Marks a page dirty on behalf of `owner` (an inode, or kMetaOwner).
  // Under `eager` the page is written at once.
  Status mark_dirty(uint64_t block, uint32_t owner);
  bool is_dirty(uint64_t block) const;

  // Forgets every page of `owner`, dirty or not (the file was deleted: its
  // dirty data is never written).
  void drop_owner(uint32_t owner);
  Status write_back(uint64_t block);  // no-op when clean
  // Runs before any dirty page is written; the file system uses it to
  // order data before the metadata that exposes it.
  using BeforeWrite = std::function<Status(uint64_t block)>;
  void set_before_write(BeforeWrite hook) { before_write_ = std::move(hook); }
  Status sync_owner(uint32_t owner);  // that owner's dirty pages, ascending
  // True when a page of `owner` was written to the disk and no FLUSH (or
  // FUA) has made it durable yet.
  bool owner_volatile(uint32_t owner) const;
  Status sync_all();                  // every dirty page ascending, then FLUSH
  Status flush() { return disk_->flush(); }
  // The writeback policy's chance to write pages in the background.
  Status background_writeback();

  size_t dirty_count() const;
  // (block, contents) of every dirty page, ascending: what a freeze flushes.
  std::vector<std::pair<uint64_t, std::span<const std::byte>>> dirty_pages() const;

 private:
  struct Page {
    std::unique_ptr<std::byte[]> data;
    bool dirty = false;
    uint32_t owner = kMetaOwner;
  };
  Status write_page(uint64_t block, Page& p);

  VirtualDisk* disk_;
  Writeback policy_;
  Prng prng_;
  SimClock* clock_;
  const CostModel* cost_;
  void unindex(uint32_t owner, uint64_t block);

  std::map<uint64_t, Page> pages_;
  // Indexes over pages_: the dirty pages, and each data owner's pages.
  std::set<uint64_t> dirty_;
  std::unordered_map<uint32_t, std::set<uint64_t>> by_owner_;
  // Per data owner: the disk's writes_issued() right after its last page write.
  std::unordered_map<uint32_t, uint64_t> owner_written_;
  BeforeWrite before_write_;
  bool observing_ = false;
  std::unordered_map<uint64_t, std::unique_ptr<std::byte[]>> observed_;
};

}  // namespace snapsim::sim
