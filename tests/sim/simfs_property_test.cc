// The live guest file system against an in-memory POSIX model: random
// sequences of every operation (directories, renames over existing names,
// hard and symbolic links, unlink of open files, truncate, fallocate,
// sparse writes, chmod) on both modes and every writeback policy. After each
// operation the error (or success) and the whole tree equal the model's;
// after a sync and a remount they still do, and the file system's own
// consistency check finds nothing.
// Reproduce a failure with the RC_PARAMS="reproduce=..." line it prints.
#define BOOST_TEST_MODULE simfs_property
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include <map>
#include <optional>

#include "tests/sim/fs_model.h"
#include "tests/sim/test_machine.h"

using namespace snapsim;
using namespace snapsim::testing;
using sim::Writeback;

namespace {

sim::FsMode gen_mode() { return *rc::gen::element(sim::FsMode::kExt4, sim::FsMode::kNoJournal); }
Writeback gen_writeback() { return *rc::gen::element(Writeback::kEager, Writeback::kLazy, Writeback::kRandom); }

}  // namespace

BOOST_AUTO_TEST_SUITE(SimFsProperty)

RC_BOOST_PROP(live_file_system_equals_the_posix_model, ()) {
  auto c = small_config(gen_writeback(), *rc::gen::arbitrary<bool>(), gen_mode());
  // Small enough that ENOSPC happens: 128 KiB of 1 KiB blocks, 24 inodes.
  const bool tiny = *rc::gen::arbitrary<bool>();
  const uint32_t bs = tiny ? 1024 : 4096;
  if (tiny) {
    c.fs.disk_bytes = 128ull << 10;
    c.fs.inodes = 24;
    c.fs.journal_blocks = 32;
  }
  auto t = make_machine(c, *rc::gen::arbitrary<uint64_t>(), bs);
  sim::GuestFs& fs = t.machine->fs();
  FsModel model;
  std::vector<std::pair<sim::FileRef, int>> handles;  // open descriptions: (ref, model node)
  // Start with directories a, b and a/b, so deep paths are valid.
  for (uint8_t dir : {0, 1, 5}) RC_ASSERT(model.apply(FsOp{.kind = 1, .a = dir, .b = 0, .off = 0, .len = 1, .seed = 0, .flag = 0}, &handles, fs).matched);
  // Elements at full size (inRange scales with it); 10 to 120 of them.
  const size_t count = *rc::gen::resize(100, rc::gen::inRange<size_t>(10, 120));
  const auto ops = *rc::gen::container<std::vector<FsOp>>(count, rc::gen::resize(100, gen_fs_op()));
  int no_space = 0;
  for (const FsOp& op : ops) {
    const auto before = tree_of(fs);
    const Outcome want = model.apply(op, &handles, fs);
    RC_ASSERT(want.matched);
    no_space += want.no_space ? 1 : 0;
    if (want.no_space) {
      // ENOSPC (or no inode) with nothing half-done.
      RC_ASSERT(tree_of(fs) == before);
    }
    RC_ASSERT(tree_of(fs) == model.tree());
    for (const auto& [ref, node] : handles) RC_ASSERT(read_ref(fs, ref) == model.content(node));
  }
  RC_CLASSIFY(ops.size() > 60, "over 60 operations");
  RC_CLASSIFY(model.tree().size() > 10, "over 10 entries");
  RC_CLASSIFY(no_space > 0, "ENOSPC");
  RC_CLASSIFY(!handles.empty(), "open descriptions");
  RC_ASSERT(t.machine->simfs().check().empty());
  RC_ASSERT(t.machine->sync_all().is_ok());
  auto r = restore(*t.pool, t.machine->config(), {t.pool->snapshot(t.machine->disk().volume()).value()});
  RC_ASSERT(tree_of(r->fs()) == model.tree());
  const auto problems = r->simfs().check();
  RC_ASSERT(problems.empty());
}

BOOST_AUTO_TEST_SUITE_END()
