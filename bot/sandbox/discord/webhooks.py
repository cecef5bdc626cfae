"""The bot's side of an interaction: the callback, @original, and followup webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from .component_rules import autocomplete_errors, modal_errors
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionHandle,
    InteractionRegistry,
    OpenModal,
)
from .messages import Messages
from .payloads import Payloads
from .request_body import BODY_KEY, Body
from .responses import DiscordError, form_error, invalid_form, json_response, no_content
from .settings import Settings
from .state import Message, Store
from .validation import FLAG_EPHEMERAL, FLAG_LOADING

# Interaction callback types.
MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9
# Which callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: Mapping[int, frozenset[int]] = MappingProxyType(
    {
        APPLICATION_COMMAND: frozenset({MESSAGE, DEFERRED_MESSAGE, MODAL}),
        MESSAGE_COMPONENT: frozenset({MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL}),
        AUTOCOMPLETE: frozenset({AUTOCOMPLETE_RESULT}),
        MODAL_SUBMIT: frozenset({MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE}),
    }
)
CHAT_INPUT_COMMAND_MESSAGE = 20


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


class InteractionRoutes:
    def __init__(
        self,
        store: Store,
        payloads: Payloads,
        messages: Messages,
        registry: InteractionRegistry,
        settings: Settings,
    ) -> None:
        self.store = store
        self.payloads = payloads
        self.messages = messages
        self.registry = registry
        self.settings = settings

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        hook = prefix + "/webhooks/{webhook_id:\\d+}/{webhook_token}"
        router.add_post(
            prefix + "/interactions/{interaction_id:\\d+}/{interaction_token}/callback",
            self.callback,
        )
        router.add_post(hook, self.followup)
        for suffix in ("/messages/@original", "/messages/{message_id:\\d+}"):
            router.add_get(hook + suffix, self.get_message)
            router.add_patch(hook + suffix, self.edit_message)
            router.add_delete(hook + suffix, self.delete_message)

    # -- callback --------------------------------------------------------------------------
    async def callback(self, request: web.Request) -> web.Response:
        handle = self.registry.by_id.get(int(request.match_info["interaction_id"]))
        now = self.store.clock.now()
        if (
            handle is None
            or handle.token != request.match_info["interaction_token"]
            or handle.expired
        ):
            raise DiscordError(404, 10062)
        if handle.response_type is not None:
            raise DiscordError(400, 40060)
        if now - handle.created_at > self.settings.interaction_ack_deadline:
            handle.expired = True  # Discord invalidates the token when the 3 s deadline passes
            raise DiscordError(404, 10062)
        body = request[BODY_KEY]
        data = body.object()
        ctype = data.get("type")
        inner = data.get("data") or {}
        allowed = ALLOWED_CALLBACKS.get(handle.type, set())
        if ctype in (DEFERRED_UPDATE, UPDATE) and handle.message_id is None:
            allowed = allowed - {DEFERRED_UPDATE, UPDATE}
        if ctype not in allowed:
            raise invalid_form(
                form_error(["type"], "INTERACTION_CALLBACK_TYPE_INVALID", "Invalid callback type")
            )
        message = self._apply(handle, ctype, inner, body)
        handle.mark_responded(ctype, now)
        if not _truthy(request.query.get("with_response")):
            return no_content()
        target = self.store.messages.get(handle.original_message_id or 0)
        info: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
        if target is not None:
            info.update(
                response_message_id=str(target.id),
                response_message_loading=bool(target.flags & FLAG_LOADING),
                response_message_ephemeral=target.ephemeral,
            )
        resource: dict[str, Any] = {"type": ctype}
        if message is not None and ctype in (MESSAGE, UPDATE):
            resource["message"] = self.payloads.message(message)
        return json_response({"interaction": info, "resource": resource})

    def _apply(
        self, handle: InteractionHandle, ctype: int, inner: dict[str, Any], body: Body
    ) -> Message | None:
        if ctype == MESSAGE:
            message = self._new_message(handle, Body(inner, body.uploads))
            handle.original_message_id = message.id
            return message
        if ctype == DEFERRED_MESSAGE:
            flags = int(inner.get("flags") or 0) & FLAG_EPHEMERAL
            message = self._new_message(handle, Body({"flags": flags}), loading=True)
            handle.original_message_id = message.id
            return message
        if ctype in (DEFERRED_UPDATE, UPDATE):
            handle.original_message_id = handle.message_id
            if ctype == DEFERRED_UPDATE:
                return None
            return self.messages.edit(
                self.store.message(handle.message_id or 0), Body(inner, body.uploads)
            )
        if ctype == AUTOCOMPLETE_RESULT:
            choices = inner.get("choices") or []
            if errors := autocomplete_errors(choices):
                raise invalid_form(errors)
            handle.choices = choices
            return None
        self._open_modal(handle, inner)
        return None

    def _open_modal(self, handle: InteractionHandle, modal: dict[str, Any]) -> None:
        if errors := modal_errors(modal):
            raise invalid_form(errors)
        custom_id = modal["custom_id"]
        handle.modal = modal
        self.registry.modals[(handle.user_id, custom_id)] = OpenModal(modal, handle.message_id)

    def _new_message(
        self, handle: InteractionHandle, body: Body, *, loading: bool = False
    ) -> Message:
        data = body.object()
        ephemeral = bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)
        user = self.store.user(handle.user_id)
        metadata = {
            "id": str(handle.id),
            "type": handle.type,
            "user": self.payloads.user(user),
            "authorizing_integration_owners": handle.payload.get(
                "authorizing_integration_owners", {}
            ),
        }
        if handle.message_id is not None:
            metadata["interacted_message_id"] = str(handle.message_id)
        if handle.original_message_id is not None:
            metadata["original_response_message_id"] = str(handle.original_message_id)
        kind = CHAT_INPUT_COMMAND_MESSAGE if handle.type == APPLICATION_COMMAND else 0
        channel = self.store.channels.get(int(handle.channel_id or 0))
        if channel is None:  # deleted since the interaction came
            raise DiscordError(404, 10003)
        return self.messages.create(
            channel,
            self.store.bot_user_id,
            body,
            type=kind,
            webhook_id=self.payloads.application_id,
            interaction_id=handle.id,
            interaction_metadata=metadata,
            ephemeral_to=handle.user_id if ephemeral else None,
            extra_flags=FLAG_LOADING if loading else 0,
            allow_empty=loading,
        )

    # -- webhooks (@original and followups) ------------------------------------------------
    def _handle(self, request: web.Request) -> InteractionHandle:
        if int(request.match_info["webhook_id"]) != self.payloads.application_id:
            raise DiscordError(404, 10015)
        handle = self.registry.by_token.get(request.match_info["webhook_token"])
        if handle is None or handle.response_type is None:
            # No webhook exists for an interaction until it has been acknowledged.
            raise DiscordError(404, 10015)
        if self.store.clock.now() - handle.created_at > self.settings.interaction_token_ttl:
            raise DiscordError(401, 50027)
        return handle

    def _target(self, request: web.Request, handle: InteractionHandle) -> Message:
        raw = request.match_info.get("message_id")
        mid = handle.original_message_id if raw is None else int(raw)
        message = self.store.messages.get(mid or 0)
        belongs = mid == handle.original_message_id or mid in handle.followup_ids
        if message is None or message.deleted or not belongs:
            raise DiscordError(404, 10008)
        return message

    async def followup(self, request: web.Request) -> web.Response:
        handle = self._handle(request)
        body = request[BODY_KEY]
        original = self.store.messages.get(handle.original_message_id or 0)
        if (
            handle.response_type == DEFERRED_MESSAGE
            and original is not None
            and not original.deleted
            and original.flags & FLAG_LOADING
        ):
            # Documented backwards compatibility: right after a deferred response, a followup
            # edits the loading message instead, keeping the defer's ephemeral state.
            message = self.messages.edit(original, body, clear_flags=FLAG_LOADING)
        else:
            message = self._new_message(handle, body)
            handle.followup_ids.append(message.id)
        return json_response(self.payloads.message(message))

    async def get_message(self, request: web.Request) -> web.Response:
        handle = self._handle(request)
        return json_response(self.payloads.message(self._target(request, handle)))

    async def edit_message(self, request: web.Request) -> web.Response:
        handle = self._handle(request)
        message = self._target(request, handle)
        self.messages.edit(message, request[BODY_KEY], clear_flags=FLAG_LOADING)
        return json_response(self.payloads.message(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        handle = self._handle(request)
        self.messages.delete(self._target(request, handle))
        return no_content()
