"""LangChain runs (chains, chat models, tools, retrievers) as stored honeytrace trees: the real
``langchain-core`` and ``langchain-openai`` against the fake OpenAI server on 127.0.0.1."""

from __future__ import annotations

import asyncio

import honeytrace_langchain
import openai
import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langchain_trees import Stored, find, shape
from openai_fake_server import FakeOpenAI

import honeytrace

PROMPT = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{question}")])
MINI = (27 * 0.15 + 15 * 0.60) / 1e6  # gpt-4o-mini: $0.15 / $0.60 per million tokens


@pytest.mark.price_table
def test_a_chain_is_one_session_tree_with_usage_and_cost(model: ChatOpenAI, stored: Stored) -> None:
    answer = (PROMPT | model).invoke({"question": "How do refunds work?"})

    assert answer.content.startswith("Refunds go back")
    tree = stored.tree()
    assert tree["event_name"] == "RunnableSequence"
    assert shape(tree) == (
        "session RunnableSequence",
        [("chain RunnableSequence", ["chain ChatPromptTemplate", "model ChatOpenAI"])],
    )
    (call,) = find(tree, "ChatOpenAI")
    assert call["inputs"] == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "How do refunds work?"},
        ]
    }
    assert call["config"]["provider"] == "openai"
    assert call["config"]["model"] == "gpt-4o-mini"
    assert call["config"]["temperature"] == 0.2
    assert call["outputs"] == {
        "role": "assistant",
        "content": "Refunds go back to the original payment method within 5 business days.",
    }
    assert call["metrics"]["prompt_tokens"] == 27
    assert call["metrics"]["completion_tokens"] == 15
    assert call["metrics"]["total_tokens"] == 42
    assert call["metrics"]["cost_usd"] == pytest.approx(MINI)
    assert call["metadata"]["usage_source"] == "reported"
    assert call["metadata"]["response_model"] == "gpt-4o-mini-2024-07-18"
    assert call["metadata"]["cost"]["source"] == "genai-prices"
    (prompt,) = find(tree, "ChatPromptTemplate")
    assert prompt["outputs"]["messages"][1] == {"role": "user", "content": "How do refunds work?"}
    assert tree["totals"]["tokens"]["total_tokens"] == 42
    assert tree["totals"]["cost"] == pytest.approx(MINI)


def test_a_run_inside_a_honeytrace_session_nests_there(model: ChatOpenAI, stored: Stored) -> None:
    with honeytrace.session("support") as session, honeytrace.span("answer"):
        (PROMPT | model).invoke({"question": "How do refunds work?"})

    tree = stored.tree(session.session_id)
    assert shape(tree) == (
        "session support",
        [
            (
                "chain answer",
                [("chain RunnableSequence", ["chain ChatPromptTemplate", "model ChatOpenAI"])],
            )
        ],
    )


def test_async_runs_in_concurrent_tasks_keep_their_own_trees(
    model: ChatOpenAI, stored: Stored
) -> None:
    chain = (PROMPT | model).with_config(run_name="ask")

    async def main() -> None:
        with honeytrace.session("batch"):
            await asyncio.gather(*(chain.ainvoke({"question": f"q{n}"}) for n in range(3)))

    asyncio.run(main())

    tree = stored.tree()
    asks = find(tree, "ask")
    assert len(asks) == 3
    for ask in asks:
        assert ask["parent_id"] == tree["event_id"]
        names = [child["event_name"] for child in ask["children"]]
        assert names == ["ChatPromptTemplate", "ChatOpenAI"]
    questions = sorted(ask["children"][1]["inputs"]["messages"][1]["content"] for ask in asks)
    assert questions == ["q0", "q1", "q2"]
    assert tree["totals"]["tokens"]["total_tokens"] == 3 * 42


@pytest.mark.price_table
def test_a_stream_records_the_assembled_message_usage_and_time_to_first_token(
    server: FakeOpenAI, stored: Stored
) -> None:
    streaming = ChatOpenAI(
        model="gpt-4o-mini", api_key="sk-test", base_url=server.url, stream_usage=True
    )
    pieces = [chunk.content for chunk in (PROMPT | streaming).stream({"question": "refunds?"})]

    assert "".join(pieces) == "Refunds take up to 5 business days."
    tree = stored.tree()
    (sequence,) = find(tree, "RunnableSequence", "chain")
    # A streamed run reports its inputs at its end: they are recorded all the same.
    assert sequence["inputs"] == {"question": "refunds?"}
    (call,) = find(tree, "ChatOpenAI")
    assert call["outputs"]["content"] == "Refunds take up to 5 business days."
    assert call["metrics"]["prompt_tokens"] == 19
    assert call["metrics"]["completion_tokens"] == 9
    assert call["metrics"]["time_to_first_token_ms"] >= 0
    assert call["metrics"]["cost_usd"] == pytest.approx((19 * 0.15 + 9 * 0.60) / 1e6)


def test_a_stream_without_usage_says_it_is_missing_rather_than_zero(
    server: FakeOpenAI, stored: Stored
) -> None:
    streaming = ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", base_url=server.url)
    for _ in streaming.stream("refunds?"):
        pass

    (call,) = find(stored.tree(), "ChatOpenAI", "model")
    assert call["metadata"]["usage_source"] == "missing"
    assert "cost_usd" not in call["metrics"] and "cost" not in call["metadata"]


@tool
def get_weather(location: str) -> str:
    """The weather at a place."""
    return f"sunny in {location}"


@pytest.mark.price_table
def test_tool_calls_and_tools(model: ChatOpenAI, server: FakeOpenAI, stored: Stored) -> None:
    server.reply("chat_completion_tool_calls.json")

    with honeytrace.session("weather"):
        message = model.bind_tools([get_weather]).invoke("Weather in Paris and Bogotá?")
        for call in message.tool_calls:
            get_weather.invoke(call)

    tree = stored.tree()
    (model_call,) = find(tree, "ChatOpenAI")
    assert [call["name"] for call in model_call["outputs"]["tool_calls"]] == ["get_weather"] * 2
    assert model_call["outputs"]["tool_calls"][0]["args"] == {"location": "Paris, France"}
    assert model_call["config"]["tools"][0]["function"]["name"] == "get_weather"
    assert model_call["metrics"]["cache_read_tokens"] == 64
    # gpt-4o: 18 fresh input at $2.50, 64 cached at $1.25, 51 output at $10 per MTok
    assert model_call["metrics"]["cost_usd"] == pytest.approx(0.000635)
    tools = find(tree, "get_weather", "tool")
    assert [event["inputs"] for event in tools] == [
        {"location": "Paris, France"},
        {"location": "Bogotá, Colombia"},
    ]
    assert tools[0]["outputs"]["content"] == "sunny in Paris, France"


def test_an_api_error_is_the_model_event_s_error_and_reaches_the_caller_unchanged(
    model: ChatOpenAI, server: FakeOpenAI, stored: Stored
) -> None:
    server.error(429, "error_429.json")

    with pytest.raises(openai.RateLimitError):
        (PROMPT | model).invoke({"question": "refunds?"})

    tree = stored.tree()
    (call,) = find(tree, "ChatOpenAI")
    # langchain-openai raises its own subclass of openai.RateLimitError
    assert "RateLimitError: Error code: 429" in call["error"]
    assert call["metadata"]["status_code"] == 429
    assert call["metadata"]["usage_source"] == "missing"
    (sequence,) = find(tree, "RunnableSequence", "chain")
    assert "RateLimitError" in sequence["error"]
    assert tree["totals"]["errors"] >= 2


def test_a_failing_tool_is_an_error_event(stored: Stored) -> None:
    @tool
    def lookup_order(order_id: str) -> str:
        """Fetch an order."""
        raise LookupError(f"no order {order_id}")

    with pytest.raises(LookupError):
        lookup_order.invoke({"order_id": "A-1"})

    (event,) = find(stored.tree(), "lookup_order", "tool")
    assert event["error"] == "LookupError: no order A-1"
    assert event["inputs"] == {"order_id": "A-1"}


class _Docs(BaseRetriever):
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=f"about {query}", metadata={"source": "faq.md"})]


def test_a_retriever_is_a_tool_event_with_its_documents(stored: Stored) -> None:
    _Docs().invoke("refunds")

    (event,) = find(stored.tree(), "_Docs", "tool")
    assert event["inputs"] == {"query": "refunds"}
    assert event["outputs"] == {
        "documents": [{"page_content": "about refunds", "metadata": {"source": "faq.md"}}]
    }
    assert event["metadata"]["retriever"] is True


def test_a_handler_passed_by_hand_works_alone_and_is_not_doubled(
    model: ChatOpenAI, stored: Stored
) -> None:
    handler = honeytrace_langchain.CallbackHandler()
    double = RunnableLambda(lambda value: value * 2).with_config(run_name="double")

    double.invoke(2, config={"callbacks": [handler]})  # instrumented too: one event
    honeytrace_langchain.uninstrument()
    double.invoke(3, config={"callbacks": [handler]})  # the hand-passed handler alone
    double.invoke(4)  # nothing records this one

    events = [
        event
        for session in stored.sessions()
        for event in find(stored.tree(session["session_id"]), "double", "chain")
    ]
    assert sorted(event["outputs"]["result"] for event in events) == [4, 6]


def test_instrument_is_idempotent_and_uninstrument_stops_recording(stored: Stored) -> None:
    first = honeytrace_langchain.instrument()
    assert honeytrace_langchain.instrument() is first
    honeytrace_langchain.uninstrument()
    RunnableLambda(lambda value: value).invoke(1)
    assert stored.sessions() == []
    first_again = honeytrace_langchain.instrument()
    assert first_again is first
    RunnableLambda(lambda value: value + 1).with_config(run_name="inc").invoke(1)
    assert find(stored.tree(), "inc", "chain")[0]["outputs"] == {"result": 2}


def test_without_langchain_instrument_logs_one_line_and_does_nothing() -> None:
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import importlib.metadata, logging, sys
        for name in list(sys.modules):
            if name.startswith(("langchain", "langgraph")):
                del sys.modules[name]
        sys.modules["langchain_core"] = None  # import langchain_core -> ImportError
        real = importlib.metadata.version
        def version(name):
            if name == "langchain-core":
                raise importlib.metadata.PackageNotFoundError(name)
            return real(name)
        importlib.metadata.version = version
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        import honeytrace_langchain
        print(honeytrace_langchain.instrument())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "None"
    assert "langchain-core is not installed" in result.stderr
