// The ext4 mode (`--fs ext4`, the default): a metadata journal as ext4's
// jbd2 keeps it (https://www.kernel.org/doc/html/latest/filesystems/ext4/journal.html).
//
// What is journaled: every metadata block (superblock, bitmaps, inode table
// blocks, directory blocks, mapping blocks). A change to one joins the
// running transaction; the block is pinned in the page cache: it reaches
// its home location only after the transaction committed (writeback never
// writes it). File data goes through the page cache as usual.
//
// A commit happens at fsync/fdatasync of any file or directory whose inode
// changed in the running transaction (fdatasync: only if its size or
// mapping did), at syncfs, when the running transaction is
// `commit_interval_ms` old (checked at file-operation boundaries, as the
// kjournald2 timer fires between them) and when it grows past a quarter of
// the journal. It writes, in order:
//   1. data=ordered: the dirty data pages of every inode whose size or
//      mapping changed in the transaction (not with data=writeback);
//   2. descriptor blocks {magic, sequence, count, home addresses} each
//      followed by the copies of its blocks, from the journal's head on;
//   3. FLUSH (the commit block's PREFLUSH: data and journal blocks are on
//      stable storage first), then the commit block {magic, sequence,
//      checksum (XXH64 of the XXH3-128 hashes of the descriptors and
//      copies)} with FUA.
// Transactions commit one at a time, in order; a commit is durable when its
// commit block is. fsync of an inode that needs no commit writes its data
// and issues a FLUSH.
//
// Checkpoint: committed blocks reach their home locations later: under the
// `random` writeback policy a random subset at random moments, under
// `eager` right after the commit, and all of them when the journal has no
// room for the next commit (home writes, FLUSH, an empty journal). The
// journal's tail moves as jbd2_cleanup_journal_tail moves it: after a
// commit's FLUSH, the oldest transactions whose every block is at home (or
// journaled again later) leave the journal, and the journal superblock
// {magic, first sequence, first block} is rewritten with FUA.
// Blocks freed by a transaction stay busy (not allocated again) until that
// transaction has left the journal, so no revoke records are needed:
// replay never overwrites a block that was reused.
//
// Mount replays the journal: from the journal superblock's first sequence
// and block,
// every transaction whose descriptors, copies and commit block are all
// present with the expected sequence and a matching checksum is written
// home, in order; the first incomplete or mismatching one ends the journal
// (an uncommitted tail is discarded); each home block gets its latest
// committed copy (what replaying them in order leaves); then FLUSH and an
// empty journal.
// A snapshot or power cut can therefore show only the metadata of a prefix
// of the committed transactions (never part of one), plus file data that
// data=ordered bounds and data=writeback does not.
#pragma once

#include <cstdint>
#include <functional>
#include <deque>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "cow/status.h"
#include "sim/prng.h"

namespace snapsim::sim {

class SimFs;
class PageCache;

class Journal {
 public:
  // The journal in blocks [start, start + blocks) of fs's disk, whose next
  // transaction has sequence `first_seq`.
  Journal(SimFs* fs, uint64_t start, uint64_t blocks, uint64_t first_seq);

  // Writes an empty journal starting at sequence 1 (format).
  static cow::Status format(PageCache& cache, uint64_t start);
  // Replays the journal on `cache`'s disk (mount): returns the sequence the
  // next transaction takes and appends one line per replayed transaction.
  static cow::Result<uint64_t> replay(PageCache& cache, uint64_t start, uint64_t blocks,
                                      std::vector<std::string>* log);

  // A metadata block (its page is cached) joins the running transaction.
  void add(uint64_t block);
  // data=ordered: `ino`'s dirty data is written before the commit.
  void add_ordered(uint32_t ino) { ordered_.insert(ino); }
  // A block freed by the running transaction: busy until a checkpoint.
  void freed(uint64_t block) { busy_running_.insert(block); }
  bool busy(uint64_t block) const {  // freed, not yet reusable
    return busy_running_.count(block) != 0 || busy_committed_.count(block) != 0;
  }
  uint64_t busy_count() const { return busy_running_.size() + busy_committed_.size(); }
  uint64_t busy_committed() const { return busy_committed_.size(); }
  // Transactions in the journal (committed, not yet out of it).
  size_t in_journal() const { return txns_.size(); }

  uint64_t running_tid() const { return seq_; }
  bool running_empty() const { return running_.empty(); }
  uint64_t commits() const { return commits_; }

  // Commits the running transaction (nothing if it is empty).
  cow::Status commit();
  // Commits, then checkpoints: every committed block at home, FLUSH, an
  // empty journal; the busy blocks of committed transactions become free.
  cow::Status checkpoint();
  // Before a file operation: commits a running transaction that is too big.
  cow::Status before_op();
  // After a file operation: the commit interval, and background checkpoint
  // writes under the `random` policy.
  cow::Status after_op(int64_t now_ns, Prng& prng);
  // What FIFREEZE writes for the journal (every pinned and committed block
  // at home, an empty journal): appended to `out`.
  void freeze_writes(std::vector<std::pair<uint64_t, std::span<const std::byte>>>* out) const;
  void set_commit_hook(std::function<void()> hook) { commit_hook_ = std::move(hook); }
  // The blocks freed since the last checkpoint (for SimFs::check()).
  const std::set<uint64_t>& busy_running() const { return busy_running_; }

 private:
  cow::Status write_home(uint64_t block);
  // Every committed block at home, FLUSH, an empty journal.
  cow::Status checkpoint_committed();
  // Drops the oldest transactions whose blocks are all at home as of the
  // disk's writes up to `durable`, and records the new tail.
  cow::Status advance_tail(uint64_t durable);
  cow::Status write_jsb();

  SimFs* fs_;
  uint64_t start_;
  uint64_t blocks_;
  uint64_t seq_;
  uint64_t head_ = 1;  // next journal block (relative to start_)
  uint64_t tail_ = 1;  // first block of the oldest transaction in the journal
  uint64_t commits_ = 0;
  int64_t txn_started_ns_ = -1;  // when the running transaction got its first block
  std::set<uint64_t> running_;
  std::set<uint32_t> ordered_;
  // Committed, not yet checkpointed: the committed contents and whether
  // they are at home already.
  struct Committed {
    std::vector<std::byte> data;
    uint64_t seq = 0;        // the transaction that committed this version
    uint64_t home_at = 0;    // writes_issued() after its home write; 0: not at home
  };
  std::map<uint64_t, Committed> committed_;
  struct Txn {
    uint64_t seq = 0;
    uint64_t start = 0;  // its first journal block
    std::vector<uint64_t> blocks;
    std::vector<uint64_t> freed;  // blocks it freed: busy while it is in the journal
  };
  std::deque<Txn> txns_;
  std::set<uint64_t> busy_running_;
  std::multiset<uint64_t> busy_committed_;
  std::function<void()> commit_hook_;
  mutable std::vector<std::byte> freeze_jsb_;
};

}  // namespace snapsim::sim
