#define BOOST_TEST_MODULE sqlite_vfs
#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <fmt/format.h>

#include "tests/sim/test_machine.h"
#include "sim/faulty_fs.h"
#include "workloads/sqlite_vfs.h"

using namespace snapsim;
using namespace snapsim::testing;
using workloads::SqliteVfs;
using workloads::VfsOptions;

namespace {

struct Db {
  sqlite3* db = nullptr;
  Db(const std::string& path, const std::string& vfs) {
    BOOST_REQUIRE_EQUAL(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                        vfs.c_str()),
                        SQLITE_OK);
    sqlite3_extended_result_codes(db, 1);
  }
  ~Db() { sqlite3_close_v2(db); }
  int exec(const std::string& sql) { return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr); }
  int64_t scalar(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    BOOST_REQUIRE_EQUAL(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    BOOST_REQUIRE_EQUAL(sqlite3_step(st), SQLITE_ROW);
    const int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
};

struct RawFile {
  sqlite3_file* f;
  explicit RawFile(sqlite3_vfs* vfs, const char* name, int flags) {
    f = static_cast<sqlite3_file*>(std::calloc(1, vfs->szOsFile));
    int out = 0;
    BOOST_REQUIRE_EQUAL(vfs->xOpen(vfs, name, f, flags, &out), SQLITE_OK);
  }
  ~RawFile() {
    f->pMethods->xClose(f);
    std::free(f);
  }
  int lock(int level) { return f->pMethods->xLock(f, level); }
  int unlock(int level) { return f->pMethods->xUnlock(f, level); }
};

constexpr int kDbFlags = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

}  // namespace

BOOST_AUTO_TEST_SUITE(SqliteVfsTest)

BOOST_AUTO_TEST_CASE(database_lives_in_simfs_files) {
  auto t = make_machine(sim::Writeback::kLazy);
  SqliteVfs vfs(*t.machine, VfsOptions{});
  {
    Db db("/0/test.db", vfs.name());
    BOOST_REQUIRE_EQUAL(db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);"), SQLITE_OK);
    BOOST_TEST(db.scalar("SELECT SUM(x) FROM t") == 6);
  }
  BOOST_TEST(t.machine->fs().exists("test.db"));
  BOOST_TEST(!t.machine->fs().exists("test.db-journal"));  // DELETE mode removed it
  BOOST_TEST(vfs.counters().writes > 0u);
  BOOST_TEST(vfs.counters().syncs > 0u);
}

BOOST_AUTO_TEST_CASE(short_read_is_zero_filled_and_reported) {
  auto t = make_machine(sim::Writeback::kLazy);
  SqliteVfs vfs(*t.machine, VfsOptions{});
  sqlite3_vfs* v = sqlite3_vfs_find(vfs.name().c_str());
  RawFile f(v, "/0/raw", kDbFlags);
  BOOST_REQUIRE_EQUAL(f.f->pMethods->xWrite(f.f, "abc", 3, 0), SQLITE_OK);
  char buf[8];
  std::memset(buf, 'x', sizeof buf);
  BOOST_TEST(f.f->pMethods->xRead(f.f, buf, 8, 0) == SQLITE_IOERR_SHORT_READ);
  BOOST_TEST(std::string(buf, 8) == std::string("abc\0\0\0\0\0", 8));
  sqlite3_int64 size = 0;
  BOOST_REQUIRE_EQUAL(f.f->pMethods->xFileSize(f.f, &size), SQLITE_OK);
  BOOST_TEST(size == 3);
  BOOST_REQUIRE_EQUAL(f.f->pMethods->xTruncate(f.f, 1), SQLITE_OK);
  BOOST_REQUIRE_EQUAL(f.f->pMethods->xFileSize(f.f, &size), SQLITE_OK);
  BOOST_TEST(size == 1);
  BOOST_TEST(f.f->pMethods->xSectorSize(f.f) == 4096);
}

BOOST_AUTO_TEST_CASE(lock_levels_exclude_each_other) {
  auto t = make_machine(sim::Writeback::kLazy);
  SqliteVfs vfs(*t.machine, VfsOptions{});
  sqlite3_vfs* v = sqlite3_vfs_find(vfs.name().c_str());
  RawFile a(v, "/0/l.db", kDbFlags), b(v, "/0/l.db", kDbFlags), c(v, "/0/l.db", kDbFlags);
  BOOST_TEST(a.lock(SQLITE_LOCK_SHARED) == SQLITE_OK);
  BOOST_TEST(b.lock(SQLITE_LOCK_SHARED) == SQLITE_OK);
  BOOST_TEST(a.lock(SQLITE_LOCK_RESERVED) == SQLITE_OK);
  BOOST_TEST(b.lock(SQLITE_LOCK_RESERVED) == SQLITE_BUSY);  // one writer
  int reserved = 0;
  BOOST_REQUIRE_EQUAL(b.f->pMethods->xCheckReservedLock(b.f, &reserved), SQLITE_OK);
  BOOST_TEST(reserved == 1);
  BOOST_TEST(a.lock(SQLITE_LOCK_EXCLUSIVE) == SQLITE_BUSY);  // b still reads; a is PENDING
  BOOST_TEST(c.lock(SQLITE_LOCK_SHARED) == SQLITE_BUSY);     // PENDING keeps new readers out
  BOOST_TEST(b.unlock(SQLITE_LOCK_NONE) == SQLITE_OK);
  BOOST_TEST(a.lock(SQLITE_LOCK_EXCLUSIVE) == SQLITE_OK);
  BOOST_TEST(b.lock(SQLITE_LOCK_SHARED) == SQLITE_BUSY);
  BOOST_TEST(a.unlock(SQLITE_LOCK_SHARED) == SQLITE_OK);
  BOOST_TEST(b.lock(SQLITE_LOCK_SHARED) == SQLITE_OK);
  BOOST_TEST(c.lock(SQLITE_LOCK_SHARED) == SQLITE_OK);
}

BOOST_AUTO_TEST_CASE(two_connections_lock_each_other_out) {
  auto t = make_machine(sim::Writeback::kRandom);
  SqliteVfs vfs(*t.machine, VfsOptions{});
  Db a("/0/c.db", vfs.name()), b("/0/c.db", vfs.name());
  BOOST_REQUIRE_EQUAL(a.exec("CREATE TABLE t(x)"), SQLITE_OK);
  BOOST_REQUIRE_EQUAL(a.exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);"), SQLITE_OK);
  BOOST_TEST(b.exec("BEGIN IMMEDIATE") == SQLITE_BUSY);
  BOOST_TEST(b.scalar("SELECT COUNT(*) FROM t") == 0);  // readers see the last commit
  BOOST_REQUIRE_EQUAL(a.exec("COMMIT"), SQLITE_OK);
  BOOST_REQUIRE_EQUAL(b.exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (2); COMMIT;"), SQLITE_OK);
  BOOST_TEST(a.scalar("SELECT COUNT(*) FROM t") == 2);
}

BOOST_AUTO_TEST_CASE(wal_with_checkpoint) {
  auto t = make_machine(sim::Writeback::kRandom);
  SqliteVfs vfs(*t.machine, VfsOptions{});
  Db a("/0/w.db", vfs.name()), b("/0/w.db", vfs.name());
  BOOST_REQUIRE_EQUAL(a.exec("PRAGMA journal_mode=wal; CREATE TABLE t(x); INSERT INTO t VALUES (7);"),
                      SQLITE_OK);
  auto& fs = t.machine->fs();
  BOOST_TEST(fs.size(fs.lookup("w.db-wal").value()).value() > 32u);
  BOOST_TEST(b.scalar("SELECT x FROM t") == 7);  // through the shared wal-index
  BOOST_REQUIRE_EQUAL(a.exec("PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
  BOOST_TEST(fs.size(fs.lookup("w.db-wal").value()).value() == 0u);
  BOOST_TEST(b.scalar("SELECT x FROM t") == 7);
}

BOOST_AUTO_TEST_CASE(wal_index_is_rebuilt_after_restore) {
  auto t = make_machine(sim::Writeback::kLazy);
  SqliteVfs vfs(*t.machine, VfsOptions{});
  Db a("/0/w.db", vfs.name());
  BOOST_REQUIRE_EQUAL(a.exec("PRAGMA journal_mode=wal; PRAGMA synchronous=full; CREATE TABLE t(x); "
                             "INSERT INTO t VALUES (41);"),
                      SQLITE_OK);
  auto snap = t.pool->snapshot(t.machine->disk().volume()).value();
  auto r = restore(*t.pool, t.machine->config(), {snap});
  SqliteVfs rvfs(*r, VfsOptions{});
  Db b("/0/w.db", rvfs.name());
  BOOST_TEST(b.scalar("SELECT x FROM t") == 41);
}

BOOST_AUTO_TEST_CASE(delete_syncs_the_directory_only_when_asked) {
  for (const char* sync : {"full", "extra"}) {
    auto t = make_machine(sim::Writeback::kLazy);
    SqliteVfs vfs(*t.machine, VfsOptions{});
    Db a("/0/d.db", vfs.name());
    BOOST_REQUIRE_EQUAL(a.exec(std::string("PRAGMA synchronous=") + sync +
                               "; CREATE TABLE t(x); INSERT INTO t VALUES (1);"),
                        SQLITE_OK);
    auto snap = t.pool->snapshot(t.machine->disk().volume()).value();
    auto r = restore(*t.pool, t.machine->config(), {snap});
    // FULL: the unlink of the journal never reached the disk, so the last
    // journal is back after a restore. EXTRA synced the directory.
    BOOST_TEST(r->fs().exists("d.db-journal") == (std::string(sync) == "full"));
  }
}

BOOST_AUTO_TEST_CASE(full_pool_is_sqlite_full_and_loses_nothing) {
  sim::MachineConfig c = small_config(sim::Writeback::kEager);
  c.fs.max_file_blocks = 4096;
  auto pool = std::make_unique<cow::Pool>(
      cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = 120}).value());
  auto m = sim::Machine::boot_fresh(pool.get(), c, sim::Prng(1)).value();
  SqliteVfs vfs(*m, VfsOptions{});
  Db db("/0/f.db", vfs.name());
  BOOST_REQUIRE_EQUAL(db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (zeroblob(1000));"), SQLITE_OK);
  int rc = SQLITE_OK;
  int committed = 1;
  for (int i = 0; i < 1000 && rc == SQLITE_OK; ++i) {
    rc = db.exec("INSERT INTO t VALUES (randomblob(3000))");
    if (rc == SQLITE_OK) ++committed;
  }
  BOOST_TEST((rc & 0xff) == SQLITE_FULL);
  BOOST_TEST(db.scalar("SELECT COUNT(*) FROM t") == committed);
  BOOST_TEST(db.scalar("SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'") == 1);
}

BOOST_AUTO_TEST_CASE(time_and_randomness_come_from_the_simulation) {
  auto t = make_machine(sim::Writeback::kLazy, 5);
  SqliteVfs vfs(*t.machine, VfsOptions{});
  sqlite3_vfs* v = sqlite3_vfs_find(vfs.name().c_str());
  sqlite3_int64 t0 = 0, t1 = 0;
  v->xCurrentTimeInt64(v, &t0);
  BOOST_TEST(v->xSleep(v, 250000) == 250000);
  v->xCurrentTimeInt64(v, &t1);
  BOOST_TEST(t1 - t0 == 250);
  auto u = make_machine(sim::Writeback::kLazy, 5);
  SqliteVfs vfs2(*u.machine, VfsOptions{});
  sqlite3_vfs* v2 = sqlite3_vfs_find(vfs2.name().c_str());
  char a[16], b[16];
  v->xRandomness(v, 16, a);
  v2->xRandomness(v2, 16, b);
  BOOST_TEST(std::string(a, 16) == std::string(b, 16));
}

BOOST_AUTO_TEST_CASE(device_flags_parse) {
  BOOST_TEST(workloads::parse_device_flags("none").value() == 0);
  BOOST_TEST(workloads::parse_device_flags("atomic+safe_append").value() ==
             (SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_SAFE_APPEND));
  auto bad = workloads::parse_device_flags("atomic+teleport");
  BOOST_TEST(bad.status().message().find("teleport") != std::string::npos);
}

// Injected I/O errors (sim/faulty_fs.h): SQLite reports each, and nothing
// committed before it is lost, neither in the running machine nor in a
// snapshot of its disk (a reboot).
namespace {

sim::FaultyFs* faulty(sim::Machine& m) {
  auto f = std::make_unique<sim::FaultyFs>(&m.fs(0), sim::FaultPlan{});
  sim::FaultyFs* raw = f.get();
  m.wrap_fs(0, std::move(f));
  return raw;
}

// Rows 1..3 committed and intact, in the live machine and after a restore.
void three_rows_survive(TestMachine& t, Db& live, const std::string& path) {
  BOOST_TEST(live.scalar("SELECT COUNT(*) FROM t") == 3);
  BOOST_TEST(live.scalar("SELECT SUM(x) FROM t") == 6);
  auto snap = t.pool->snapshot(t.machine->disk().volume()).value();
  auto r = restore(*t.pool, t.machine->config(), {snap});
  SqliteVfs rvfs(*r, VfsOptions{});
  Db back(path, rvfs.name());
  BOOST_TEST(back.scalar("SELECT COUNT(*) FROM t") == 3);
  BOOST_TEST(back.scalar("SELECT SUM(x) FROM t") == 6);
  BOOST_TEST(back.scalar("SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'") == 0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(fsync_eio_fails_the_commit_and_loses_nothing) {
  for (const char* jm : {"delete", "wal"}) {
    auto t = make_machine(sim::Writeback::kRandom);
    sim::FaultyFs* fs = faulty(*t.machine);
    SqliteVfs vfs(*t.machine, VfsOptions{});
    Db db("/0/e.db", vfs.name());
    // EXTRA: every acknowledged commit is durable (FULL may lose the last
    // one to a snapshot in DELETE mode, as SQLite documents).
    BOOST_REQUIRE_EQUAL(db.exec(std::string("PRAGMA journal_mode=") + jm +
                                "; PRAGMA synchronous=extra; CREATE TABLE t(x);"),
                        SQLITE_OK);
    for (int i = 1; i <= 3; ++i) BOOST_REQUIRE_EQUAL(db.exec(fmt::format("INSERT INTO t VALUES ({})", i)), SQLITE_OK);
    fs->set_plan(sim::FaultPlan{.sync_eio_at = 1, .sticky_sync = true});  // counted from here on
    const int rc = db.exec("INSERT INTO t VALUES (100)");
    BOOST_TEST((rc & 0xff) == SQLITE_IOERR, jm << ": rc " << rc);
    BOOST_TEST(rc == SQLITE_IOERR_FSYNC, jm << ": rc " << rc);
    BOOST_TEST(fs->injected() > 0u);
    fs->set_plan(sim::FaultPlan{});
    if (std::string(jm) == "wal") {
      // In WAL mode the frames of the failed commit may stay in the log:
      // SQLite only promises that what it acknowledged is there.
      BOOST_TEST(db.scalar("SELECT COUNT(*) FROM t WHERE x <= 3") == 3);
      continue;
    }
    three_rows_survive(t, db, "/0/e.db");
  }
}

BOOST_AUTO_TEST_CASE(write_eio_and_enospc_are_reported_and_lose_nothing) {
  for (auto plan : {sim::FaultPlan{.write_eio_at = 1}, sim::FaultPlan{.space_bytes = 0}}) {
    auto t = make_machine(sim::Writeback::kLazy);
    sim::FaultyFs* fs = faulty(*t.machine);
    SqliteVfs vfs(*t.machine, VfsOptions{});
    Db db("/0/w.db", vfs.name());
    BOOST_REQUIRE_EQUAL(db.exec("PRAGMA synchronous=extra; CREATE TABLE t(x); INSERT INTO t VALUES (1); "
                                "INSERT INTO t VALUES (2); INSERT INTO t VALUES (3);"),
                        SQLITE_OK);
    fs->set_plan(plan);
    const int rc = db.exec("INSERT INTO t VALUES (100)");
    if (plan.space_bytes == 0) {
      BOOST_TEST(rc == SQLITE_FULL, "rc " << rc);
    } else {
      BOOST_TEST(rc == SQLITE_IOERR_WRITE, "rc " << rc);
    }
    fs->set_plan(sim::FaultPlan{});
    three_rows_survive(t, db, "/0/w.db");
  }
}

BOOST_AUTO_TEST_SUITE_END()
