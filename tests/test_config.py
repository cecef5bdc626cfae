"""Config validation: every problem names its key; the CLI exits 2 without a traceback."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.config import load_config, parse_config
from bot.errors import ConfigError
from bot.pricing import DEFAULT_ACTION_PRICES, PricingConfig

ROOT = Path(__file__).resolve().parent.parent


def problems(data: dict, env: dict | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env or {})
    return dict(caught.value.problems)


def test_missing_secrets_name_the_key_and_the_env_var() -> None:
    found = problems({})
    assert found["discord.token"] == ("missing; set it in config.toml or ATELIER_DISCORD_TOKEN")
    assert found["upstream.api_key"] == "missing; set it in config.toml or ATELIER_API_KEY"


def test_bad_url_and_unknown_key() -> None:
    found = problems(
        {
            "discord": {"token": "t", "api_base": "discord.com/api", "colour": "red"},
            "upstream": {"api_key": "k", "base_url": "ftp://x"},
        }
    )
    assert found["discord.api_base"].startswith("must be a URL starting with http://")
    assert found["discord.colour"] == "unknown key"
    assert "upstream.base_url" in found


def test_wrong_types_and_negative_prices() -> None:
    found = problems(
        {
            "discord": {"token": "t", "owner_ids": "me"},
            "upstream": {"api_key": "k", "read_timeout": -1},
            "credit": {"starting_balance": "lots"},
            "pricing": {"actions": {"mj_imagine": -5}},
        }
    )
    assert {"discord.owner_ids", "upstream.read_timeout", "credit.starting_balance"} <= set(found)
    # The price's own key, with its range.
    assert found["pricing.actions.mj_imagine"] == "must be between 0 and 1,000,000,000 (got -5)"


def test_a_price_that_would_be_ignored_is_refused() -> None:
    found = problems(
        {
            "discord": {"token": "t"},
            "upstream": {"api_key": "k"},
            "image": {"models": [{"name": "mj", "adapter": "midjourney", "price": 5}]},
        }
    )
    assert list(found) == ["image.models.0"]
    assert "[pricing.actions]" in found["image.models.0"]


def test_shard_ids_must_be_shards_of_shard_count() -> None:
    def shards(**discord: object) -> dict[str, str]:
        return problems({"discord": {"token": "t", **discord}, "upstream": {"api_key": "k"}})

    found = shards(shard_count=2, shard_ids=[0, 2])
    assert found == {
        "discord.shard_ids": "each must be at least 0 and below shard_count (2) (got [0, 2])"
    }
    assert "below shard_count (1)" in shards(shard_ids=[1])["discord.shard_ids"]
    assert "discord.shard_ids" in shards(shard_count=4, shard_ids=[-1])
    assert "listed once" in shards(shard_count=4, shard_ids=[3, 3])["discord.shard_ids"]
    assert set(shards(shard_count=0, shard_ids=[0])) == {"discord.shard_count"}
    config = parse_config({"discord": {"token": "t", "shard_count": 4, "shard_ids": [1, 3]},
                           "upstream": {"api_key": "k"}}, {})  # fmt: skip
    assert config.discord.shard_ids == [1, 3]


def test_environment_supplies_secrets_and_they_stay_secret() -> None:
    env = {"ATELIER_DISCORD_TOKEN": "tok-123", "ATELIER_API_KEY": "sk-secret"}
    config = parse_config({}, env)
    assert config.discord.token.get_secret_value() == "tok-123"
    assert "sk-secret" not in repr(config) and "tok-123" not in str(config)


def test_example_config_is_valid_and_documents_the_defaults() -> None:
    data = tomllib.loads((ROOT / "config.example.toml").read_text())
    config = parse_config(data, {"ATELIER_DISCORD_TOKEN": "t", "ATELIER_API_KEY": "k"})
    assert config.pricing == PricingConfig()
    assert data["pricing"]["actions"] == DEFAULT_ACTION_PRICES


def test_omitted_pricing_still_charges() -> None:
    pricing = PricingConfig()
    assert all(price > 0 for price in pricing.actions.values())
    assert pricing.chat_price("gpt-4-gizmo-g-abc").cost(1000, 1000) == 10
    assert pricing.chat_price("some-new-model").cost(0, 0) > 0
    custom = PricingConfig.model_validate({"chat": [{"pattern": "gpt-4o", "per_1k_output": 5}]})
    assert custom.chat_price("unlisted").per_call > 0


def test_explicit_missing_file_is_a_named_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml", {})
    assert caught.value.problems == [(str(tmp_path / "nope.toml"), "file not found")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "discord.token: missing; set it in config.toml or ATELIER_DISCORD_TOKEN"),
        ('[discord]\ntoken="t"\napi_base="nope"\n[upstream]\napi_key="k"\n', "discord.api_base"),
        ('[discord]\ntoken="t"\nwat=1\n[upstream]\napi_key="k"\n', "discord.wat: unknown key"),
        ("[discord\n", "invalid TOML"),
    ],
)
def test_cli_prints_named_problem_and_exits_2(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(body)
    env = {"PATH": "", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "run" in result.stdout and "demo" in result.stdout


def _keys(model: type, prefix: str = "") -> set[str]:
    from pydantic import BaseModel

    keys: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_every_setting_is_documented_in_the_example() -> None:
    from bot.config import Config

    data = tomllib.loads((ROOT / "config.example.toml").read_text())

    def present(path: str) -> bool:
        node: object = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    missing = sorted(key for key in _keys(Config) if not present(key))
    assert missing == []


def test_blank_secrets_are_missing_and_misspelt_keys_get_a_suggestion() -> None:
    found = problems(
        {
            "discord": {"token": " \t", "sync_guild_id": []},
            "upstream": {"api_key": ""},
            "chat": {"models": [{"name": "m", "strem": False}]},
            "loging": {},
        }
    )
    assert found["discord.token"].startswith("missing; set it in config.toml or ATELIER_")
    assert found["upstream.api_key"].startswith("missing")
    assert found["discord.sync_guild_id"] == "unknown key; did you mean 'sync_guild_ids'?"
    assert found["chat.models.0.strem"] == "unknown key; did you mean 'stream'?"
    assert found["loging"] == "unknown key; did you mean 'logging'?"
    # A blank value in the environment does not hide the file's.
    env = {"ATELIER_DISCORD_TOKEN": "  ", "ATELIER_API_KEY": "sk-x"}
    assert "discord.token" in problems({}, env)
    kept = parse_config({"discord": {"token": "from-file"}}, env)
    assert kept.discord.token.get_secret_value() == "from-file"


def test_a_relative_sqlite_path_is_the_config_folders(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    config = folder / "atelier.toml"
    config.write_text('[discord]\ntoken = "t"\n[upstream]\napi_key = "k"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(config).database.url == f"sqlite+aiosqlite:///{folder / 'atelier.db'}"
    config.write_text(config.read_text() + '[database]\nurl = "sqlite+aiosqlite:///d/x.db"\n')
    assert load_config(config).database.url == f"sqlite+aiosqlite:///{folder / 'd' / 'x.db'}"
    # No config file: the working directory; absolute paths and PostgreSQL are kept as given.
    bare = parse_config({"discord": {"token": "t"}, "upstream": {"api_key": "k"}}, {})
    assert bare.database.url == f"sqlite+aiosqlite:///{tmp_path / 'atelier.db'}"
    for url in ("sqlite+aiosqlite:////srv/a.db", "postgresql+asyncpg://u:p@h/db"):
        data = {"discord": {"token": "t"}, "upstream": {"api_key": "k"}, "database": {"url": url}}
        assert parse_config(data, {}, base_dir=folder).database.url == url


def test_audio_settings_are_checked_and_name_their_key() -> None:
    secrets = {"discord": {"token": "t"}, "upstream": {"api_key": "k"}}
    config = parse_config({}, env={}, overrides=secrets)
    audio = config.audio
    assert (audio.transcribe_model, audio.max_transcribe_seconds) == ("whisper-1", 600)
    bad = {"transcribe_language": "english", "max_transcribe_seconds": 0,
           "transcribe_price_per_minute": -1}  # fmt: skip
    with pytest.raises(ConfigError) as error:
        parse_config({}, env={}, overrides={**secrets, "audio": bad})
    assert {key for key, _ in error.value.problems} == {
        "audio.transcribe_language", "audio.max_transcribe_seconds",
        "audio.transcribe_price_per_minute",
    }  # fmt: skip
