"""The context window: estimate, trim whole turns, refuse what cannot fit, read servers' errors."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimlchat import messages
from aimlchat.chat.context import ContextWindow, Window, resolve_window
from aimlchat.chat.context_errors import (
    is_context_error,
    limit_from_error,
    prompt_tokens_from_error,
)
from aimlchat.chat.context_view import describe
from aimlchat.chat.tokens import (
    IMAGE_HIGH,
    IMAGE_LOW,
    MESSAGE_OVERHEAD,
    Estimator,
    fixed_tokens,
    message_tokens,
    text_tokens,
    tokens_text,
)
from aimlchat.errors import ExitCode, UsageError
from aimlchat.messages import Citation, Image, Message, ToolCall, tool_output

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it rests for a while. "
SYSTEM = "You are a terse assistant."


def user(text: str) -> Message:
    return messages.user(text)


def assistant(text: str) -> Message:
    return messages.assistant(text)


def chat_turns(n: int, words: int = 60) -> list[Message]:
    history: list[Message] = []
    for i in range(n):
        history += [user(f"question {i}: " + SENTENCE * (words // 15))]
        history += [assistant(f"answer {i}: " + SENTENCE * (words // 15))]
    return history


def tool_round(turn: int, calls: int, result_chars: int) -> list[Message]:
    ids = [f"call_{turn}_{k}" for k in range(calls)]
    asked = messages.assistant(calls=[ToolCall(i, "weather", '{"c":1}') for i in ids])
    result = ("sunny, 21 degrees. " * (result_chars // 19 + 1))[:result_chars]
    return [asked] + [tool_output(i, result) for i in ids]


def small_model(length: int = 4096, output_max: int | None = None) -> ContextWindow:
    return ContextWindow(Window("tiny/model", length, "catalogue", output_max))


def assert_well_formed(kept: list[Message]) -> None:
    """The API's rules: no tool output without its call, no history opening mid-turn."""
    if kept:
        assert kept[0].role == "user"
    called: set[str] = set()
    for message in kept:
        called.update(call.id for call in message.calls)
        if message.role == "tool":
            assert message.output is not None and message.output.call_id in called


def test_thirty_turns_on_a_small_window_keep_the_newest_turns_and_the_system_prompt() -> None:
    history = chat_turns(30)
    before = copy.deepcopy(history)
    ctx = small_model(4096)
    plan = ctx.fit(SYSTEM, history, user("and now?"))

    assert history == before  # only the request is trimmed
    assert plan.system == SYSTEM
    assert plan.messages[-1] == user("and now?")
    assert plan.kept == history[plan.start :]
    assert plan.kept[-2:] == history[-2:]  # the newest turn is there
    assert_well_formed(plan.kept)
    assert 0 < plan.start < len(history)
    assert plan.prompt_tokens + plan.reserve <= 4096
    # the newest turns that fit: one more turn would not have fitted
    one_more = ctx.estimator.tokens(sum(message_tokens(m) for m in history[plan.start - 2 :]))
    assert plan.fixed_tokens + one_more + plan.new_tokens + plan.reserve > 4096
    assert plan.notice == (
        f"context: left out {plan.start} earlier messages "
        f"(~{tokens_text(plan.left_out_tokens)} tokens)"
    )
    assert re.fullmatch(r"context: left out \d+ earlier messages \(~[\d.]+k tokens\)", plan.notice)


def test_everything_that_fits_is_sent_as_it_is_without_a_notice() -> None:
    history = chat_turns(3)
    plan = small_model(128_000).fit(SYSTEM, history, user("hi"))
    assert plan.kept == history
    assert plan.start == 0
    assert plan.notice is None


def test_one_left_out_message_is_singular() -> None:
    history = [assistant("a greeting left from an import " + SENTENCE * 40), *chat_turns(1, 15)]
    plan = small_model(900).fit(None, history, user("hi"))
    assert plan.start == 1
    assert plan.notice is not None and "left out 1 earlier message (" in plan.notice


def test_a_tool_call_and_its_results_are_left_out_with_their_turn() -> None:
    history: list[Message] = []
    for turn in range(12):
        history += [user(f"weather {turn}?"), *tool_round(turn, 2, 600), assistant("sunny")]
    plan = small_model(4096).fit(None, history, user("and tomorrow?"))
    assert 0 < plan.start < len(history)
    assert plan.kept[0].role == "user"
    assert_well_formed(plan.kept)


def test_the_current_turns_tool_rounds_are_never_left_out() -> None:
    history = chat_turns(20)
    new = [user("weather?"), *tool_round(99, 3, 2000)]
    plan = small_model(4096).fit(SYSTEM, history, new)
    assert plan.messages[-len(new) :] == new
    assert_well_formed(plan.kept + new)


def test_a_tool_result_reaching_back_across_a_user_message_blocks_that_cut() -> None:
    # A malformed history (a user message between a call and its result) still never
    # yields a request with an orphan result.
    history = [user("a"), *tool_round(1, 1, 10)[:1], user("b"), *tool_round(1, 1, 10)[1:]]
    history += chat_turns(10)
    plan = small_model(1500).fit(None, history, user("c"))
    assert plan.start >= 4
    assert_well_formed(plan.kept)


turn_shapes = st.lists(
    st.tuples(
        st.integers(1, 3000),  # user text length
        st.lists(st.tuples(st.integers(1, 3), st.integers(0, 4000)), max_size=2),  # tool rounds
        st.integers(0, 3000),  # final answer length
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(turn_shapes, st.integers(1500, 30_000), st.integers(1, 6000), st.booleans())
def test_trimming_keeps_a_well_formed_suffix_that_fits_or_refuses(
    shapes: list[tuple[int, list[tuple[int, int]], int]],
    length: int,
    new_chars: int,
    opens_mid_turn: bool,
) -> None:
    history: list[Message] = [assistant("imported " * 300)] if opens_mid_turn else []
    for t, (asked, rounds, answer) in enumerate(shapes):
        history.append(user("q" * asked))
        for r, (calls, chars) in enumerate(rounds):
            history += tool_round(t * 10 + r, calls, chars)
        if answer:
            history.append(assistant("a " * (answer // 2)))
    ctx, new = small_model(length), user("n " * new_chars)
    try:
        plan = ctx.fit(SYSTEM, history, new)
    except UsageError:
        fixed = ctx.estimator.tokens(fixed_tokens(SYSTEM))
        assert fixed + ctx.estimator.tokens(message_tokens(new)) + ctx.reserve() > length
        return
    assert plan.kept == history[plan.start :]
    if plan.start:  # a history sent whole is sent as it is
        assert_well_formed(plan.kept)
    assert plan.prompt_tokens + plan.reserve <= length
    if plan.start == len(history):
        with pytest.raises(UsageError):
            ctx.trim_harder(plan, "Context length exceeded")
        return
    retry = ctx.trim_harder(plan, "Context length exceeded")
    assert retry.start > plan.start  # the retry always sends less
    assert retry.kept == history[retry.start :]
    assert_well_formed(retry.kept)


def test_an_oversized_message_is_refused_naming_its_estimate_and_the_window() -> None:
    message = user(SENTENCE * 27_000)  # ~2 MB of stdin
    ctx = ContextWindow(Window("meta-llama/llama-4-scout", 131_072, "catalogue", 8192))
    with pytest.raises(UsageError) as caught:
        ctx.fit(None, chat_turns(3), message)
    estimate = ctx.estimator.tokens(message_tokens(message))
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message == (
        f"the message is ~{tokens_text(estimate)} tokens; meta-llama/llama-4-scout takes 128k "
        "(including 8k reserved for the reply)"
    )
    assert 400_000 < estimate < 700_000
    assert caught.value.hint is not None
    assert "head -c" in caught.value.hint and "aimlchat models" in caught.value.hint


def test_a_max_tokens_larger_than_the_window_is_named_as_the_cause() -> None:
    ctx = ContextWindow(Window("tiny/model", 4096, "catalogue"), max_tokens=8000)
    with pytest.raises(UsageError) as caught:
        ctx.fit(None, [], user("hello"))
    assert "max_tokens 8000" in caught.value.message
    assert caught.value.hint == "lower --max-tokens, or leave it out"


def test_a_message_too_big_even_without_max_tokens_is_not_blamed_on_max_tokens() -> None:
    ctx = ContextWindow(Window("tiny/model", 4096, "catalogue"), max_tokens=500)
    with pytest.raises(UsageError) as caught:
        ctx.fit(None, [], user(SENTENCE * 210))
    assert caught.value.message.endswith(
        "tiny/model takes 4k (including 500 reserved for the reply)"
    )


def test_the_reply_reserve_is_max_tokens_or_a_quarter_of_the_window_capped_by_output_max() -> None:
    assert small_model(8192).reserve() == 2048
    assert small_model(131_072, output_max=8192).reserve() == 8192
    assert ContextWindow(Window("m", 8192, "catalogue"), max_tokens=500).reserve() == 500


def test_the_window_comes_from_the_flag_then_config_then_catalogue() -> None:
    assert resolve_window("m", flag=1000, config=2000, catalogue=3000).source == "--context-length"
    assert resolve_window("m", config=2000, catalogue=3000).length == 2000
    assert resolve_window("m", catalogue=3000).source == "catalogue"
    assert resolve_window("m").length is None


def test_a_model_of_unknown_window_sends_everything_until_the_server_says() -> None:
    history = chat_turns(30)
    ctx = ContextWindow(resolve_window("private/model"))
    plan = ctx.fit(SYSTEM, history, user("hi"))
    assert plan.kept == history
    assert "window unknown" in describe(plan, ctx.estimator)
    error = (
        "This model's maximum context length is 4096 tokens. "
        "However, your messages resulted in 9000 tokens."
    )
    retry = ctx.trim_harder(plan, error)
    assert ctx.window.length == 4096 and ctx.window.source == "server error"
    assert retry.prompt_tokens + retry.reserve <= 4096
    assert ctx.fit(SYSTEM, history, user("hi")).start > 0  # later turns trim up front


def test_calibration_moves_the_estimate_toward_the_servers_counts() -> None:
    estimator = Estimator()
    raw = 1000.0
    assert estimator.observe(raw, 1500)
    assert 1.0 < estimator.ratio < 1.5
    for _ in range(8):
        estimator.observe(raw, 1500)
    assert estimator.ratio == pytest.approx(1.5, rel=0.01)
    assert estimator.tokens(raw) == pytest.approx(1500 * 1.1, rel=0.01)  # plus the margin
    assert estimator.observations == 9


def test_calibration_ignores_tiny_prompts_and_clamps_absurd_counts() -> None:
    estimator = Estimator()
    assert not estimator.observe(40.0, 400)  # a server's template text, not our estimate
    assert not estimator.observe(1000.0, 0)
    assert estimator.ratio == 1.0
    estimator.observe(1000.0, 50_000)
    assert estimator.ratio == 1.5  # halfway to the clamp, not to 50
    for _ in range(20):
        estimator.observe(1000.0, 50_000)
    assert 1.99 < estimator.ratio <= 2.0


def test_a_calibrated_estimate_leaves_out_more_when_the_server_counted_more() -> None:
    history = chat_turns(30)
    ctx = small_model(7000)
    first = ctx.fit(SYSTEM, history, user("next"))
    assert first.start == 0
    ctx.estimator.observe(first.raw_prompt, int(first.raw_prompt * 1.6))
    assert ctx.fit(SYSTEM, history, user("next")).start > first.start


def test_image_parts_count_a_fixed_price_and_tool_calls_their_id_name_and_arguments() -> None:
    image = Image("data:image/png;base64," + "A" * 90_000)
    low = Image("https://x/y.png", "low")
    message = messages.user("what?", [image, low])
    assert (
        message_tokens(message) == MESSAGE_OVERHEAD + text_tokens("what?") + IMAGE_HIGH + IMAGE_LOW
    )
    calls = tool_round(1, 2, 0)[0]
    assert message_tokens(calls) == MESSAGE_OVERHEAD + 2 * (
        text_tokens("call_1_0") + text_tokens("weather") + text_tokens('{"c":1}')
    )
    output = tool_output("call_1_0", "sunny " * 50)
    assert message_tokens(output) == MESSAGE_OVERHEAD + text_tokens("call_1_0") + text_tokens(
        "sunny " * 50
    )


def test_reasoning_and_citations_are_not_counted_since_they_are_never_sent() -> None:
    plain = assistant("42")
    kept = messages.assistant(
        "42",
        reasoning="long thoughts " * 500,
        citations=[Citation("https://example.com/" + "x" * 500, "a long title " * 50)],
    )
    assert message_tokens(kept) == message_tokens(plain)


def test_cjk_code_and_base64_cost_more_tokens_per_character_than_english() -> None:
    english = text_tokens(SENTENCE * 20) / len(SENTENCE * 20)
    assert 0.18 < english < 0.3  # about four characters a token
    assert text_tokens("上下文窗口的长度" * 50) / 400 > 3 * english
    code = "if (x[i] != y->z) { return f(a, b); }\n" * 20
    assert text_tokens(code) / len(code) > 1.3 * english
    blob = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkrLz0=" * 40
    assert text_tokens(blob) / len(blob) > 2 * english


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (131_072, "128k"),
        (8192, "8k"),
        (96_300, "96k"),
        (1234, "1.2k"),
        (850, "850"),
        (1 << 20, "1M"),
    ],
)
def test_token_counts_read_like_people_say_them(n: int, text: str) -> None:
    assert tokens_text(n) == text


OPENAI = (
    '{"error":{"message":"This model\'s maximum context length is 4097 tokens. However, your '
    'messages resulted in 4294 tokens. Please reduce the length of the messages.",'
    '"type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}'
)
LLAMA_CPP = (
    '{"error":{"code":400,"message":"request (4476 tokens) exceeds the available context size '
    '(4096 tokens)","type":"exceed_context_size_error","n_prompt_tokens":4476,"n_ctx":4096}}'
)
CONTEXT_ERRORS = [
    # (status, body or message, the limit it states, the server's count of the prompt)
    (400, OPENAI, 4097, 4294),
    (
        400,
        "This model's maximum context length is 131072 tokens. However, you requested 139162 "
        "tokens (130970 in the messages, 8192 in the completion). Please reduce the length of "
        "the messages or completion.",
        131072,
        130970,
    ),  # vLLM, DeepSeek, older OpenAI
    (
        400,
        "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum "
        "context length is 4096 tokens and your request has 2778 input tokens "
        "(8000 > 4096 - 2778).",
        4096,
        2778,
    ),  # newer vLLM
    (400, LLAMA_CPP, 4096, 4476),
    (
        400,
        '{"error":{"code":400,"message":"the request exceeds the available context size, '
        'try increasing it","type":"exceed_context_size_error"}}',
        None,
        None,
    ),  # older llama.cpp
    (
        400,
        '{"type":"error","error":{"type":"invalid_request_error",'
        '"message":"prompt is too long: 208950 tokens > 200000 maximum"}}',
        200_000,
        208_950,
    ),  # Anthropic
    (
        400,
        "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, "
        "decrease input length or `max_tokens` and try again",
        200_000,
        188_240,
    ),  # Anthropic
    (
        400,
        "litellm.ContextWindowExceededError: litellm.BadRequestError: "
        "ContextWindowExceededError: Context window exceeded",
        None,
        None,
    ),
    (
        400,
        "Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 "
        "maximum context length",
        32768,
        40000,
    ),  # Mistral
    (
        400,
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        1_048_576,
        1_200_000,
    ),  # Gemini
    (
        422,
        "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8192. "
        "Given: 9000 `inputs` tokens and 1000 `max_new_tokens`",
        8192,
        9000,
    ),  # TGI
    (
        400,
        "Your input exceeds the context window of this model. Please adjust your input.",
        None,
        None,
    ),
    (
        400,
        '{"statusCode":400,"message":"Context length exceeded","error":"Bad Request"}',
        None,
        None,
    ),
    (
        None,
        "The decoder prompt (length 9000) is longer than the maximum model length of 8192.",
        8192,
        9000,
    ),
    (400, "Input is too long for requested model.", None, None),  # Bedrock
]


@pytest.mark.parametrize(("status", "text", "limit", "counted"), CONTEXT_ERRORS)
def test_each_servers_context_error_is_recognised_with_its_numbers(
    status: int | None, text: str, limit: int | None, counted: int | None
) -> None:
    assert is_context_error(status, text)
    assert limit_from_error(text) == limit
    assert prompt_tokens_from_error(text) == counted


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (429, "Request too large for gpt-4 on tokens per min (TPM): Limit 10000, Requested 12000."),
        (
            429,
            "This model's maximum context length is 8192 tokens",
        ),  # a rate limit, whatever it says
        (400, "max_tokens: 21333 > 4096, which is the maximum allowed number of output tokens"),
        (401, "Invalid API key"),
        (400, '{"statusCode":400,"message":["messages.0.content must be a string"]}'),
        (404, "model not found"),
    ],
)
def test_other_errors_are_not_taken_for_context_errors(status: int, text: str) -> None:
    assert not is_context_error(status, text)


def test_trimming_harder_fits_the_limit_the_server_stated() -> None:
    history = chat_turns(30)
    ctx = small_model(128_000)
    plan = ctx.fit(SYSTEM, history, user("next"))
    assert plan.start == 0
    error = (
        "This model's maximum context length is 4096 tokens. However, you requested "
        f"{int(plan.raw_prompt * 1.3) + 1024} tokens ({int(plan.raw_prompt * 1.3)} in the "
        "messages, 1024 in the completion)."
    )
    retry = ctx.trim_harder(plan, error)
    assert retry.start > 0 and retry.notice is not None
    assert_well_formed(retry.kept)
    assert retry.prompt_tokens + retry.reserve <= 4096
    # the server counted 1.3x our raw estimate: this prompt is under its limit by its count
    assert retry.raw_prompt * 1.3 + retry.reserve <= 4096
    assert ctx.estimator.observations == 1


def test_trimming_harder_without_numbers_halves_the_history_sent() -> None:
    history = chat_turns(30)
    ctx = small_model(16_384)
    plan = ctx.fit(SYSTEM, history, user("next"))
    retry = ctx.trim_harder(plan, "Context length exceeded")
    assert retry.start > plan.start
    assert retry.history_tokens <= plan.history_tokens // 2
    assert_well_formed(retry.kept)
    assert ctx.window.source == "catalogue"


def test_trimming_harder_with_nothing_left_to_leave_out_refuses() -> None:
    ctx = small_model(8192)
    plan = ctx.fit(SYSTEM, [], user("a long paste"))
    with pytest.raises(UsageError) as caught:
        ctx.trim_harder(plan, "prompt is too long: 9000 tokens > 8192 maximum")
    assert caught.value.message == (
        "the server says the message is too long for tiny/model (9k tokens; it takes 8k)"
    )


def test_trimming_harder_on_an_unknown_window_without_numbers_halves_the_history() -> None:
    history = chat_turns(30)
    ctx = ContextWindow(resolve_window("private/model"))
    plan = ctx.fit(None, history, user("next"))
    retry = ctx.trim_harder(plan, '{"error": {"code": "context_length_exceeded"}}')
    assert 0 < retry.history_tokens <= plan.history_tokens // 2
    assert_well_formed(retry.kept)
    assert ctx.window.length is None


def test_a_server_blaming_max_tokens_is_answered_with_max_tokens() -> None:
    ctx = ContextWindow(resolve_window("tiny/model"), max_tokens=8000)
    plan = ctx.fit(None, [], user("hello"))
    error = (
        "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum "
        "context length is 4096 tokens and your request has 2778 input tokens (8000 > 4096 - 2778)."
    )
    with pytest.raises(UsageError) as caught:
        ctx.trim_harder(plan, error)
    assert caught.value.message.startswith("max_tokens 8000 leaves too little room")
    assert caught.value.hint == "lower --max-tokens, or leave it out"


def test_describe_shows_what_is_sent_and_where_the_numbers_come_from() -> None:
    ctx = ContextWindow(resolve_window("tiny/model", flag=4096))
    plan = ctx.fit(SYSTEM, chat_turns(30), user("next"))
    kept = 60 - plan.start
    text = describe(plan, ctx.estimator)
    lines = text.splitlines()
    assert lines[0] == "tiny/model: window 4k (--context-length)"
    system = ctx.estimator.tokens(fixed_tokens(SYSTEM) - fixed_tokens(None))
    assert lines[1] == f"  system   ~{tokens_text(system)}"
    overhead = plan.fixed_tokens - system
    assert lines[2] == f"  overhead ~{overhead}  per request (the chat template)"
    assert lines[3] == (
        f"  history  ~{tokens_text(plan.history_tokens)}  {kept} of 60 messages "
        f"({plan.start} earlier left out, ~{tokens_text(plan.left_out_tokens)})"
    )
    assert lines[4] == f"  new      ~{tokens_text(plan.new_tokens)}  1 message"
    assert lines[5] == "  reply    1k reserved"
    total = plan.prompt_tokens + plan.reserve
    assert lines[6] == f"  total    ~{tokens_text(total)} of 4k ({100 * total // 4096}%)"
    assert lines[7] == "  estimate: per character, not yet calibrated, +10% margin"
    ctx.estimator.observe(plan.raw_prompt, int(plan.raw_prompt * 1.2))
    assert "x1.10 from 1 server count," in describe(plan, ctx.estimator)
