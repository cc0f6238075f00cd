"""The wire contract of SPEC.md §3 checked with the reference client: `node --test
tests/node/` drives our running server with npm's `socket.io-client` (from
widget_js/node_modules, not our bundle), so a Python-only client cannot hide a
protocol quirk that a JavaScript widget would trip over. Also runs widget_js's
own unit tests (`npm test`: the indicator's wording; the user, livestream and
tracking clients' logic on fake clocks), so `make test` covers them."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import Server, skip_unless_required

ROOT = Path(__file__).resolve().parent.parent
NODE_TESTS = ROOT / "tests" / "node"
CLIENT = ROOT / "widget_js" / "node_modules" / "socket.io-client"


@pytest.fixture
def node() -> str:
    path = shutil.which("node")
    if path is None:
        skip_unless_required("node not found: install Node 18+ to run the Socket.IO protocol test")
    if not CLIENT.is_dir():
        skip_unless_required("widget_js/node_modules/socket.io-client missing: run `make bundle` (npm ci there)")
    return path  # type: ignore[return-value]


def tap_count(output: str, name: str) -> int:
    match = re.search(rf"^# {name} (\d+)$", output, re.MULTILINE)
    assert match, f"no '# {name}' line in the node test output:\n{output}"
    return int(match.group(1))


async def node_test(node: str, path: Path, env: dict[str, str] | None = None, minimum: int = 1) -> str:
    """Runs `node --test path` and checks that it really ran: at least `minimum`
    tests, every one passed, none skipped (PRESENCE_URL unset would skip them all)."""
    # Async, so that this event loop, which may be running the server, keeps serving meanwhile.
    proc = await asyncio.create_subprocess_exec(
        node,
        "--test",
        "--test-reporter=tap",
        str(path),
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[bytes] = []

    async def read() -> None:
        async for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
        await proc.wait()

    try:
        await asyncio.wait_for(read(), timeout=45)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"node --test {path} did not finish within 45 s; its output so far:\n{b''.join(lines).decode()}")
    output = b"".join(lines).decode(errors="replace")
    assert proc.returncode == 0, output
    tests = tap_count(output, "tests")
    assert tests >= minimum, output
    assert tap_count(output, "pass") == tests, output
    assert tap_count(output, "skipped") == 0, output
    return output


async def test_the_reference_client_speaks_our_protocol(node: str, make_server) -> None:
    server: Server = await make_server(
        widget_heartbeat_interval=0.3, widget_offline_after=2.0, widget_offline_grace=0.5, widget_sweep_every=0.1
    )
    s = server.settings
    env = {
        "PRESENCE_URL": server.url,
        "PRESENCE_SERVICE_TOKEN": server.token("host-app", "service"),
        "PRESENCE_AGENT_TOKEN": server.token("agent-1", "agent", "co-1"),
        "PRESENCE_COMPANY": "co-1",
        "PRESENCE_WIDGET_OFFLINE_GRACE": str(s.widget_offline_grace),
        "PRESENCE_WIDGET_OFFLINE_AFTER": str(s.widget_offline_after),
    }
    await node_test(node, NODE_TESTS, env, minimum=11)


async def test_the_widget_js_unit_tests(node: str) -> None:
    """widget_js's own unit tests (`npm test`, every `widget_js/test/*.test.mjs`): no server, no browser."""
    await node_test(node, ROOT / "widget_js" / "test", minimum=60)
