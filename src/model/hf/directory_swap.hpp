// A directory written completely or not at all (the PEFT export's): the files go to a temporary
// sibling, which is fsynced and renamed over the target. fs.hpp's write_atomically does this for
// one file; a directory needs the rename of a whole tree, and swapping out an old one.
#pragma once

#include <filesystem>
#include <functional>

namespace fedvlm::model::hf {

// InputError when `directory` exists and is not a directory, or is a non-empty one and
// `overwrite` is false. Call it before expensive work, so a refusal costs nothing.
void check_replaceable(const std::filesystem::path& directory, bool overwrite);

// check_replaceable, then `write(temporary)` into a new temporary directory beside `directory`
// (".<name>.tmp-XXXXXX"), then the temporary becomes `directory`: by a rename where nothing (or an
// empty directory) is in the way, by an atomic exchange (renameat2 RENAME_EXCHANGE) with an old
// non-empty one, which is removed afterwards. If `write` throws, the temporary is removed and
// `directory` is as it was.
void replace_directory(const std::filesystem::path& directory, bool overwrite,
                       const std::function<void(const std::filesystem::path& temporary)>& write);

}  // namespace fedvlm::model::hf
