"""The model catalog: which wire style each model takes, its window and its price.

Data, not code. `ModelCatalog.find(name)` looks a name up exactly, then by family rule
(`*-0613*` takes `functions`, `*-1106*` takes `tools`, ...). A name that matches neither is
refused by `Agent` (a typo must not silently pick a wire style) unless the user says how the
model takes functions: `api_style=`, a `ModelInfo`, or `catalog.register(ModelInfo(...))`,
which also overrides our entries.

Prices are in US dollars per 1,000 tokens. For the ten models GoAPI listed in 2023
(`GOAPI_MODELS`) they are GoAPI's: one fifth of OpenAI's list price for GPT-3.5 models; for
GPT-4 models it publishes no discount, so OpenAI's list price of the time is used. The newer
models GoAPI's list gained later (`NEWER_MODELS`: gpt-4-turbo, gpt-4o, gpt-4.1) carry
OpenAI's list prices, since GoAPI publishes none for them.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Literal, TypeAlias

from ._messages import Usage

__all__ = ["ApiStyle", "ModelCatalog", "ModelInfo", "ModelSettings", "default_catalog"]

ApiStyle: TypeAlias = Literal["functions", "tools"]
"""The two wire styles of function calling: legacy `functions` and newer `tools`."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What agentkit knows about a model.

    Examples:
        >>> info = ModelInfo("my-finetune", style="tools", context_window=16_385)
        >>> info.supports_functions
        True
    """

    name: str
    """The model name sent in requests."""

    style: ApiStyle | None = "tools"
    """How it takes functions: `"functions"`, `"tools"`, or `None` for no function calling."""

    context_window: int | None = None
    """Prompt plus completion tokens it accepts, if known."""

    max_output_tokens: int | None = None
    """The most tokens it generates in one reply, if less than the window and known."""

    vision: bool = False
    """Whether it accepts image parts in user messages."""

    input_price: float | None = None
    """USD per 1,000 prompt tokens, if known."""

    output_price: float | None = None
    """USD per 1,000 completion tokens, if known."""

    structured_output: bool = False
    """Whether it takes `response_format: {"type": "json_schema", ..., "strict": true}`.

    OpenAI added this native structured output in 2024; none of GoAPI's 2023 models take it.
    Agents with an `output_type` use it for models that do (see `Agent(output_mode=...)`).
    """

    tool_choice_required: bool = False
    """Whether it takes `tool_choice: "required"` (OpenAI added it in 2024).

    For models that do not, agentkit sends the one-name form when one tool is offered.
    """

    known: bool = True
    """`False` for an entry made up for a name the catalog does not list."""

    @property
    def supports_functions(self) -> bool:
        """Whether the model can call functions at all."""
        return self.style is not None

    @property
    def parallel_calls(self) -> bool:
        """Whether one reply may hold several calls (the `tools` style)."""
        return self.style == "tools"

    def cost(self, usage: Usage) -> float | None:
        """The price of `usage` in USD, or `None` when a price or a token count is unknown.

        A usage with requests that have no token figures gives `None`: a cost is never
        invented. Where agentkit counted the tokens (`usage.estimated`), so is the cost.
        """
        if (
            self.input_price is None
            or self.output_price is None
            or usage.prompt_tokens is None
            or usage.completion_tokens is None
            or not usage.complete
        ):
            return None
        return (
            usage.prompt_tokens * self.input_price + usage.completion_tokens * self.output_price
        ) / 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSettings:
    """How to ask the model: the optional request fields of chat completions.

    `None` leaves a field out of the request, so the server's default applies.

    Examples:
        >>> settings = ModelSettings(temperature=0, max_tokens=300, seed=7)
    """

    temperature: float | None = None
    """Sampling temperature, 0 to 2."""

    top_p: float | None = None
    """Nucleus sampling mass, 0 to 1."""

    max_tokens: int | None = None
    """The most tokens to generate (send it for `gpt-4-vision-preview`, which is terse without)."""

    stop: str | Sequence[str] | None = None
    """Up to four sequences where generation stops."""

    presence_penalty: float | None = None
    """-2 to 2: positive values favour new topics."""

    frequency_penalty: float | None = None
    """-2 to 2: positive values discourage repetition."""

    logit_bias: Mapping[str, int] | None = None
    """Token id (as a string) to a bias from -100 to 100."""

    seed: int | None = None
    """Best-effort deterministic sampling (1106 models)."""

    user: str | None = None
    """An id for the end user, for the service's abuse monitoring."""

    response_format: Literal["text", "json_object"] | None = None
    """`"json_object"` asks 1106 models for valid JSON (say "JSON" in a message too)."""

    include_usage: bool = False
    """Ask a streaming server to report token usage in a last chunk (`stream_options`).

    Without it a stream reports no usage (servers of GoAPI's 2023 era send none, and refuse
    the field), so token counts and cost stay unknown unless requests are not streamed.
    """

    extra_body: Mapping[str, object] = field(default_factory=dict)
    """Further request fields, sent as they are, for servers that take more."""

    check_context_window: bool | None = None
    """Refuse, before sending, a request whose counted prompt plus `max_tokens` is larger than
    the model's context window (`ContextLengthExceededError`). Not sent; needs the `tokens`
    extra and a window in the catalog. `None` (the default) checks; `False` sends such
    requests anyway."""

    def merge(self, overrides: ModelSettings) -> ModelSettings:
        """These settings with the fields `overrides` sets (not `None`) replacing them.

        `extra_body` is merged key by key; `include_usage` is on if either turns it on.

        Examples:
            >>> ModelSettings(temperature=0, seed=7).merge(ModelSettings(seed=8))
            ModelSettings(temperature=0, ..., seed=8, ...)
        """
        changes: dict[str, object] = {
            f.name: getattr(overrides, f.name)
            for f in fields(self)
            if f.name not in ("include_usage", "extra_body")
            and getattr(overrides, f.name) is not None
        }
        return replace(
            self,
            **changes,  # type: ignore[arg-type]
            include_usage=self.include_usage or overrides.include_usage,
            extra_body={**self.extra_body, **overrides.extra_body},
        )


_GPT35_DISCOUNT = 5  # GoAPI: "The price of GPT-3.5 call is 1/5 of the price of OpenAI"


def _gpt35(name: str, style: ApiStyle | None, window: int, p_in: float, p_out: float) -> ModelInfo:
    return ModelInfo(
        name,
        style=style,
        context_window=window,
        input_price=p_in / _GPT35_DISCOUNT,
        output_price=p_out / _GPT35_DISCOUNT,
    )


#: The ten models GoAPI lists, with OpenAI's list prices of the time (see module docstring).
GOAPI_MODELS: tuple[ModelInfo, ...] = (
    _gpt35("gpt-3.5-turbo", "functions", 4_096, 0.0015, 0.002),
    _gpt35("gpt-3.5-turbo-0301", None, 4_096, 0.0015, 0.002),
    _gpt35("gpt-3.5-turbo-0613", "functions", 4_096, 0.0015, 0.002),
    _gpt35("gpt-3.5-turbo-16k", "functions", 16_385, 0.003, 0.004),
    _gpt35("gpt-3.5-turbo-16k-0613", "functions", 16_385, 0.003, 0.004),
    replace(_gpt35("gpt-3.5-turbo-1106", "tools", 16_385, 0.001, 0.002), max_output_tokens=4_096),
    ModelInfo("gpt-4", "functions", 8_192, input_price=0.03, output_price=0.06),
    ModelInfo("gpt-4-0613", "functions", 8_192, input_price=0.03, output_price=0.06),
    ModelInfo("gpt-4-1106-preview", "tools", 128_000, 4_096, input_price=0.01, output_price=0.03),
    ModelInfo(
        "gpt-4-vision-preview",
        None,
        128_000,
        4_096,
        vision=True,
        input_price=0.01,
        output_price=0.03,
    ),
)


def _newer(
    name: str,
    window: int,
    max_out: int,
    p_in: float,
    p_out: float,
    *,
    structured: bool = True,
    vision: bool = True,
) -> ModelInfo:
    """A model of 2024 or later: `tools` style, `tool_choice: "required"`."""
    return ModelInfo(
        name,
        style="tools",
        context_window=window,
        max_output_tokens=max_out,
        vision=vision,
        input_price=p_in,
        output_price=p_out,
        structured_output=structured,
        tool_choice_required=True,
    )


# The models a GoAPI user types today. Prices: OpenAI's list prices (standard tier, USD per
# 1K tokens: the per-1M price / 1000) from https://platform.openai.com/docs/pricing, as listed
# from each model's release through 2025 and checked on 2026-11-30; windows and longest
# replies from https://platform.openai.com/docs/models. Structured output (`json_schema`
# with `strict`) came with gpt-4o-2024-08-06 and gpt-4o-mini; the `gpt-4o` alias points at
# 2024-08-06 since 2024-10-02. GoAPI may charge less: register your own prices if so.
#: Newer models GoAPI's list gained after 2023, with OpenAI's list prices (see above).
NEWER_MODELS: tuple[ModelInfo, ...] = (
    _newer("gpt-4-0125-preview", 128_000, 4_096, 0.01, 0.03, structured=False, vision=False),
    _newer("gpt-4-turbo-preview", 128_000, 4_096, 0.01, 0.03, structured=False, vision=False),
    _newer("gpt-4-turbo", 128_000, 4_096, 0.01, 0.03, structured=False),
    _newer("gpt-4-turbo-2024-04-09", 128_000, 4_096, 0.01, 0.03, structured=False),
    _newer("gpt-4o", 128_000, 16_384, 0.0025, 0.01),
    _newer("gpt-4o-2024-05-13", 128_000, 4_096, 0.005, 0.015, structured=False),
    _newer("gpt-4o-2024-08-06", 128_000, 16_384, 0.0025, 0.01),
    _newer("gpt-4o-2024-11-20", 128_000, 16_384, 0.0025, 0.01),
    _newer("gpt-4o-mini", 128_000, 16_384, 0.00015, 0.0006),
    _newer("gpt-4o-mini-2024-07-18", 128_000, 16_384, 0.00015, 0.0006),
    _newer("gpt-4.1", 1_047_576, 32_768, 0.002, 0.008),
    _newer("gpt-4.1-2025-04-14", 1_047_576, 32_768, 0.002, 0.008),
    _newer("gpt-4.1-mini", 1_047_576, 32_768, 0.0004, 0.0016),
    _newer("gpt-4.1-mini-2025-04-14", 1_047_576, 32_768, 0.0004, 0.0016),
    _newer("gpt-4.1-nano", 1_047_576, 32_768, 0.0001, 0.0004),
    _newer("gpt-4.1-nano-2025-04-14", 1_047_576, 32_768, 0.0001, 0.0004),
)

#: Family rules for names the catalog does not list, tried in order (fnmatch patterns).
FAMILY_RULES: tuple[tuple[str, ApiStyle | None], ...] = (
    ("*-0301*", None),
    ("*-0314*", None),
    ("*-vision-preview*", None),
    ("*-0613*", "functions"),
    ("*-1106*", "tools"),
    # Dated snapshots not listed (no window or price known); a typo still gets "did you mean".
    ("gpt-4o-20[0-9][0-9]-*", "tools"),
    ("gpt-4o-mini-20[0-9][0-9]-*", "tools"),
    ("gpt-4.1-20[0-9][0-9]-*", "tools"),
    ("gpt-4.1-mini-20[0-9][0-9]-*", "tools"),
    ("gpt-4.1-nano-20[0-9][0-9]-*", "tools"),
    ("gpt-4-turbo-20[0-9][0-9]-*", "tools"),
)


class ModelCatalog:
    """A lookup from model names to `ModelInfo`, extensible by the user.

    Examples:
        >>> catalog = ModelCatalog()
        >>> catalog.get("gpt-3.5-turbo").style
        'functions'
        >>> catalog.get("gpt-4-0613-custom").style  # a family rule
        'functions'
        >>> catalog.get("brand-new-model").known
        False
        >>> catalog.register(ModelInfo("brand-new-model", style="functions"))
        >>> catalog.get("brand-new-model").style
        'functions'
    """

    def __init__(
        self,
        models: Iterable[ModelInfo] = (*GOAPI_MODELS, *NEWER_MODELS),
        rules: Iterable[tuple[str, ApiStyle | None]] = FAMILY_RULES,
    ) -> None:
        self._models: dict[str, ModelInfo] = {m.name: m for m in models}
        self._rules = tuple(rules)

    def register(self, info: ModelInfo) -> None:
        """Add a model, or replace the entry of the same name."""
        self._models[info.name] = info

    def get(self, name: str) -> ModelInfo:
        """The entry for `name`: exact, else by family rule, else a `tools`-style fallback."""
        return self.find(name) or ModelInfo(name, style="tools", known=False)

    def find(self, name: str) -> ModelInfo | None:
        """The entry for `name`: exact, else by family rule, else `None`.

        Examples:
            >>> default_catalog.find("gpt-3.5-turb") is None
            True
            >>> default_catalog.find("gpt-4-0613-custom")
            ModelInfo(name='gpt-4-0613-custom', style='functions', ...known=False)
        """
        info = self._models.get(name)
        if info is not None:
            return info
        for pattern, style in self._rules:
            if fnmatch.fnmatchcase(name, pattern):
                return ModelInfo(name, style=style, known=False)
        return None

    def close_matches(self, name: str) -> list[str]:
        """Catalog names that look like `name`, best first (for "did you mean" messages).

        Case does not count, as servers' own spellings vary (`GPT-4o`).

        Examples:
            >>> default_catalog.close_matches("gpt-3.5-turb")[:2]
            ['gpt-3.5-turbo', 'gpt-3.5-turbo-16k']
            >>> default_catalog.close_matches("GPT4o-mini")[:1]
            ['gpt-4o-mini']
        """
        names = {known.lower(): known for known in self._models}
        close = difflib.get_close_matches(name.lower(), list(names), n=3, cutoff=0.6)
        return [names[lowered] for lowered in close]

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(sorted(self._models.values(), key=lambda m: m.name))

    def __len__(self) -> int:
        return len(self._models)


default_catalog = ModelCatalog()
"""The catalog agents use unless given another; `register()` on it affects them all."""
