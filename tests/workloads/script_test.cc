#define BOOST_TEST_MODULE script
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include <fstream>
#include <sstream>

#include "checkers/suite.h"
#include "explore/explorer.h"
#include "workloads/registry.h"
#include "workloads/script.h"

using namespace snapsim;

namespace {

const char* kGood = R"TOML(name = "bank"
[sqlite]
journal_mode = "wal"
synchronous = "normal"
[setup]
sql = "CREATE TABLE account(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); INSERT INTO account VALUES (1, 100), (2, 100);"
[clients]
count = 2
transactions = 2
[[transaction]]
name = "transfer"
params = { src = "int(1,2)", dst = "int(1,2)", amount = "int(1,20)" }
steps = ["UPDATE account SET balance = balance - :amount WHERE id = :src",
         "UPDATE account SET balance = balance + :amount WHERE id = :dst"]
[[invariant]]
name = "money is conserved"
sql = "SELECT SUM(balance) = 200 FROM account"
)TOML";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto pos = s.find(from);
  BOOST_REQUIRE_MESSAGE(pos != std::string::npos, from);
  return s.replace(pos, from.size(), to);
}

// Parses and, if that works, runs the setup checks of an exploration.
cow::Status load_and_setup(const std::string& text, std::vector<std::string> overrides = {}) {
  auto spec = workloads::parse_script(text, "t.toml", overrides);
  if (!spec) return spec.status();
  workloads::SqlApp app(*spec, workloads::Params::resolve("t", {}, {}).value());
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.levels = {explore::Quiesce::kApp};
  auto r = explore::explore(app, suite, o);
  return r.is_ok() ? cow::Status::ok() : r.status();
}

void expect_error(const std::string& text, const std::string& needle,
                  std::vector<std::string> overrides = {}) {
  auto st = load_and_setup(text, overrides);
  BOOST_TEST(!st.is_ok(), "accepted a bad script, expected: " << needle);
  BOOST_TEST(st.message().find(needle) != std::string::npos, st.message() << " lacks " << needle);
  BOOST_TEST(st.message().find('\n') == std::string::npos, "not one line: " << st.message());
}

explore::ExploreResult run_explore(workloads::Workload& w, uint64_t seed) {
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.seed = seed;
  auto r = explore::explore(w, suite, o);
  BOOST_REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return std::move(r).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ScriptTest)

BOOST_AUTO_TEST_CASE(a_good_script_runs) { BOOST_TEST(load_and_setup(kGood).is_ok()); }

BOOST_AUTO_TEST_CASE(every_mistake_is_one_line_naming_file_line_and_key) {
  expect_error(replace(kGood, "count = 2", "count = = 2"), "t.toml:8");
  expect_error(replace(kGood, "count = 2", "count = 2\ncolour = 3"), "t.toml:9: unknown key 'colour' in [clients]");
  expect_error(replace(kGood, "count = 2", "count = \"two\""), "t.toml:8: 'clients.count' must be an integer");
  expect_error(replace(kGood, "journal_mode = \"wal\"", "journal_mode = \"sideways\""), "journal_mode 'sideways'");
  expect_error(replace(kGood, "int(1,20)", "int(20,1)"), "parameter 'amount'");
  expect_error(replace(kGood, "int(1,20)", "gauss(1)"), "generator 'gauss(1)'");
  expect_error(replace(kGood, "CREATE TABLE account", "CREATE TABLEZ account"), "setup SQL");
  expect_error(replace(kGood, ":amount WHERE id = :src", ":amount WHERE id = :source"),
               "parameter ':source' is never defined");
  expect_error(replace(kGood, "UPDATE account SET balance = balance + ", "UPDATE accounts SET balance = balance + "),
               "no such table: accounts");
  expect_error(replace(kGood, "SELECT SUM(balance) = 200 FROM account", "SELECT 1 FROM account WHERE 0"),
               "must return exactly one row");
  expect_error(replace(kGood, "SELECT SUM(balance) = 200", "SELECT SUM(balance) = 201"),
               "is false on the initial state");
  expect_error(replace(kGood, "SELECT SUM(balance) = 200 FROM account", "SELECT nonsense("), "invariant 'money is conserved'");
  expect_error(replace(kGood, "name = \"bank\"\n", ""), "needs 'name'");
  expect_error(replace(kGood, "steps = [", "stepz = ["), "unknown key 'stepz'");
  expect_error(std::string(kGood) + "[[file]]\nname = \"r-{nope}.txt\"\n", "'{nope}'");
  expect_error(std::string(kGood) + "[[file]]\nname = \"r.txt\"\nwhen = \"later\"\n", "before_commit or after_commit");
  expect_error(kGood, "unknown parameter 'colour'", {"colour=red"});
  expect_error(kGood, "must be an integer", {"clients=many"});
  expect_error(replace(kGood, "SELECT SUM(balance) = 200 FROM account",
                       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) > 0 FROM c"),
               "interrupted");
  expect_error(replace(replace(kGood, "count = 2", "count = 64"), "transactions = 2", "transactions = 100000"),
               "more than the 200000 transactions");
  expect_error(replace(kGood, "UPDATE account SET balance = balance + :amount WHERE id = :dst",
                       "ATTACH '/etc/passwd' AS host"),
               "unable to open database");
  expect_error("", "needs 'name'");
  expect_error("name = \"x\"\n", "[[transaction]]");
}

// Per-key invariants: the declaration is checked when the script is set up.
BOOST_AUTO_TEST_CASE(per_key_invariant_mistakes_are_one_line_errors) {
  const std::string schema =
      "CREATE TABLE account(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); INSERT INTO account VALUES (1, 100), (2, 100); "
      "CREATE TABLE entry(id INTEGER PRIMARY KEY, account INTEGER, amount INTEGER); "
      "CREATE TABLE tag(name TEXT PRIMARY KEY, account INTEGER) WITHOUT ROWID; "
      "CREATE TABLE gen(id INTEGER PRIMARY KEY, account INTEGER, twice INTEGER AS (account * 2));";
  const std::string base = replace(kGood, "INSERT INTO account VALUES (1, 100), (2, 100);", schema.substr(schema.find("INSERT")));
  const std::string good = replace(base, "CREATE TABLE account(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); ",
                                   schema.substr(0, schema.find("INSERT")));
  auto with = [&](const std::string& invariant) {
    return good + "[[invariant]]\nname = \"per account\"\n" + invariant;
  };
  const std::string check = "check = \"balance >= (SELECT COALESCE(SUM(amount), 0) FROM entry WHERE entry.account = account.id)\"\n";
  BOOST_TEST(load_and_setup(with("per = \"account.id\"\nalso = [\"entry.account\"]\n" + check)).is_ok());
  expect_error(with("per = \"account.id\"\n" + check), "reads table 'entry', which neither per nor also names");
  expect_error(with("per = \"account.id\"\nalso = [\"entry.account\"]\n"), "needs 'check'");
  expect_error(with("sql = \"SELECT 1\"\nper = \"account.id\"\n" + check), "give either sql, or per and check");
  expect_error(with("per = \"account\"\nalso = [\"entry.account\"]\n" + check), "is not of the form table.column");
  expect_error(with("per = \"account.id\"\nalso = \"entry.account\"\n" + check), "must be an array");
  expect_error(with("per = \"nope.id\"\n" + check), "no such table: nope");
  expect_error(with("per = \"account.nope\"\nalso = [\"entry.account\"]\n" + check), "has no column 'nope'");
  expect_error(with("per = \"tag.account\"\ncheck = \"1\"\n"), "WITHOUT ROWID");
  expect_error(with("per = \"gen.account\"\ncheck = \"1\"\n"), "generated column");
  expect_error(with("per = \"account.id\"\ncheck = \"file_exists('x')\"\n"), "cannot read files");
  expect_error(with("per = \"account.id\"\ncheck = \"balance > 100\"\n"), "false on the initial state");
  expect_error(with("per = \"account.id\"\ncheck = \"1)); DELETE FROM account; SELECT ((1\"\n"), "is not one SQL expression");
}

BOOST_AUTO_TEST_CASE(overrides_change_scalar_settings) {
  auto spec = workloads::parse_script(kGood, "t.toml",
                                      {"journal_mode=delete", "clients.count=3", "sqlite.page_size=1024"}).value();
  BOOST_TEST(spec.journal_mode == "delete");
  BOOST_TEST(spec.clients == 3);
  BOOST_TEST(spec.page_size == 1024);
}

// [sqlite] cache_size and pragmas reach SQLite: a two-page cache makes a
// multi-page transaction spill into the database before COMMIT, which adds
// block writes (snapshot points); mistakes are one line naming the pragma.
BOOST_AUTO_TEST_CASE(cache_size_and_pragmas_reach_sqlite) {
  const std::string big = replace(
      replace(kGood, "CREATE TABLE account", "CREATE TABLE pad(x); CREATE TABLE account"),
      "steps = [\"UPDATE", "steps = [\"INSERT INTO pad SELECT zeroblob(3000) FROM (SELECT 1 UNION SELECT 2 UNION "
                        "SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6)\", \"UPDATE");
  auto points = [&](const std::string& text) -> uint64_t {
    auto spec = workloads::parse_script(text, "t.toml", {"journal_mode=delete"});
    BOOST_REQUIRE_MESSAGE(spec.is_ok(), spec.status().to_string());
    workloads::SqlApp app(*spec, workloads::Params::resolve("t", {}, {}).value());
    auto suite = checkers::CheckerSuite::standard();
    explore::ExploreOptions o;
    o.levels = {explore::Quiesce::kNone};
    auto r = explore::explore(app, suite, o);
    BOOST_REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return r->levels[0].points;
  };
  const uint64_t normal = points(big);
  const uint64_t spilled = points(replace(big, "synchronous = \"normal\"", "synchronous = \"normal\"\ncache_size = 2"));
  BOOST_TEST(spilled != normal);
  const uint64_t no_spill = points(replace(
      big, "synchronous = \"normal\"", "synchronous = \"normal\"\ncache_size = 2\npragmas = [\"cache_spill = 0\"]"));
  BOOST_TEST(no_spill == normal);
  const std::string with = "synchronous = \"normal\"\npragmas = ";
  expect_error(replace(kGood, "synchronous = \"normal\"", with + "[\"journal_mode = off\"]"),
               "own [sqlite] key");
  expect_error(replace(kGood, "synchronous = \"normal\"", with + "[\"cache_spill = 0; DROP TABLE account\"]"),
               "one per entry");
  expect_error(replace(kGood, "synchronous = \"normal\"", with + "[3]"), "array of strings");
  expect_error(replace(kGood, "synchronous = \"normal\"", with + "[\"table_info(\"]"), "table_info(");
}

BOOST_AUTO_TEST_CASE(scripted_twins_equal_the_builtin_workloads) {
  for (const char* name : {"invoice-sqlite", "invoice-sqlite-document", "invoice-two-db"}) {
    auto builtin = workloads::make_workload(name, {}).value();
    auto script = workloads::load_script(std::string(SNAPSIM_SOURCE_DIR) + "/workloads/scripts/" + name + ".toml", {})
                      .value();
    const auto a = run_explore(*builtin, 3);
    const auto b = run_explore(*script, 3);
    BOOST_TEST(a.trace_hash == b.trace_hash, name);
    for (size_t i = 0; i < a.levels.size(); ++i) {
      BOOST_TEST(a.levels[i].verdicts == b.levels[i].verdicts, name);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_example_script_loads_and_runs) {
  auto w = workloads::load_script(std::string(SNAPSIM_SOURCE_DIR) + "/examples/bank-transfer.toml", {});
  BOOST_REQUIRE_MESSAGE(w.is_ok(), w.status().to_string());
  const auto r = run_explore(**w, 1);
  BOOST_TEST(r.commits == 8u);
}

// Fuzz: mangled scripts never crash the loader or a run; every rejection is
// one line. Mangling: delete, duplicate or swap lines; flip, insert or
// delete bytes.
RC_BOOST_PROP(mangled_scripts_never_crash, ()) {
  std::vector<std::string> lines;
  std::stringstream in(kGood);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  const int edits = *rc::gen::inRange(1, 6);
  for (int e = 0; e < edits && !lines.empty(); ++e) {
    const size_t i = *rc::gen::inRange<size_t>(0, lines.size());
    switch (*rc::gen::inRange(0, 6)) {
      case 0: lines.erase(lines.begin() + static_cast<long>(i)); break;
      case 1: lines.insert(lines.begin() + static_cast<long>(i), lines[i]); break;
      case 2: std::swap(lines[i], lines[*rc::gen::inRange<size_t>(0, lines.size())]); break;
      case 3:
        if (!lines[i].empty()) {
          lines[i][*rc::gen::inRange<size_t>(0, lines[i].size())] =
              *rc::gen::element('"', '=', '[', ']', '{', '}', ',', ':', '(', '0', 'x', '\0', '\xff');
        }
        break;
      case 4: lines[i].insert(0, *rc::gen::element<std::string>("#", "[[transaction]]", "x = 1", "\"")); break;
      case 5:
        if (!lines[i].empty()) lines[i].erase(*rc::gen::inRange<size_t>(0, lines[i].size()), 1);
        break;
    }
  }
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  auto spec = workloads::parse_script(text, "fuzz.toml", {});
  if (!spec) {
    RC_ASSERT(spec.status().message().find('\n') == std::string::npos);
    return;
  }
  spec->transactions = std::min(spec->transactions, 2);
  workloads::SqlApp app(*spec, workloads::Params::resolve("f", {}, {}).value());
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.levels = {explore::Quiesce::kApp};
  o.limits.max_steps = 10000;
  auto r = explore::explore(app, suite, o);
  if (!r) RC_ASSERT(r.status().message().find('\n') == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
