"""Structured-output negotiation over real HTTP: step down on refusals, probe once, remember."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from postgen.errors import ConfigError, UnsupportedFormat
from postgen.llm import ChatClient, ChatRequest
from postgen.llm.negotiate import (
    FormNegotiator,
    form_record,
    negotiation_key,
    parse_mode,
    stored_form,
)
from postgen.llm.types import Form
from tests.llm.hostile import Hostile, hostile_server

pytestmark = pytest.mark.timeout(30)

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
REQUEST = ChatRequest(
    model="m", messages=[{"role": "user", "content": "hi"}], json_schema=SCHEMA, schema_name="Ok"
)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    with hostile_server() as server:
        yield server


def _formats(hostile: Hostile) -> Counter[str]:
    return Counter(str((b.get("response_format") or {}).get("type")) for b in hostile.bodies)


async def test_llamacpp_style_refusal_steps_down_to_json_object_with_schema(
    hostile: Hostile,
) -> None:
    client = ChatClient(hostile.url("refuse_schema"))
    settled: list[Form] = []
    negotiator = FormNegotiator(on_settle=settled.append)
    sent: list[ChatRequest] = []
    done = await negotiator.send(REQUEST, client.complete, sent=sent)
    assert done.text == '{"ok": true}'
    assert sent[-1].form is Form.JSON_OBJECT_SCHEMA and negotiator.form is Form.JSON_OBJECT_SCHEMA
    assert settled == [Form.JSON_OBJECT_SCHEMA]
    assert hostile.bodies[-1]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    record = negotiator.record()
    assert record["form"] == "json_object+schema"
    assert [r["form"] for r in record["refused"]] == ["json_schema"]  # type: ignore[attr-defined]
    await client.aclose()


async def test_concurrent_first_calls_probe_each_form_once(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("refuse_schema"))
    negotiator = FormNegotiator()

    sent: list[ChatRequest] = []

    async def one() -> None:
        async with negotiator.turn():
            await negotiator.send(REQUEST, client.complete, sent=sent)

    await asyncio.gather(*(one() for _ in range(6)))
    assert [s.form for s in sent] == [Form.JSON_OBJECT_SCHEMA] * 6
    # One refused json_schema request, then six answered ones: nothing sent twice.
    assert _formats(hostile) == Counter({"json_schema": 1, "json_object": 6})
    await client.aclose()


async def test_an_endpoint_refusing_every_response_format_gets_prompted_json(
    hostile: Hostile,
) -> None:
    client = ChatClient(hostile.url("refuse_all"))
    negotiator = FormNegotiator()
    sent: list[ChatRequest] = []
    done = await negotiator.send(REQUEST, client.complete, sent=sent)
    assert sent[-1].form is Form.PROMPT and "response_format" not in hostile.bodies[-1]
    assert done.text == '{"ok": true}'
    # json_schema, json_object+schema and json_object were each refused once.
    assert _formats(hostile) == Counter({"json_schema": 1, "json_object": 2, "None": 1})
    await client.aclose()


async def test_a_forced_form_that_is_refused_aborts_with_the_setting_named(
    hostile: Hostile,
) -> None:
    client = ChatClient(hostile.url("refuse_schema"))
    negotiator = FormNegotiator(mode="json_schema")
    with pytest.raises(UnsupportedFormat, match=r"llm\.structured_output=json_schema; .*=auto"):
        await negotiator.send(REQUEST, client.complete)
    assert hostile.requests["refuse_schema"] == 1
    await client.aclose()


async def test_a_remembered_form_is_used_without_probing(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("refuse_schema"))
    record = form_record(Form.JSON_OBJECT_SCHEMA)
    negotiator = FormNegotiator(known=stored_form(record))
    assert negotiator.settled
    await negotiator.send(REQUEST, client.complete)
    assert _formats(hostile) == Counter({"json_object": 1})
    await client.aclose()


async def test_free_text_calls_are_not_negotiated(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("refuse_schema"))
    negotiator = FormNegotiator()
    plain = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    sent: list[ChatRequest] = []
    await negotiator.send(plain, client.complete, sent=sent)
    assert not sent and not negotiator.settled
    await client.aclose()


def test_modes_and_keys() -> None:
    assert parse_mode("auto") == "auto"
    with pytest.raises(ConfigError, match=r"llm\.structured_output: must be one of auto"):
        parse_mode("grammar")
    assert negotiation_key("http://a/v1") != negotiation_key("http://b/v1")
    assert stored_form(None) is None


def test_the_config_knows_every_mode() -> None:
    from postgen.config.settings import STRUCTURED_OUTPUT_MODES
    from postgen.llm.negotiate import MODES

    assert STRUCTURED_OUTPUT_MODES == MODES
