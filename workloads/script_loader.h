// ScriptLoader: what every TOML workload script loader shares (SQL scripts
// in workloads/script.cc, process scripts in host/process.cc): errors that
// name the file, line and key, typed getters, and -p key=value overrides
// applied to the document before it is read.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "cow/status.h"

namespace snapsim::workloads {

class ScriptLoader {
 public:
  explicit ScriptLoader(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }

  using Status = cow::Status;


  Status fail(const toml::node* node, const std::string& msg) const {
    if (node && node->source().begin.line > 0) {
      return Status::invalid_argument(
          fmt::format("{}:{}: {}", path_, node->source().begin.line, msg));
    }
    return Status::invalid_argument(fmt::format("{}: {}", path_, msg));
  }

  Status known_keys(const toml::table& t, const std::string& where,
                    const std::set<std::string>& keys) const {
    for (const auto& [k, v] : t) {
      if (!keys.count(std::string(k.str()))) {
        std::string list;
        for (const auto& key : keys) list += (list.empty() ? "" : ", ") + key;
        return fail(&v, fmt::format("unknown key '{}' in {} (known: {})", k.str(), where, list));
      }
    }
    return Status::ok();
  }

  Status get_string(const toml::table& t, const std::string& key, const std::string& where,
                    std::string* out, bool required = false) const {
    const toml::node* n = t.get(key);
    if (!n) return required ? fail(&t, fmt::format("{} needs '{}'", where, key)) : Status::ok();
    if (!n->is_string()) return fail(n, fmt::format("'{}.{}' must be a string", where, key));
    *out = n->as_string()->get();
    return Status::ok();
  }

  Status get_int(const toml::table& t, const std::string& key, const std::string& where,
                 int64_t lo, int64_t hi, int64_t* out) const {
    const toml::node* n = t.get(key);
    if (!n) return Status::ok();
    if (!n->is_integer()) return fail(n, fmt::format("'{}.{}' must be an integer", where, key));
    const int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      return fail(n, fmt::format("'{}.{}' must be from {} to {}, got {}", where, key, lo, hi, v));
    }
    *out = v;
    return Status::ok();
  }

  Status get_bool(const toml::table& t, const std::string& key, const std::string& where,
                  bool* out) const {
    const toml::node* n = t.get(key);
    if (!n) return Status::ok();
    if (!n->is_boolean()) return fail(n, fmt::format("'{}.{}' must be true or false", where, key));
    *out = n->as_boolean()->get();
    return Status::ok();
  }

  Status table_array(const toml::table& root, const std::string& key,
                     std::vector<const toml::table*>* out) const {
    const toml::node* n = root.get(key);
    if (!n) return Status::ok();
    const toml::array* a = n->as_array();
    if (!a) return fail(n, fmt::format("'{}' must be an array of tables ([[{}]])", key, key));
    for (const auto& e : *a) {
      if (!e.is_table()) return fail(&e, fmt::format("each '{}' must be a table", key));
      out->push_back(e.as_table());
    }
    return Status::ok();
  }

  // Applies one "key=value" override to the document, keeping the type of
  // what it replaces. `kShort` maps short names to dotted keys
  // ("clients" -> "clients.count"); `kScalars` lists the keys that may be
  // overridden with their type ('i' integer, 'b' boolean, 's' string);
  // `hint` ends the unknown-key error.
  Status apply_override(toml::table& root, const std::string& item,
                        const std::map<std::string, std::string>& kShort,
                        const std::map<std::string, char>& kScalars, const std::string& hint) const {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::invalid_argument(fmt::format("parameter '{}' is not of the form key=value", item));
    }
    std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    if (auto it = kShort.find(key); it != kShort.end()) key = it->second;
    auto sc = kScalars.find(key);
    if (sc == kScalars.end()) {
      return Status::invalid_argument(fmt::format("{}: unknown parameter '{}' ({})", path_, item.substr(0, eq), hint));
    }
    const auto dot = key.find('.');
    toml::table* t = &root;
    std::string leaf = key;
    if (dot != std::string::npos) {
      const std::string section = key.substr(0, dot);
      leaf = key.substr(dot + 1);
      if (!root.get(section)) root.insert(section, toml::table{});
      t = root.get(section)->as_table();
      if (!t) return Status::invalid_argument(fmt::format("{}: '{}' is not a table", path_, section));
    }
    switch (sc->second) {
      case 'i': {
        int64_t v = 0;
        std::istringstream in(value);
        if (!(in >> v) || !in.eof()) {
          return Status::invalid_argument(
              fmt::format("parameter '{}' must be an integer, got '{}'", item.substr(0, eq), value));
        }
        t->insert_or_assign(leaf, v);
        break;
      }
      case 'b':
        if (value != "true" && value != "false") {
          return Status::invalid_argument(
              fmt::format("parameter '{}' must be true or false, got '{}'", item.substr(0, eq), value));
        }
        t->insert_or_assign(leaf, value == "true");
        break;
      default: t->insert_or_assign(leaf, value);
    }
    return Status::ok();
  }

 protected:
  std::string path_;
};

// Reads a script file (at most 4 MiB); errors name the path.
cow::Result<std::string> read_script_file(const std::string& path);
// Parses TOML text into a table; a syntax error names the file, line and column.
cow::Result<toml::table> parse_toml(const std::string& text, const std::string& path);

}  // namespace snapsim::workloads
