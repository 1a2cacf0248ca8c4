// The guest file system's POSIX behaviour and each mode's durability rules,
// case by case (the random properties are simfs_property_test.cc and
// simfs_crash_test.cc).
#define BOOST_TEST_MODULE simfs
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include "tests/sim/test_machine.h"

using namespace snapsim;
using namespace snapsim::testing;
using cow::Code;
using sim::FsMode;
using sim::Writeback;

namespace {

std::vector<cow::SnapshotId> snap(TestMachine& t) {
  return {t.pool->snapshot(t.machine->disk().volume()).value()};
}

std::unique_ptr<sim::Machine> restored(TestMachine& t) { return restore(*t.pool, t.machine->config(), snap(t)); }

// The file system check's findings, one string ("" when healthy).
std::string problems(sim::Machine& m) {
  std::string out;
  for (const auto& p : m.simfs().check()) out += p + "; ";
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v) {
    if (s.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(SimFsTest)

BOOST_AUTO_TEST_CASE(files_in_nested_directories) {
  for (FsMode mode : {FsMode::kExt4, FsMode::kNoJournal}) {
    auto t = make_machine(Writeback::kLazy, 1, 4096, true, mode);
    auto& fs = t.machine->fs();
    BOOST_REQUIRE(fs.mkdirs("srv/data/base").is_ok());
    auto f = fs.open("srv/data/base/1.dat", true).value();
    BOOST_REQUIRE(fs.write(f, 0, bytes("hello world")).is_ok());
    BOOST_TEST(read_file(fs, "/srv/data/base/1.dat") == "hello world");
    BOOST_REQUIRE(fs.write(f, 5000, bytes("X")).is_ok());  // a gap reads as zeros
    std::string all = read_file(fs, "srv/data/base/1.dat");
    BOOST_TEST(all.size() == 5001u);
    BOOST_TEST(all.substr(11, 4989) == std::string(4989, '\0'));
    BOOST_REQUIRE(fs.truncate(f, 5).is_ok());
    BOOST_REQUIRE(fs.truncate(f, 8).is_ok());
    BOOST_TEST(read_file(fs, "srv/data/base/1.dat") == std::string("hello\0\0\0", 8));
    // Rename across directories, replacing the target atomically.
    auto g = fs.open("srv/other", true).value();
    BOOST_REQUIRE(fs.write(g, 0, bytes("old")).is_ok());
    BOOST_REQUIRE(fs.rename("srv/data/base/1.dat", "srv/other").is_ok());
    BOOST_TEST(!fs.exists("srv/data/base/1.dat"));
    BOOST_TEST(read_file(fs, "srv/other").substr(0, 5) == "hello");
    BOOST_TEST(fs.write(g, 0, bytes("x")).code() == Code::kNotFound);  // the replaced file is gone
    // A directory moves with its contents; link counts follow.
    BOOST_REQUIRE(fs.rename("srv/data", "moved").is_ok());
    BOOST_TEST(fs.exists("moved/base"));
    BOOST_TEST(fs.stat_path("srv").value().nlink == 2u);
    BOOST_TEST(fs.stat_path("").value().nlink == 4u);  // root: ., .. and srv/.., moved/..
    BOOST_TEST(fs.lookup("moved/base/../..").value() == fs.root());
    BOOST_TEST((fs.list() == std::vector<std::string>{"srv/other"}));
    BOOST_TEST(problems(*t.machine) == "");
  }
}

BOOST_AUTO_TEST_CASE(posix_errors) {
  auto t = make_machine(Writeback::kLazy);
  auto& fs = t.machine->fs();
  BOOST_REQUIRE(fs.mkdirs("d/e").is_ok());
  BOOST_REQUIRE(fs.open("d/f", true).is_ok());
  BOOST_TEST(fs.open("missing", false).status().code() == Code::kNotFound);
  BOOST_TEST(fs.open("nodir/x", true).status().code() == Code::kNotFound);
  BOOST_TEST(fs.open("d/f/x", true).status().code() == Code::kNotDir);
  BOOST_TEST(fs.open("d", true).status().code() == Code::kIsDir);
  BOOST_TEST(fs.mkdir("d").status().code() == Code::kExists);
  BOOST_TEST(fs.open(std::string(256, 'n'), true).status().code() == Code::kNameTooLong);
  BOOST_TEST(fs.open(std::string(255, 'n'), true).is_ok());
  std::string deep;
  while (deep.size() < 4096) deep += "d/";
  BOOST_TEST(fs.open(deep + "x", true).status().code() == Code::kNameTooLong);
  BOOST_TEST(fs.rmdir("d").code() == Code::kNotEmpty);
  BOOST_TEST(fs.rmdir("d/f").code() == Code::kNotDir);
  BOOST_TEST(fs.unlink("d/e").code() == Code::kIsDir);
  BOOST_TEST(fs.rename("d", "d/e/inside").code() == Code::kInvalidArgument);
  BOOST_TEST(fs.rename("d/f", "d/e").code() == Code::kIsDir);
  BOOST_TEST(fs.rename("d/e", "d/f").code() == Code::kNotDir);
  BOOST_REQUIRE(fs.mkdirs("x/y").is_ok());
  BOOST_TEST(fs.rename("d/e", "x").code() == Code::kNotEmpty);
  BOOST_TEST(fs.link("d", "d2").code() == Code::kNotPermitted);
  BOOST_TEST(fs.rmdir("").code() == Code::kInvalidArgument);
  auto f = fs.lookup("d/f").value();
  BOOST_TEST(fs.write(f, fs.max_file_size(), bytes("x")).code() == Code::kFileTooBig);
  BOOST_TEST(fs.fallocate(f, sim::Falloc::kAllocate, 0, 0).code() == Code::kInvalidArgument);
  BOOST_TEST(problems(*t.machine) == "");
}

BOOST_AUTO_TEST_CASE(hard_links_symlinks_and_loops) {
  auto t = make_machine(Writeback::kRandom);
  auto& fs = t.machine->fs();
  BOOST_REQUIRE(fs.mkdirs("a/b").is_ok());
  auto f = fs.open("a/b/file", true).value();
  BOOST_REQUIRE(fs.write(f, 0, bytes("data")).is_ok());
  BOOST_REQUIRE(fs.link("a/b/file", "a/hard").is_ok());
  BOOST_TEST(fs.stat(f).value().nlink == 2u);
  BOOST_REQUIRE(fs.unlink("a/b/file").is_ok());
  BOOST_TEST(read_file(fs, "a/hard") == "data");
  BOOST_TEST(fs.stat(f).value().nlink == 1u);
  BOOST_REQUIRE(fs.symlink("/a/b", "short").is_ok());
  const std::string long_target = "a/" + std::string(200, 'l');
  BOOST_REQUIRE(fs.symlink(long_target, "long").is_ok());  // not a fast symlink
  BOOST_TEST(fs.readlink(fs.resolve("long", false).value()).value() == long_target);
  BOOST_REQUIRE(fs.open("short/new", true).is_ok());
  BOOST_TEST(fs.exists("a/b/new"));
  BOOST_REQUIRE(fs.symlink("loop2", "loop1").is_ok());
  BOOST_REQUIRE(fs.symlink("loop1", "loop2").is_ok());
  BOOST_TEST(fs.open("loop1", false).status().code() == Code::kLoop);
  BOOST_TEST(fs.stat_path("loop1").value().type == sim::FileType::kSymlink);
  BOOST_REQUIRE(t.machine->sync_all().is_ok());
  auto r = restored(t);
  BOOST_TEST(read_file(r->fs(), "a/hard") == "data");
  BOOST_TEST(r->fs().readlink(r->fs().resolve("long", false).value()).value() == long_target);
  BOOST_TEST(problems(*r) == "");
}

BOOST_AUTO_TEST_CASE(an_unlinked_open_file_lives_until_its_last_close) {
  for (FsMode mode : {FsMode::kExt4, FsMode::kNoJournal}) {
    auto t = make_machine(Writeback::kLazy, 1, 4096, true, mode);
    auto& fs = t.machine->fs();
    const uint64_t free0 = fs.statfs().blocks_free;
    auto f = fs.open("tmp", true).value();
    BOOST_REQUIRE(fs.open_ref(f).is_ok());
    BOOST_REQUIRE(fs.write(f, 0, bytes(std::string(40000, 'z'))).is_ok());
    BOOST_REQUIRE(fs.unlink("tmp").is_ok());
    BOOST_TEST(!fs.exists("tmp"));
    BOOST_TEST(fs.size(f).value() == 40000u);
    BOOST_REQUIRE(fs.write(f, 40000, bytes("more")).is_ok());
    BOOST_REQUIRE(t.machine->sync_all().is_ok());
    // A crash now leaves an orphan: the mount frees it.
    auto r = restored(t);
    BOOST_TEST(has(r->fs().mount_repairs(), mode == FsMode::kExt4 ? "freed orphan inode" : "freed unreachable inode"));
    BOOST_TEST(problems(*r) == "");
    BOOST_REQUIRE(r->sync_all().is_ok());  // ext4: the frees commit
    BOOST_TEST(r->fs().statfs().blocks_free >= free0 - 1);  // all but the root's new directory block
    // The last close frees it on the live system.
    BOOST_REQUIRE(fs.close_ref(f).is_ok());
    BOOST_TEST(fs.stat(f).status().code() == Code::kNotFound);
    BOOST_TEST(problems(*t.machine) == "");
  }
}

BOOST_AUTO_TEST_CASE(sparse_files_and_fallocate) {
  auto t = make_machine(Writeback::kLazy);
  auto& fs = t.machine->fs();
  auto f = fs.open("sparse", true).value();
  BOOST_REQUIRE(fs.write(f, 3'000'000'000ull, bytes("end")).is_ok());  // past the disk's size: a hole
  BOOST_TEST(fs.size(f).value() == 3'000'000'003ull);
  BOOST_TEST(fs.stat(f).value().blocks <= 4u * 8);  // one data block plus mapping blocks, in 512 B units
  std::string mid(10, 'x');
  BOOST_REQUIRE(fs.read(f, 1'000'000'000ull, std::as_writable_bytes(std::span(mid))).value() == 10u);
  BOOST_TEST(mid == std::string(10, '\0'));
  // Equal bytes hash alike however they are stored (holes, a truncate up,
  // explicit zeros), and a hash of a sparse file costs what it maps.
  auto t2 = fs.open("sparse2", true).value();
  BOOST_REQUIRE(fs.truncate(t2, 3'000'000'000ull).is_ok());
  BOOST_REQUIRE(fs.write(t2, 3'000'000'000ull - 8192, bytes(std::string(8192, '\0'))).is_ok());
  BOOST_REQUIRE(fs.write(t2, 3'000'000'000ull, bytes("end")).is_ok());
  BOOST_TEST(fs.content_hash(f).value() == fs.content_hash(t2).value());
  BOOST_REQUIRE(fs.write(t2, 3'000'000'002ull, bytes("D")).is_ok());
  BOOST_TEST(!(fs.content_hash(f).value() == fs.content_hash(t2).value()));
  auto g = fs.open("pre", true).value();
  BOOST_REQUIRE(fs.fallocate(g, sim::Falloc::kKeepSize, 0, 40960).is_ok());
  BOOST_TEST(fs.size(g).value() == 0u);
  BOOST_TEST(fs.stat(g).value().blocks == 80u);
  BOOST_REQUIRE(fs.fallocate(g, sim::Falloc::kAllocate, 0, 10000).is_ok());
  BOOST_TEST(fs.size(g).value() == 10000u);
  BOOST_REQUIRE(fs.write(g, 0, bytes(std::string(10000, 'y'))).is_ok());
  BOOST_REQUIRE(fs.fallocate(g, sim::Falloc::kPunchHole, 100, 8200).is_ok());
  const std::string got = read_file(fs, "pre");
  BOOST_TEST(got.substr(0, 100) == std::string(100, 'y'));
  BOOST_TEST(got.substr(100, 8200) == std::string(8200, '\0'));
  BOOST_TEST(got.substr(8300) == std::string(1700, 'y'));
  BOOST_TEST(fs.stat(g).value().blocks == 80u - 8);  // block 1 (4096..8191) freed
  // More than the disk: refused at once, nothing allocated.
  BOOST_TEST(fs.fallocate(g, sim::Falloc::kKeepSize, 0, 1ull << 40).code() == Code::kFsFull);
  BOOST_TEST(fs.stat(g).value().blocks == 80u - 8);
  BOOST_TEST(problems(*t.machine) == "");
}

BOOST_AUTO_TEST_CASE(a_full_disk_or_inode_table_changes_nothing) {
  for (FsMode mode : {FsMode::kExt4, FsMode::kNoJournal}) {
    auto c = small_config(Writeback::kRandom, true, mode);
    c.fs.disk_bytes = 1ull << 20;
    c.fs.inodes = 20;
    c.fs.journal_blocks = 32;
    auto t = make_machine(c, 3, 1024);
    auto& fs = t.machine->fs();
    auto f = fs.open("fill", true).value();
    uint64_t size = 0;
    Code last = Code::kOk;
    while (last == Code::kOk) {
      const std::string chunk(50000, 'f');
      const auto st = fs.write(f, size, bytes(chunk));
      last = st.code();
      if (st.is_ok()) size += chunk.size();
    }
    BOOST_TEST(last == Code::kFsFull);
    BOOST_TEST(fs.size(f).value() == size);  // the failed write left nothing
    BOOST_TEST(fs.statfs().blocks_free < 50u);
    int created = 0;
    while (fs.open("i" + std::to_string(created), true).is_ok()) ++created;
    BOOST_TEST(fs.open("one-more", true).status().code() == Code::kFsFull);
    BOOST_TEST(created <= 17);
    BOOST_TEST(problems(*t.machine) == "");
    // Freeing space makes room again.
    BOOST_REQUIRE(fs.truncate(f, 0).is_ok());
    BOOST_TEST(fs.write(f, 0, bytes(std::string(50000, 'g'))).is_ok());
    BOOST_TEST(problems(*t.machine) == "");
  }
}

// ext4: a commit persists everything before it, so fsync of any file makes
// a new name durable; nojournal: fsync of a new file syncs its directory
// (ext4_sync_parent), but a rename needs the directory's own fsync.
BOOST_AUTO_TEST_CASE(what_fsync_makes_durable_per_mode) {
  {
    auto t = make_machine(Writeback::kLazy, 1, 4096, true, FsMode::kExt4);
    auto& fs = t.machine->fs();
    auto a = fs.open("a", true).value();
    BOOST_REQUIRE(fs.write(a, 0, bytes("A")).is_ok());
    BOOST_REQUIRE(fs.mkdirs("x/y").is_ok());
    BOOST_REQUIRE(fs.rename("a", "x/y/b").is_ok());
    auto other = fs.open("other", true).value();
    BOOST_TEST(!restored(t)->fs().exists("x"));  // nothing committed yet
    const uint64_t commits = t.machine->simfs().commits();
    BOOST_REQUIRE(fs.fsync(other).is_ok());
    BOOST_TEST(t.machine->simfs().commits() == commits + 1);
    auto r = restored(t);
    BOOST_TEST(read_file(r->fs(), "x/y/b") == "A");  // data=ordered wrote it before the commit
    BOOST_TEST(has(r->fs().mount_repairs(), "journal replayed"));
    BOOST_TEST(problems(*r) == "");
  }
  {
    auto t = make_machine(Writeback::kLazy, 1, 4096, true, FsMode::kNoJournal);
    auto& fs = t.machine->fs();
    BOOST_REQUIRE(fs.mkdirs("x/y").is_ok());
    auto a = fs.open("x/y/a", true).value();
    BOOST_REQUIRE(fs.write(a, 0, bytes("A")).is_ok());
    BOOST_REQUIRE(fs.fsync(a).is_ok());
    BOOST_TEST(read_file(restored(t)->fs(), "x/y/a") == "A");  // the parents were synced too
    BOOST_REQUIRE(fs.rename("x/y/a", "x/b").is_ok());
    auto other = fs.open("other", true).value();
    BOOST_REQUIRE(fs.fsync(other).is_ok());
    auto r = restored(t);
    BOOST_TEST(r->fs().exists("x/y/a"));  // the rename is not durable
    BOOST_TEST(!r->fs().exists("x/b"));
    BOOST_TEST(problems(*r) == "");
    BOOST_REQUIRE(fs.fsync_parent("x/b").is_ok());
    BOOST_REQUIRE(fs.fsync_parent("x/y/a").is_ok());
    r = restored(t);
    BOOST_TEST(read_file(r->fs(), "x/b") == "A");
    BOOST_TEST(!r->fs().exists("x/y/a"));
  }
}

BOOST_AUTO_TEST_CASE(ext4_commits_every_interval_without_fsync) {
  auto t = make_machine(Writeback::kLazy, 1, 4096, true, FsMode::kExt4);
  auto& fs = t.machine->fs();
  BOOST_REQUIRE(fs.mkdir("early").is_ok());
  t.machine->clock().advance_ns(4'000'000'000ull);
  BOOST_REQUIRE(fs.mkdir("still-running").is_ok());
  BOOST_TEST(!restored(t)->fs().exists("early"));
  t.machine->clock().advance_ns(1'500'000'000ull);  // the transaction is 5.5 s old
  BOOST_REQUIRE(fs.mkdir("trigger").is_ok());
  auto r = restored(t);
  BOOST_TEST(r->fs().exists("early"));
  BOOST_TEST(r->fs().exists("trigger"));
}

// data=writeback journals the size without the data; auto_da_alloc writes
// a file's data when it replaces another by rename.
BOOST_AUTO_TEST_CASE(data_writeback_and_auto_da_alloc) {
  for (bool auto_da : {true, false}) {
    auto c = small_config(Writeback::kLazy, /*ordered=*/false, FsMode::kExt4);
    c.fs.auto_da_alloc = auto_da;
    auto t = make_machine(c);
    auto& fs = t.machine->fs();
    auto cfg = fs.open("config", true).value();
    BOOST_REQUIRE(fs.write(cfg, 0, bytes("old settings")).is_ok());
    BOOST_REQUIRE(t.machine->sync_all().is_ok());
    auto tmp = fs.open("config.tmp", true).value();
    BOOST_REQUIRE(fs.write(tmp, 0, bytes("new settings")).is_ok());
    BOOST_REQUIRE(fs.rename("config.tmp", "config").is_ok());
    auto other = fs.open("other", true).value();
    BOOST_REQUIRE(fs.fsync(other).is_ok());  // commits the rename
    const std::string got = read_file(restored(t)->fs(), "config");
    BOOST_TEST(got.size() == 12u);
    if (auto_da) {
      BOOST_TEST(got == "new settings");
    } else {
      BOOST_TEST(got == std::string(12, '\0'));  // the size committed, the data never written
    }
  }
}

// nojournal data=ordered: an inode block reaches the disk only after the
// data of the files in it (ext4's delayed allocation, without a journal);
// data=writeback lets it go first, so the size exposes what the block held.
BOOST_AUTO_TEST_CASE(nojournal_orders_data_before_the_inode_unless_writeback) {
  for (bool ordered : {true, false}) {
    auto t = make_machine(Writeback::kLazy, 1, 4096, ordered, FsMode::kNoJournal);
    auto& fs = t.machine->fs();
    auto f = fs.open("f", true).value();
    BOOST_REQUIRE(fs.write(f, 0, bytes(std::string(5000, 'x'))).is_ok());
    auto& cache = t.machine->cache();
    std::vector<uint64_t> data;
    for (const auto& [block, page] : cache.dirty_pages()) {
      if (static_cast<char>(page[0]) == 'x') data.push_back(block);
    }
    BOOST_REQUIRE(data.size() == 2u);
    // Write back every dirty metadata page but the data.
    for (const auto& [block, page] : cache.dirty_pages()) {
      if (std::find(data.begin(), data.end(), block) == data.end()) BOOST_REQUIRE(cache.write_back(block).is_ok());
    }
    BOOST_TEST(cache.is_dirty(data[0]) == !ordered);
    BOOST_REQUIRE(fs.fsync_parent("f").is_ok());
    const std::string got = read_file(restored(t)->fs(), "f");
    BOOST_TEST(got.size() == 5000u);
    BOOST_TEST((got == std::string(5000, 'x')) == ordered);
  }
}

BOOST_AUTO_TEST_CASE(fsfreeze_image_needs_no_recovery) {
  for (FsMode mode : {FsMode::kExt4, FsMode::kNoJournal}) {
    auto t = make_machine(Writeback::kLazy, 1, 4096, true, mode);
    auto& fs = t.machine->fs();
    BOOST_REQUIRE(fs.mkdirs("d").is_ok());
    auto f = fs.open("d/f", true).value();
    BOOST_REQUIRE(fs.write(f, 0, bytes("frozen")).is_ok());
    auto other = fs.open("other", true).value();
    BOOST_REQUIRE(fs.fsync(other).is_ok());
    BOOST_REQUIRE(fs.rename("d/f", "g").is_ok());
    auto& pool = *t.pool;
    auto base = pool.snapshot(t.machine->disk().volume()).value();
    auto clone = pool.clone(base).value();
    for (const auto& [block, data] : t.machine->simfs().freeze_writes()) {
      BOOST_REQUIRE(pool.write_blocks(clone, block, data).is_ok());
    }
    auto r = sim::Machine::boot_restored(&pool, t.machine->config(), {clone}, sim::Prng(5)).value();
    BOOST_TEST(read_file(r->fs(), "g") == "frozen");
    BOOST_TEST(!r->fs().exists("d/f"));
    if (mode == FsMode::kExt4) BOOST_TEST(r->fs().mount_repairs().empty());
    BOOST_TEST(problems(*r) == "");
  }
}

BOOST_AUTO_TEST_CASE(mount_rejects_an_unformatted_disk) {
  auto pool = cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = 64}).value();
  auto vol = pool.create_volume(4096, cow::WritePolicy::kRedirectOnWrite).value();
  auto m = sim::Machine::boot_restored(&pool, small_config(Writeback::kLazy), {vol}, sim::Prng(1));
  BOOST_TEST(m.status().code() == Code::kIoError);
}

RC_BOOST_PROP(content_hash_is_equal_iff_the_bytes_are, ()) {
  auto t = make_machine(Writeback::kRandom, *rc::gen::arbitrary<uint64_t>());
  auto& fs = t.machine->fs();
  const auto a = *rc::gen::container<std::string>(rc::gen::inRange<char>('a', 'c'));
  auto b = a;
  if (*rc::gen::arbitrary<bool>() && !b.empty()) b[*rc::gen::inRange<size_t>(0, b.size())] ^= 1;
  const uint64_t off = *rc::gen::inRange<uint64_t>(0, 9000);
  auto fa = fs.open("a", true).value();
  auto fb = fs.open("b", true).value();
  RC_ASSERT(fs.write(fa, off, bytes(a)).is_ok());
  // b: the same bytes, written with a hole filled by explicit zeros.
  RC_ASSERT(fs.write(fb, 0, bytes(std::string(off, '\0'))).is_ok());
  RC_ASSERT(fs.write(fb, off, bytes(b)).is_ok());
  RC_ASSERT((fs.content_hash(fa).value() == fs.content_hash(fb).value()) == (a == b));
}

BOOST_AUTO_TEST_SUITE_END()
