"""The message catalogs and the Translator: same keys everywhere, Traditional for zh-TW."""

from __future__ import annotations

import string

import discord
import pytest
from discord import app_commands

from bot.i18n import DEFAULT_LOCALE, LOCALES, Catalog, CatalogTranslator, cmd, normalize_locale

# Every character of the zh-CN catalog that Traditional Chinese writes differently (found with
# OpenCC's s2t on zh-CN.toml, less 游 which 上游 keeps): none belongs in zh-TW.
SIMPLIFIED_ONLY = (
    "与两个为么义乐仅从们价会传余关内写冻几击创删务动区单却参发变号后听启员响图场声处复实审对将"
    "属带帧应开张强当录户执抢拥拦择换据数断无时显暂机权条来标样检横没测满滤点状现画码确积称竖"
    "简类纯组细经结绘给绝统继绪续编缩联营见视计认记设词试话询该详说请读调败账费输边达过运还这进"
    "违选里钟钥钮链键长闭问间阈队页项须频题额风"
)
# Words a Taiwanese reader would see as mainland usage, and what zh-TW says instead.
MAINLAND_WORDS = {
    "服務器": "伺服器",
    "視頻": "影片",
    "默認": "預設",
    "設置": "設定",
    "信息": "訊息",
    "賬": "帳",
    "文件": "檔案",
    "程序": "程式",
    "網絡": "網路",
    "自定義": "自訂",
    "許可權": "權限",
    "運營": "營運",
    "充值": "儲值",
    "子區": "討論串",
    "身份組": "身分組",
}


def placeholders(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.mark.parametrize("locale", [code for code in LOCALES if code != DEFAULT_LOCALE])
def test_each_catalog_has_exactly_the_keys_and_placeholders_of_en_us(
    catalog: Catalog, locale: str
) -> None:
    en, other = catalog.messages[DEFAULT_LOCALE], catalog.messages[locale]
    assert set(other) == set(en)
    for key, text in en.items():
        assert placeholders(other[key]) == placeholders(text), (locale, key)
        assert other[key].strip(), (locale, key)


def test_zh_tw_is_traditional_chinese_in_taiwan_words(catalog: Catalog) -> None:
    for key, text in catalog.messages["zh-TW"].items():
        assert not set(text) & set(SIMPLIFIED_ONLY), (key, text)
        for mainland, taiwan in MAINLAND_WORDS.items():
            assert mainland not in text, f"{key}: {mainland} (write {taiwan})"
    # Not a copy of zh-CN that happens to pass: the shared texts read differently.
    zh_cn, zh_tw = catalog.messages["zh-CN"], catalog.messages["zh-TW"]
    assert zh_tw["credit.balance"] == "本伺服器目前有 **{balance}** 點。"
    assert sum(zh_tw[k] != zh_cn[k] for k in zh_cn) > len(zh_cn) * 0.8


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (discord.Locale.taiwan_chinese, "zh-TW"),
        ("zh-TW", "zh-TW"),
        (discord.Locale.chinese, "zh-CN"),
        ("zh-CN", "zh-CN"),
        (discord.Locale.american_english, "en-US"),
        (discord.Locale.french, "en-US"),
        (None, "en-US"),
    ],
)
def test_locales_map_onto_the_catalogs(given: discord.Locale | str | None, expected: str) -> None:
    assert normalize_locale(given) == expected


def test_a_missing_key_falls_back_zh_tw_then_zh_cn_then_en_us() -> None:
    catalog = Catalog(
        {
            "en-US": {"a": "A {n}", "b": "B", "c": "C"},
            "zh-CN": {"a": "甲 {n}", "b": "乙"},
            "zh-TW": {"a": "甲 {n} 台"},
        }
    )
    assert catalog.t("zh-TW", "a", n=1) == "甲 1 台"
    assert catalog.t("zh-TW", "b") == "乙"  # Simplified before English
    assert catalog.t("zh-TW", "c") == "C"
    assert catalog.t("zh-CN", "a", n=2) == "甲 2"
    assert catalog.get("zh-TW", "missing") is None
    with pytest.raises(KeyError):
        catalog.t("en-US", "missing")


async def test_the_translator_gives_each_chinese_locale_its_own_catalog(catalog: Catalog) -> None:
    translator = CatalogTranslator(catalog)
    name = cmd("credit", "credit.name")
    context = app_commands.TranslationContext(
        app_commands.TranslationContextLocation.command_name, None
    )

    async def translate(locale: discord.Locale) -> str | None:
        return await translator.translate(name, locale, context)

    assert await translate(discord.Locale.taiwan_chinese) == "點數"
    assert await translate(discord.Locale.chinese) == "积分"
    assert await translate(discord.Locale.american_english) is None
    assert await translate(discord.Locale.japanese) is None
    keyless = app_commands.locale_str("plain")
    assert await translator.translate(keyless, discord.Locale.taiwan_chinese, context) is None
