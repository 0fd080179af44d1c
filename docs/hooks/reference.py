"""mkdocs hook: generated reference pages.

`<!-- cli-reference -->` in a page becomes the usage and options of every `unseen` command, read
from the click command typer builds (so the page cannot drift from `unseen --help`);
`<!-- http-reference -->` becomes the server's OpenAPI document rendered as Markdown (the
running server's /docs stays the interactive reference).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


def _cell(text: Any) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text.replace("[", "\\[") if "`" not in text else text


def _param_row(param: Any) -> str:
    from unseen.cli import _plain_type

    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    if getattr(param, "param_type_name", "") == "argument":
        names = f"`{param.metavar or param.name.upper()}`"
    kind = _plain_type(param) or "flag"
    default = param.default
    if callable(default) or default in (None, False, (), []) or repr(default).startswith("<"):
        default = ""
    elif isinstance(default, list | tuple):
        default = ", ".join(map(str, default))
    req = "yes" if param.required else ""
    return f"| {names} | {_cell(kind)} | {req} | {_cell(default)} | {_cell(param.help or '')} |"


def _walk(cmd: Any, ctx: Any, path: list[str]):
    yield path, cmd, ctx
    for name in cmd.list_commands(ctx) if hasattr(cmd, "list_commands") else []:
        sub = cmd.get_command(ctx, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        sub_ctx = sub.context_class(sub, info_name=name, parent=ctx)
        yield from _walk(sub, sub_ctx, [*path, name])


def cli_markdown() -> str:
    """Every command's usage and options as Markdown, in the order `unseen --help` lists them."""
    from unseen.cli import _command

    root = _command()
    ctx = root.context_class(root, info_name="unseen")
    out: list[str] = []
    for path, cmd, cctx in _walk(root, ctx, ["unseen"]):
        name = " ".join(path)
        level = "#" * min(2 + len(path) - 1, 4)
        out.append(f"{level} `{name}`\n")
        if cmd.help:
            out.append(cmd.help.strip() + "\n")
        pieces = " ".join(cmd.collect_usage_pieces(cctx))
        out.append(f"```text\nUsage: {name} {pieces}\n```\n")
        rows = [_param_row(p) for p in cmd.params]
        if rows:
            out.append("| parameter | type | required | default | help |")
            out.append("| --- | --- | --- | --- | --- |")
            out.extend(rows)
            out.append("")
    return "\n".join(out)


def _schema_type(s: dict) -> str:
    if "$ref" in s:
        name = s["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in s:
        return " or ".join(_schema_type(x) for x in s["anyOf"])
    if s.get("type") == "array":
        return f"array of {_schema_type(s.get('items', {}))}"
    t = s.get("type", "any")
    bounds = [
        f"{k} `{s[k]}`"
        for k in (
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "maxLength",
            "pattern",
        )
        if k in s
    ]
    return t + (f" ({', '.join(bounds)})" if bounds else "")


def openapi() -> dict:
    """The server's OpenAPI document, from an app on a throw-away SQLite database."""
    from unseen.serve import Settings, create_app
    from unseen.store import Repo

    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo.open(str(Path(tmp) / "docs.sqlite"))
        try:
            return create_app(Settings(solve_fix=False, warm_up=False), repo).openapi()
        finally:
            close = getattr(repo, "close", None)
            if close is not None:
                close()


def http_markdown() -> str:
    """The OpenAPI document as Markdown: endpoints, then the schemas they use."""
    spec = openapi()
    out = [f"API version {spec['info'].get('version', '')}.\n"]
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            out.append(f"### `{method.upper()} {path}`\n")
            if op.get("summary"):
                out.append(f"**{op['summary']}**\n")
            if op.get("description"):
                out.append(op["description"].strip() + "\n")
            params = op.get("parameters", [])
            if params:
                out.append("| parameter | in | type | required | description |")
                out.append("| --- | --- | --- | --- | --- |")
                for p in params:
                    kind = _schema_type(p.get("schema", {}))
                    req = "yes" if p.get("required") else ""
                    desc = _cell(p.get("description", ""))
                    out.append(f"| `{p['name']}` | {p.get('in', '')} | {kind} | {req} | {desc} |")
                out.append("")
            body = op.get("requestBody", {}).get("content", {})
            for mime, content in body.items():
                out.append(f"Request body ({mime}): {_schema_type(content.get('schema', {}))}\n")
            out.append("| status | meaning |")
            out.append("| --- | --- |")
            for code, resp in op.get("responses", {}).items():
                out.append(f"| {code} | {_cell(resp.get('description', ''))} |")
            out.append("")
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        out.append("## Schemas\n")
    for name, s in schemas.items():
        out.append(f"### {name}\n")
        if s.get("description"):
            out.append(_cell(s["description"]) + "\n")
        props = s.get("properties", {})
        if props:
            req = set(s.get("required", []))
            out.append("| field | type | required | description |")
            out.append("| --- | --- | --- | --- |")
            for k, v in props.items():
                out.append(
                    f"| `{k}` | {_cell(_schema_type(v))} | {'yes' if k in req else ''} |"
                    f" {_cell(v.get('description', v.get('title', '')))} |"
                )
            out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- cli-reference -->" in markdown:
        markdown = markdown.replace("<!-- cli-reference -->", cli_markdown())
    if "<!-- http-reference -->" in markdown:
        markdown = markdown.replace("<!-- http-reference -->", http_markdown())
    return markdown
