"""Properties (hypothesis) of the pure pieces the faults above lean on.

tests/test_splitting.py and tests/test_sse.py already cover well-formed input; these add what a
hostile or broken peer can send: arbitrary bytes and strings, huge numbers, odd Unicode.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import itertools
import json
import math
import pkgutil
import re
from fnmatch import fnmatchcase
from typing import Any

import discord
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import cogs
from bot.amounts import MAX_BALANCE
from bot.errors import UpstreamFailure
from bot.gpt_catalog import NAME_LIMIT, InvalidGPTId, parse_gizmo_id
from bot.pricing import DEFAULT_ACTION_PRICES, ChatPrice, PricingConfig
from bot.providers.midjourney import action_kind
from bot.splitting import CLOSE, DISCORD_LIMIT, open_fence_language
from bot.streaming import FOOTER_RESERVE, Pacing, StreamingReply
from bot.upstream.chat import ChatClient
from bot.upstream.errors import MAX_DETAIL_CHARS
from bot.upstream.sse import SSEParser, SSEProtocolError
from cogs.gpt import THREAD_NAME_LIMIT, thread_name
from tests.reliability.conftest import scenario

INT64 = 2**63
# The ``note`` fixture only labels the report row, so sharing it between examples is fine.
PROPS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- the splitter, as the streamed reply uses it ------------------------------------------------


class Recorder:
    """A message target that only remembers what it was asked to show."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def add(self, content: str) -> None:
        self.messages.append(content)

    async def edit(self, index: int, content: str) -> None:
        self.messages[index] = content

    def rate_limited(self, index: int) -> int:
        return 0


def _up_to(size: int) -> st.SearchStrategy[str]:
    """Any text up to ``size``, and often near it: random text alone is mostly short."""
    return st.text(max_size=size) | st.integers(0, size).map(lambda n: "ẞ" * n)


LABELS = _up_to(NAME_LIMIT).filter(bool)  # a GPT's name, as the catalog keeps it
FOOTERS = st.one_of(
    st.just(""),
    st.builds(lambda label, cost: f"-# {label} · {cost} credits", LABELS, st.integers(0, 10**9)),
    st.builds(
        lambda label, cost, reason: f"-# ⚠️ The answer was cut off: {reason}\n-# {label} · {cost}",
        LABELS,
        st.integers(0, 10**9),
        _up_to(MAX_DETAIL_CHARS),  # an upstream's detail, cut to this length
    ),
)
_WORDS = st.sampled_from(["word ", "Sentence. ", "\n", "\n\n", "中文。", "`x` ", "@everyone "])
_BLOCKS = st.builds(
    lambda language, lines: f"```{language}\n" + "".join(f"{line}\n" for line in lines) + "```",
    st.sampled_from(["", "python", "js"]),
    st.lists(st.text(alphabet="abc =1()", max_size=40), max_size=60),
)
# Prose and closed code blocks, long enough to run over one message: fences get split.
MARKDOWN = st.lists(st.one_of(_WORDS, _BLOCKS), max_size=400).map("".join)
# About one message of text while streaming: what a footer past the reserve would overfill.
NEAR_FULL = st.builds(
    lambda size, word: (word * size)[:size],
    st.integers(DISCORD_LIMIT - 300, DISCORD_LIMIT - FOOTER_RESERVE),
    st.sampled_from(["word ", "Sentence. ", "x", "中文。", "line\n"]),
)


def rebuilt(messages: list[str], footer: str) -> str:
    """The text the messages carry: footer removed and fences added at splits undone."""
    parts = list(messages)
    if footer:
        assert parts[-1].endswith(footer)
        parts[-1] = parts[-1].removesuffix(f"\n{footer}").removesuffix(footer)
    text = parts[0]
    for part in parts[1:]:
        reopen = re.match(r"```[^\s`]*\n", part)
        if text.endswith(CLOSE) and reopen:
            text, part = text.removesuffix(CLOSE), part[reopen.end() :]
        text += part
    return text


@PROPS
@example(text="a" * 1879, footer="-# ⚠️ The answer was cut off: " + "r" * 500 + "\n-# GPT · 5")
@example(text="x" * 5000, footer="-# " + "é" * 700)
# One full message of text, then a footer with the longest GPT name: 2,066 characters unfixed.
@example(text="Some sentence. " * 123 + "end.", footer=f"-# {'N' * NAME_LIMIT} · 12 credits")
@example(text="```py\n" + "x = 1\n" * 310, footer="-# ⚠️ cut off: " + "r" * 500 + "\n-# GPT · 5")
@given(text=st.one_of(st.text(max_size=6000), MARKDOWN, NEAR_FULL), footer=FOOTERS)
@scenario(
    "properties",
    "streamed reply: any text with any footer",
    sees="(property) every message fits Discord's 2000 characters and the text arrives whole",
)
def test_streamed_messages_always_fit(text: str, footer: str) -> None:
    target = Recorder()
    pacing = Pacing(interval=0.0, first_wait=0.0, first_chars=1)

    async def run() -> None:
        reply = StreamingReply(target, pacing=pacing)
        reply.start()
        reply.feed(text)
        await reply.finish(footer)

    asyncio.run(run())
    assert all(len(m) <= DISCORD_LIMIT for m in target.messages)
    # Whole: every character once, in order; only a fence left open at the very end is closed.
    whole = rebuilt(target.messages, footer)
    tail = rebuilt(target.messages[-1:], footer)
    assert whole == text or (
        whole == text + CLOSE and open_fence_language(tail.removesuffix(CLOSE)) is not None
    ), (len(whole), len(text))
    assert not target.messages[-1].endswith("▌")


@PROPS
@given(st.text(max_size=300))
@scenario("properties", "thread names from any prompt", sees="(property) 1–90 visible chars")
def test_thread_name_is_short_and_visible(prompt: str) -> None:
    name = thread_name(prompt)
    assert 1 <= len(name) <= THREAD_NAME_LIMIT and "\n" not in name


# --- the SSE reader on arbitrary bytes ----------------------------------------------------------


def events(chunks: list[bytes]) -> list[Any]:
    parser = SSEParser(max_buffer=4096)
    out: list[Any] = []
    try:
        for chunk in chunks:
            out += parser.feed(chunk)
        out += parser.close()
    except SSEProtocolError:
        out.append("protocol error")
    return out


@PROPS
@given(st.binary(max_size=2000), st.data())
@scenario(
    "properties",
    "SSE reader on arbitrary bytes, split anywhere",
    sees="(property) the "
    "same events however the bytes are cut; only SSEProtocolError, never a crash",
)
def test_sse_arbitrary_bytes_split_anywhere(raw: bytes, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=10)))
    chunks = [raw[a:b] for a, b in itertools.pairwise([0, *cuts, len(raw)])]
    assert events(chunks) == events([raw])


_KEYS = (
    "choices delta message content reasoning_content usage error index finish_reason "
    "prompt_tokens completion_tokens code type"
).split()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


@PROPS
@given(st.one_of(st.text(max_size=300), JSON.map(json.dumps)))
@scenario(
    "properties",
    "chat chunks with arbitrary data lines (any text, any JSON)",
    sees="(property) a typed UpstreamFailure or a delta, nothing else",
)
def test_chat_chunk_decoding_fails_only_typed(data: str) -> None:
    client = ChatClient(_FakeUpstream())  # type: ignore[arg-type]
    try:
        client._delta_from(data)
    except UpstreamFailure:
        pass


class _FakeUpstream:
    @staticmethod
    def redact(text: str) -> str:
        return text

    @staticmethod
    def raise_for_error_body(obj: Any, status: int = 200) -> None:
        from bot.upstream.errors import raise_for_error_body

        raise_for_error_body(obj, status)


# --- custom_ids -------------------------------------------------------------------------------


def dynamic_items() -> list[type[discord.ui.DynamicItem[Any]]]:
    found: dict[str, type[discord.ui.DynamicItem[Any]]] = {}
    for info in pkgutil.iter_modules(cogs.__path__):
        module = importlib.import_module(f"cogs.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, discord.ui.DynamicItem) and obj is not discord.ui.DynamicItem:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


ITEMS = dynamic_items()
# Strings near our templates: each template's fixed prefix (up to its first group) with digits
# of any kind and length after it.
_DIGITS = st.text(alphabet=st.sampled_from("0123456789-١３𝟘 x"), min_size=0, max_size=30)
PREFIXES = sorted({i.__discord_ui_compiled_template__.pattern.split("(")[0] for i in ITEMS})
NEAR_IDS = st.builds(
    lambda prefix, parts: prefix + ":".join(parts),
    st.sampled_from(PREFIXES),
    st.lists(_DIGITS, min_size=1, max_size=4),
)


@pytest.mark.parametrize("item", ITEMS, ids=[i.__qualname__ for i in ITEMS])
@PROPS
@given(custom_id=st.one_of(st.text(max_size=100), NEAR_IDS))
@scenario(
    "properties",
    "button custom_ids: every DynamicItem template in cogs/ on arbitrary strings",
    sees="(property) no match, or values that fit a database integer",
)
def test_custom_ids_reject_or_parse_safely(note: Any, item: Any, custom_id: str) -> None:
    note(fault=f"custom_id template of {item.__module__}.{item.__qualname__}")
    match = item.__discord_ui_compiled_template__.fullmatch(custom_id)
    if match is None:
        return
    parsed = asyncio.run(item.from_custom_id(None, None, match))
    for value in vars(parsed).values():
        if isinstance(value, int) and not isinstance(value, bool):
            assert -INT64 <= value < INT64, (custom_id, value)
    for text in match.groupdict().values():
        assert text is None or text.isascii(), custom_id


@PROPS
@given(st.one_of(st.text(max_size=200), st.builds("::".join, st.lists(st.text(max_size=20)))))
@scenario(
    "properties",
    "Midjourney button ids from the upstream, arbitrary strings",
    sees="(property) a priced kind and a label, never an exception",
)
def test_midjourney_custom_ids_never_crash(custom_id: str) -> None:
    assert action_kind(custom_id) in DEFAULT_ACTION_PRICES


@PROPS
@given(st.text(max_size=200))
@scenario(
    "properties",
    "GPT ids and links, arbitrary strings",
    sees="(property) a clean g-… id or InvalidGPTId",
)
def test_gizmo_ids_parse_or_refuse(text: str) -> None:
    try:
        gizmo = parse_gizmo_id(text)
    except InvalidGPTId:
        return
    assert re.fullmatch(r"g-[A-Za-z0-9]{5,40}", gizmo)


# --- pricing ----------------------------------------------------------------------------------

PRICES = st.builds(
    ChatPrice,
    pattern=st.sampled_from(["*", "gpt-4o*", "gpt-4-gizmo-*", "o1-?ini", "[gc]*", "claude-*"]),
    per_call=st.integers(0, 10**6),
    per_1k_input=st.integers(0, 10**6),
    per_1k_output=st.integers(0, 10**6),
)
TOKENS = st.integers(-(10**6), 10**18)


@PROPS
@given(PRICES, TOKENS, TOKENS, st.integers(0, 10**6), st.integers(0, 10**6))
@scenario(
    "properties",
    "chat prices on any token counts, even negative or huge (usage comes from the upstream)",
    sees="(property) non-negative integers, exact, monotone",
)
def test_chat_cost_is_a_monotone_non_negative_integer(
    rule: ChatPrice, tin: int, tout: int, more_in: int, more_out: int
) -> None:
    cost = rule.cost(tin, tout)
    assert isinstance(cost, int) and cost >= rule.per_call >= 0
    billed = rule.per_1k_input * max(0, tin) + rule.per_1k_output * max(0, tout)
    # Exact (no float rounding), up to the largest balance: no hold could be more.
    assert cost == min(rule.per_call + -(-billed // 1000), MAX_BALANCE)
    assert rule.cost(tin + more_in, tout + more_out) >= cost


MODELS = st.sampled_from(["gpt-4o-mini", "gpt-4-gizmo-g-abc", "o1-mini", "claude-3", "gemini", "x"])


@PROPS
@given(st.lists(PRICES, max_size=6), MODELS)
@scenario(
    "properties",
    "chat price rules",
    sees="(property) the first matching glob wins, else the catch-all",
)
def test_first_matching_rule_wins(rules: list[ChatPrice], model: str) -> None:
    config = PricingConfig(chat=tuple(rules))
    expected = next((r for r in rules if fnmatchcase(model, r.pattern)), None)
    chosen = config.chat_price(model)
    assert chosen is expected if expected is not None else chosen.pattern == "*"


@PROPS
@given(st.dictionaries(st.sampled_from(sorted(DEFAULT_ACTION_PRICES)), st.integers(-5, 10**6)))
@scenario(
    "properties",
    "action prices from configuration",
    sees="(property) negative prices are refused; every action keeps a price",
)
def test_action_prices_are_never_negative(actions: dict[str, int]) -> None:
    assume(actions)
    try:
        config = PricingConfig(actions=actions)
    except ValueError:
        assert any(v < 0 for v in actions.values())
        return
    assert all(config.action_price(a) >= 0 for a in DEFAULT_ACTION_PRICES)
    assert math.isfinite(sum(config.actions.values()))
