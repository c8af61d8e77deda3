// A Hugging Face model directory's weights: one model.safetensors, or an index and its shards.
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/hf/safetensors.hpp"

namespace fedvlm::model::hf {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

Json read_index(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  Json index;
  try {
    index = Json::parse(text.str());
  } catch (const Json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
  if (!index.is_object()) throw InputError(fmt::format("{}: not a JSON object", path.string()));
  if (!index.contains("weight_map") || !index["weight_map"].is_object())
    throw InputError(fmt::format("{}: no 'weight_map' object (tensor name -> shard file)", path.string()));
  return index;
}

// A shard must be a file beside the index: no directories, no way out of the model directory.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

SafetensorsCheckpoint::SafetensorsCheckpoint(const fs::path& path) : path_(path) {
  std::error_code error;
  if (fs::is_regular_file(path, error)) {
    add_file(SafetensorsFile(path));
    return;
  }
  if (!fs::is_directory(path, error))
    throw InputError(fmt::format("{}: no such model directory or .safetensors file", path.string()));
  if (fs::exists(path / kSingleFile, error)) {  // transformers prefers the single file, too
    add_file(SafetensorsFile(path / kSingleFile));
    return;
  }
  const fs::path index_path = path / kIndexFile;
  if (!fs::exists(index_path, error))
    throw InputError(fmt::format("{}: neither {} nor {} (only safetensors weights are read, not pytorch_model.bin)",
                                 path.string(), kSingleFile, kIndexFile));

  const Json index = read_index(index_path);
  const std::string where = index_path.string();
  std::map<std::string, std::string> shard_of;  // tensor -> shard file, as the index says
  std::map<std::string, std::string> first_tensor_of;  // shard file -> a tensor mapped to it
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string() || !is_plain_file_name(shard.get<std::string>()))
      throw InputError(fmt::format("{}: weight_map['{}'] is {}, not the name of a file in the directory", where, name,
                                   shard.dump()));
    shard_of.emplace(name, shard.get<std::string>());
    first_tensor_of.emplace(shard.get<std::string>(), name);
  }
  for (const auto& [shard, tensor] : first_tensor_of) {
    if (!fs::is_regular_file(path / shard, error))
      throw InputError(fmt::format("{}: shard {} (of tensor '{}' and maybe others) is missing", where,
                                   (path / shard).string(), tensor));
    SafetensorsFile file(path / shard);
    for (const SafetensorsEntry& entry : file.entries()) {
      const auto mapped = shard_of.find(entry.name);
      if (mapped == shard_of.end())
        throw InputError(fmt::format("{}: shard {} holds tensor '{}', which the weight_map does not list", where,
                                     shard, entry.name));
      if (mapped->second != shard)
        throw InputError(fmt::format("{}: shard {} holds tensor '{}', which the weight_map puts in {}", where, shard,
                                     entry.name, mapped->second));
    }
    add_file(std::move(file));
  }
  for (const auto& [name, shard] : shard_of)
    if (!contains(name))
      throw InputError(fmt::format("{}: weight_map puts tensor '{}' in {}, which does not hold it", where, name,
                                   shard));
}

void SafetensorsCheckpoint::add_file(SafetensorsFile file) {
  const std::size_t file_index = files_.size();
  for (std::size_t i = 0; i < file.entries().size(); ++i)
    locations_.emplace(file.entries()[i].name, Location{file_index, i});
  files_.push_back(std::move(file));
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> names;
  names.reserve(locations_.size());
  for (const auto& [name, location] : locations_) names.push_back(name);
  return names;
}

std::uint64_t SafetensorsCheckpoint::total_bytes() const {
  std::uint64_t total = 0;
  for (const SafetensorsFile& file : files_)
    for (const SafetensorsEntry& entry : file.entries()) total += entry.byte_size();
  return total;
}

const SafetensorsCheckpoint::Location* SafetensorsCheckpoint::find(std::string_view name) const {
  const auto found = locations_.find(name);
  return found == locations_.end() ? nullptr : &found->second;
}

const SafetensorsCheckpoint::Location& SafetensorsCheckpoint::at(std::string_view name) const {
  if (const Location* location = find(name)) return *location;
  throw InputError(fmt::format("{}: no tensor '{}' in the checkpoint", path_.string(), name));
}

const SafetensorsFile& SafetensorsCheckpoint::file_of(std::string_view name) const { return files_[at(name).file]; }

const SafetensorsEntry& SafetensorsCheckpoint::entry(std::string_view name) const {
  const Location& location = at(name);
  return files_[location.file].entries()[location.entry];
}

}  // namespace fedvlm::model::hf
