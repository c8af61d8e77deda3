#include <gtest/gtest.h>

#include "fashion/fashion_builder.hpp"
#include "fashion/idx_reader.hpp"
#include "fedvlm/core/error.hpp"
#include "prep/prep_test_support.hpp"

namespace fedvlm::prep {
namespace {

using testing::idx_images;
using testing::idx_labels;
using testing::TempDir;
using testing::write_bytes;

// Runs `read` expecting an InputError whose message holds every fragment.
template <class Read>
void expect_input_error(Read read, std::initializer_list<std::string> fragments) {
  try {
    read();
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    for (const auto& fragment : fragments)
      EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << "'" << fragment << "' not in: " << error.what();
  }
}

TEST(IdxReader, ReadsGzippedAndPlainFilesAlike) {
  TempDir temp;
  for (const bool gzip : {true, false}) {
    const auto file = temp / (gzip ? "images.gz" : "images");
    write_bytes(file, idx_images(kIdxImagesMagic, 3, 4, 5, 3), gzip);
    const auto images = read_idx_images(file);
    EXPECT_EQ(images.count, 3);
    EXPECT_EQ(images.rows, 4);
    EXPECT_EQ(images.cols, 5);
    EXPECT_EQ(images.image(2)[1], 3);  // pixel (i + p) % 256
    const auto labels_file = temp / (gzip ? "labels.gz" : "labels");
    write_bytes(labels_file, idx_labels(kIdxLabelsMagic, 12, 12), gzip);
    EXPECT_EQ(read_idx_labels(labels_file)[11], 1);
  }
}

TEST(IdxReader, WrongMagicNamesFileAndBothNumbers) {
  TempDir temp;
  const auto file = temp / "swapped.gz";
  write_bytes(file, idx_images(kIdxLabelsMagic, 1, 2, 2, 1), true);
  expect_input_error([&] { read_idx_images(file); }, {file.string(), "wrong magic number 2049", "starts with 2051"});
  write_bytes(file, idx_labels(kIdxImagesMagic, 4, 4), true);
  expect_input_error([&] { read_idx_labels(file); }, {"wrong magic number 2051", "starts with 2049"});
}

TEST(IdxReader, TruncationNamesExpectedAndFoundBytes) {
  TempDir temp;
  const auto images = temp / "images.gz";
  write_bytes(images, idx_images(kIdxImagesMagic, 10, 4, 4, 7), true);  // header says 10, data holds 7
  expect_input_error([&] { read_idx_images(images); }, {images.string(), "truncated", "expected 160 bytes", "found 112"});
  const auto labels = temp / "labels";
  write_bytes(labels, idx_labels(kIdxLabelsMagic, 10, 6), false);
  expect_input_error([&] { read_idx_labels(labels); }, {"truncated", "expected 10 bytes", "found 6"});
  const auto header_only = temp / "header";
  write_bytes(header_only, {0, 0, 8}, false);
  expect_input_error([&] { read_idx_images(header_only); }, {"truncated", "magic number"});
}

TEST(IdxReader, TrailingDataAndMissingFilesAreErrors) {
  TempDir temp;
  const auto labels = temp / "labels";
  write_bytes(labels, idx_labels(kIdxLabelsMagic, 3, 5), false);
  expect_input_error([&] { read_idx_labels(labels); }, {"data continues after the 3 labels"});
  expect_input_error([&] { read_idx_labels(temp / "absent"); }, {"absent", "no such file"});
  expect_input_error([&] { find_idx_file(temp.path(), "train-images-idx3-ubyte"); }, {"train-images-idx3-ubyte.gz", "--source"});
}

TEST(IdxReader, FashionBuildRejectsImageAndLabelCountMismatch) {
  TempDir temp;
  write_bytes(temp / "train-images-idx3-ubyte.gz", idx_images(kIdxImagesMagic, 20, 28, 28, 20), true);
  write_bytes(temp / "train-labels-idx1-ubyte.gz", idx_labels(kIdxLabelsMagic, 19, 19), true);
  write_bytes(temp / "t10k-images-idx3-ubyte", idx_images(kIdxImagesMagic, 5, 28, 28, 5), false);
  write_bytes(temp / "t10k-labels-idx1-ubyte", idx_labels(kIdxLabelsMagic, 5, 5), false);
  FashionOptions options;
  options.source = temp.path();
  options.out = temp / "out";
  options.clients = 2;
  expect_input_error([&] { build_fashion(options); }, {"holds 20 images but", "holds 19 labels"});
  EXPECT_FALSE(std::filesystem::exists(options.out));
}

}  // namespace
}  // namespace fedvlm::prep
