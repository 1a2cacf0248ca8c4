// Stateful property test of the COW pool against a naive model that keeps a
// full copy of every volume and snapshot. After every command every live
// image must equal the model, the incremental content hash must equal one
// computed from scratch, and every refcount must equal a recount.
// Reproduce a failure with the RC_PARAMS="reproduce=..." line it prints.
#define BOOST_TEST_MODULE pool_property
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>
#include <rapidcheck/state.h>

#include <optional>
#include <vector>

#include "cow/pool.h"

using namespace snapsim::cow;

namespace {

constexpr uint32_t kBs = 512;

struct Image {
  std::vector<uint8_t> bytes;
  bool live = true;
  WritePolicy policy = WritePolicy::kRedirectOnWrite;
};

struct Model {
  std::vector<Image> volumes;
  std::vector<Image> snapshots;
  std::vector<size_t> snapshot_origin;
  std::optional<WritePolicy> forced_policy;  // set: every volume uses it
};

struct Sut {
  Pool pool = Pool::create(PoolOptions{.block_size = kBs, .capacity_blocks = 1u << 16}).value();
  std::vector<VolumeId> volumes;
  std::vector<SnapshotId> snapshots;
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed * 31 + i * 7 + (i >> 9));
  return v;
}

std::span<const std::byte> as_bytes(const std::vector<uint8_t>& v) {
  return std::as_bytes(std::span<const uint8_t>(v));
}

void check_all(const Model& m, Sut& s) {
  for (size_t i = 0; i < m.volumes.size(); ++i) {
    const Image& img = m.volumes[i];
    RC_ASSERT(s.pool.is_live(s.volumes[i]) == img.live);
    if (!img.live) continue;
    std::vector<uint8_t> got(img.bytes.size());
    RC_ASSERT(s.pool.read_bytes(s.volumes[i], 0, std::as_writable_bytes(std::span(got))).is_ok());
    RC_ASSERT(got == img.bytes);
    RC_ASSERT(s.pool.content_hash(s.volumes[i]).value() ==
              s.pool.recompute_content_hash(s.volumes[i]).value());
  }
  for (size_t i = 0; i < m.snapshots.size(); ++i) {
    const Image& img = m.snapshots[i];
    RC_ASSERT(s.pool.is_live(s.snapshots[i]) == img.live);
    if (!img.live) continue;
    std::vector<uint8_t> got(img.bytes.size());
    RC_ASSERT(s.pool.read_bytes(s.snapshots[i], 0, std::as_writable_bytes(std::span(got))).is_ok());
    RC_ASSERT(got == img.bytes);
    RC_ASSERT(s.pool.content_hash(s.snapshots[i]).value() ==
              s.pool.recompute_content_hash(s.snapshots[i]).value());
  }
  const Status rc = s.pool.verify_refcounts();
  RC_ASSERT(rc.is_ok());
}

using Cmd = rc::state::Command<Model, Sut>;
// Note: RC_PRE/RC_ASSERT capture their expression for printing and so do not
// short-circuit `&&`; guarded conditions are computed into a bool first.

// Base that checks the whole state after every command.
struct Checked : Cmd {
  virtual void exec(const Model& m, Sut& s) const = 0;
  void run(const Model& m, Sut& s) const override {
    exec(m, s);
    Model next = m;
    apply(next);
    check_all(next, s);
  }
};

size_t pick_live(const std::vector<Image>& v) {
  std::vector<size_t> live;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i].live) live.push_back(i);
  RC_PRE(!live.empty());
  return *rc::gen::elementOf(live);
}

WritePolicy gen_policy(const Model& m) {
  if (m.forced_policy) return *m.forced_policy;
  return *rc::gen::element(WritePolicy::kRedirectOnWrite, WritePolicy::kCopyOut);
}

struct CreateVolume : Checked {
  size_t blocks = *rc::gen::inRange<size_t>(1, 300);
  WritePolicy policy;
  explicit CreateVolume(const Model& m) : policy(gen_policy(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.volumes.size() < 6); }
  void apply(Model& m) const override {
    m.volumes.push_back(Image{std::vector<uint8_t>(blocks * kBs, 0), true, policy});
  }
  void exec(const Model&, Sut& s) const override {
    s.volumes.push_back(s.pool.create_volume(blocks, policy).value());
  }
  void show(std::ostream& os) const override {
    os << "CreateVolume(" << blocks << ", " << policy_name(policy) << ")";
  }
};

struct WriteBlocks : Checked {
  size_t vol;
  uint64_t lba;
  size_t count;
  uint8_t seed = *rc::gen::arbitrary<uint8_t>();
  explicit WriteBlocks(const Model& m) : vol(pick_live(m.volumes)) {
    const size_t blocks = m.volumes[vol].bytes.size() / kBs;
    lba = *rc::gen::inRange<uint64_t>(0, blocks);
    count = *rc::gen::inRange<size_t>(1, std::min<size_t>(blocks - lba, 8) + 1);
  }
  void checkPreconditions(const Model& m) const override {
    // Re-checked on shrunk sequences, where `vol` may name another volume.
    const bool ok = vol < m.volumes.size() && m.volumes[vol].live &&
                    (lba + count) * kBs <= m.volumes[vol].bytes.size();
    RC_PRE(ok);
  }
  void apply(Model& m) const override {
    auto data = pattern(count * kBs, seed);
    std::copy(data.begin(), data.end(), m.volumes[vol].bytes.begin() + lba * kBs);
  }
  void exec(const Model&, Sut& s) const override {
    RC_ASSERT(s.pool.write_blocks(s.volumes[vol], lba, as_bytes(pattern(count * kBs, seed))).is_ok());
  }
  void show(std::ostream& os) const override {
    os << "WriteBlocks(vol " << vol << ", lba " << lba << ", count " << count << ", seed "
       << int(seed) << ")";
  }
};

struct WriteBytes : Checked {
  size_t vol;
  uint64_t offset;
  size_t len;
  uint8_t seed = *rc::gen::arbitrary<uint8_t>();
  explicit WriteBytes(const Model& m) : vol(pick_live(m.volumes)) {
    const size_t size = m.volumes[vol].bytes.size();
    offset = *rc::gen::inRange<uint64_t>(0, size);
    len = *rc::gen::inRange<size_t>(1, std::min<size_t>(size - offset, 3 * kBs) + 1);
  }
  void checkPreconditions(const Model& m) const override {
    const bool ok = vol < m.volumes.size() && m.volumes[vol].live &&
                    offset + len <= m.volumes[vol].bytes.size();
    RC_PRE(ok);
  }
  void apply(Model& m) const override {
    auto data = pattern(len, seed);
    std::copy(data.begin(), data.end(), m.volumes[vol].bytes.begin() + offset);
  }
  void exec(const Model&, Sut& s) const override {
    RC_ASSERT(s.pool.write_bytes(s.volumes[vol], offset, as_bytes(pattern(len, seed))).is_ok());
  }
  void show(std::ostream& os) const override {
    os << "WriteBytes(vol " << vol << ", offset " << offset << ", len " << len << ")";
  }
};

struct ReadBytes : Checked {
  bool from_snapshot = *rc::gen::arbitrary<bool>();
  size_t index;
  uint64_t offset;
  size_t len;
  explicit ReadBytes(const Model& m) {
    const auto& v = from_snapshot ? m.snapshots : m.volumes;
    index = pick_live(v);
    const size_t size = v[index].bytes.size();
    offset = *rc::gen::inRange<uint64_t>(0, size);
    len = *rc::gen::inRange<size_t>(1, size - offset + 1);
  }
  void checkPreconditions(const Model& m) const override {
    const auto& v = from_snapshot ? m.snapshots : m.volumes;
    const bool ok = index < v.size() && v[index].live && offset + len <= v[index].bytes.size();
    RC_PRE(ok);
  }
  void apply(Model&) const override {}
  void exec(const Model& m, Sut& s) const override {
    std::vector<uint8_t> got(len);
    auto out = std::as_writable_bytes(std::span(got));
    const auto& img = from_snapshot ? m.snapshots[index] : m.volumes[index];
    RC_ASSERT((from_snapshot ? s.pool.read_bytes(s.snapshots[index], offset, out)
                             : s.pool.read_bytes(s.volumes[index], offset, out))
                  .is_ok());
    RC_ASSERT(std::equal(got.begin(), got.end(), img.bytes.begin() + offset));
  }
  void show(std::ostream& os) const override {
    os << "ReadBytes(" << (from_snapshot ? "snap " : "vol ") << index << ", " << offset << ", "
       << len << ")";
  }
};

struct TakeSnapshot : Checked {
  size_t vol;
  explicit TakeSnapshot(const Model& m) : vol(pick_live(m.volumes)) {}
  void checkPreconditions(const Model& m) const override {
    const bool ok = vol < m.volumes.size() && m.volumes[vol].live && m.snapshots.size() < 12;
    RC_PRE(ok);
  }
  void apply(Model& m) const override {
    m.snapshots.push_back(m.volumes[vol]);
    m.snapshot_origin.push_back(vol);
  }
  void exec(const Model&, Sut& s) const override {
    s.snapshots.push_back(s.pool.snapshot(s.volumes[vol]).value());
  }
  void show(std::ostream& os) const override { os << "Snapshot(vol " << vol << ")"; }
};

struct Clone : Checked {
  size_t snap;
  WritePolicy policy;
  explicit Clone(const Model& m) : snap(pick_live(m.snapshots)), policy(gen_policy(m)) {}
  void checkPreconditions(const Model& m) const override {
    const bool ok = snap < m.snapshots.size() && m.snapshots[snap].live && m.volumes.size() < 8;
    RC_PRE(ok);
  }
  void apply(Model& m) const override {
    Image img = m.snapshots[snap];
    img.policy = policy;
    m.volumes.push_back(img);
  }
  void exec(const Model&, Sut& s) const override {
    s.volumes.push_back(s.pool.clone(s.snapshots[snap], policy).value());
  }
  void show(std::ostream& os) const override {
    os << "Clone(snap " << snap << ", " << policy_name(policy) << ")";
  }
};

struct Rollback : Checked {
  size_t snap;
  size_t vol;
  explicit Rollback(const Model& m) : snap(pick_live(m.snapshots)) {
    std::vector<size_t> same;
    for (size_t i = 0; i < m.volumes.size(); ++i)
      if (m.volumes[i].live && m.volumes[i].bytes.size() == m.snapshots[snap].bytes.size())
        same.push_back(i);
    RC_PRE(!same.empty());
    vol = *rc::gen::elementOf(same);
  }
  void checkPreconditions(const Model& m) const override {
    const bool ok = snap < m.snapshots.size() && m.snapshots[snap].live && vol < m.volumes.size() &&
           m.volumes[vol].live && m.volumes[vol].bytes.size() == m.snapshots[snap].bytes.size();
    RC_PRE(ok);
  }
  void apply(Model& m) const override { m.volumes[vol].bytes = m.snapshots[snap].bytes; }
  void exec(const Model&, Sut& s) const override {
    RC_ASSERT(s.pool.rollback(s.volumes[vol], s.snapshots[snap]).is_ok());
  }
  void show(std::ostream& os) const override {
    os << "Rollback(vol " << vol << " to snap " << snap << ")";
  }
};

struct DeleteSnapshot : Checked {
  size_t snap;
  explicit DeleteSnapshot(const Model& m) : snap(pick_live(m.snapshots)) {}
  void checkPreconditions(const Model& m) const override {
    const bool ok = snap < m.snapshots.size() && m.snapshots[snap].live;
    RC_PRE(ok);
  }
  void apply(Model& m) const override { m.snapshots[snap].live = false; }
  void exec(const Model&, Sut& s) const override {
    RC_ASSERT(s.pool.delete_snapshot(s.snapshots[snap]).is_ok());
  }
  void show(std::ostream& os) const override { os << "DeleteSnapshot(" << snap << ")"; }
};

// A reflink: a redirect-on-write volume takes a snapshot's block at one
// address without copying it.
struct ShareBlock : Checked {
  size_t snap;
  size_t vol;
  uint64_t lba;
  explicit ShareBlock(const Model& m) : snap(pick_live(m.snapshots)) {
    std::vector<size_t> row;
    for (size_t i = 0; i < m.volumes.size(); ++i)
      if (m.volumes[i].live && m.volumes[i].policy == WritePolicy::kRedirectOnWrite) row.push_back(i);
    RC_PRE(!row.empty());
    vol = *rc::gen::elementOf(row);
    const size_t blocks = std::min(m.snapshots[snap].bytes.size(), m.volumes[vol].bytes.size()) / kBs;
    RC_PRE(blocks > 0u);
    lba = *rc::gen::inRange<uint64_t>(0, blocks);
  }
  void checkPreconditions(const Model& m) const override {
    const bool ok = snap < m.snapshots.size() && m.snapshots[snap].live && vol < m.volumes.size() &&
                    m.volumes[vol].live && m.volumes[vol].policy == WritePolicy::kRedirectOnWrite &&
                    (lba + 1) * kBs <= m.snapshots[snap].bytes.size() &&
                    (lba + 1) * kBs <= m.volumes[vol].bytes.size();
    RC_PRE(ok);
  }
  void apply(Model& m) const override {
    const auto& from = m.snapshots[snap].bytes;
    std::copy(from.begin() + static_cast<std::ptrdiff_t>(lba * kBs),
              from.begin() + static_cast<std::ptrdiff_t>((lba + 1) * kBs),
              m.volumes[vol].bytes.begin() + static_cast<std::ptrdiff_t>(lba * kBs));
  }
  void exec(const Model&, Sut& s) const override {
    RC_ASSERT(s.pool.share_block(s.snapshots[snap], s.volumes[vol], lba).is_ok());
  }
  void show(std::ostream& os) const override {
    os << "ShareBlock(snap " << snap << " -> vol " << vol << " lba " << lba << ")";
  }
};

struct DeleteVolume : Checked {
  size_t vol;
  explicit DeleteVolume(const Model& m) : vol(pick_live(m.volumes)) {}
  void checkPreconditions(const Model& m) const override {
    const bool ok = vol < m.volumes.size() && m.volumes[vol].live;
    RC_PRE(ok);
  }
  void apply(Model& m) const override { m.volumes[vol].live = false; }
  void exec(const Model&, Sut& s) const override {
    RC_ASSERT(s.pool.delete_volume(s.volumes[vol]).is_ok());
  }
  void show(std::ostream& os) const override { os << "DeleteVolume(" << vol << ")"; }
};

auto command_gen() {
  return rc::state::gen::execOneOfWithArgs<CreateVolume, WriteBlocks, WriteBlocks, WriteBytes,
                                           ReadBytes, TakeSnapshot, Clone, Rollback,
                                           DeleteSnapshot, DeleteVolume, ShareBlock>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(PoolProperty)

RC_BOOST_PROP(pool_matches_full_copy_model, ()) {
  Model m;
  Sut s;
  rc::state::check(m, s, command_gen());
}

// The same operation sequence under redirect-on-write everywhere and under
// copy-out everywhere gives byte-identical images after every step. Ops
// address volumes and snapshots by index modulo how many exist, so every
// generated sequence is valid for both pools.
struct Op {
  uint8_t kind;  // 0 write, 1 partial write, 2 snapshot, 3 clone, 4 rollback, 5 delete snapshot
  uint32_t a, b, c;
  uint8_t seed;
};

void apply_op(Pool& p, std::vector<VolumeId>& vols, std::vector<SnapshotId>& snaps,
              WritePolicy policy, const Op& op) {
  constexpr uint64_t kBlocks = 64;
  if (vols.empty()) vols.push_back(p.create_volume(kBlocks, policy).value());
  const VolumeId v = vols[op.a % vols.size()];
  switch (op.kind % 6) {
    case 0:
      RC_ASSERT(p.write_blocks(v, op.b % kBlocks, as_bytes(pattern(kBs, op.seed))).is_ok());
      break;
    case 1: {
      const uint64_t off = op.b % (kBlocks * kBs);
      const size_t len = std::min<uint64_t>(1 + op.c % (2 * kBs), kBlocks * kBs - off);
      RC_ASSERT(p.write_bytes(v, off, as_bytes(pattern(len, op.seed))).is_ok());
      break;
    }
    case 2:
      snaps.push_back(p.snapshot(v).value());
      break;
    case 3:
      if (!snaps.empty()) vols.push_back(p.clone(snaps[op.b % snaps.size()], policy).value());
      break;
    case 4:
      if (!snaps.empty()) RC_ASSERT(p.rollback(v, snaps[op.b % snaps.size()]).is_ok());
      break;
    case 5:
      if (!snaps.empty()) {
        const size_t i = op.b % snaps.size();
        RC_ASSERT(p.delete_snapshot(snaps[i]).is_ok());
        snaps.erase(snaps.begin() + static_cast<long>(i));
      }
      break;
  }
}

RC_BOOST_PROP(both_policies_give_identical_contents, ()) {
  const auto ops = *rc::gen::container<std::vector<Op>>(rc::gen::build<Op>(
      rc::gen::set(&Op::kind, rc::gen::inRange<uint8_t>(0, 6)),
      rc::gen::set(&Op::a, rc::gen::inRange<uint32_t>(0, 100)),
      rc::gen::set(&Op::b, rc::gen::inRange<uint32_t>(0, 100000)),
      rc::gen::set(&Op::c, rc::gen::inRange<uint32_t>(0, 100000)),
      rc::gen::set(&Op::seed, rc::gen::arbitrary<uint8_t>())));
  Sut row, cow;
  for (const Op& op : ops) {
    apply_op(row.pool, row.volumes, row.snapshots, WritePolicy::kRedirectOnWrite, op);
    apply_op(cow.pool, cow.volumes, cow.snapshots, WritePolicy::kCopyOut, op);
    RC_ASSERT(row.volumes.size() == cow.volumes.size());
    for (size_t i = 0; i < row.volumes.size(); ++i) {
      std::vector<std::byte> x(64 * kBs), y(64 * kBs);
      RC_ASSERT(row.pool.read_bytes(row.volumes[i], 0, x).is_ok());
      RC_ASSERT(cow.pool.read_bytes(cow.volumes[i], 0, y).is_ok());
      RC_ASSERT(x == y);
    }
    for (size_t i = 0; i < row.snapshots.size(); ++i) {
      RC_ASSERT(row.pool.content_hash(row.snapshots[i]).value() ==
                cow.pool.content_hash(cow.snapshots[i]).value());
    }
  }
  RC_ASSERT(row.pool.verify_refcounts().is_ok());
  RC_ASSERT(cow.pool.verify_refcounts().is_ok());
}

BOOST_AUTO_TEST_SUITE_END()
