"""Domain errors. Each names a message-catalog key; one handler in the app turns them into text."""

from __future__ import annotations

from typing import Any


class AtelierError(Exception):
    """Base of every error a member may be told about.

    ``key`` is a message-catalog key; ``params`` fill its placeholders. The exception text is for
    logs only and never carries secrets.
    """

    key = "error.unexpected"

    def __init__(self, log_message: str = "", **params: Any) -> None:
        super().__init__(log_message or self.key)
        self.params = params


# -- Operator errors: ordinary problems at start or in a CLI verb ---------------------------
# Each is one message that names the setting or service and says what to do; ``exit_code`` is
# the process's exit status, listed in the README ("Exit codes"). ``bot/__main__.py`` prints
# them in one place; a traceback is shown only at log level DEBUG.


class OperatorError(Exception):
    """An ordinary problem an operator fixes; the message says what to do."""

    exit_code = 1


class ConfigError(OperatorError):
    """The configuration is invalid; ``problems`` are ``(key path, reason)`` pairs."""

    exit_code = 2

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in problems))


class BadSetting(OperatorError):
    """A setting or command-line argument is wrong, or the service it names refuses it (a
    rejected token or password, a database that does not exist, a folder that is missing)."""

    exit_code = 2


class SchemaError(OperatorError):
    """The database schema is not the one this build runs on; the message says what to do."""

    exit_code = 3


class ServiceUnreachable(OperatorError):
    """Discord or the database cannot be reached (refused, unknown host, TLS, no answer)."""

    exit_code = 4


class PortalSettingMissing(OperatorError):
    """Discord refuses the bot for a setting of its application in the developer portal."""

    exit_code = 5


class NotInstalled(OperatorError):
    """An optional part of Atelier the configuration needs is not installed."""

    exit_code = 6


class CommandsRefused(OperatorError):
    """Discord refused the bot's slash-command definitions (400 50035 on the command sync):
    a defect of this build or of its translations, which no setting fixes."""

    exit_code = 7


class InsufficientCredit(AtelierError):
    key = "error.insufficient_credit"

    def __init__(self, guild_id: int, balance: int, needed: int) -> None:
        super().__init__(
            f"guild {guild_id} has {balance}, needs {needed}", balance=balance, needed=needed
        )
        self.guild_id = guild_id
        self.balance = balance
        self.needed = needed


class UnknownHold(AtelierError):
    """A settle or refund named a hold that does not exist."""

    key = "error.unexpected"


class NotInGuild(AtelierError):
    """A paid command was used where no guild can pay (a DM)."""

    key = "error.guild_only"


class UpstreamError(AtelierError):
    """The upstream answered with an error, or could not be reached.

    ``detail`` is the upstream's own message with the ``(request id: …)`` tail removed; it is safe
    to show. ``request_id`` is kept for the logs.
    """

    key = "error.upstream_failure"

    def __init__(
        self,
        detail: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            f"upstream {status} code={code} request_id={request_id}: {detail}", detail=detail
        )
        self.detail = detail
        self.status = status
        self.code = code
        self.request_id = request_id


class UpstreamAuthError(UpstreamError):
    key = "error.upstream_auth"


class UpstreamInsufficientBalance(UpstreamError):
    key = "error.upstream_balance"


class UpstreamRateLimited(UpstreamError):
    key = "error.upstream_rate_limited"


class ModelUnavailable(UpstreamError):
    key = "error.model_unavailable"


class ContentBlocked(UpstreamError):
    key = "error.content_blocked"


class AnswerFiltered(ContentBlocked):
    """The answer ended with ``finish_reason: content_filter``: what came is shown, with why."""

    key = "gpt.filtered"


class AnswerNotShown(AtelierError):
    """Discord would not take the answer's last writes (its channel was deleted, the bot lost
    access): what was shown is charged, and the member is told if Discord still lets us."""

    key = "gpt.not_shown"


class UpstreamFailure(UpstreamError):
    key = "error.upstream_failure"


class ReasoningOnly(UpstreamFailure):
    """The model reasoned and then ended without a word of answer."""

    key = "reasoning.only"


class ReasoningGone(AtelierError):
    """A "Show reasoning" button whose reasoning is not (or no longer) stored."""

    key = "reasoning.gone"


class RouteNotServed(UpstreamError):
    """The gateway answered a call with its web page: it has no such route (new-api and one-api
    send the console page, ``200 text/html``, for a path they do not serve)."""

    key = "capability.route_not_served"


class UpstreamTimeout(UpstreamFailure):
    key = "error.upstream_timeout"


class UnknownModel(AtelierError):
    key = "gpt.unknown_model"


class EmptyPrompt(AtelierError):
    """Only spaces or invisible characters: nothing to ask, nothing to charge for."""

    key = "error.empty_prompt"


class UnsupportedAttachment(AtelierError):
    key = "gpt.unsupported_file"


class AttachmentTooLarge(AtelierError):
    key = "gpt.file_too_large"


class UnreadableText(AtelierError):
    """A text file that is not UTF-8 (a legacy code page, or binary named .txt)."""

    key = "gpt.unreadable_text"


class SubmitRejected(UpstreamError):
    """The upstream refused to start a task (validation or system failure); nothing is charged."""

    key = "jobs.submit_rejected"


class SubmitFailed(SubmitRejected):
    """The upstream failed to start a task (Midjourney code 9, a system failure): not the
    member's fault, worth trying again; nothing is charged."""

    key = "jobs.submit_failed"


class JobNotFound(AtelierError):
    """A button or modal names a job that is gone, of another guild, or never existed."""

    key = "jobs.not_found"


class JobNotAwaiting(AtelierError):
    """Input was given to a job that no longer waits for it (answered already, or finished)."""

    key = "jobs.not_awaiting"


class QueueFull(UpstreamError):
    key = "jobs.queue_full"


class BannedPrompt(UpstreamError):
    """Midjourney code 24. ``params['word']`` is the banned word when the upstream names it."""

    key = "jobs.banned_prompt"

    def __init__(self, detail: str = "", *, word: str = "", **kwargs: object) -> None:
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]
        self.word = word
        self.params["word"] = word or "?"


class MediaTooLarge(UpstreamFailure):
    """A result file is larger than we may upload; it is posted as a link instead."""

    key = "jobs.too_large"


class DailyCapReached(AtelierError):
    key = "credit.cap_reached"


class OnCooldown(AtelierError):
    key = "credit.on_cooldown"


class TooManyRequests(AtelierError):
    """The member's built-in request rate (``[limits]``) is used up; ``seconds`` until retry."""

    key = "error.too_many_requests"


class TooManyRunning(AtelierError):
    """The member already has ``running`` paid answers or jobs going, the most allowed."""

    key = "error.too_many_running"


class PromptFlagged(AtelierError):
    """The guild turned moderation on and the upstream flagged the prompt; nothing is charged."""

    key = "credit.flagged"


class NotOperator(AtelierError):
    key = "credit.not_operator"


# ---- amounts and guild ids outside their ranges (bot/amounts.py) ------------------------------


class AmountOutOfRange(AtelierError):
    """An amount (a grant, a balance, a cap, a threshold…) outside its documented range."""

    key = "amounts.out_of_range"


class BalanceLimitReached(AtelierError):
    """A grant would take the balance past the largest one a guild may hold."""

    key = "amounts.balance_limit"


class NotAGuildId(AtelierError):
    """Not a Discord server id: a positive snowflake."""

    key = "credit.not_a_guild_id"


class NotOffered(AtelierError):
    """The gateway this server uses does not serve this family (capability discovery or a pin).

    The message names what is missing: one catalog key per family, ``capability.<family>``."""

    def __init__(self, family: str) -> None:
        super().__init__(f"the gateway does not serve {family}")
        self.key = f"capability.{family}"
        self.family = family


# ---- voice out: Read aloud and /speak (bot/speech.py) -------------------------------------


class NotOggOpus(ValueError):
    """The speech route's answer is not an Ogg Opus file: it goes out as an ordinary file."""


class SpeechTooLong(AtelierError):
    """More text than ``audio.max_speech_chars``; nothing is held."""

    key = "speech.too_long"


class UnknownVoice(AtelierError):
    """A voice that is not one of ``audio.voices``."""

    key = "speech.unknown_voice"


class SpeechModelMissing(AtelierError):
    """The gateway's model list does not have ``audio.speech_model``."""

    key = "speech.no_model"


class ReadAloudGone(AtelierError):
    """A Read aloud button whose answer text is not (or no longer) stored."""

    key = "speech.gone"


class SeedUnavailable(UpstreamError):
    """The proxy has no seed for this image: not a finished Midjourney image (a face swap has
    none), or its lookup in Midjourney's messages failed. Nothing is charged for asking."""

    key = "mj_seed.unavailable"


class SwapImageTooLarge(AtelierError):
    """A /swapface attachment larger than the proxy takes; refused before anything is held."""

    key = "mj_swap.too_large"


# ---- voice in: transcription (bot/voice_in.py) -------------------------------------------------


class TranscribeModelMissing(AtelierError):
    """The gateway lists its models and the configured transcription model is not among them."""

    key = "voice.model_missing"


class AudioTooLong(AtelierError):
    key = "voice.too_long"


class AudioUnmeasurable(AtelierError):
    """An audio file whose length cannot be read from it, so it cannot be priced."""

    key = "voice.unmeasurable"


class EmptyTranscript(AtelierError):
    """The transcription heard nothing (silence, noise): refunded, nothing to answer."""

    key = "voice.empty"
