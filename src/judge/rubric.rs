//! The project's rubric prompt (same content as the reference's, SPEC §6, own wording) and
//! the chat-completions request built from it.

use super::item::JudgeItem;
#[cfg(feature = "judge")]
use {
    super::options::{JudgeOptions, ReplyFormat, Sampling},
    async_openai::types::chat::{
        ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
        ChatCompletionRequestUserMessage, CreateChatCompletionRequest, ResponseFormat,
        ResponseFormatJsonSchema,
    },
};

/// The rubric's version, part of every cache key: change it whenever the prompt changes so
/// old scores are not reused.
pub const RUBRIC_VERSION: &str = "mllmu-factuality-v1";

/// The system message.
pub const SYSTEM_PROMPT: &str =
    "You are a careful grader who checks how factually accurate an answer is against a reference answer.";

/// The rubric text before the inputs: the 1-10 scale, its five bands and the two rules.
pub const RUBRIC: &str = "\
Grade the factual accuracy of a generated answer by comparing it with the ground-truth \
answer. Give one integer score from 1 (worst) to 10 (best).

Score bands:
- 10 or 9: fully correct; it states the same facts and means the same as the ground truth.
- 8 or 7: mostly correct; only minor details are missing or imprecise.
- 6 or 5: partly correct; it contains a noticeable error or leaves out important information.
- 4 or 3: major errors, or crucial elements of the ground truth are missing.
- 2 or 1: nonsensical, wrong, or irrelevant to the question.

Rules:
- Grade only agreement with the ground truth. Extra details beyond the ground truth never raise the score.
- Details that are irrelevant to the question lower the score (for example personal information when only the person's appearance was asked about).";

/// The user message for one item.
///
/// ```
/// let it = mllmu::judge::JudgeItem::generation("forget", "7", "Q?", "A.", "GT.");
/// let p = mllmu::judge::user_prompt(&it);
/// assert!(p.contains("Profile ID: 7") && p.contains("Ground truth: GT."));
/// ```
pub fn user_prompt(item: &JudgeItem) -> String {
    format!(
        "{RUBRIC}\n\nTask type: {}\nProfile ID: {}\nQuestion: {}\nGenerated answer: {}\nGround truth: {}\n\n\
Reply with one JSON object and nothing else, of the form \
{{\"score\": <integer from 1 to 10>, \"justification\": \"<one or two sentences>\"}}.",
        item.task_type.as_str(),
        item.profile_id,
        item.question,
        item.answer,
        item.ground_truth
    )
}

/// The JSON schema asked for in [`ReplyFormat::JsonSchema`] mode. The range is stated in
/// the description only: strict structured output rejects `minimum`/`maximum` on some
/// servers, and the parser enforces 1..=10 anyway.
pub fn reply_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "score": {"type": "integer", "description": "factuality score from 1 to 10"},
            "justification": {"type": "string", "description": "one or two sentences"}
        },
        "required": ["score", "justification"],
        "additionalProperties": false
    })
}

/// The chat-completions request for one item (async-openai's request type, serialised by
/// the judge's own HTTP client).
// `max_tokens` is deprecated by OpenAI in favour of `max_completion_tokens`, but it is the
// field every OpenAI-compatible server (vLLM, Ollama, llama.cpp) reads.
#[allow(deprecated)]
#[cfg(feature = "judge")]
pub fn build_request(
    item: &JudgeItem,
    opts: &JudgeOptions,
    format: ReplyFormat,
) -> CreateChatCompletionRequest {
    let response_format = match format {
        ReplyFormat::JsonSchema => Some(ResponseFormat::JsonSchema {
            json_schema: ResponseFormatJsonSchema {
                description: Some("a factuality score with its justification".into()),
                name: "factuality_score".into(),
                schema: reply_schema(),
                strict: Some(true),
            },
        }),
        ReplyFormat::JsonObject => Some(ResponseFormat::JsonObject),
        ReplyFormat::Text => None,
    };
    CreateChatCompletionRequest {
        model: opts.model.clone(),
        messages: vec![
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(
                SYSTEM_PROMPT,
            )),
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(
                user_prompt(item),
            )),
        ],
        max_tokens: Some(opts.max_tokens),
        temperature: match opts.sampling {
            Sampling::Deterministic => Some(0.0),
            Sampling::ReferenceDefault => None,
        },
        response_format,
        ..Default::default()
    }
}

#[cfg(all(test, feature = "judge"))]
mod tests {
    use super::*;

    fn item() -> JudgeItem {
        JudgeItem::generation(
            "forget",
            "12",
            "What is her job?",
            "A pilot.",
            "She is a pilot.",
        )
    }

    #[test]
    fn request_json_has_the_expected_fields() {
        let opts = JudgeOptions::default();
        let v =
            serde_json::to_value(build_request(&item(), &opts, ReplyFormat::JsonSchema)).unwrap();
        assert_eq!(v["model"], "gpt-4o-mini");
        assert_eq!(v["temperature"], 0.0);
        assert_eq!(v["max_tokens"], 700);
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["messages"][1]["role"], "user");
        assert_eq!(v["response_format"]["type"], "json_schema");
        assert_eq!(v["response_format"]["json_schema"]["strict"], true);
        let user = v["messages"][1]["content"].as_str().unwrap();
        for part in [
            "Task type: generation",
            "Profile ID: 12",
            "Question: What is her job?",
            "Generated answer: A pilot.",
            "Ground truth: She is a pilot.",
            "10 or 9",
            "2 or 1",
            "never raise",
            "irrelevant to the question lower",
        ] {
            assert!(user.contains(part), "missing {part:?}");
        }
    }

    #[test]
    fn reference_sampling_sends_no_temperature_and_text_mode_no_format() {
        let opts = JudgeOptions {
            sampling: Sampling::ReferenceDefault,
            ..Default::default()
        };
        let v = serde_json::to_value(build_request(&item(), &opts, ReplyFormat::Text)).unwrap();
        assert!(v.get("temperature").is_none());
        assert!(v.get("response_format").is_none());
        let v =
            serde_json::to_value(build_request(&item(), &opts, ReplyFormat::JsonObject)).unwrap();
        assert_eq!(v["response_format"]["type"], "json_object");
    }
}
