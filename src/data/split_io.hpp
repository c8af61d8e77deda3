// One split group on disk (/public, /test in meta.h5; /train in a shard): the columnar
// datasets of docs/data-format.md, appended to while writing and read by row ranges.
#pragma once

#include <string>

#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "h5.hpp"

namespace fedvlm::data {

// Dataset names inside a split group, in the order the format lists them.
namespace split_names {
inline constexpr const char* kImages = "images";
inline constexpr const char* kTask = "task";
inline constexpr const char* kPrompt = "prompt";
inline constexpr const char* kPromptPtr = "prompt_ptr";
inline constexpr const char* kAnswer = "answer";
inline constexpr const char* kAnswerPtr = "answer_ptr";
inline constexpr const char* kLabel = "label";
inline constexpr const char* kBox = "box";
inline constexpr const char* kClientPtr = "client_ptr";
inline constexpr const char* kClientId = "client_id";
}  // namespace split_names

inline constexpr int kDeflateLevel = 3;

// Creates the group and its (empty, extendible, chunked, compressed) datasets; append() adds rows.
class SplitAppender {
 public:
  SplitAppender(hid_t file, const std::string& group, ImageShape image_shape);
  void append(const Samples& samples);
  // Appends rows [begin, end) of samples that were already checked (one HDF5 write per array).
  void append_rows(const Samples& samples, std::int64_t begin, std::int64_t end);
  std::int64_t size() const { return rows_; }
  hid_t group() const { return group_.get(); }

 private:
  ImageShape image_shape_;
  h5::Handle group_, images_, task_, prompt_, prompt_ptr_, answer_, answer_ptr_, label_, box_;
  std::int64_t rows_ = 0;
  std::int64_t prompt_tokens_ = 0;
  std::int64_t answer_tokens_ = 0;
};

// Opens a split group's datasets once, checks their shapes against each other and the image
// shape, and reads row ranges with one hyperslab per dataset; InputError on a token id that
// `tokenizer` (which must outlive this) does not allow in a dataset.
class SplitRows {
 public:
  SplitRows(hid_t file, const std::string& group, ImageShape image_shape, const Tokenizer& tokenizer);
  std::int64_t size() const { return rows_; }
  hid_t group() const { return group_.get(); }
  Samples read(std::int64_t begin, std::int64_t end) const;

 private:
  ImageShape image_shape_;
  const Tokenizer* tokenizer_;
  h5::Handle group_, images_, task_, prompt_, prompt_ptr_, answer_, answer_ptr_, label_, box_;
  std::int64_t rows_ = 0;
};

// The name of shard `index`'s file: shard-NNNNN.h5.
std::string shard_file_name(std::int64_t index);

// meta.h5 root attributes, /partition, /tokenizer/model and /clients.
void write_meta(hid_t file, const DatasetInfo& info);
DatasetInfo read_meta(hid_t file);  // InputError on a wrong format/version or a missing field

}  // namespace fedvlm::data
