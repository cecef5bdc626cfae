"""End-to-end: a real discord.py bot logs in to the sandbox Discord and answers members."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from bot.sandbox.discord import DiscordSandbox, Guild
from tests.helpers import wait_until

LOADING, EPHEMERAL = 1 << 7, 1 << 6
MODELS = ["gpt-4o", "gpt-4o-mini", "o3"]


class PressView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Press", custom_id="ping:press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_message(f"pressed by {interaction.user.name}")


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text = discord.ui.TextInput(label="Text", custom_id="feedback:text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}")


class CounterView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)
        self.count = 0

    @discord.ui.button(label="+1", custom_id="counter:add")
    async def add(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.count += 1
        await interaction.response.edit_message(content=f"count {self.count}")

    @discord.ui.select(
        custom_id="counter:pick",
        options=[discord.SelectOption(label="a"), discord.SelectOption(label="b")],
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"picked {select.values[0]}", ephemeral=True)


def make_bot(guild_id: int, *, sharded: bool = False) -> commands.Bot:
    intents = discord.Intents.default()
    intents.message_content = True
    cls = commands.AutoShardedBot if sharded else commands.Bot
    bot = cls(command_prefix="!", intents=intents, guild_ready_timeout=0.1)
    if sharded:

        async def no_identify_delay(shard_id: int | None, *, initial: bool = False) -> None:
            return None  # discord.py sleeps 5 s between shards' IDENTIFYs otherwise

        bot.before_identify_hook = no_identify_delay  # type: ignore[method-assign]
    tree = bot.tree

    @tree.command(name="ping", description="Ping the bot")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="pong")
        await interaction.followup.send("followup")
        assert isinstance(interaction.channel, discord.abc.Messageable)
        file = discord.File(io.BytesIO(b"hello"), filename="hello.txt")
        await interaction.channel.send("with file", file=file, view=PressView())

    @tree.command(name="secret", description="An ephemeral reply")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("only you", ephemeral=True)

    @tree.command(name="counter", description="A message with a button and a file")
    async def counter(interaction: discord.Interaction) -> None:
        file = discord.File(io.BytesIO(b"report"), filename="report.txt")
        await interaction.response.send_message("count 0", view=CounterView(), file=file)

    @tree.command(name="feedback", description="Open a modal")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal())

    @tree.command(name="gpt", description="Chat")
    async def gpt(interaction: discord.Interaction, model: str) -> None:
        await interaction.response.send_message(f"model {model}")

    @gpt.autocomplete("model")
    async def model_choices(interaction: discord.Interaction, current: str) -> list:
        return [app_commands.Choice(name=m, value=m) for m in MODELS if current in m]

    @tree.command(name="upload", description="Read an attachment")
    async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
        data = await file.read()
        await interaction.response.send_message(f"{file.filename} {len(data)} {data.decode()}")

    @tree.command(name="burst", description="Three channel messages")
    async def burst(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        assert isinstance(interaction.channel, discord.abc.Messageable)
        for i in range(3):
            await interaction.channel.send(f"burst {i}")
        await interaction.edit_original_response(content="done")

    @tree.command(name="discuss", description="Start a thread")
    async def discuss(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("root")
        root = await interaction.original_response()
        thread = await root.create_thread(name="talk")
        await thread.send("inside")

    credit = app_commands.Group(name="credit", description="Credit")

    @credit.command(name="balance", description="Show balance")
    async def balance(interaction: discord.Interaction, amount: int, public: bool = False) -> None:
        await interaction.response.send_message(
            f"balance {amount!r} {public!r}", ephemeral=not public
        )

    admin = app_commands.Group(name="admin", description="Admin")
    admin_credit = app_commands.Group(name="credit", description="Credit admin", parent=admin)

    @admin_credit.command(name="grant", description="Grant credit")
    async def grant(interaction: discord.Interaction, member: discord.Member, amount: int) -> None:
        await interaction.response.send_message(f"granted {amount} to {member.name}")

    tree.add_command(credit)
    tree.add_command(admin)

    @app_commands.command(name="local", description="Guild only")
    async def local(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"local in {interaction.guild_id}")

    tree.add_command(local, guild=discord.Object(guild_id))

    @bot.listen("on_message")
    async def hello(message: discord.Message) -> None:
        if message.author.id != bot.user.id and message.content == "hello sandbox":  # type: ignore[union-attr]
            await message.channel.send(f"hi {message.author.name}")

    async def setup_hook() -> None:
        await tree.sync()
        await tree.sync(guild=discord.Object(guild_id))

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    return bot


@dataclass
class Env:
    sb: DiscordSandbox
    bot: commands.Bot
    guild: Guild
    alice: int

    @property
    def channel(self) -> int:
        return self.guild.default_channel_id


async def start(bot: commands.Bot, token: str) -> asyncio.Task[None]:
    task = asyncio.create_task(bot.start(token))
    for _ in range(500):
        if bot.is_ready():
            return task
        if task.done():
            task.result()  # surface the exception that stopped the bot
        await asyncio.sleep(0.01)
    raise TimeoutError("bot did not become ready")


async def stop(bot: commands.Bot, task: asyncio.Task[None]) -> None:
    await bot.close()
    await asyncio.wait_for(task, 5)


@pytest.fixture
async def sb(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordSandbox]:
    async with DiscordSandbox() as sandbox:
        monkeypatch.setattr(discord.http.Route, "BASE", sandbox.api_base)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(sandbox.gateway_url)
        )
        yield sandbox


@pytest.fixture
async def env(sb: DiscordSandbox) -> AsyncIterator[Env]:
    guild = sb.add_guild(name="Sandbox")
    alice = sb.add_member(guild.id, "alice", locale="zh-CN")
    bot = make_bot(guild.id)
    task = await start(bot, sb.token)
    yield Env(sb, bot, guild, alice)
    await stop(bot, task)
    assert sb.unknown_routes() == []


async def test_login_and_sync(env: Env) -> None:
    sb = env.sb
    names = {c["name"] for c in sb.synced_commands()}
    assert {"ping", "credit", "admin", "gpt"} <= names
    assert [c["name"] for c in sb.synced_commands(env.guild.id)] == ["local"]
    assert all(r["auth"] == f"Bot {sb.token}" for r in sb.records if "webhook" not in r["route"])
    guild = env.bot.get_guild(env.guild.id)
    # Without the members intent discord.py caches only itself, but the count is honest.
    assert guild is not None and guild.member_count == 3
    assert guild.me is not None and guild.default_role.id == guild.id


async def test_ping_defers_edits_follows_up_and_sends_file(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "ping")
    assert await ih.wait_response() == 5
    sent = await sb.wait_for_message(lambda m: m.content == "with file")
    original, followup = sb.interaction_messages(ih)
    assert (original.content, original.type, original.flags) == ("pong", 20, 0)
    assert [h[1] for h in original.history] == ["", "pong"]  # loading, then the edit
    assert followup.content == "followup" and not followup.ephemeral
    assert sent.attachments[0].data == b"hello"
    assert [m.content for m in sb.messages(env.channel)] == ["pong", "followup", "with file"]
    async with aiohttp.ClientSession() as http:
        # Discord's CDN links are signed (?ex=&is=&hm=) and expire; an unsigned one is gone.
        [attached] = sent.attachments
        async with http.get(sb.attachment_link(attached)) as resp:
            assert await resp.read() == b"hello"
        tampered = sb.attachment_link(attached).replace("&hm=", "&hm=0")
        for url in (attached.url, tampered):
            async with http.get(url) as resp:
                assert resp.status == 404
                assert await resp.text() == "This content is no longer available."
        sb.set_attachment_link_lifetime(-1)  # links handed out from now on are already expired
        async with http.get(sb.attachment_link(attached)) as resp:
            assert resp.status == 404
    # The button of the View sent with the file answers.
    click = await sb.click(sent.id, "ping:press", env.alice)
    assert await click.wait_response() == 4
    assert sb.interaction_messages(click)[0].content == "pressed by alice"
    with pytest.raises(LookupError):
        await sb.click(sent.id, "no-such-button", env.alice)


async def test_ephemeral_reply_stays_private(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "secret")
    await ih.wait_response()
    (reply,) = sb.interaction_messages(ih)
    assert reply.ephemeral and reply.flags & EPHEMERAL and reply.ephemeral_to == env.alice
    created = [f for f in sb.gateway_log if f["event"] == "MESSAGE_CREATE"]
    assert all(f["d"]["id"] != str(reply.id) for f in created)
    channel = env.bot.get_channel(env.channel)
    assert isinstance(channel, discord.TextChannel)
    assert reply.id not in [m.id async for m in channel.history(limit=10)]


async def test_subcommands_are_typed_from_the_synced_definition(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "credit balance", {"amount": 7})
    await ih.wait_response()
    assert sb.interaction_messages(ih)[0].content == "balance 7 False"
    assert ih.payload["locale"] == "zh-CN"  # the member's client locale
    bob = sb.add_member(env.guild.id, "bob")
    ih = await sb.slash(
        env.guild.id, env.channel, env.alice, "admin credit grant", {"member": bob, "amount": 3}
    )
    await ih.wait_response()
    assert sb.interaction_messages(ih)[0].content == "granted 3 to bob"
    with pytest.raises(ValueError):
        await sb.slash(env.guild.id, env.channel, env.alice, "credit balance", {"amount": "x"})
    with pytest.raises(LookupError):
        await sb.slash(env.guild.id, env.channel, env.alice, "never-synced")


async def test_guild_command_carries_guild_id_and_stays_in_its_guild(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "local")
    assert ih.payload["data"]["guild_id"] == str(env.guild.id)
    await ih.wait_response()
    assert sb.interaction_messages(ih)[0].content == f"local in {env.guild.id}"
    global_ih = await sb.slash(env.guild.id, None, env.alice, "secret")
    assert "guild_id" not in global_ih.payload["data"]
    await global_ih.wait_response()
    other = sb.add_guild(name="Other")
    with pytest.raises(LookupError):
        await sb.slash(other.id, other.default_channel_id, other.owner_id, "local")


async def test_dm_slash_has_user_not_member(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(None, None, env.alice, "secret")
    assert "member" not in ih.payload and ih.payload["user"]["id"] == str(env.alice)
    await ih.wait_response()
    assert sb.interaction_messages(ih)[0].content == "only you"


async def test_view_on_an_interaction_response(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "counter")
    await ih.wait_response()
    (message,) = sb.interaction_messages(ih)
    assert message.attachments[0].data == b"report"  # a multipart callback
    for expected in ("count 1", "count 2"):
        click = await sb.click(message.id, "counter:add", env.alice)
        assert await click.wait_response() == 7  # UPDATE_MESSAGE edits the message in place
        assert sb.message(message.id).content == expected
    pick = await sb.click(message.id, "counter:pick", env.alice, values=["b"])
    await pick.wait_response()
    assert sb.interaction_messages(pick)[0].content == "picked b"
    with pytest.raises(ValueError):
        await sb.click(message.id, "counter:pick", env.alice, values=["zzz"])


async def test_modal_submit(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "feedback")
    assert await ih.wait_response() == 9 and ih.modal is not None
    submit = await sb.submit_modal(
        env.guild.id, env.channel, env.alice, ih.modal["custom_id"], {"feedback:text": "nice"}
    )
    await submit.wait_response()
    assert sb.interaction_messages(submit)[0].content == "thanks: nice"


async def test_autocomplete_answers_choices(env: Env) -> None:
    sb = env.sb
    ih = await sb.autocomplete(
        env.guild.id, env.channel, env.alice, "gpt", options={"model": "4o"}, focused="model"
    )
    assert await ih.wait_response() == 8
    assert [c["value"] for c in ih.choices or []] == ["gpt-4o", "gpt-4o-mini"]


async def test_attachment_option_is_served_by_the_sandbox(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(
        env.guild.id,
        env.channel,
        env.alice,
        "upload",
        attachments=[("a.txt", b"abc", "text/plain")],
    )
    await ih.wait_response()
    assert sb.interaction_messages(ih)[0].content == "a.txt 3 abc"


async def test_on_message_listener_replies(env: Env) -> None:
    await env.sb.post_user_message(env.channel, env.alice, "hello sandbox")
    reply = await env.sb.wait_for_message(lambda m: m.content == "hi alice")
    assert reply.author_id == env.sb.bot_user_id


async def test_thread_from_a_response(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "discuss")
    inside = await sb.wait_for_message(lambda m: m.content == "inside")
    root = sb.interaction_messages(ih)[0]
    assert inside.channel_id == root.id == root.thread_id
    assert [m.content for m in sb.messages(env.channel, include_threads=True)] == ["root", "inside"]
    assert env.bot.get_channel(root.id) is not None  # THREAD_CREATE reached the cache


async def test_injected_429_on_original_is_retried(env: Env) -> None:
    sb = env.sb
    fault = sb.inject("PATCH", r"/messages/@original$", status=429, retry_after=0.2)
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "ping")
    await sb.wait_for_message(lambda m: m.content == "with file")
    assert sb.interaction_messages(ih)[0].content == "pong"
    patches = [r for r in sb.records if r["method"] == "PATCH"]
    assert [r["status"] for r in patches] == [429, 200]
    assert patches[1]["t"] - patches[0]["t"] >= 0.2
    assert fault.fired == 1 and sb.count_429(injected=True) == 1 and sb.count_429() == 1


async def test_discordpy_waits_out_an_honest_bucket(env: Env) -> None:
    sb = env.sb
    sb.set_bucket_limit(2, 0.3)
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "burst")
    await sb.wait_for_message(lambda m: m.content == "done")
    posts = [r for r in sb.records if r["route"] == "/channels/{channel_id}/messages"]
    assert [r["status"] for r in posts] == [200, 200, 200]
    # Remaining hit 0 on the second post, so discord.py slept until the window reset.
    assert posts[2]["t"] - posts[0]["t"] >= 0.29
    assert sb.count_429() == 0 and ih.response_type == 5


async def test_second_ack_and_late_ack_are_refused(env: Env) -> None:
    sb = env.sb
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "secret")
    await ih.wait_response()
    url = f"{sb.api_base}/interactions/{ih.id}/{ih.token}/callback"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"type": 4, "data": {"content": "again"}}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 40060
    sb.settings.interaction_ack_deadline = 0.0
    late = await sb.slash(env.guild.id, env.channel, env.alice, "secret")
    await sb.wait_for(lambda r: r["route"].endswith("/callback") and r["status"] == 404)
    assert late.expired and not late.responded


async def test_gateway_drop_resumes_and_replays(env: Env) -> None:
    sb = env.sb
    assert sb.drop_gateway() == 1
    # Dispatched while the socket is down: delivered on RESUME from the replay buffer.
    ih = await sb.slash(env.guild.id, env.channel, env.alice, "secret")
    await sb.wait_for_gateway(lambda f: f["dir"] == "in" and f["op"] == 6)
    await ih.wait_response()
    again = await sb.slash(env.guild.id, env.channel, env.alice, "credit balance", {"amount": 1})
    await again.wait_response()
    assert sum(1 for f in sb.gateway_log if f["dir"] == "in" and f["op"] == 2) == 1
    assert any(f["event"] == "RESUMED" for f in sb.gateway_log)


async def test_two_shards_get_their_own_guilds(sb: DiscordSandbox) -> None:
    sb.shard_count = 2
    first, second = sb.add_guild(name="A"), sb.add_guild(name="B")
    assert {sb.shard_of(first.id, 2), sb.shard_of(second.id, 2)} == {0, 1}
    bot = make_bot(first.id, sharded=True)
    task = await start(bot, sb.token)
    try:
        assert sorted(bot.shards) == [0, 1]
        for guild in (first, second):
            cached = bot.get_guild(guild.id)
            assert cached is not None and cached.shard_id == sb.shard_of(guild.id, 2)
            creates = [f for f in sb.gateway_log if f["event"] == "GUILD_CREATE"]
            shards = {tuple(f["shard"]) for f in creates if f["d"]["id"] == str(guild.id)}
            assert shards == {(sb.shard_of(guild.id, 2), 2)}
        ih = await sb.slash(second.id, None, second.owner_id, "secret")
        await ih.wait_response()
        late = sb.add_guild(name="C")  # added after READY: announced to its shard
        await sb.wait_for_gateway(
            lambda f: f["event"] == "GUILD_CREATE" and f["d"]["id"] == str(late.id)
        )
        await wait_until(lambda: bot.get_guild(late.id) is not None)
    finally:
        await stop(bot, task)
    assert sb.unknown_routes() == []
