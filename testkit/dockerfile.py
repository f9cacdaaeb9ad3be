"""The Dockerfile as data: its instructions by stage, for the tests that check it and the test that replays it."""
from __future__ import annotations

import shlex
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, args) pairs with comments dropped and continuations joined."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not buf):
            continue
        if line.endswith("\\"):
            buf += line[:-1].rstrip() + " "
            continue
        buf += line
        instr, _, args = buf.strip().partition(" ")
        out.append((instr.upper(), args.strip()))
        buf = ""
    assert not buf, "Dockerfile ends with a line continuation"
    return out


def dockerfile_stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each stage, each list starting with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for instr, args in dockerfile_instructions(text):
        if instr == "FROM":
            stages.append([])
        else:
            assert stages, f"{instr} before the first FROM"
        stages[-1].append((instr, args))
    return stages


def parse_from(args: str) -> tuple[str, str | None]:
    """A FROM's image and its stage alias, if any."""
    parts = [p for p in args.split() if not p.startswith("--")]
    image = parts[0]
    alias = parts[2].lower() if len(parts) == 3 and parts[1].upper() == "AS" else None
    return image, alias


def parse_env(args: str) -> dict[str, str]:
    """An ENV's variables, in either the `KEY=value ...` or the legacy `KEY value` form."""
    tokens = shlex.split(args)
    if tokens and "=" not in tokens[0]:  # legacy `ENV KEY value`
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(t.split("=", 1) for t in tokens)


def strip_flags(args: str) -> tuple[list[str], str]:
    """An instruction's leading --flags, and the rest of its arguments."""
    flags = []
    rest = args
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        flags.append(flag)
        rest = rest.lstrip()
    return flags, rest


def instrs(stage, name: str) -> list[str]:
    """The arguments of every `name` instruction of a stage."""
    return [args for instr, args in stage if instr == name]
