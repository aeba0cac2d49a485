"""ES modules: Context.eval_module and Context(module_loader=...), in both
isolation modes."""

import asyncio
from typing import Any

import pytest
import v8cage

ISOLATIONS = ["in-process", "process"]


def serving(files: dict[str, str], asked: list[tuple[str, str]]) -> Any:
    def load(name: str, referrer: str) -> str:
        asked.append((name, referrer))
        if name not in files:
            raise LookupError(f"no module named {name!r}")
        return files[name]

    return load


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_module_returns_its_exports(isolation: str) -> None:
    with v8cage.Context(timeout=60, isolation=isolation) as ctx:
        exports = ctx.eval_module("export const answer = 42; export default [1, 2];")
        assert exports == {"answer": 42, "default": [1, 2]}


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_imports_come_from_the_loader_once_per_name(isolation: str) -> None:
    asked: list[tuple[str, str]] = []
    files = {
        "lib/a.mjs": "import { b } from './b.mjs'; export const a = b + 1;",
        "lib/b.mjs": "export const b = 1;",
    }
    with v8cage.Context(timeout=60, isolation=isolation, module_loader=serving(files, asked)) as ctx:
        exports = ctx.eval_module(
            "import { a } from './lib/a.mjs'; import { b } from './lib/b.mjs';"
            "export const sum = a + b + (await import('./lib/b.mjs')).b;",
            name="app/../main.mjs",
        )
        assert exports == {"sum": 4}
        assert ctx.eval("import('lib/a.mjs').then(ns => ns.a)") == 2
    assert sorted(name for name, _ in asked) == ["lib/a.mjs", "lib/b.mjs"]
    assert ("lib/b.mjs", "lib/a.mjs") in asked or ("lib/b.mjs", "app/../main.mjs") in asked


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_loader_exception_is_thrown_at_the_import(isolation: str) -> None:
    with v8cage.Context(timeout=60, isolation=isolation, module_loader=serving({}, [])) as ctx:
        with pytest.raises(v8cage.JSEvalError) as raised:
            ctx.eval_module("import 'gone.mjs';")
        assert "LookupError: no module named 'gone.mjs'" in str(raised.value)
        caught = ctx.eval("import('gone.mjs').catch(e => e.message)")
        assert "no module named 'gone.mjs'" in caught
        assert ctx.eval("1 + 1") == 2


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_loader_returning_no_text_is_a_type_error_in_javascript(isolation: str) -> None:
    def wrong(name: str, referrer: str) -> Any:
        return 42

    with v8cage.Context(timeout=60, isolation=isolation, module_loader=wrong) as ctx:
        with pytest.raises(v8cage.JSEvalError, match="as a str, not int"):
            ctx.eval_module("import 'x.mjs';")


def test_without_a_loader_an_import_throws() -> None:
    with v8cage.Context(timeout=60) as ctx:
        with pytest.raises(v8cage.JSEvalError, match="no module loader"):
            ctx.eval_module("import 'x.mjs';")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_an_async_loader_is_awaited(isolation: str) -> None:
    async def load(name: str, referrer: str) -> str:
        await asyncio.sleep(0)
        return f"export const name = {name!r};"

    with v8cage.Context(timeout=60, isolation=isolation, module_loader=load) as ctx:
        assert ctx.eval_module("export { name } from 'dep.mjs';") == {"name": "dep.mjs"}

        async def from_async_code() -> Any:
            # This thread's loop waits in eval_module: the loader runs on another.
            return ctx.eval_module("export { name } from 'other.mjs';", name="second.mjs")

        assert asyncio.run(from_async_code()) == {"name": "other.mjs"}


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_errors_of_modules_are_typed(isolation: str) -> None:
    files = {"broken.mjs": "export const a = 1;\nexport const = ;"}
    with v8cage.Context(timeout=60, isolation=isolation, module_loader=serving(files, [])) as ctx:
        with pytest.raises(v8cage.JSSyntaxError):
            ctx.eval_module("export default ;")
        with pytest.raises(v8cage.JSEvalError) as raised:
            ctx.eval_module("import './broken.mjs';")
        assert raised.value.name == "SyntaxError"
        assert (raised.value.script, raised.value.line) == ("broken.mjs", 2)
        assert str(raised.value).endswith("(broken.mjs:2)")
        with pytest.raises(v8cage.JSTimeoutError):
            ctx.eval_module("await new Promise(r => setTimeout(r, 60_000));", timeout=0.1)
        assert ctx.eval_module("await new Promise(r => setTimeout(r, 1)); export const ok = 1;") == {"ok": 1}
