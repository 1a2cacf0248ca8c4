// Properties of simfs and the persistence model, against in-memory models.
// Reproduce a failure with the RC_PARAMS="reproduce=..." line it prints.
#define BOOST_TEST_MODULE simfs_property
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include <map>

#include "tests/sim/test_machine.h"

using namespace snapsim;
using namespace snapsim::testing;
using sim::Writeback;

namespace {

struct Op {
  uint8_t kind;  // 0 create, 1 write, 2 truncate, 3 unlink, 4 rename, 5 fsync, 6 sync_dir
  uint8_t file;
  uint8_t other;
  uint32_t offset;
  uint16_t len;
  uint8_t seed;
};

void showValue(const Op& op, std::ostream& os) {
  static const char* kNames[] = {"create", "write", "truncate", "unlink", "rename", "fsync", "sync_dir"};
  os << kNames[op.kind] << "(file" << int(op.file) << ", other " << int(op.other) << ", offset "
     << op.offset << ", len " << op.len << ")";
}

rc::Gen<Op> gen_op(uint32_t max_offset, uint16_t max_len) {
  return rc::gen::build<Op>(rc::gen::set(&Op::kind, rc::gen::inRange<uint8_t>(0, 7)),
                            rc::gen::set(&Op::file, rc::gen::inRange<uint8_t>(0, 4)),
                            rc::gen::set(&Op::other, rc::gen::inRange<uint8_t>(0, 4)),
                            rc::gen::set(&Op::offset, rc::gen::inRange<uint32_t>(0, max_offset)),
                            rc::gen::set(&Op::len, rc::gen::inRange<uint16_t>(1, max_len)),
                            rc::gen::set(&Op::seed, rc::gen::arbitrary<uint8_t>()));
}

std::string name_of(uint8_t i) { return "file" + std::to_string(i); }

std::string payload(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed + i) % 26);
  return s;
}

using Files = std::map<std::string, std::string>;

// Applies op to fs and to the model; ops that the model says must fail are
// skipped for both (the property is about contents, errors are unit-tested).
void apply(sim::GuestFs& fs, Files& model, const Op& op) {
  const std::string name = name_of(op.file);
  const bool exists = model.count(name) > 0;
  switch (op.kind) {
    case 0:
      RC_ASSERT(fs.open(name, true).is_ok());
      model.emplace(name, "");
      break;
    case 1: {
      if (!exists) return;
      const std::string data = payload(op.len, op.seed);
      RC_ASSERT(fs.write(fs.lookup(name).value(), op.offset, bytes(data)).is_ok());
      std::string& m = model[name];
      if (m.size() < op.offset + data.size()) m.resize(op.offset + data.size(), '\0');
      m.replace(op.offset, data.size(), data);
      break;
    }
    case 2:
      if (!exists) return;
      RC_ASSERT(fs.truncate(fs.lookup(name).value(), op.offset).is_ok());
      model[name].resize(op.offset, '\0');
      break;
    case 3:
      if (!exists) return;
      RC_ASSERT(fs.unlink(name).is_ok());
      model.erase(name);
      break;
    case 4: {
      if (!exists) return;
      const std::string to = name_of(op.other);
      RC_ASSERT(fs.rename(name, to).is_ok());
      std::string content = model[name];
      model.erase(name);
      model[to] = content;
      break;
    }
    case 5:
      if (!exists) return;
      RC_ASSERT(fs.fsync(fs.lookup(name).value()).is_ok());
      break;
    case 6:
      RC_ASSERT(fs.sync_dir().is_ok());
      break;
  }
}

Files contents(sim::GuestFs& fs) {
  Files out;
  for (const auto& n : fs.list()) out[n] = read_file(fs, n);
  return out;
}

Writeback gen_writeback() {
  return *rc::gen::element(Writeback::kEager, Writeback::kLazy, Writeback::kRandom);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(SimFsProperty)

// The live file system reads back exactly what an in-memory map of files
// says, and so does a restore of the image after a full sync.
RC_BOOST_PROP(simfs_matches_in_memory_model, ()) {
  const Writeback wb = gen_writeback();
  const auto ops = *rc::gen::container<std::vector<Op>>(gen_op(20000, 6000));
  auto t = make_machine(wb, *rc::gen::arbitrary<uint64_t>(), 4096, *rc::gen::arbitrary<bool>());
  Files model;
  for (const Op& op : ops) {
    apply(t.machine->fs(), model, op);
    RC_ASSERT(contents(t.machine->fs()) == model);
  }
  RC_ASSERT(t.machine->sync_all().is_ok());
  auto r = restore(*t.pool, t.machine->config(), {t.pool->snapshot(t.machine->disk().volume()).value()});
  RC_ASSERT(contents(r->fs()) == model);
}

// Data whose fsync returned before a snapshot point is present in every
// image at and after that point. Files are append-only here, created and
// named durably first, so later writes never legitimately change what was
// synced.
RC_BOOST_PROP(fsynced_data_survives_every_later_point, ()) {
  const Writeback wb = gen_writeback();
  auto t = make_machine(wb, *rc::gen::arbitrary<uint64_t>(), 4096, *rc::gen::arbitrary<bool>());
  auto& fs = t.machine->fs();
  for (int i = 0; i < 3; ++i) RC_ASSERT(fs.open(name_of(i), true).is_ok());
  RC_ASSERT(fs.sync_all().is_ok());
  std::map<std::string, std::string> synced;  // durable prefix per file
  std::vector<std::pair<cow::SnapshotId, std::map<std::string, std::string>>> points;
  t.machine->set_write_hook([&](uint32_t) {
    points.emplace_back(t.pool->snapshot(t.machine->disk().volume()).value(), synced);
  });
  std::map<std::string, std::string> live;
  const auto steps = *rc::gen::container<std::vector<std::tuple<uint8_t, bool, uint16_t>>>(
      rc::gen::tuple(rc::gen::inRange<uint8_t>(0, 3), rc::gen::arbitrary<bool>(),
                     rc::gen::inRange<uint16_t>(1, 9000)));
  for (const auto& [file, do_sync, len] : steps) {
    const std::string name = name_of(file);
    const std::string data = payload(len, static_cast<uint8_t>(live[name].size()));
    if (live[name].size() + data.size() > fs.max_file_size()) continue;
    auto f = fs.lookup(name).value();
    RC_ASSERT(fs.write(f, live[name].size(), bytes(data)).is_ok());
    live[name] += data;
    if (do_sync) {
      RC_ASSERT(fs.fsync(f).is_ok());
      synced[name] = live[name];
    }
  }
  for (const auto& [s, durable] : points) {
    auto r = restore(*t.pool, t.machine->config(), {s});
    for (const auto& [name, prefix] : durable) {
      const std::string got = read_file(r->fs(), name);
      RC_ASSERT(got.size() >= prefix.size());
      RC_ASSERT(got.compare(0, prefix.size(), prefix) == 0);
    }
  }
}

// Under eager (write-through) writeback every `none` point restores the
// state after some prefix of the file operations: the completed ones, or
// those plus the one in progress. Writes here stay inside one block and
// either overwrite or extend, never both: a write spanning blocks, or one
// that overwrites bytes and grows the file, is legitimately visible half
// done (data page before inode), as on a real file system.
RC_BOOST_PROP(eager_points_are_prefixes_of_the_file_operations, ()) {
  auto t = make_machine(Writeback::kEager, 1);
  auto& fs = t.machine->fs();
  const auto ops = *rc::gen::container<std::vector<Op>>(gen_op(3 * 4096, 4096));
  std::vector<Files> states{Files{}};
  std::vector<std::pair<cow::SnapshotId, size_t>> points;  // (image, ops completed)
  t.machine->set_write_hook([&](uint32_t) {
    points.emplace_back(t.pool->snapshot(t.machine->disk().volume()).value(), states.size() - 1);
  });
  Files model;
  for (Op op : ops) {
    const uint32_t in_block = op.offset % 4096;
    if (in_block + op.len > 4096) op.len = static_cast<uint16_t>(4096 - in_block);
    const auto it = model.find(name_of(op.file));
    if (op.kind == 1 && it != model.end() && op.offset < it->second.size() &&
        op.offset + op.len > it->second.size()) {
      op.len = static_cast<uint16_t>(it->second.size() - op.offset);
    }
    apply(fs, model, op);
    states.push_back(model);
  }
  for (const auto& [s, done] : points) {
    auto r = restore(*t.pool, t.machine->config(), {s});
    const Files got = contents(r->fs());
    const bool ok = got == states[done] || (done + 1 < states.size() && got == states[done + 1]);
    RC_ASSERT(ok);
  }
}

BOOST_AUTO_TEST_SUITE_END()
