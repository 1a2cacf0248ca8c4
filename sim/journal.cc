#include "sim/journal.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <xxhash.h>

#include "cow/content_hash.h"
#include "sim/page_cache.h"
#include "sim/simfs.h"
#include "sim/simfs_encoding.h"

namespace snapsim::sim {

using namespace fsenc;

namespace {

constexpr uint32_t kJsbMagic = 0x4a534232;   // "JSB2"
constexpr uint32_t kDescMagic = 0x4a445343;  // "JDSC"
constexpr uint32_t kCommitMagic = 0x4a434d54;  // "JCMT"
// Header of every journal block: u32 magic, u32 count, u64 sequence; the
// commit block adds u64 checksum. All within the first sector, so a torn
// write leaves a header whole or old.
constexpr size_t kHeader = 16;

uint64_t per_descriptor(uint32_t bs) { return (bs - kHeader) / 4; }

void encode_jsb(std::byte* p, uint32_t bs, uint64_t first_seq, uint64_t first_block) {
  std::memset(p, 0, bs);
  put32(p, kJsbMagic);
  put32(p + 4, static_cast<uint32_t>(first_block));
  put64(p + 8, first_seq);
}

}  // namespace

Journal::Journal(SimFs* fs, uint64_t start, uint64_t blocks, uint64_t first_seq)
    : fs_(fs), start_(start), blocks_(blocks), seq_(first_seq) {}

Status Journal::format(PageCache& cache, uint64_t start) {
  auto p = cache.zero_page(start);
  if (!p) return p.status();
  encode_jsb(*p, cache.block_size(), 1, 1);
  return cache.mark_dirty(start, kMetaOwner);
}

Result<uint64_t> Journal::replay(PageCache& cache, uint64_t start, uint64_t blocks,
                                 std::vector<std::string>* log) {
  const uint32_t bs = cache.block_size();
  VirtualDisk& disk = cache.disk();
  std::vector<std::byte> buf(bs);
  SNAPSIM_RETURN_IF_ERROR(disk.read(start, buf));
  uint64_t seq = 1;
  uint64_t pos = 1;
  if (get32(buf.data()) == kJsbMagic) {
    seq = get64(buf.data() + 8);
    pos = std::clamp<uint64_t>(get32(buf.data() + 4), 1, blocks - 1);
  } else {
    log->push_back("journal superblock unreadable: journal discarded");
  }
  const uint64_t first = seq;
  uint64_t replayed = 0;
  // The latest committed copy of each home block (replaying every
  // transaction in order leaves exactly these at home).
  std::map<uint64_t, uint64_t> latest;  // home -> journal block
  while (pos < blocks) {
    // One transaction: descriptors with their copies, then the commit. The
    // checksum covers the blocks' content hashes, which the pool keeps, so
    // a copy is read only if it is the one that goes home.
    std::vector<std::pair<uint64_t, uint64_t>> copies;  // (home, journal block)
    XXH64_state_t* h = XXH64_createState();
    XXH64_reset(h, seq);
    bool committed = false;
    uint64_t p = pos;
    while (p < blocks) {
      SNAPSIM_RETURN_IF_ERROR(disk.read(start + p, buf));
      const uint32_t magic = get32(buf.data());
      if (get64(buf.data() + 8) != seq) break;
      if (magic == kCommitMagic) {
        committed = get64(buf.data() + kHeader) == XXH64_digest(h);
        ++p;
        break;
      }
      if (magic != kDescMagic) break;
      const uint32_t count = get32(buf.data() + 4);
      if (count == 0 || count > per_descriptor(bs) || p + 1 + count >= blocks) break;
      const cow::Hash128 dh = cow::hash_bytes(buf);
      XXH64_update(h, &dh, sizeof dh);
      std::vector<uint64_t> homes;
      for (uint32_t i = 0; i < count; ++i) homes.push_back(get32(buf.data() + kHeader + 4 * i));
      ++p;
      for (uint32_t i = 0; i < count; ++i, ++p) {
        auto bh = disk.block_hash(start + p);
        if (!bh) return bh.status();
        XXH64_update(h, &*bh, sizeof *bh);
        copies.emplace_back(homes[i], start + p);
      }
    }
    XXH64_freeState(h);
    if (!committed) break;
    for (const auto& [home, at] : copies) {
      if (home >= disk.size_blocks() || (home >= start && home < start + blocks)) continue;
      latest[home] = at;
    }
    ++replayed;
    ++seq;
    pos = p;
  }
  for (const auto& [home, at] : latest) {
    auto want = disk.block_hash(at);
    auto have = disk.block_hash(home);
    if (!want || !have) return !want ? want.status() : have.status();
    if (*want == *have) continue;  // already at home
    SNAPSIM_RETURN_IF_ERROR(disk.read(at, buf));
    SNAPSIM_RETURN_IF_ERROR(disk.write(home, buf));
    cache.forget(home);
  }
  if (replayed > 0) {
    log->push_back(fmt::format("journal replayed: transactions {}..{} ({})", first, seq - 1, replayed));
  }
  // Everything replayed is durable before the journal is emptied.
  SNAPSIM_RETURN_IF_ERROR(disk.flush());
  encode_jsb(buf.data(), bs, seq, 1);
  SNAPSIM_RETURN_IF_ERROR(disk.write(start, buf, /*fua=*/true));
  cache.forget(start);
  return seq;
}

void Journal::add(uint64_t block) {
  if (running_.empty()) txn_started_ns_ = fs_->now();
  running_.insert(block);
}

Status Journal::write_home(uint64_t block) {
  auto it = committed_.find(block);
  if (it == committed_.end() || it->second.home_at != 0) return Status::ok();
  VirtualDisk& disk = fs_->cache_->disk();
  SNAPSIM_RETURN_IF_ERROR(disk.write(block, it->second.data));
  it->second.home_at = disk.writes_issued();
  return Status::ok();
}

Status Journal::write_jsb() {
  const uint32_t bs = fs_->cache_->block_size();
  std::vector<std::byte> jsb(bs);
  encode_jsb(jsb.data(), bs, txns_.empty() ? seq_ : txns_.front().seq, tail_);
  return fs_->cache_->disk().write(start_, jsb, /*fua=*/true);
}

Status Journal::advance_tail(uint64_t durable) {
  bool moved = false;
  while (!txns_.empty()) {
    const Txn& t = txns_.front();
    bool done = true;
    for (uint64_t b : t.blocks) {
      const Committed& c = committed_.at(b);
      if (c.seq == t.seq && (c.home_at == 0 || c.home_at > durable)) {
        done = false;
        break;
      }
    }
    if (!done) break;
    for (uint64_t b : t.blocks) {
      auto it = committed_.find(b);
      if (it->second.seq == t.seq) committed_.erase(it);  // at home, durable: nothing left to replay
    }
    for (uint64_t b : t.freed) busy_committed_.erase(busy_committed_.find(b));
    txns_.pop_front();
    moved = true;
  }
  if (!moved) return Status::ok();
  tail_ = txns_.empty() ? head_ : txns_.front().start;
  return write_jsb();
}

Status Journal::commit() {
  if (running_.empty()) return Status::ok();
  PageCache& cache = *fs_->cache_;
  VirtualDisk& disk = cache.disk();
  const uint32_t bs = cache.block_size();
  // The blocks still cached: a block freed in this transaction is dropped
  // (it is busy until a checkpoint, so nothing reads it).
  std::vector<uint64_t> blocks;
  for (uint64_t b : running_) {
    if (cache.peek(b) != nullptr) blocks.push_back(b);
  }
  const uint64_t per = per_descriptor(bs);
  const uint64_t need = blocks.size() + (blocks.size() + per - 1) / per + 1;
  if (need + 1 > blocks_) {
    return Status::error(cow::Code::kIoError,
                         fmt::format("a transaction of {} blocks does not fit the journal of {}", need, blocks_));
  }
  if (head_ + need > blocks_) SNAPSIM_RETURN_IF_ERROR(checkpoint_committed());
  Txn txn;
  txn.seq = seq_;
  txn.start = head_;
  txn.blocks = blocks;
  txn.freed.assign(busy_running_.begin(), busy_running_.end());
  // 1. data=ordered: the data the transaction's metadata exposes.
  if (fs_->options_.ordered_data) {
    for (uint32_t ino : ordered_) SNAPSIM_RETURN_IF_ERROR(cache.sync_owner(ino));
  }
  // 2. Descriptors and copies.
  XXH64_state_t* h = XXH64_createState();
  XXH64_reset(h, seq_);
  std::vector<std::byte> desc(bs);
  Status st;
  for (size_t i = 0; i < blocks.size() && st.is_ok(); i += per) {
    const size_t n = std::min<size_t>(per, blocks.size() - i);
    std::memset(desc.data(), 0, bs);
    put32(desc.data(), kDescMagic);
    put32(desc.data() + 4, static_cast<uint32_t>(n));
    put64(desc.data() + 8, seq_);
    for (size_t k = 0; k < n; ++k) put32(desc.data() + kHeader + 4 * k, static_cast<uint32_t>(blocks[i + k]));
    const cow::Hash128 dh = cow::hash_bytes(desc);
    XXH64_update(h, &dh, sizeof dh);
    st = disk.write(start_ + head_++, desc);
    for (size_t k = 0; k < n && st.is_ok(); ++k) {
      const std::byte* page = cache.peek(blocks[i + k]);
      const cow::Hash128 bh = cow::hash_bytes({page, bs});
      XXH64_update(h, &bh, sizeof bh);
      st = disk.write(start_ + head_++, {page, bs});
    }
  }
  const uint64_t sum = XXH64_digest(h);
  XXH64_freeState(h);
  SNAPSIM_RETURN_IF_ERROR(st);
  // 3. PREFLUSH, then the commit block with FUA.
  const uint64_t flushed = disk.writes_issued();
  SNAPSIM_RETURN_IF_ERROR(disk.flush());
  std::memset(desc.data(), 0, bs);
  put32(desc.data(), kCommitMagic);
  put64(desc.data() + 8, seq_);
  put64(desc.data() + kHeader, sum);
  SNAPSIM_RETURN_IF_ERROR(disk.write(start_ + head_++, desc, /*fua=*/true));
  for (uint64_t b : blocks) {
    const std::byte* page = cache.peek(b);
    committed_[b] = Committed{std::vector<std::byte>(page, page + bs), seq_, 0};
  }
  busy_committed_.insert(busy_running_.begin(), busy_running_.end());
  busy_running_.clear();
  txns_.push_back(std::move(txn));
  running_.clear();
  ordered_.clear();
  txn_started_ns_ = -1;
  ++seq_;
  ++commits_;
  if (commit_hook_) commit_hook_();
  // The FLUSH made every home write before it durable: older transactions
  // may leave the journal.
  SNAPSIM_RETURN_IF_ERROR(advance_tail(flushed));
  if (cache.policy() == Writeback::kEager) {
    for (uint64_t b : blocks) SNAPSIM_RETURN_IF_ERROR(write_home(b));
  }
  return Status::ok();
}

Status Journal::checkpoint_committed() {
  for (const auto& [block, c] : committed_) SNAPSIM_RETURN_IF_ERROR(write_home(block));
  if (!txns_.empty()) SNAPSIM_RETURN_IF_ERROR(fs_->cache_->disk().flush());
  committed_.clear();
  busy_committed_.clear();
  txns_.clear();
  head_ = tail_ = 1;
  return write_jsb();
}

Status Journal::checkpoint() {
  SNAPSIM_RETURN_IF_ERROR(commit());
  return checkpoint_committed();
}

Status Journal::before_op() {
  if (running_.size() * 4 > blocks_) return commit();
  return Status::ok();
}

Status Journal::after_op(int64_t now_ns, Prng& prng) {
  const int64_t interval = static_cast<int64_t>(fs_->options_.commit_interval_ms) * 1'000'000;
  if (!running_.empty() && txn_started_ns_ >= 0 && now_ns - txn_started_ns_ >= interval) {
    SNAPSIM_RETURN_IF_ERROR(commit());
  }
  if (fs_->cache_->policy() != Writeback::kRandom || committed_.empty()) return Status::ok();
  if (!prng.chance(1, 3)) return Status::ok();
  std::vector<uint64_t> pending;
  for (const auto& [block, c] : committed_) {
    if (c.home_at == 0) pending.push_back(block);
  }
  if (pending.empty()) return Status::ok();
  prng.shuffle(pending);
  const size_t n = 1 + prng.uniform(pending.size());
  for (size_t i = 0; i < n; ++i) SNAPSIM_RETURN_IF_ERROR(write_home(pending[i]));
  return Status::ok();
}

void Journal::freeze_writes(std::vector<std::pair<uint64_t, std::span<const std::byte>>>* out) const {
  const PageCache& cache = *fs_->cache_;
  const uint32_t bs = cache.block_size();
  std::set<uint64_t> blocks(running_.begin(), running_.end());
  for (const auto& [block, c] : committed_) blocks.insert(block);
  for (uint64_t b : blocks) {
    if (const std::byte* p = cache.peek(b)) out->emplace_back(b, std::span<const std::byte>(p, bs));
  }
  freeze_jsb_.assign(bs, std::byte{0});
  // The running transaction commits and everything is checkpointed: the
  // next sequence is one past it.
  encode_jsb(freeze_jsb_.data(), bs, running_.empty() ? seq_ : seq_ + 1, 1);
  out->emplace_back(start_, std::span<const std::byte>(freeze_jsb_.data(), bs));
}

}  // namespace snapsim::sim
