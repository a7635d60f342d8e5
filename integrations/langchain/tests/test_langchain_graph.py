"""LangGraph graphs as stored honeytrace trees: a tool node, an interrupt and its resume in one
session, parallel nodes on LangGraph's worker threads, and async graphs. The real ``langgraph``
with ``langchain-openai`` against the fake OpenAI server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langchain_trees import Stored, find
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, interrupt
from openai_fake_server import FakeOpenAI

import honeytrace

GPT_4O_TOOLS = 0.000635  # 18 fresh + 64 cached input, 51 output tokens of gpt-4o
GPT_4O_MINI = (27 * 0.15 + 15 * 0.60) / 1e6


@tool
def get_weather(location: str) -> str:
    """The weather at a place."""
    return f"sunny in {location}"


def _agent_graph(model: ChatOpenAI) -> Any:
    """agent -> (tools -> agent)* -> approve (interrupts for a human) -> END."""
    bound = model.bind_tools([get_weather])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    def approve(state: MessagesState) -> dict[str, Any]:
        verdict = interrupt("send this answer?")
        return {"messages": [("user", f"approved: {verdict}")]}

    def route(state: MessagesState) -> str:
        return "tools" if state["messages"][-1].tool_calls else "approve"

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_node("approve", approve)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", "approve"])
    graph.add_edge("tools", "agent")
    graph.add_edge("approve", END)
    return graph.compile(checkpointer=InMemorySaver())


def _node(tree: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in find(tree, name, "chain") if e["metadata"].get("langgraph_node") == name]


@pytest.mark.price_table
def test_a_graph_with_a_tool_node_and_an_interrupt_resumed_in_the_same_session(
    model: ChatOpenAI, server: FakeOpenAI, stored: Stored
) -> None:
    server.reply("chat_completion_tool_calls.json")  # then the default answer
    graph = _agent_graph(model)
    config = {"configurable": {"thread_id": f"conversation-{uuid.uuid4()}"}}

    paused = graph.invoke({"messages": [("user", "Weather in Paris and Bogotá?")]}, config)
    assert paused["__interrupt__"][0].value == "send this answer?"
    (first,) = stored.sessions()
    done = graph.invoke(Command(resume="yes"), config)

    assert done["messages"][-1].content == "approved: yes"
    # The resume continued the session of the thread: still one, keyed by the thread id.
    (session,) = stored.sessions()
    assert session["session_id"] == first["session_id"]
    tree = stored.tree(session["session_id"])
    assert tree["metadata"]["session_key"] == config["configurable"]["thread_id"]
    graphs = find(tree, "LangGraph", "chain")
    assert len(graphs) == 2 and all(g["parent_id"] == tree["event_id"] for g in graphs)

    # Nodes nest under their graph run; the model calls and tools under their nodes.
    agents = _node(tree, "agent")
    assert len(agents) == 2
    first_call = next(e for e in agents[0]["children"] if e["event_type"] == "model")
    assert [c["name"] for c in first_call["outputs"]["tool_calls"]] == ["get_weather"] * 2
    assert first_call["metrics"]["cost_usd"] == pytest.approx(GPT_4O_TOOLS)
    second_call = next(e for e in agents[1]["children"] if e["event_type"] == "model")
    assert second_call["inputs"]["messages"][-1]["role"] == "tool"
    assert second_call["metrics"]["cost_usd"] == pytest.approx(GPT_4O_MINI)
    (tools,) = _node(tree, "tools")
    calls = [child for child in tools["children"] if child["event_type"] == "tool"]
    assert sorted(c["outputs"]["content"] for c in calls) == [
        "sunny in Bogotá, Colombia",
        "sunny in Paris, France",
    ]

    # The interrupt is recorded as such, not as an error; the resumed node ends normally.
    interrupted, resumed = _node(tree, "approve")
    assert interrupted["metadata"]["interrupted"] is True
    assert interrupted["outputs"]["interrupt"][0]["value"] == "send this answer?"
    assert not interrupted.get("error") and not resumed.get("error")
    assert resumed["parent_id"] == graphs[1]["event_id"]

    assert tree["totals"]["tokens"]["total_tokens"] == 133 + 42
    assert tree["totals"]["cost"] == pytest.approx(GPT_4O_TOOLS + GPT_4O_MINI)
    assert tree["totals"]["errors"] == 0


def _fan_out(model: ChatOpenAI, *, is_async: bool = False) -> Any:
    """START -> (left, right) in parallel -> END, each node calling the model."""

    def node(side: str) -> Any:
        def sync(state: MessagesState) -> dict[str, Any]:
            return {"messages": [model.invoke(f"{side}?")]}

        async def coroutine(state: MessagesState) -> dict[str, Any]:
            return {"messages": [await model.ainvoke(f"{side}?")]}

        return coroutine if is_async else sync

    graph = StateGraph(MessagesState)
    graph.add_node("left", node("left"))
    graph.add_node("right", node("right"))
    graph.add_edge(START, "left")
    graph.add_edge(START, "right")
    graph.add_edge("left", END)
    graph.add_edge("right", END)
    return graph.compile()


def _assert_fan_out(tree: dict[str, Any]) -> None:
    for side in ("left", "right"):
        (node,) = _node(tree, side)
        (call,) = [child for child in node["children"] if child["event_type"] == "model"]
        assert call["inputs"]["messages"] == [{"role": "user", "content": f"{side}?"}]
        assert call["metrics"]["total_tokens"] == 42
    assert tree["totals"]["cost"] == pytest.approx(2 * GPT_4O_MINI)


@pytest.mark.price_table
def test_parallel_nodes_on_langgraph_threads_nest_under_their_node(
    model: ChatOpenAI, stored: Stored
) -> None:
    with honeytrace.session("fan-out") as session:
        _fan_out(model).invoke({"messages": []})

    tree = stored.tree(session.session_id)
    (graph,) = find(tree, "LangGraph", "chain")
    assert graph["parent_id"] == session.session_id
    _assert_fan_out(tree)


@pytest.mark.price_table
def test_an_async_graph_nests_across_tasks(model: ChatOpenAI, stored: Stored) -> None:
    async def main() -> str:
        async with honeytrace.session("async fan-out") as session:
            await _fan_out(model, is_async=True).ainvoke({"messages": []})
        return session.session_id

    session_id = asyncio.run(main())

    _assert_fan_out(stored.tree(session_id))


def test_a_failing_node_is_an_error_in_its_graph(model: ChatOpenAI, stored: Stored) -> None:
    def broken(state: MessagesState) -> dict[str, Any]:
        raise RuntimeError("node failed")

    graph = StateGraph(MessagesState)
    graph.add_node("broken", broken)
    graph.add_edge(START, "broken")
    graph.add_edge("broken", END)

    with pytest.raises(RuntimeError, match="node failed"):
        graph.compile().invoke({"messages": []})

    tree = stored.tree()
    (node,) = _node(tree, "broken")
    assert node["error"] == "RuntimeError: node failed"
    (run,) = find(tree, "LangGraph", "chain")
    assert run["error"] == "RuntimeError: node failed"
