// Chat templates: the prompt text a chat model was trained on, for the families fedvlm knows.
// Real checkpoints carry a Jinja template in tokenizer_config.json; fedvlm does not run Jinja
// but recognizes each family by its template text and renders a one-turn, text-only
// conversation exactly as that template does (the image goes in as features before the text,
// so no image placeholder is written):
//
//   llama3  Llama 3 Instruct (header ids):  <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n
//           {user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n  answer ends <|eot_id|>
//           (system, user and answer trimmed, as the template's `trim` does: ASCII white space)
//   chatml  ChatML as Qwen2 uses it: <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}
//           <|im_end|>\n<|im_start|>assistant\n  answer ends <|im_end|>; without a system the
//           template's default system text, when it has one ("You are a helpful assistant.")
//   vicuna  LLaVA-1.5 / Vicuna v1: {system} USER: {user} ASSISTANT:  answer " {answer}" + eos
//           (llava-hf's template ends an answer with a space; LLaVA-1.5 trained with </s>)
//   llama2  Llama 2 chat: <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]  answer
//           " {answer} " + eos
//   none    the user text as it is, the answer as it is
//
// Llama 3.1's template (a dated system message), Mistral's [INST] without <<SYS>> and any other
// template are refused; name a family instead (--chat-template) to override.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fedvlm::data {

enum class ChatFamily { none, llama3, chatml, vicuna, llama2 };

// The bos and eos token texts the template writes (tokenizer_config.json's bos_token, eos_token).
struct ChatTokens {
  std::string bos;
  std::string eos;
};

class ChatTemplate {
 public:
  // The family named llama3, chatml, vicuna, llama2 or none; InputError for any other name.
  static ChatTemplate named(std::string_view name, ChatTokens tokens);
  // The family whose template `jinja` is; InputError naming `source`, the known families and
  // how to override when it is none of them. An empty template is `none`.
  static ChatTemplate recognize(std::string_view jinja, ChatTokens tokens, std::string_view source);
  static const std::vector<std::string>& family_names();

  ChatFamily family() const { return family_; }
  std::string_view name() const;
  // The text the template renders for [system?, user] with add_generation_prompt.
  std::string prompt(const std::optional<std::string>& system, std::string_view user) const;
  // The text it renders for the assistant's reply that follows, through the end of the turn.
  std::string answer(std::string_view reply) const;
  // The token that ends the assistant's turn (generation stops there); empty for `none`.
  const std::string& end_of_turn() const { return end_of_turn_; }

  // What a fedvlm dataset stores: the prompt without the bos text the template writes first
  // (the model prepends bos), the answer without the end-of-turn token and what follows it
  // (the model appends eos, which must be that token).
  std::string stored_prompt(const std::optional<std::string>& system, std::string_view user) const;
  std::string stored_answer(std::string_view reply) const;

 private:
  ChatTemplate(ChatFamily family, ChatTokens tokens);
  ChatFamily family_;
  ChatTokens tokens_;
  std::string end_of_turn_;
  std::optional<std::string> default_system_;  // ChatML's, read from the template text
};

}  // namespace fedvlm::data
