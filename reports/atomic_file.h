// Writes a whole file or nothing: the content goes to a temporary file in
// the same directory, is flushed, then renamed over the target. An
// interrupted run never leaves a half-written results file.
#pragma once

#include <string>

#include "cow/status.h"

namespace snapsim::reports {

cow::Status write_file_atomically(const std::string& path, const std::string& content);

}  // namespace snapsim::reports
