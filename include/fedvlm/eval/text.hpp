// Text rules shared by the metrics (docs/metrics.md, "Normalization and tokenization"):
//   caption_tokens:    ASCII lowercase, punctuation becomes a word break (a '.' between two digits
//                      stays, so "2.5" is one word), split on whitespace. Used by BLEU, ROUGE-L,
//                      CIDEr-D in place of coco-caption's PTB tokenizer, which also drops punctuation.
//   normalize_answer:  caption_tokens without the articles a/an/the, joined by single spaces.
//                      Exact match for cls and vqa compares these.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fedvlm::eval {

std::vector<std::string> caption_tokens(std::string_view text);
std::string normalize_answer(std::string_view text);
bool answers_match(std::string_view prediction, std::string_view reference);

}  // namespace fedvlm::eval
