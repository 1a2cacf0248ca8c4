// Markup: text made safe inside XML and HTML (attribute values and text),
// for every layer that writes a report (reports/, cowbench/).
#pragma once

#include <string>

namespace snapsim::cow {

// Escapes & < > " ' and replaces the control characters XML 1.0 forbids
// (even escaped) with '?'.
std::string xml_escape(const std::string& s);

}  // namespace snapsim::cow
