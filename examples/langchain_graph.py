"""A LangGraph agent with a tool, traced by honeytrace-langchain: no key, no network, no account.

A small fake OpenAI server runs on 127.0.0.1 inside this script; LangChain's real ``ChatOpenAI``
talks to it. Run it, then look at what it recorded, with the tokens and cost of each call:

    python examples/langchain_graph.py
    honeytrace show latest

Against the real API, drop the fake server and the ``base_url``: the tracing code is the same.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import honeytrace_langchain
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

import honeytrace


def reply(request: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion``: a tool call first, then the answer from the tool's result."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        message = {"role": "assistant", "content": f"It is {last['content']}."}
        usage = {"prompt_tokens": 64, "completion_tokens": 9, "total_tokens": 73}
        finish = "stop"
    else:
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        usage = {"prompt_tokens": 52, "completion_tokens": 14, "total_tokens": 66}
        finish = "tool_calls"
    return {
        "id": "chatcmpl-example",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers ``POST /v1/chat/completions``."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps(reply(request)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@tool
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny and 21°C in {city}"


def build_agent(base_url: str) -> Any:
    model = ChatOpenAI(model="gpt-4o-mini", api_key="not-needed", base_url=base_url)
    bound = model.bind_tools([get_weather])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    honeytrace_langchain.instrument()
    try:
        agent = build_agent(f"http://127.0.0.1:{server.server_port}/v1")
        # The thread id names the session: a later turn of this conversation continues it.
        config = {"configurable": {"thread_id": "support-42"}}
        state = agent.invoke({"messages": [("user", "What's the weather in Paris?")]}, config)
        print(state["messages"][-1].content)
    finally:
        server.shutdown()
    delivered = honeytrace.flush()
    print(f"traced: {honeytrace.stats()} (all delivered: {delivered})")


if __name__ == "__main__":
    main()
