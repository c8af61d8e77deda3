// Chat templates: each family recognized from its real template text and rendered as the real
// Jinja template renders a one-turn conversation (expected strings written out by hand from
// the templates, with add_generation_prompt).
#include "fedvlm/data/chat_template.hpp"

#include <gmock/gmock.h>

#include "hf_tokenizer_fixture.hpp"

namespace fedvlm::data {
namespace {
using namespace fedvlm::data::testing;
using namespace ::testing;

// The templates as the checkpoints ship them (JSON-decoded: Jinja's \n escapes are two characters).
const std::string kLlama3 = nlohmann::json::parse(read_text_file(hf_tokenizer_dir("llama3") / "tokenizer_config.json"))["chat_template"];
const std::string kQwen2 = nlohmann::json::parse(read_text_file(hf_tokenizer_dir("qwen2") / "tokenizer_config.json"))["chat_template"];
// llava-hf/llava-1.5-7b-hf
const std::string kLlava =
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in "
    "message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "{{ 'ASSISTANT:' }}{% endif %}";
// meta-llama/Llama-2-7b-chat-hf
const std::string kLlama2 =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

const ChatTokens kLlama3Tokens{"<|begin_of_text|>", "<|eot_id|>"};
const ChatTokens kQwen2Tokens{"", "<|im_end|>"};
const ChatTokens kLlamaTokens{"<s>", "</s>"};

TEST(ChatTemplateTest, Llama3RendersHeaderIdTurns) {
  const auto t = ChatTemplate::recognize(kLlama3, kLlama3Tokens, "tokenizer_config.json");
  EXPECT_EQ(t.family(), ChatFamily::llama3);
  EXPECT_EQ(t.prompt(std::nullopt, " What is this? "),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is this?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(t.prompt("Be brief.", "Hi"),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(t.answer("A cat.\n"), "A cat.<|eot_id|>");
  EXPECT_EQ(t.end_of_turn(), "<|eot_id|>");
  EXPECT_EQ(t.stored_prompt(std::nullopt, "Hi"),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(t.stored_answer("A cat."), "A cat.");
}

TEST(ChatTemplateTest, ChatMlUsesQwen2sDefaultSystem) {
  const auto t = ChatTemplate::recognize(kQwen2, kQwen2Tokens, "tokenizer_config.json");
  EXPECT_EQ(t.family(), ChatFamily::chatml);
  EXPECT_EQ(t.prompt(std::nullopt, "What is this?"),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is this?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(t.prompt("Be brief.", " Hi "),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.answer("A cat."), "A cat.<|im_end|>\n");
  EXPECT_EQ(t.stored_answer("A cat."), "A cat.");
  // Named, not recognized: no default system text is known.
  EXPECT_EQ(ChatTemplate::named("chatml", kQwen2Tokens).prompt(std::nullopt, "Hi"),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, VicunaRendersLlava15) {
  const auto t = ChatTemplate::recognize(kLlava, kLlamaTokens, "tokenizer_config.json");
  EXPECT_EQ(t.family(), ChatFamily::vicuna);
  EXPECT_EQ(t.prompt(std::nullopt, "What is this?"), "USER: What is this? ASSISTANT:");
  EXPECT_EQ(t.prompt("A chat.", "Hi"), "A chat. USER: Hi ASSISTANT:");
  EXPECT_EQ(t.answer("A cat."), " A cat.</s>");
  EXPECT_EQ(t.stored_answer("A cat."), " A cat.");
}

TEST(ChatTemplateTest, Llama2RendersInstWithSys) {
  const auto t = ChatTemplate::recognize(kLlama2, kLlamaTokens, "tokenizer_config.json");
  EXPECT_EQ(t.family(), ChatFamily::llama2);
  EXPECT_EQ(t.prompt(std::nullopt, " What is this? "), "<s>[INST] What is this? [/INST]");
  EXPECT_EQ(t.prompt("Be brief.", "Hi"), "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]");
  EXPECT_EQ(t.answer(" A cat. "), " A cat. </s>");
  EXPECT_EQ(t.stored_prompt(std::nullopt, "Hi"), "[INST] Hi [/INST]");
  EXPECT_EQ(t.stored_answer("A cat."), " A cat. ");
}

TEST(ChatTemplateTest, NoneAndEmptyLeaveTextAsItIs) {
  const auto t = ChatTemplate::recognize("", kLlamaTokens, "tokenizer_config.json");
  EXPECT_EQ(t.family(), ChatFamily::none);
  EXPECT_EQ(t.stored_prompt(std::nullopt, "What is this?"), "What is this?");
  EXPECT_EQ(t.stored_answer("A cat."), "A cat.");
}

TEST(ChatTemplateTest, UnknownTemplatesAndNamesAreRefusedWithTheWayOut) {
  for (const std::string& jinja : {std::string("{{ messages }}"), std::string("{{ '[INST] ' + m + ' [/INST]' }}"),
                                  kLlama3 + "Cutting Knowledge Date"}) {
    try {
      ChatTemplate::recognize(jinja, kLlama3Tokens, "model/tokenizer_config.json");
      ADD_FAILURE() << jinja;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr("model/tokenizer_config.json: chat_template"));
      EXPECT_THAT(e.what(), HasSubstr("llama3, chatml, vicuna, llama2, none"));
      EXPECT_THAT(e.what(), HasSubstr("--chat-template"));
    }
  }
  EXPECT_THROW(ChatTemplate::named("alpaca", kLlama3Tokens), InputError);
  for (const auto& name : ChatTemplate::family_names()) EXPECT_EQ(ChatTemplate::named(name, kLlama3Tokens).name(), name);
}

}  // namespace
}  // namespace fedvlm::data
